package provider

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestExpandEnv(t *testing.T) {
	env := map[string]string{"TOKEN": "s3cret", "EMPTY": "", "NESTED": "${env:TOKEN}", "_X1": "x"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	type want struct {
		out  string
		used []string
		err  string
	}
	cases := map[string]struct {
		reason   string
		template string
		want     want
	}{
		"NoDollar": {
			reason:   "A string without $ is itself.",
			template: "Bearer abc",
			want:     want{out: "Bearer abc"},
		},
		"Variable": {
			reason:   "${env:NAME} is the variable's value, and the value is reported used.",
			template: "Bearer ${env:TOKEN}",
			want:     want{out: "Bearer s3cret", used: []string{"s3cret"}},
		},
		"Several": {
			reason:   "Every variable is expanded, in order.",
			template: "${env:TOKEN}:${env:_X1}",
			want:     want{out: "s3cret:x", used: []string{"s3cret", "x"}},
		},
		"EmptyValue": {
			reason:   "A variable set to nothing expands to nothing.",
			template: "[${env:EMPTY}]",
			want:     want{out: "[]", used: []string{""}},
		},
		"NotReexpanded": {
			reason:   "A value is never expanded again.",
			template: "${env:NESTED}",
			want:     want{out: "${env:TOKEN}", used: []string{"${env:TOKEN}"}},
		},
		"Escaped": {
			reason:   "$$ is one $, so $${env:TOKEN} is literal.",
			template: "$${env:TOKEN} costs $$5",
			want:     want{out: "${env:TOKEN} costs $5"},
		},
		"LoneDollar": {
			reason:   "Any other $ is itself.",
			template: "$5 and $HOME and $",
			want:     want{out: "$5 and $HOME and $"},
		},
		"InvalidName": {
			reason:   "A name that is not one is left as written.",
			template: "${env:1X} ${env:} ${env:A-B}",
			want:     want{out: "${env:1X} ${env:} ${env:A-B}"},
		},
		"Unclosed": {
			reason:   "An unclosed reference is left as written.",
			template: "${env:TOKEN",
			want:     want{out: "${env:TOKEN"},
		},
		"Unset": {
			reason:   "An unset variable is an error naming it, and nothing is returned.",
			template: "${env:TOKEN}${env:MISSING}",
			want:     want{err: "environment variable MISSING is not set"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			out, used, err := ExpandEnv(tc.template, lookup)
			got := want{out: out, used: used}
			if err != nil {
				got.err = err.Error()
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(want{}), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("%s\nExpandEnv(%q): -want, +got:\n%s", tc.reason, tc.template, diff)
			}
		})
	}
}

func TestEscapeEnv(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	for _, s := range []string{"", "plain", "$", "$$", "${env:TOKEN}", "$${env:X}", "a$b$$c${", "${env:"} {
		esc := EscapeEnv(s)
		back, used, err := ExpandEnv(esc, none)
		if err != nil || back != s || len(used) != 0 {
			t.Errorf("ExpandEnv(EscapeEnv(%q) = %q) = %q, %v, %v; want %q back, nothing used", s, esc, back, used, err, s)
		}
	}
}

func TestValidEnvName(t *testing.T) {
	cases := map[string]struct {
		reason string
		name   string
		want   bool
	}{
		"Upper":        {reason: "Letters are valid.", name: "HOME", want: true},
		"Mixed":        {reason: "Lower case, digits and _ are valid.", name: "my_var2", want: true},
		"Underscore":   {reason: "A leading _ is valid.", name: "_", want: true},
		"Empty":        {reason: "No name is none.", name: "", want: false},
		"LeadingDigit": {reason: "A name does not start with a digit.", name: "1X", want: false},
		"Dash":         {reason: "A dash is not portable.", name: "A-B", want: false},
		"Space":        {reason: "Nor is a space.", name: "A B", want: false},
		"NonASCII":     {reason: "Nor is a letter beyond ASCII.", name: "Ä", want: false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ValidEnvName(tc.name)); diff != "" {
				t.Errorf("%s\nValidEnvName(%q): -want, +got:\n%s", tc.reason, tc.name, diff)
			}
		})
	}
}
