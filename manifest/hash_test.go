package manifest

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func mustLoad(t *testing.T, files map[string]string) *Revision {
	t.Helper()
	in := map[string][]byte{}
	for k, v := range files {
		in[k] = []byte(v)
	}
	rv, err := LoadBytes(in, testRegistry(t))
	if err != nil {
		t.Fatalf("LoadBytes() error = %v", err)
	}
	return rv
}

const (
	hashA = "kind: file.File\nmetadata: {name: a, labels: {x: y}}\ndependsOn: [file.Directory/www, file.File/b]\nspec:\n  path: /a\n  mode: \"644\"\n  owner: {user: u, uid: 1}\n"
	hashB = "kind: file.File\nmetadata: {name: b}\nspec: {path: /b}\n"
)

func hashes(rv *Revision) map[string]string {
	out := map[string]string{"": rv.Hash}
	for _, r := range rv.Resources {
		out[r.ID] = r.Hash
	}
	return out
}

func TestHashStability(t *testing.T) {
	base := hashes(mustLoad(t, map[string]string{"one.yaml": hashA + "---\n" + hashB + "---\n" + dirDoc}))
	same := map[string]map[string]string{
		"other files and order": {"z.yaml": hashB, "a/b.yaml": dirDoc + "---\n" + hashA},
		"key order, flow style, dependsOn order, labels, defaults written out": {"m.yaml": dirDoc + "---\n" + hashB + "---\n" +
			"spec:\n  owner:\n    uid: 1.0\n    user: u\n  mode: \"0644\"\n  path: /a\ndependsOn: [file.File/b, file.Directory/www]\nmetadata: {name: a}\nkind: file.File\npolicy: {drift: correct}\n"},
	}
	for name, files := range same {
		if diff := cmp.Diff(base, hashes(mustLoad(t, files))); diff != "" {
			t.Errorf("%s: hashes differ (-want +got):\n%s", name, diff)
		}
	}
	changed := map[string]string{
		"spec":      "kind: file.File\nmetadata: {name: b}\nspec: {path: /b2}\n",
		"policy":    "kind: file.File\nmetadata: {name: b}\npolicy: {deletion: orphan}\nspec: {path: /b}\n",
		"dependsOn": "kind: file.File\nmetadata: {name: b}\ndependsOn: [file.Directory/www]\nspec: {path: /b}\n",
	}
	for name, b := range changed {
		got := hashes(mustLoad(t, map[string]string{"one.yaml": hashA + "---\n" + b + "---\n" + dirDoc}))
		if got["file.File/b"] == base["file.File/b"] || got[""] == base[""] {
			t.Errorf("changing %s: resource hash %s, revision hash %s did not change", name, got["file.File/b"], got[""])
		}
		if got["file.File/a"] != base["file.File/a"] {
			t.Errorf("changing %s of b changed the hash of a", name)
		}
	}
	cfg := hashes(mustLoad(t, map[string]string{"one.yaml": hashA + "---\n" + hashB + "---\n" + dirDoc + "---\nkind: ProviderConfig\nmetadata: {name: file}\nspec: {qps: 3}\n"}))
	if cfg[""] == base[""] {
		t.Errorf("adding a ProviderConfig did not change the revision hash")
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	rv := mustLoad(t, map[string]string{
		"a.yaml": hashA + "---\n" + hashB + "---\n" + dirDoc +
			"---\nkind: net.Port\nmetadata: {name: p}\nspec:\n  number: 9007199254740993\n  labels: {f: 1.25, l: [1, \"2\", null, true], n: \"${file.File/b.outputs.path}\"}\n" +
			"---\nkind: ProviderConfig\nmetadata: {name: net}\nspec: {qps: 1.5, timeout: 1m}\n",
	})
	b, err := Marshal(rv)
	if err != nil {
		t.Fatalf("Marshal() error = %v", err)
	}
	got, err := Unmarshal(b)
	if err != nil {
		t.Fatalf("Unmarshal() error = %v", err)
	}
	if diff := cmp.Diff(rv, got, cmpopts.IgnoreUnexported(Revision{})); diff != "" {
		t.Errorf("round trip mismatch (-want +got):\n%s", diff)
	}
	if r, ok := got.Get("net.Port/p"); !ok || r.Spec["number"] != int64(9007199254740993) {
		t.Errorf("Get(net.Port/p) after Unmarshal = %v, %v; want the exact int64", r, ok)
	}
	if RevisionHash(got) != rv.Hash || ResourceHash(got.Resources[0]) != rv.Resources[0].Hash {
		t.Errorf("hashes recomputed after Unmarshal differ")
	}
	if _, err := Marshal(nil); err == nil {
		t.Errorf("Marshal(nil): nil error; want one")
	}
	for _, bad := range []string{"", "{", `{"resources":[null]}`, `{} {}`} {
		if _, err := Unmarshal([]byte(bad)); err == nil {
			t.Errorf("Unmarshal(%q): nil error; want one", bad)
		}
	}
}
