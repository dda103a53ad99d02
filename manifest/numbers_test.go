package manifest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// numbersDoc is a manifest of numbers yaml.v3 rounds (every one but the
// last few), in the subset the fast parser reads.
const numbersDoc = `kind: net.Port
metadata: {name: p}
spec:
  number: 12345678901234567891
  labels:
    uint64: 18446744073709551615
    big: 123456789012345678901234567890
    negative: -99999999999999999999
    underscores: 1_000_000_000_000_000_000_001
    exponent: 1.2345678901234567891e19
    decimal: 0.1
    pi: 3.14159265358979323846
    tiny: 1.5e-7
    digits: 0.30000000000000000001
    list: [12345678901234567891, 0.1, 1e2]
    half: 1.5
    hundred: 1e2
    hex: 0x1F
    octal: 0o17
    max: 9223372036854775807
`

// numbersWant is the spec numbersDoc gives: every number exact.
var numbersWant = map[string]any{
	"number": json.Number("12345678901234567891"),
	"labels": map[string]any{
		"uint64":      json.Number("18446744073709551615"),
		"big":         json.Number("123456789012345678901234567890"),
		"negative":    json.Number("-99999999999999999999"),
		"underscores": json.Number("1000000000000000000001"),
		"exponent":    json.Number("12345678901234567891"),
		"decimal":     json.Number("0.1"),
		"pi":          json.Number("3.14159265358979323846"),
		"tiny":        json.Number("1.5e-7"),
		"digits":      json.Number("0.30000000000000000001"),
		"list":        []any{json.Number("12345678901234567891"), json.Number("0.1"), int64(100)},
		"half":        1.5,
		"hundred":     int64(100),
		"hex":         int64(31),
		"octal":       int64(15),
		"max":         int64(9223372036854775807),
	},
}

// TestExactNumbers checks that numbers in manifests are kept exactly, on
// the fast path and on the yaml.v3 one, and through the store's encoding.
func TestExactNumbers(t *testing.T) {
	// An anchor in another document makes the fast parser give the whole
	// file to yaml.v3.
	fallback := numbersDoc + "---\nkind: file.Directory\nmetadata: {name: w}\nspec: {path: &p /w}\n"
	var p fastParser
	if !checkSame(t, &p, numbersDoc) {
		t.Fatalf("the fast parser fell back; want it to read the numbers")
	}
	if checkSame(t, &p, fallback) {
		t.Fatalf("the fast parser read an anchor; want yaml.v3 to")
	}
	for name, src := range map[string]string{"fast path": numbersDoc, "yaml.v3": fallback} {
		t.Run(name, func(t *testing.T) {
			rv := mustLoad(t, map[string]string{"a.yaml": src})
			r, _ := rv.Get("net.Port/p")
			if diff := cmp.Diff(numbersWant, r.Spec); diff != "" {
				t.Errorf("spec mismatch (-want +got):\n%s", diff)
			}
			b, err := Marshal(rv)
			if err != nil {
				t.Fatal(err)
			}
			for _, text := range []string{`"number":12345678901234567891`, `"big":123456789012345678901234567890`, `"pi":3.14159265358979323846`, `"decimal":0.1`} {
				if !strings.Contains(string(b), text) {
					t.Errorf("Marshal() does not hold %s", text)
				}
			}
			back, err := Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := back.Get("net.Port/p")
			if diff := cmp.Diff(numbersWant, got.Spec); diff != "" {
				t.Errorf("spec after Unmarshal mismatch (-want +got):\n%s", diff)
			}
			if ResourceHash(got) != r.Hash {
				t.Errorf("hash after Unmarshal %s; want %s", ResourceHash(got), r.Hash)
			}
		})
	}
}

// TestExactNumbersTagged checks numbers with explicit tags: yaml.v3 makes
// a float64 of an integer under !!float.
func TestExactNumbersTagged(t *testing.T) {
	rv := mustLoad(t, map[string]string{"a.yaml": "kind: net.Port\nmetadata: {name: p}\nspec:\n  labels: {a: !!float 12345678901234567, b: !!int 12345678901234567891, c: !!float 0.1, d: !!float 0x10}\n"})
	r, _ := rv.Get("net.Port/p")
	want := map[string]any{"a": int64(12345678901234567), "b": json.Number("12345678901234567891"), "c": json.Number("0.1"), "d": int64(16)}
	if diff := cmp.Diff(want, r.Spec["labels"]); diff != "" {
		t.Errorf("labels mismatch (-want +got):\n%s", diff)
	}
}

// TestNumberHashes checks that a number's hash depends on its value, not
// on how it is written.
func TestNumberHashes(t *testing.T) {
	doc := func(n string) string {
		return "kind: net.Port\nmetadata: {name: p}\nspec: {number: " + n + ", labels: {x: 0.1}}\n"
	}
	hash := func(n string) string {
		r, _ := mustLoad(t, map[string]string{"a.yaml": doc(n)}).Get("net.Port/p")
		return r.Hash
	}
	base := hash("12345678901234567891")
	for _, same := range []string{"1.2345678901234567891e19", "12345678901234567891.0", "12_345_678_901_234_567_891"} {
		if got := hash(same); got != base {
			t.Errorf("hash of %s = %s; want that of 12345678901234567891, %s", same, got, base)
		}
	}
	for _, other := range []string{"12345678901234567892", "12345678901234567890", "1.2345678901234567e19"} {
		if got := hash(other); got == base {
			t.Errorf("hash of %s is that of 12345678901234567891; want another", other)
		}
	}
	// A spec built in Go hashes as the loaded one.
	r := &Resource{Kind: "net.Port", Name: "p", Policy: Policy{Deletion: DeletionDelete},
		Spec: map[string]any{"number": uint64(12345678901234567891), "labels": map[string]any{"x": 0.1}}}
	if got := ResourceHash(r); got != base {
		t.Errorf("hash of a Go spec with uint64 and float64 = %s; want %s", got, base)
	}
}
