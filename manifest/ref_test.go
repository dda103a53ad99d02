package manifest

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/provider"
)

func TestParseTemplate(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    []part
		wantErr bool
	}{
		"plain":        {in: "hello", want: []part{{lit: "hello"}}},
		"dollar alone": {in: "$HOME costs $$5", want: []part{{lit: "$HOME costs $$5"}}},
		"whole ref":    {in: "${file.File/a.outputs.path}", want: []part{{target: "file.File/a", output: "path"}}},
		"embedded": {
			in:   "x/${file.Directory/www.outputs.path}/${net.Port/p-1.outputs.number}!",
			want: []part{{lit: "x/"}, {target: "file.Directory/www", output: "path"}, {lit: "/"}, {target: "net.Port/p-1", output: "number"}, {lit: "!"}},
		},
		"dotted name":      {in: "${file.File/index.html.outputs.sha256}", want: []part{{target: "file.File/index.html", output: "sha256"}}},
		"escape":           {in: "$${file.File/a.outputs.path}", want: []part{{lit: "${file.File/a.outputs.path}"}}},
		"escape then ref":  {in: "$${x}${file.File/a.outputs.p}", want: []part{{lit: "${x}"}, {target: "file.File/a", output: "p"}}},
		"triple dollar":    {in: "$$${", want: []part{{lit: "$${"}}},
		"unterminated":     {in: "a ${file.File/a.outputs.path", wantErr: true},
		"no outputs":       {in: "${file.File/a.path}", wantErr: true},
		"no kind":          {in: "${/a.outputs.path}", wantErr: true},
		"unqualified kind": {in: "${File/a.outputs.path}", wantErr: true},
		"empty":            {in: "${}", wantErr: true},
		"bad field":        {in: "${file.File/a.outputs.}", wantErr: true},
		"nested field":     {in: "${file.File/a.outputs.x.y}", wantErr: true},
		"bad name":         {in: "${file.File/-a.outputs.x}", wantErr: true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, _, err := parseTemplate(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseTemplate(%q) error = %v; want error %v", tt.in, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(part{})); diff != "" {
				t.Errorf("parseTemplate(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestEscapeRoundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", "${x}", "$${", "$$${y}", "a${b${c}}", "$", "${", "$$"} {
		parts, hasRef, err := parseTemplate(escape(s))
		if err != nil || hasRef {
			t.Errorf("parseTemplate(escape(%q)) = _, %v, %v; want a literal", s, hasRef, err)
			continue
		}
		if got := joinLiterals(parts); got != s && !(s == "" && len(parts) == 0) {
			t.Errorf("parseTemplate(escape(%q)) = %q; want the literal back", s, got)
		}
	}
}

func TestResolve(t *testing.T) {
	outputs := map[string]map[string]any{
		"file.Directory/www": {"path": "/srv/www"},
		"net.Port/http":      {"number": 8080, "addrs": []any{"a", "b"}, "ratio": 0.5, "on": true, "none": nil},
	}
	lookup := func(id string) (map[string]any, bool) {
		o, ok := outputs[id]
		return o, ok
	}
	tests := map[string]struct {
		spec           map[string]any
		want           map[string]any
		wantUnresolved []string
	}{
		"whole reference keeps type": {
			spec: map[string]any{"n": "${net.Port/http.outputs.number}", "l": "${net.Port/http.outputs.addrs}"},
			want: map[string]any{"n": int64(8080), "l": []any{"a", "b"}},
		},
		"embedded references are formatted": {
			spec: map[string]any{"s": "${file.Directory/www.outputs.path}:${net.Port/http.outputs.number}/${net.Port/http.outputs.ratio}/${net.Port/http.outputs.on}/${net.Port/http.outputs.addrs}/[${net.Port/http.outputs.none}]"},
			want: map[string]any{"s": `/srv/www:8080/0.5/true/["a","b"]/[]`},
		},
		"deep and escaped": {
			spec: map[string]any{
				"env":  map[string]any{"HOME": "${file.Directory/www.outputs.path}", "LIT": "$${HOME}"},
				"args": []any{"x", "$${file.Directory/www.outputs.path}", int64(3), nil},
			},
			want: map[string]any{
				"env":  map[string]any{"HOME": "/srv/www", "LIT": "${HOME}"},
				"args": []any{"x", "${file.Directory/www.outputs.path}", int64(3), nil},
			},
		},
		"not ready and missing output": {
			spec: map[string]any{
				"a": "x-${cloud.Subnet/s.outputs.id}-${file.Directory/www.outputs.path}",
				"b": []any{"${file.Directory/www.outputs.nope}"},
				"c": "${cloud.Subnet/s.outputs.id}",
			},
			want: map[string]any{
				"a": provider.Unknown{Expr: "x-${cloud.Subnet/s.outputs.id}-${file.Directory/www.outputs.path}"},
				"b": []any{provider.Unknown{Expr: "${file.Directory/www.outputs.nope}"}},
				"c": provider.Unknown{Expr: "${cloud.Subnet/s.outputs.id}"},
			},
			wantUnresolved: []string{"cloud.Subnet/s", "file.Directory/www"},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			r := &Resource{ID: "x.X/r", Spec: tt.spec}
			got, unresolved := Resolve(r, provider.Schema{}, lookup)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Resolve() spec mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantUnresolved, unresolved); diff != "" {
				t.Errorf("Resolve() unresolved mismatch (-want +got):\n%s", diff)
			}
		})
	}

	// The result is a copy: changing it touches neither the spec nor outputs.
	r := &Resource{Spec: map[string]any{"l": "${net.Port/http.outputs.addrs}", "m": map[string]any{"k": "v"}}}
	got, _ := Resolve(r, provider.Schema{}, lookup)
	got["l"].([]any)[0] = "changed"
	got["m"].(map[string]any)["k"] = "changed"
	if outputs["net.Port/http"]["addrs"].([]any)[0] != "a" || r.Spec["m"].(map[string]any)["k"] != "v" {
		t.Errorf("Resolve() result aliases its inputs")
	}
}
