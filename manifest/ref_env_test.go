package manifest

import (
	"testing"

	"github.com/convergehq/converge/provider"
)

func TestEnvIsNotAReference(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    string // the literal text
		wantErr bool
	}{
		"whole":       {in: "${env:API_TOKEN}", want: "${env:API_TOKEN}"},
		"inside":      {in: "Bearer ${env:API_TOKEN}", want: "Bearer ${env:API_TOKEN}"},
		"bad name":    {in: "${env:API-TOKEN}", wantErr: true},
		"empty name":  {in: "${env:}", wantErr: true},
		"digit first": {in: "${env:1X}", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			parts, hasRef, err := parseTemplate(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseTemplate(%q) error = %v; want error %v", tc.in, err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if hasRef {
				t.Errorf("parseTemplate(%q) found a reference", tc.in)
			}
			var got string
			for _, p := range parts {
				got += p.lit
			}
			if got != tc.want {
				t.Errorf("literal = %q; want %q", got, tc.want)
			}
		})
	}
}

// In a field that expands the environment, only the manifest's own
// ${env:NAME} stay live: every other "$" (from an output, from an escape
// $${, or plain text) is escaped so that provider.ExpandEnv gives it back
// literally. Other fields keep the text as it is.
func TestResolveEnvField(t *testing.T) {
	schema := provider.Schema{Fields: map[string]provider.Field{
		"headers": {Type: provider.Map, Env: true},
		"token":   {Type: provider.String, Env: true},
		"content": {Type: provider.String},
	}}
	outputs := map[string]map[string]any{
		"http.Resource/evil": {"name": "${env:SECRET}", "price": "$$5", "obj": map[string]any{"k": "${env:SECRET}"}},
	}
	lookup := func(id string) (map[string]any, bool) { o, ok := outputs[id]; return o, ok }
	env := map[string]string{"SECRET": "top-secret", "TOKEN": "tok-123"}
	expand := func(s string) string {
		got, _, err := provider.ExpandEnv(s, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if err != nil {
			t.Fatalf("ExpandEnv(%q): %v", s, err)
		}
		return got
	}
	tests := map[string]struct {
		field, written string
		want           string // after resolution, and ExpandEnv for Env fields
	}{
		"manifest env is expanded":      {field: "token", written: "Bearer ${env:TOKEN}", want: "Bearer tok-123"},
		"escaped env is literal":        {field: "token", written: "$${env:SECRET}", want: "${env:SECRET}"},
		"output env is literal":         {field: "token", written: "${http.Resource/evil.outputs.name}", want: "${env:SECRET}"},
		"output env inside a string":    {field: "token", written: "x-${http.Resource/evil.outputs.name}-${env:TOKEN}", want: "x-${env:SECRET}-tok-123"},
		"dollars in outputs are kept":   {field: "token", written: "${http.Resource/evil.outputs.price}", want: "$$5"},
		"dollars in text are kept":      {field: "token", written: "pa$$word $HOME", want: "pa$$word $HOME"},
		"dollar before a live env":      {field: "token", written: "${http.Resource/evil.outputs.price}${env:TOKEN}", want: "$$5tok-123"},
		"output map in a map field":     {field: "headers", written: "${http.Resource/evil.outputs.obj}", want: `{"k":"${env:SECRET}"}`},
		"other fields keep env as text": {field: "content", written: "${env:SECRET} and ${http.Resource/evil.outputs.name}", want: "${env:SECRET} and ${env:SECRET}"},
		"other fields undo the escape":  {field: "content", written: "$${env:SECRET}", want: "${env:SECRET}"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := &Resource{ID: "x.X/r", Spec: map[string]any{tc.field: tc.written}}
			spec, unresolved := Resolve(r, schema, lookup)
			if len(unresolved) > 0 {
				t.Fatalf("unresolved %v", unresolved)
			}
			var got string
			switch v := spec[tc.field].(type) {
			case string:
				got = v
				if schema.Fields[tc.field].Env {
					got = expand(v)
				}
			case map[string]any:
				got = `{"k":"` + expand(v["k"].(string)) + `"}`
			default:
				t.Fatalf("spec.%s = %#v", tc.field, v)
			}
			if got != tc.want {
				t.Errorf("%s %q: resolved %q, expanded %q; want %q", tc.field, tc.written, spec[tc.field], got, tc.want)
			}
		})
	}
}

// A loaded manifest keeps an Env field's template as written, with or
// without references in it, so that resolution still tells the
// manifest's own ${env:NAME} from an escaped $${env:NAME}.
func TestLoadedEnvField(t *testing.T) {
	schema := provider.Schema{Kind: "api.Thing", Fields: map[string]provider.Field{
		"headers": {Type: provider.Map, Env: true},
		"note":    {Type: provider.String},
	}}
	reg, err := provider.NewRegistry(&fakeProvider{name: "api", schemas: []provider.Schema{schema}})
	if err != nil {
		t.Fatal(err)
	}
	rv, err := LoadBytes(map[string][]byte{"a.yaml": []byte(`kind: api.Thing
metadata: {name: a}
spec:
  headers: {A: "Bearer ${env:TOKEN}", B: "$${env:TOKEN}", C: "pa$$word"}
  note: "${env:TOKEN} $${env:TOKEN}"
`)}, reg)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := rv.Get("api.Thing/a")
	spec, _ := Resolve(res, schema, func(string) (map[string]any, bool) { return nil, false })
	lookup := func(string) (string, bool) { return "tok", true }
	want := map[string]string{"A": "Bearer tok", "B": "${env:TOKEN}", "C": "pa$$word"}
	for k, w := range want {
		got, _, err := provider.ExpandEnv(spec["headers"].(map[string]any)[k].(string), lookup)
		if err != nil || got != w {
			t.Errorf("headers.%s = %q (%v); want %q", k, got, err, w)
		}
	}
	if got, want := spec["note"], "${env:TOKEN} ${env:TOKEN}"; got != want {
		t.Errorf("note = %q; want %q (not an Env field: text)", got, want)
	}
}
