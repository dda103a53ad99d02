package manifest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDeclared: the ProviderConfigs that name a spec.source are found
// before any provider is registered, wherever they are in the files, and
// documents that are not (or cannot be read) are skipped for Load to
// report.
func TestDeclared(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", `kind: file.File
metadata: {name: x}
spec: {path: x}
---
kind: ProviderConfig
metadata: {name: random}
spec:
  source: hashicorp/random
  version: "~> 3.9"
  config: {}
`)
	write("b.yaml", `# several documents, one of them broken
kind: ProviderConfig
metadata: {name: analytics}
spec: {source: postgres}
---
kind: ProviderConfig
metadata: {name: file}
spec: {qps: 3}
---
kind: ProviderConfig
metadata: {name: broken
`)
	write("c.yaml", "kind: ProviderConfig\nmetadata: {name: random}\nspec: {source: other/random}\n")
	got := Read([]string{dir}).Declared()
	want := []Declared{
		{Name: "analytics", Plugin: "postgres", Source: Source{File: filepath.Join(dir, "b.yaml"), Line: 2}},
		{Name: "random", Plugin: "hashicorp/random", Version: "~> 3.9", Source: Source{File: filepath.Join(dir, "a.yaml"), Line: 5}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Declared (-want +got):\n%s", d)
	}
	if got := Read([]string{t.TempDir()}).Declared(); len(got) != 0 {
		t.Errorf("Declared of an empty directory = %v", got)
	}
}

func TestProviderConfigSourceAndImportID(t *testing.T) {
	reg := testRegistry(t)
	rv, err := LoadBytes(map[string][]byte{"p.yaml": []byte("kind: ProviderConfig\nmetadata: {name: file}\nspec: {source: file, version: \">= 1.0\"}\n")}, reg)
	if err != nil {
		t.Fatal(err)
	}
	if c := rv.ProviderConfigs["file"]; c.Plugin != "file" || c.Version != ">= 1.0" {
		t.Errorf("ProviderConfig = %+v; want plugin file, version >= 1.0", c)
	}
	plain, err := LoadBytes(map[string][]byte{"p.yaml": []byte("kind: ProviderConfig\nmetadata: {name: file}\nspec: {}\n")}, reg)
	if err != nil {
		t.Fatal(err)
	}
	if rv.Hash == plain.Hash {
		t.Errorf("a source and version do not change the revision hash")
	}
	for _, tc := range []struct{ doc, field, msg string }{
		{"kind: ProviderConfig\nmetadata: {name: file}\nspec: {version: \"1.0\"}\n", "spec.version", "needs spec.source: a version constrains the provider source names"},
		{"kind: ProviderConfig\nmetadata: {name: file}\nspec: {source: 3}\n", "spec.source", "must be a non-empty string, got 3"},
		{"kind: ProviderConfig\nmetadata: {name: file}\nspec: {source: \" \"}\n", "spec.source", "must be a non-empty string, got  "},
		{"kind: ProviderConfig\nmetadata: {name: file}\nimportId: x\n", "importId", "is not allowed in a ProviderConfig"},
	} {
		_, err := LoadBytes(map[string][]byte{"p.yaml": []byte(tc.doc)}, reg)
		var list ErrorList
		if !errors.As(err, &list) || len(list) != 1 || list[0].Field != tc.field || list[0].Msg != tc.msg {
			t.Errorf("%q: %v; want one error on %s: %s", tc.doc, err, tc.field, tc.msg)
		}
	}
}

func TestImportID(t *testing.T) {
	reg := testRegistry(t)
	doc := "kind: file.File\nmetadata: {name: a}\nimportId: %s\nspec: {path: a}\n"
	rv, err := LoadBytes(map[string][]byte{"m.yaml": []byte(fmt.Sprintf(doc, "existing-42"))}, reg)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := LoadBytes(map[string][]byte{"m.yaml": []byte("kind: file.File\nmetadata: {name: a}\nspec: {path: a}\n")}, reg)
	if err != nil {
		t.Fatal(err)
	}
	if r := rv.Resources[0]; r.ImportID != "existing-42" || r.Hash == plain.Resources[0].Hash {
		t.Errorf("resource %+v; want importId existing-42, and another hash than without it", r)
	}
	_, err = LoadBytes(map[string][]byte{"m.yaml": []byte(fmt.Sprintf(doc, `""`))}, reg)
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 1 || list[0].Field != "importId" || list[0].Line != 3 {
		t.Errorf("an empty importId: %v; want one error at line 3 on importId", err)
	}
}

func TestIdempotentCreates(t *testing.T) {
	reg := testRegistry(t)
	rv, err := LoadBytes(map[string][]byte{"p.yaml": []byte("kind: ProviderConfig\nmetadata: {name: file}\nspec: {idempotentCreates: true}\n")}, reg)
	if err != nil {
		t.Fatal(err)
	}
	if !rv.ProviderConfigs["file"].IdempotentCreates {
		t.Errorf("idempotentCreates not read: %+v", rv.ProviderConfigs["file"])
	}
	for _, tc := range []struct{ spec, msg string }{
		{"{idempotentCreates: yes please}", "must be true or false, got yes please"},
		{"{readAfterWriteGrace: 5s, idempotentCreates: true}", "and spec.readAfterWriteGrace both say how long to wait after an ambiguous create: with idempotentCreates: true converge does not wait; remove one"},
	} {
		_, err := LoadBytes(map[string][]byte{"p.yaml": []byte("kind: ProviderConfig\nmetadata: {name: file}\nspec: " + tc.spec + "\n")}, reg)
		var list ErrorList
		if !errors.As(err, &list) || len(list) != 1 || list[0].Field != "spec.idempotentCreates" || list[0].Msg != tc.msg || list[0].Line != 3 {
			t.Errorf("%s: %v; want one error on spec.idempotentCreates: %s", tc.spec, err, tc.msg)
		}
	}
}
