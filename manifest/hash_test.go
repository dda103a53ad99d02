package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/convergehq/converge/provider"
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
			"spec:\n  owner:\n    uid: 1.0\n    user: u\n  mode: \"0644\"\n  path: /a\ndependsOn: [file.File/b, file.Directory/www]\nmetadata: {name: a}\nkind: file.File\npolicy: {deletion: delete}\n"},
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

// jsonResourceHash is the reference ResourceHash: encoding/json over the
// hashed content, the spec's numbers in provider.Canonical form. The canonical
// encoder must give the same bytes, so that hashes stay what they were
// before it existed.
func jsonResourceHash(r *Resource) string {
	deps := append([]string{}, r.DependsOn...)
	sort.Strings(deps)
	deps = compact(deps)
	b, err := json.Marshal(struct {
		Kind      string         `json:"kind"`
		Name      string         `json:"name"`
		Spec      map[string]any `json:"spec"`
		DependsOn []string       `json:"dependsOn"`
		Policy    Policy         `json:"policy"`
		ImportID  string         `json:"importId,omitempty"`
	}{r.Kind, r.Name, canonicalNumbers(r.Spec).(map[string]any), deps, r.Policy, r.ImportID})
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// canonicalNumbers returns v with its numbers in provider.Canonical form
// and its nil maps and lists kept.
func canonicalNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if x == nil {
			return x
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = canonicalNumbers(e)
		}
		return out
	case []any:
		if x == nil {
			return x
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = canonicalNumbers(e)
		}
		return out
	case float64, float32, json.Number, uint64, int:
		return provider.Canonical(x)
	}
	return v
}

func TestResourceHashMatchesJSON(t *testing.T) {
	tests := map[string]*Resource{
		"plain":          {Kind: "file.File", Name: "a", Spec: map[string]any{"path": "/a"}, Policy: Policy{Deletion: DeletionDelete}},
		"nil spec, deps": {Kind: "file.File", Name: "a", DependsOn: []string{"x/b", "x/a", "x/b"}},
		"values": {Kind: "net.Port", Name: "p.1", Spec: map[string]any{
			"z": nil, "b": true, "f": false, "i": int64(-9007199254740993), "x": 1.5, "tiny": 1e-7, "huge": 1e21, "neg": -2.5e-10, "zero": 0.0,
			"list": []any{"a", int64(1), []any{}, map[string]any{}, nil}, "nilmap": map[string]any(nil), "nillist": []any(nil),
			"m": map[string]any{"b": map[string]any{"d": "e", "c": "f"}, "a": "g"},
		}},
		"strings": {Kind: "file.File", Name: "s", Spec: map[string]any{
			"html": "<a href=\"x\">&amp;</a>", "ctl": "a\nb\tc\u0001\b\f\r", "utf8": "café ☃ \u2028\u2029", "bad": "\xff\xfe", "ref": "${file.File/a.outputs.path}",
			"key <&>\n": "v",
		}},
		"other types": {Kind: "file.File", Name: "o", Spec: map[string]any{"int": 3, "strs": []string{"a"}, "unknown": provider.Unknown{Expr: "${x}"}}},
		"numbers": {Kind: "file.File", Name: "n", Spec: map[string]any{
			"big": json.Number("12345678901234567891"), "u": uint64(1 << 63), "dec": json.Number("0.1"), "f": 0.1, "e": json.Number("1e2"),
			"f25": 1.2345678901234567e25, "huge": 1e300, "g": 1234567.5, "spelled": json.Number("1.2345678901234567891e19"), "bad": json.Number("1e99999999999"),
		}},
	}
	for name, r := range tests {
		t.Run(name, func(t *testing.T) {
			if got, want := ResourceHash(r), jsonResourceHash(r); got != want {
				t.Errorf("ResourceHash() = %s; want %s (encoding/json)", got, want)
			}
		})
	}
}

func FuzzResourceHash(f *testing.F) {
	f.Add("a", "<x>", 1.5, int64(3), true)
	f.Add("\xff", "\u2028", 1e-9, int64(-1), false)
	f.Fuzz(func(t *testing.T, key, s string, x float64, i int64, b bool) {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return // never in a spec: loading rejects them
		}
		r := &Resource{Kind: "k.K", Name: s, DependsOn: []string{s, key}, Policy: Policy{Drift: s},
			Spec: map[string]any{key: s, s: []any{x, i, b, map[string]any{key: x}}, "f": x}}
		if got, want := ResourceHash(r), jsonResourceHash(r); got != want {
			t.Errorf("ResourceHash() = %s; want %s (encoding/json)", got, want)
		}
	})
}
