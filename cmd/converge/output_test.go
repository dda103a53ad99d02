package main

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

// TestOutputFormats: every command that reports takes -o text, table (the
// same as text), json and yaml (the same data as json, field for field),
// and refuses anything else naming the values it takes.
func TestOutputFormats(t *testing.T) {
	e := applied(t)
	tests := map[string]struct {
		args []string
		// stable: two runs print the same (no durations, no ages), so
		// text and table, json and yaml can be compared.
		stable bool
		code   int
	}{
		"validate": {args: []string{"validate"}, stable: true},
		"plan":     {args: []string{"plan"}, stable: true},
		"drift":    {args: []string{"drift"}, stable: true},
		"history":  {args: []string{"history"}, stable: true},
		"events":   {args: []string{"events"}},
		"status":   {args: []string{"status"}},
		"version":  {args: []string{"version"}, stable: true},
		"apply":    {args: []string{"apply"}},
		"rollback": {args: []string{"rollback"}, code: 1}, // nothing to roll back to
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			run := func(format string) result {
				t.Helper()
				r := e.run(append(tc.args, "-o", format)...)
				if r.code != tc.code {
					t.Fatalf("-o %s: got exit %d; want %d\n%s", format, r.code, tc.code, r)
				}
				return r
			}
			text, table, js, ym := run("text"), run("table"), run("json"), run("yaml")
			if tc.stable && table.stdout != text.stdout {
				t.Errorf("-o table differs from -o text:\n%s", cmp.Diff(text.stdout, table.stdout))
			}
			if tc.code != 0 {
				return
			}
			var fromJSON, fromYAML any
			if err := json.Unmarshal([]byte(js.stdout), &fromJSON); err != nil {
				t.Fatalf("-o json: %v\n%s", err, js.stdout)
			}
			if err := yaml.Unmarshal([]byte(ym.stdout), &fromYAML); err != nil {
				t.Fatalf("-o yaml: %v\n%s", err, ym.stdout)
			}
			if strings.HasPrefix(strings.TrimSpace(ym.stdout), "{") || strings.HasPrefix(strings.TrimSpace(ym.stdout), "[") {
				t.Errorf("-o yaml is in flow style:\n%s", ym.stdout)
			}
			// YAML decodes whole numbers as ints and times as strings
			// only when quoted: compare through JSON.
			b, err := json.Marshal(fromYAML)
			if err != nil {
				t.Fatal(err)
			}
			var yamlAsJSON any
			if err := json.Unmarshal(b, &yamlAsJSON); err != nil {
				t.Fatal(err)
			}
			if tc.stable {
				if diff := cmp.Diff(fromJSON, yamlAsJSON); diff != "" {
					t.Errorf("-o yaml holds other data than -o json (-json +yaml):\n%s", diff)
				}
			} else if sameKeys(fromJSON) != sameKeys(yamlAsJSON) {
				t.Errorf("-o yaml has other fields than -o json:\n%s\n%s", js.stdout, ym.stdout)
			}

			bad := e.run(append(tc.args, "-o", "xml")...)
			if want := `error: -o "xml": must be text, json or yaml (table is text)`; bad.code != 1 || !strings.Contains(bad.stderr, want) {
				t.Errorf("-o xml: got %s; want exit 1 and %q", bad, want)
			}
		})
	}
}

// sameKeys describes the shape of a decoded JSON value: its object keys,
// recursively, and the length of its lists.
func sameKeys(v any) string {
	switch x := v.(type) {
	case map[string]any:
		var b strings.Builder
		b.WriteString("{")
		for _, k := range slices.Sorted(maps.Keys(x)) {
			b.WriteString(k + ":" + sameKeys(x[k]) + ",")
		}
		return b.String() + "}"
	case []any:
		var b strings.Builder
		b.WriteString("[")
		for _, e := range x {
			b.WriteString(sameKeys(e) + ",")
		}
		return b.String() + "]"
	}
	return "."
}

// TestValidateData: validate -o json reports the revision when the
// manifests are valid, and every problem, with its file and line, when
// they are not (exit 1, the problems on stderr too).
func TestValidateData(t *testing.T) {
	tests := map[string]struct {
		files    map[string]string
		code     int
		valid    bool
		problems []string // "file:line field"
	}{
		"valid": {files: map[string]string{"site.yaml": siteYAML}, valid: true},
		"invalid": {
			files:    map[string]string{"a.yaml": "kind: file.Directory\nmetadata:\n  name: d\nspec:\n  path: d\n  colour: red\n"},
			code:     1,
			problems: []string{"a.yaml:6 spec.colour"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.write(tc.files)
			r := e.run("validate", "-o", "json")
			if r.code != tc.code {
				t.Fatalf("got exit %d; want %d\n%s", r.code, tc.code, r)
			}
			var got struct {
				Valid     bool   `json:"valid"`
				Revision  string `json:"revision"`
				Resources int    `json:"resources"`
				Problems  []struct {
					File  string `json:"file"`
					Line  int    `json:"line"`
					Field string `json:"field"`
				} `json:"problems"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("%v\n%s", err, r)
			}
			problems := []string{}
			for _, p := range got.Problems {
				file := p.File[strings.LastIndex(p.File, "/")+1:]
				problems = append(problems, file+":"+itoa(p.Line)+" "+p.Field)
			}
			if tc.problems == nil {
				tc.problems = []string{}
			}
			if got.Valid != tc.valid || cmp.Diff(tc.problems, problems) != "" {
				t.Errorf("got valid %v, problems %v; want %v, %v", got.Valid, problems, tc.valid, tc.problems)
			}
			if tc.valid && (len(got.Revision) != 64 || got.Resources != 4) {
				t.Errorf("got revision %q, %d resources; want the revision and 4", got.Revision, got.Resources)
			}
			if !tc.valid && !strings.Contains(r.stderr, "a.yaml:6") {
				t.Errorf("stderr: got %q; want the problem there too", r.stderr)
			}
		})
	}
}
