package provider

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCheckFollowRedirects(t *testing.T) {
	cases := map[string]struct {
		reason string
		policy string
		want   string // the error, "" for none
	}{
		"Empty":      {reason: "Empty is the default, none.", policy: ""},
		"None":       {reason: "none is a policy.", policy: RedirectsNone},
		"SameOrigin": {reason: "same-origin is a policy.", policy: RedirectsSameOrigin},
		"Other": {
			reason: "Anything else is refused, naming the policies.",
			policy: "all",
			want:   `followRedirects "all": must be none or same-origin`,
		},
		"Case": {
			reason: "Policies are lower case.",
			policy: "None",
			want:   `followRedirects "None": must be none or same-origin`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := ""
			if err := CheckFollowRedirects(tc.policy); err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s\nCheckFollowRedirects(%q): -want, +got:\n%s", tc.reason, tc.policy, diff)
			}
		})
	}
}
