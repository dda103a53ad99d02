package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const dirDoc = `kind: file.Directory
metadata: {name: www}
spec: {path: /www}
`

func TestLoadBytes(t *testing.T) {
	files := map[string][]byte{
		"b.yaml": []byte(`# the page
apiVersion: converge/v1
kind: file.File
metadata:
  name: index.html
  labels: {app: site}
dependsOn:
  - file.Directory/www
policy:
  drift: alert
spec:
  path: ${file.Directory/www.outputs.path}/index.html
  mode: 755
  content: "cost: $${not.a/ref}"
  args: [a, "${file.Directory/www.outputs.path}", 3]
  owner:
    user: ${file.Directory/www.outputs.path}
    uid: 1000
    ratio: 1.5
---
---
kind: ProviderConfig
metadata: {name: file}
spec: {qps: 2.5, burst: 5, maxInFlight: 3, timeout: 30s, readAfterWriteGrace: 0s}
`),
		"a.yml": []byte(dirDoc),
	}
	rv, err := LoadBytes(files, testRegistry(t))
	if err != nil {
		t.Fatalf("LoadBytes() error = %v", err)
	}
	want := &Revision{
		Paths: []string{"a.yml", "b.yaml"},
		Resources: []*Resource{
			{
				ID: "file.Directory/www", Kind: "file.Directory", Name: "www",
				Policy: Policy{Deletion: DeletionDelete}, // drift unset: the run default applies
				Spec:   map[string]any{"path": "/www"},
				Source: Source{File: "a.yml", Line: 1},
			},
			{
				ID: "file.File/index.html", Kind: "file.File", Name: "index.html",
				Labels:    map[string]string{"app": "site"},
				DependsOn: []string{"file.Directory/www"},
				Policy:    Policy{Drift: DriftAlert, Deletion: DeletionDelete},
				Spec: map[string]any{
					"path":    "${file.Directory/www.outputs.path}/index.html",
					"mode":    "0755",
					"content": "cost: $${not.a/ref}",
					"args":    []any{"a", "${file.Directory/www.outputs.path}", int64(3)},
					"owner":   map[string]any{"user": "${file.Directory/www.outputs.path}", "uid": int64(1000), "ratio": 1.5},
				},
				Refs: []Ref{
					{Target: "file.Directory/www", Output: "path", Field: "spec.path", Source: Source{File: "b.yaml", Line: 12}},
					{Target: "file.Directory/www", Output: "path", Field: "spec.args[1]", Source: Source{File: "b.yaml", Line: 15}},
					{Target: "file.Directory/www", Output: "path", Field: "spec.owner.user", Source: Source{File: "b.yaml", Line: 17}},
				},
				Source: Source{File: "b.yaml", Line: 3},
			},
		},
		ProviderConfigs: map[string]ProviderConfig{
			"file": {Name: "file", QPS: 2.5, Burst: 5, MaxInFlight: 3, Timeout: "30s", ReadAfterWriteGrace: "0s", Source: Source{File: "b.yaml", Line: 22}},
		},
	}
	opts := cmp.Options{cmpopts.IgnoreUnexported(Revision{}), cmpopts.IgnoreFields(Resource{}, "Hash"), cmpopts.IgnoreFields(Revision{}, "Hash")}
	if diff := cmp.Diff(want, rv, opts); diff != "" {
		t.Errorf("LoadBytes() mismatch (-want +got):\n%s", diff)
	}
	for _, r := range rv.Resources {
		if len(r.Hash) != 64 {
			t.Errorf("%s: Hash = %q; want 64 hex digits", r.ID, r.Hash)
		}
		if got, ok := rv.Get(r.ID); !ok || got != r {
			t.Errorf("Get(%q) = %v, %v; want the resource", r.ID, got, ok)
		}
	}
	if len(rv.Hash) != 64 {
		t.Errorf("Revision.Hash = %q; want 64 hex digits", rv.Hash)
	}
}

// loadErrors loads files and returns the ErrorList, failing if there is none.
func loadErrors(t *testing.T, files map[string]string) ErrorList {
	t.Helper()
	in := map[string][]byte{}
	for k, v := range files {
		in[k] = []byte(v)
	}
	rv, err := LoadBytes(in, testRegistry(t))
	if err == nil {
		t.Fatalf("LoadBytes() = %v, nil error; want errors", rv)
	}
	if rv != nil {
		t.Errorf("LoadBytes() returned a revision with errors")
	}
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("LoadBytes() error is %T; want ErrorList", err)
	}
	return list
}

func TestLoadErrors(t *testing.T) {
	tests := map[string]struct {
		files map[string]string
		want  ErrorList
	}{
		"invalid yaml": {
			files: map[string]string{"a.yaml": "kind: file.File\nmetadata: [\n"},
			want:  ErrorList{{File: "a.yaml", Line: 3, Msg: "invalid YAML: did not find expected node content"}},
		},
		"invalid yaml: unclosed flow list": {
			files: map[string]string{"a.yaml": "kind: file.File\nmetadata:\n  name: a\nspec:\n  path: [unclosed\n  content: x\n"},
			want:  ErrorList{{File: "a.yaml", Line: 5, Msg: "invalid YAML: did not find expected ',' or ']'"}},
		},
		"invalid yaml: bad indentation": {
			files: map[string]string{"a.yaml": "kind: file.File\nmetadata:\n  name: c\n spec: {}\n"},
			want:  ErrorList{{File: "a.yaml", Line: 4, Msg: "invalid YAML: did not find expected key"}},
		},
		"not a map": {
			files: map[string]string{"a.yaml": "- kind\n"},
			want:  ErrorList{{File: "a.yaml", Line: 1, Msg: "a manifest document must be a map, got a list"}},
		},
		"missing kind and metadata": {
			files: map[string]string{"a.yaml": "spec: {}\n"},
			want: ErrorList{
				{File: "a.yaml", Line: 1, Field: "kind", Msg: "is required"},
				{File: "a.yaml", Line: 1, Field: "metadata.name", Msg: "is required"},
			},
		},
		"unknown kind": {
			files: map[string]string{"a.yaml": "kind: file.Fil\nmetadata: {name: a}\n"},
			want: ErrorList{{File: "a.yaml", Line: 1, Resource: "file.Fil/a", Field: "kind",
				Msg: `unknown kind "file.Fil": did you mean file.File? (known kinds: file.Directory, file.File, net.Port)`}},
		},
		"a bare kind name": {
			files: map[string]string{"a.yaml": "kind: File\nmetadata: {name: a}\n"},
			want: ErrorList{{File: "a.yaml", Line: 1, Resource: "File/a", Field: "kind",
				Msg: `unknown kind "File": did you mean file.File? (known kinds: file.Directory, file.File, net.Port)`}},
		},
		"typos of top-level and metadata fields": {
			files: map[string]string{"a.yaml": "kind: file.Directory\nmetadata: {name: www, nmae: x}\ndependOn: []\npolcy: {}\nspec: {path: /www}\n"},
			want: ErrorList{
				{File: "a.yaml", Line: 2, Resource: "file.Directory/www", Field: "metadata.nmae", Msg: "unknown field: did you mean metadata.name?"},
				{File: "a.yaml", Line: 3, Resource: "file.Directory/www", Field: "dependOn", Msg: "unknown field: did you mean dependsOn?"},
				{File: "a.yaml", Line: 4, Resource: "file.Directory/www", Field: "polcy", Msg: "unknown field: did you mean policy?"},
			},
		},
		"a dependsOn typo names the closest ID": {
			files: map[string]string{"a.yaml": dirDoc + "---\nkind: file.Directory\nmetadata: {name: b}\ndependsOn: [file.Directory/wwv, file.Dir/www, file.File/www, file.Directory/zzzzzz]\nspec: {path: /b}\n"},
			want: ErrorList{
				{File: "a.yaml", Line: 7, Resource: "file.Directory/b", Field: "dependsOn[0]", Msg: "no resource file.Directory/wwv in the manifests: did you mean file.Directory/www?"},
				{File: "a.yaml", Line: 7, Resource: "file.Directory/b", Field: "dependsOn[1]", Msg: "no resource file.Dir/www in the manifests: did you mean file.Directory/www?"},
				{File: "a.yaml", Line: 7, Resource: "file.Directory/b", Field: "dependsOn[2]", Msg: "no resource file.File/www in the manifests: did you mean file.Directory/www?"},
				{File: "a.yaml", Line: 7, Resource: "file.Directory/b", Field: "dependsOn[3]", Msg: "no resource file.Directory/zzzzzz in the manifests"},
			},
		},
		"a tab used for indentation": {
			files: map[string]string{"a.yaml": "kind: file.Directory\nmetadata:\n\tname: www\nspec: {path: /www}\n"},
			want:  ErrorList{{File: "a.yaml", Line: 3, Msg: "invalid YAML: a tab indents this line; YAML indents with spaces only"}},
		},
		"a tab used for indentation, deeper": {
			files: map[string]string{"a.yaml": "kind: file.Directory\nmetadata:\n  name: www\nspec:\n  path: /www\n\t  mode: \"0755\"\n"},
			want:  ErrorList{{File: "a.yaml", Line: 6, Msg: "invalid YAML: a tab indents this line; YAML indents with spaces only"}},
		},
		"unknown kind, nothing near": {
			files: map[string]string{"a.yaml": "kind: postgres.Role\nmetadata: {name: a}\n"},
			want: ErrorList{{File: "a.yaml", Line: 1, Resource: "postgres.Role/a", Field: "kind",
				Msg: `unknown kind "postgres.Role" (known kinds: file.Directory, file.File, net.Port)`}},
		},
		"unknown fields": {
			files: map[string]string{"a.yaml": dirDoc + "specs: {}\n---\nkind: file.Directory\nmetadata: {name: b, namespace: x}\nspec: {path: /b}\n"},
			want: ErrorList{
				{File: "a.yaml", Line: 4, Resource: "file.Directory/www", Field: "specs", Msg: "unknown field: did you mean spec?"},
				{File: "a.yaml", Line: 7, Resource: "file.Directory/b", Field: "metadata.namespace", Msg: "unknown field"},
			},
		},
		"duplicate top-level key": {
			files: map[string]string{"a.yaml": dirDoc + "kind: file.File\n"},
			want:  ErrorList{{File: "a.yaml", Line: 4, Resource: "file.Directory/www", Field: "kind", Msg: "duplicate key"}},
		},
		"bad names": {
			files: map[string]string{"a.yaml": "kind: file.Directory\nmetadata: {name: -a}\nspec: {path: /}\n---\nkind: file.Directory\nmetadata: {name: \"a b\"}\n---\nkind: file.Directory\nmetadata: {name: \"\"}\n---\nkind: file.Directory\nmetadata: {name: [x]}\n---\nkind: file.Directory\nmetadata: {name: " + strings.Repeat("x", 254) + "}\n"},
			want: ErrorList{
				{File: "a.yaml", Line: 2, Field: "metadata.name", Msg: `"-a" must start with a letter or digit`},
				{File: "a.yaml", Line: 5, Field: "spec.path", Msg: "is required"},
				{File: "a.yaml", Line: 6, Field: "metadata.name", Msg: `"a b" may hold only letters, digits, '.', '_' and '-'`},
				{File: "a.yaml", Line: 8, Field: "spec.path", Msg: "is required"},
				{File: "a.yaml", Line: 9, Field: "metadata.name", Msg: "must not be empty"},
				{File: "a.yaml", Line: 11, Field: "spec.path", Msg: "is required"},
				{File: "a.yaml", Line: 12, Field: "metadata.name", Msg: "must be a string, got a list"},
				{File: "a.yaml", Line: 14, Field: "spec.path", Msg: "is required"},
				{File: "a.yaml", Line: 15, Field: "metadata.name", Msg: "is 254 characters long; the limit is 253"},
			},
		},
		"duplicate id names the first": {
			files: map[string]string{"a.yaml": dirDoc, "b.yaml": "\n" + dirDoc},
			want:  ErrorList{{File: "b.yaml", Line: 2, Resource: "file.Directory/www", Msg: "duplicate resource file.Directory/www (first defined at a.yaml:1)"}},
		},
		"schema errors at their lines": {
			files: map[string]string{"a.yaml": "kind: file.File\nmetadata: {name: a}\nspec:\n  mode: 999\n  size: big\n  sha256: x\n  colour: red\n"},
			want: ErrorList{
				{File: "a.yaml", Line: 3, Resource: "file.File/a", Field: "spec.path", Msg: "is required"},
				{File: "a.yaml", Line: 4, Resource: "file.File/a", Field: "spec.mode", Msg: `"999" is not an octal mode`},
				{File: "a.yaml", Line: 5, Resource: "file.File/a", Field: "spec.size", Msg: "must be a int, got string"},
				{File: "a.yaml", Line: 6, Resource: "file.File/a", Field: "spec.sha256", Msg: "is computed by the provider and cannot be set"},
				{File: "a.yaml", Line: 7, Resource: "file.File/a", Field: "spec.colour", Msg: "unknown field for kind file.File (known: args, content, mode, owner, path, sha256, size)"},
			},
		},
		"missing spec reports the kind line": {
			files: map[string]string{"a.yaml": "\nkind: file.Directory\nmetadata: {name: a}\n"},
			want:  ErrorList{{File: "a.yaml", Line: 2, Resource: "file.Directory/a", Field: "spec.path", Msg: "is required"}},
		},
		"validator errors": {
			files: map[string]string{"a.yaml": "kind: file.File\nmetadata: {name: a}\nspec:\n  content: x\n  path: ../etc/passwd\n"},
			want:  ErrorList{{File: "a.yaml", Line: 5, Resource: "file.File/a", Field: "spec.path", Msg: "escapes the root"}},
		},
		"policy and dependsOn shapes": {
			files: map[string]string{"a.yaml": dirDoc + "policy: {drift: fix, deletion: keep, when: now}\ndependsOn: [www, {a: b}]\n"},
			want: ErrorList{
				{File: "a.yaml", Line: 4, Resource: "file.Directory/www", Field: "policy.when", Msg: "unknown field"},
				{File: "a.yaml", Line: 4, Resource: "file.Directory/www", Field: "policy.drift", Msg: `"fix" is not one of correct, alert, ignore`},
				{File: "a.yaml", Line: 4, Resource: "file.Directory/www", Field: "policy.deletion", Msg: `"keep" is not one of delete, orphan`},
				{File: "a.yaml", Line: 5, Resource: "file.Directory/www", Field: "dependsOn[0]", Msg: `"www" is not an ID: want kind/name, as in file.File/index`},
				{File: "a.yaml", Line: 5, Resource: "file.Directory/www", Field: "dependsOn[1]", Msg: "must be a string, got a map"},
			},
		},
		"dangling dependsOn and references, unknown output": {
			files: map[string]string{"a.yaml": dirDoc + "---\nkind: file.File\nmetadata: {name: a}\ndependsOn:\n  - file.File/nope\nspec:\n  path: ${file.Directory/gone.outputs.path}\n  content: ${file.Directory/www.outputs.size}\n"},
			want: ErrorList{
				{File: "a.yaml", Line: 8, Resource: "file.File/a", Field: "dependsOn[0]", Msg: "no resource file.File/nope in the manifests"},
				{File: "a.yaml", Line: 10, Resource: "file.File/a", Field: "spec.path", Msg: "reference to file.Directory/gone: no such resource in the manifests"},
				{File: "a.yaml", Line: 11, Resource: "file.File/a", Field: "spec.content", Msg: `reference to file.Directory/www: kind file.Directory has no output "size" (outputs: path)`},
			},
		},
		"malformed references": {
			files: map[string]string{"a.yaml": "kind: file.File\nmetadata: {name: a}\nspec:\n  path: ${file.Directory/www}\n  content: \"${file.File/a.outputs.path\"\n  args: [\"${ x }\"]\n"},
			want: ErrorList{
				{File: "a.yaml", Line: 4, Resource: "file.File/a", Field: "spec.path", Msg: `malformed reference "${file.Directory/www}": want ${KIND/NAME.outputs.FIELD} (write $${ for a literal ${)`},
				{File: "a.yaml", Line: 5, Resource: "file.File/a", Field: "spec.content", Msg: `unterminated reference "${file.File/a.outputs.path": want ${KIND/NAME.outputs.FIELD} (write $${ for a literal ${)`},
				{File: "a.yaml", Line: 6, Resource: "file.File/a", Field: "spec.args[0]", Msg: `malformed reference "${ x }": want ${KIND/NAME.outputs.FIELD} (write $${ for a literal ${)`},
			},
		},
		"provider configs": {
			files: map[string]string{"a.yaml": "kind: ProviderConfig\nmetadata: {name: file}\nspec: {qps: 0, burst: 1.5, maxInFlight: -1, timeout: soon, readAfterWriteGrace: -1s, extra: 1}\n---\nkind: ProviderConfig\nmetadata: {name: cloud}\ndependsOn: []\n", "b.yaml": "kind: ProviderConfig\nmetadata: {name: file}\n"},
			want: ErrorList{
				{File: "a.yaml", Line: 3, Resource: "ProviderConfig/file", Field: "spec.extra", Msg: "unknown field"},
				{File: "a.yaml", Line: 3, Resource: "ProviderConfig/file", Field: "spec.qps", Msg: "must be a number greater than 0"},
				{File: "a.yaml", Line: 3, Resource: "ProviderConfig/file", Field: "spec.burst", Msg: "must be an integer of at least 1"},
				{File: "a.yaml", Line: 3, Resource: "ProviderConfig/file", Field: "spec.maxInFlight", Msg: "must be an integer of at least 1"},
				{File: "a.yaml", Line: 3, Resource: "ProviderConfig/file", Field: "spec.timeout", Msg: "must be a positive Go duration such as 30s or 2m, got soon"},
				{File: "a.yaml", Line: 3, Resource: "ProviderConfig/file", Field: "spec.readAfterWriteGrace", Msg: "must be a Go duration such as 10s or 0s, got -1s"},
				{File: "a.yaml", Line: 6, Resource: "ProviderConfig/cloud", Field: "metadata.name", Msg: `no provider "cloud" is registered (known providers: file, net)`},
				{File: "a.yaml", Line: 7, Resource: "ProviderConfig/cloud", Field: "dependsOn", Msg: "is not allowed in a ProviderConfig"},
				{File: "b.yaml", Line: 1, Resource: "ProviderConfig/file", Msg: `duplicate ProviderConfig for provider "file" (first defined at a.yaml:1)`},
			},
		},
		"yaml oddities": {
			files: map[string]string{"a.yaml": "kind: net.Port\nmetadata: {name: a}\nspec:\n  number: .nan\n  labels: {<<: {a: 1}, b: !custom x, b: 2}\n"},
			want: ErrorList{
				{File: "a.yaml", Line: 4, Resource: "net.Port/a", Field: "spec.number", Msg: "NaN and infinite numbers are not supported"},
				{File: "a.yaml", Line: 5, Resource: "net.Port/a", Field: "spec.labels", Msg: "merge keys (<<) are not supported"},
				{File: "a.yaml", Line: 5, Resource: "net.Port/a", Field: "spec.labels.b", Msg: "unsupported YAML tag !custom"},
				{File: "a.yaml", Line: 5, Resource: "net.Port/a", Field: "spec.labels.b", Msg: "duplicate key"},
			},
		},
		"alias expansion is bounded": {
			files: map[string]string{"a.yaml": "kind: net.Port\nmetadata: {name: p}\nspec:\n  labels:\n" +
				"    a: &a [x,x,x,x,x,x,x,x,x,x]\n    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n" +
				"    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n    f: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"},
			want: ErrorList{{File: "a.yaml", Line: 5, Resource: "net.Port/p", Field: "spec.labels.e[7][0][7][0][7]", Msg: "document expands to more than 100000 values (aliases?)"}},
		},
		"recursive alias": {
			files: map[string]string{"a.yaml": "kind: net.Port\nmetadata: {name: p}\nspec:\n  labels: &x {a: *x}\n"},
			want:  ErrorList{{File: "a.yaml", Line: 4, Resource: "net.Port/p", Field: "spec.labels" + strings.Repeat(".a", 32), Msg: "nested more than 64 levels deep (recursive alias?)"}},
		},
		"self reference and self dependsOn are cycles": {
			files: map[string]string{"a.yaml": "kind: file.File\nmetadata: {name: a}\nspec:\n  path: /a\n  content: ${file.File/a.outputs.sha256}\n---\nkind: file.Directory\nmetadata: {name: d}\ndependsOn: [file.Directory/d]\nspec: {path: /d}\n"},
			want: ErrorList{
				{File: "a.yaml", Line: 5, Resource: "file.File/a", Field: "spec.content", Msg: "cycle: file.File/a needs file.File/a: reference in spec.content at a.yaml:5"},
				{File: "a.yaml", Line: 9, Resource: "file.Directory/d", Field: "dependsOn[0]", Msg: "cycle: file.Directory/d needs file.Directory/d: dependsOn at a.yaml:9"},
			},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got := loadErrors(t, tt.files)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCycleMessage(t *testing.T) {
	got := loadErrors(t, map[string]string{
		"a.yaml": "kind: file.File\nmetadata: {name: a}\ndependsOn: [file.File/b]\nspec: {path: /a}\n",
		"b.yaml": "kind: file.File\nmetadata: {name: b}\nspec:\n  path: /b\n  content: x ${file.File/c.outputs.sha256}\n",
		"c.yaml": "kind: file.File\nmetadata: {name: c}\nspec:\n  path: ${file.File/a.outputs.path}.c\n",
	})
	want := ErrorList{{
		File: "a.yaml", Line: 3, Resource: "file.File/a", Field: "dependsOn[0]",
		Msg: "cycle: file.File/a needs file.File/b: dependsOn at a.yaml:3; " +
			"file.File/b needs file.File/c: reference in spec.content at b.yaml:5; " +
			"file.File/c needs file.File/a: reference in spec.path at c.yaml:4",
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors mismatch (-want +got):\n%s", diff)
	}
	wantText := "a.yaml:3: file.File/a: dependsOn[0]: cycle: file.File/a needs file.File/b: dependsOn at a.yaml:3; " +
		"file.File/b needs file.File/c: reference in spec.content at b.yaml:5; " +
		"file.File/c needs file.File/a: reference in spec.path at c.yaml:4"
	if got.Error() != wantText {
		t.Errorf("Error() = %q; want %q", got.Error(), wantText)
	}
}

// TestManyErrors checks that every problem is reported at once, sorted by
// file then line, whatever order they were found in.
func TestManyErrors(t *testing.T) {
	got := loadErrors(t, map[string]string{
		"b.yaml": "kind: file.File\nmetadata: {name: x}\nspec: {path: /x, size: no}\n---\nkind: nope.Kind\nmetadata: {name: y}\n",
		"a.yaml": "kind: file.File\nmetadata: {name: a}\ndependsOn: [file.File/zz]\nspec: {path: /a}\n---\n: [\n",
	})
	var where []string
	for _, e := range got {
		where = append(where, Source{File: e.File, Line: e.Line}.String())
	}
	if diff := cmp.Diff([]string{"a.yaml:3", "a.yaml:6", "b.yaml:3", "b.yaml:5"}, where); diff != "" {
		t.Errorf("error places mismatch (-want +got):\n%s\n%v", diff, got)
	}
	if !strings.HasPrefix(got.Error(), "4 problems:\n  a.yaml:3: file.File/a: dependsOn[0]: no resource file.File/zz") {
		t.Errorf("Error() = %q; want it to start with the count and the first problem", got.Error())
	}
}

func TestLoadPaths(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("dirs.yaml", dirDoc)
	write("sub/deep/page.yml", "kind: file.File\nmetadata: {name: p}\nspec: {path: /p}\n")
	write("sub/notes.txt", "not: yaml: at all: [")
	write(".git/config.yaml", "broken: [")
	write("sub/.converge/state.yaml", "broken: [")
	write(".hidden.yaml", "broken: [")
	write("extra.conf", "kind: file.File\nmetadata: {name: e}\nspec: {path: /e}\n")

	reg := testRegistry(t)
	rv, err := Load([]string{dir, filepath.Join(dir, "extra.conf")}, reg)
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	var got []string
	for _, r := range rv.Resources {
		got = append(got, r.ID+" "+strings.TrimPrefix(r.Source.File, dir))
	}
	want := []string{"file.Directory/www /dirs.yaml", "file.File/e /extra.conf", "file.File/p /sub/deep/page.yml"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("resources mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{dir, filepath.Join(dir, "extra.conf")}, rv.Paths); diff != "" {
		t.Errorf("Paths mismatch (-want +got):\n%s", diff)
	}

	missing := filepath.Join(dir, "missing")
	_, err = Load([]string{dir, missing}, reg)
	wantErrs := ErrorList{{File: missing, Msg: "stat: no such file or directory"}}
	if diff := cmp.Diff(wantErrs, err); diff != "" {
		t.Errorf("Load(missing) error mismatch (-want +got):\n%s", diff)
	}
}

func TestLoadGraph(t *testing.T) {
	dir := t.TempDir()
	content := "kind: file.File\nmetadata: {name: a}\ndependsOn: [file.File/b, file.Directory/www]\nspec: {path: /a}\n---\n" +
		"kind: file.File\nmetadata: {name: b}\nspec:\n  path: ${file.File/a.outputs.path}\n---\n" + dirDoc
	if err := os.WriteFile(filepath.Join(dir, "m.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := LoadGraph([]string{dir}, testRegistry(t))
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 1 || !strings.HasPrefix(list[0].Msg, "cycle: ") {
		t.Fatalf("LoadGraph() error = %v; want one cycle error", err)
	}
	if g == nil {
		t.Fatalf("LoadGraph() graph is nil; want the graph drawn despite the cycle")
	}
	file := filepath.Join(dir, "m.yaml")
	var got []string
	for _, e := range g.Edges() {
		got = append(got, e.String())
	}
	want := []string{
		"file.File/a needs file.Directory/www: dependsOn at " + file + ":3",
		"file.File/a needs file.File/b: dependsOn at " + file + ":3",
		"file.File/b needs file.File/a: reference in spec.path at " + file + ":9",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("edges mismatch (-want +got):\n%s", diff)
	}

	// A valid revision gives the same graph through BuildGraph: the
	// loader's, with the line of each dependsOn entry.
	rv, err := LoadBytes(map[string][]byte{"m.yaml": []byte(strings.Replace(content, "file.File/b, ", "", 1))}, testRegistry(t))
	if err != nil {
		t.Fatalf("LoadBytes() error = %v", err)
	}
	got = nil
	for _, e := range BuildGraph(rv).Edges() {
		got = append(got, e.String())
	}
	want = []string{
		"file.File/a needs file.Directory/www: dependsOn at m.yaml:3",
		"file.File/b needs file.File/a: reference in spec.path at m.yaml:9",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("BuildGraph edges mismatch (-want +got):\n%s", diff)
	}
	// A revision that did not come from the loader (one kept in the store)
	// gets a graph built from its resources, dependsOn at the kind line.
	b, err := Marshal(rv)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, e := range BuildGraph(stored).Edges() {
		got = append(got, e.String())
	}
	want[0] = "file.File/a needs file.Directory/www: dependsOn at m.yaml:1"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("BuildGraph of a stored revision (-want +got):\n%s", diff)
	}
}
