package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDriftHeader: the drift header agrees with its count, and says that
// some resources could not be observed only when some could not.
func TestDriftHeader(t *testing.T) {
	const files = `kind: file.File
metadata: {name: a}
spec: {path: a, content: "a\n"}
---
kind: file.File
metadata: {name: b}
spec: {path: b, content: "b\n"}
`
	const unreachable = `---
kind: http.Resource
metadata: {name: api}
spec:
  url: http://127.0.0.1:1/v1/widgets
  body: {name: api}
  adoptBy: name
`
	tests := map[string]struct {
		edit        []string // files changed by hand
		unreachable bool     // a resource that cannot be observed is added
		code        int
		want        string
	}{
		"one":                    {edit: []string{"a"}, code: 2, want: "Drift: 1 resource differs from what converge last applied.\n"},
		"two":                    {edit: []string{"a", "b"}, code: 2, want: "Drift: 2 resources differ from what converge last applied.\n"},
		"one, one not observed":  {edit: []string{"a"}, unreachable: true, code: 1, want: "Drift: 1 resource differs from what converge last applied; 1 could not be observed.\n"},
		"none, one not observed": {unreachable: true, code: 1, want: "Drift unknown: 1 resource could not be observed.\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.write(map[string]string{"m.yaml": files})
			e.mustRun(0, "apply")
			for _, f := range tc.edit {
				if err := os.WriteFile(filepath.Join(e.root, f), []byte("by hand\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.unreachable {
				e.write(map[string]string{"m.yaml": files + unreachable})
			}
			r := e.mustRun(tc.code, "drift")
			if first := strings.SplitAfter(r.stdout, "\n")[0]; first != tc.want {
				t.Errorf("got header %q; want %q\n%s", first, tc.want, r)
			}
		})
	}
}

// TestPlanDestroyNamesNoRevision: plan --destroy targets no revision, and
// says it plans a destroy instead of naming a revision "destroy".
func TestPlanDestroyNamesNoRevision(t *testing.T) {
	e := applied(t)
	for _, args := range [][]string{{"plan", "--destroy"}, {"plan", "--destroy", "--color", "always"}} {
		r := e.mustRun(0, args...)
		if !strings.HasPrefix(r.stdout, "converge plan to destroy everything converge manages here\n\nDelete:\n") || strings.Contains(r.stdout, "revision destroy") {
			t.Errorf("%s: got\n%s", strings.Join(args, " "), r.stdout)
		}
	}
	var p struct {
		Revision *string `json:"revision"`
	}
	r := e.mustRun(0, "plan", "--destroy", "-o", "json")
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil || p.Revision == nil || *p.Revision != "" {
		t.Errorf("plan --destroy -o json: got revision %v (%v); want \"\"\n%s", p.Revision, err, r.stdout)
	}
}

// TestValidateCount: "1 resource is valid", "2 resources are valid".
func TestValidateCount(t *testing.T) {
	tests := map[string]struct {
		files string
		want  string
	}{
		"one": {files: "kind: file.Directory\nmetadata: {name: d}\nspec: {path: d}\n", want: "1 resource is valid (revision "},
		"two": {files: "kind: file.Directory\nmetadata: {name: d}\nspec: {path: d}\n---\nkind: file.Directory\nmetadata: {name: e}\nspec: {path: e}\n", want: "2 resources are valid (revision "},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.write(map[string]string{"m.yaml": tc.files})
			if r := e.mustRun(0, "validate"); !strings.HasPrefix(r.stdout, tc.want) {
				t.Errorf("got %q; want it to start with %q", r.stdout, tc.want)
			}
		})
	}
}
