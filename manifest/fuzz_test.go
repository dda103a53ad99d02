package manifest

import (
	"errors"
	"testing"
)

func FuzzLoadBytes(f *testing.F) {
	seeds := []string{
		dirDoc,
		hashA + "---\n" + hashB + "---\n" + dirDoc,
		"kind: file.File\nmetadata: {name: a}\nspec: {path: \"${file.File/a.outputs.path}\", content: $${x}}\n",
		"a: &x [*x, *x]\nb: &y [*x, *x]\n",
		"kind: ProviderConfig\nmetadata: {name: file}\nspec: {qps: .inf, timeout: 1h}\n",
		"kind: net.Port\nmetadata: {name: p}\nspec: {labels: {<<: {a: 1}}, number: 0x10}\n",
		"---\n---\n- [",
		numbersDoc,
		"kind: net.Port\nmetadata: {name: p}\nspec:\n  labels:\n    big: &s xxxxxxxx\n    copies: [*s, *s, *s, {k: *s}]\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	reg := testRegistry(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		rv, err := LoadBytes(map[string][]byte{"f.yaml": data, "d.yaml": []byte(dirDoc)}, reg)
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 || rv != nil {
				t.Fatalf("LoadBytes() = %v, %T %v; want nil and a non-empty ErrorList", rv, err, err)
			}
			return
		}
		b, err := Marshal(rv)
		if err != nil {
			t.Fatalf("Marshal() error = %v", err)
		}
		if _, err := Unmarshal(b); err != nil {
			t.Fatalf("Unmarshal() error = %v", err)
		}
	})
}
