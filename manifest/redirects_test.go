package manifest

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestProviderConfigFollowRedirects(t *testing.T) {
	load := func(spec string) (*Revision, error) {
		return LoadBytes(map[string][]byte{"p.yaml": []byte("kind: ProviderConfig\nmetadata: {name: file}\nspec: " + spec + "\n")}, testRegistry(t))
	}
	for _, v := range []string{"none", "same-origin"} {
		rv, err := load("{followRedirects: " + v + "}")
		if err != nil {
			t.Fatalf("followRedirects: %s: %v", v, err)
		}
		if got := rv.ProviderConfigs["file"].FollowRedirects; got != v {
			t.Errorf("FollowRedirects = %q; want %q", got, v)
		}
	}
	none, err := load("{qps: 1}")
	if err != nil {
		t.Fatal(err)
	}
	if got := none.ProviderConfigs["file"].FollowRedirects; got != "" {
		t.Errorf("FollowRedirects unset = %q; want empty (none)", got)
	}
	_, err = load("{followRedirects: always}")
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("followRedirects: always: %v; want an error list", err)
	}
	want := ErrorList{{File: "p.yaml", Line: 3, Resource: "ProviderConfig/file", Field: "spec.followRedirects", Msg: `must be none or same-origin, got always`}}
	if d := cmp.Diff(want, list); d != "" {
		t.Errorf("errors (-want +got):\n%s", d)
	}
}
