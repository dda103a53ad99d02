package terraform

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/convergehq/converge/provider"
)

// testBlock is a schema with one of each kind of attribute and block.
func testBlock() *block {
	str := func(flags ...string) *attribute { return withFlags(&attribute{typ: cty.String}, flags) }
	return &block{
		attrs: map[string]*attribute{
			"id":      str("computed"),
			"name":    str("required"),
			"zone":    str("optional", "computed"),
			"count":   withFlags(&attribute{typ: cty.Number}, []string{"optional"}),
			"on":      withFlags(&attribute{typ: cty.Bool}, []string{"optional"}),
			"list":    withFlags(&attribute{typ: cty.List(cty.String)}, []string{"optional"}),
			"nums":    withFlags(&attribute{typ: cty.Map(cty.Number)}, []string{"optional"}),
			"obj":     withFlags(&attribute{typ: cty.Object(map[string]cty.Type{"a": cty.String, "b": cty.Number})}, []string{"optional"}),
			"any":     withFlags(&attribute{typ: cty.DynamicPseudoType}, []string{"optional"}),
			"pw":      str("optional", "sensitive"),
			"wo":      str("optional", "writeonly"),
			"targets": {nested: &object{nesting: nestList, attrs: map[string]*attribute{"host": str("required"), "ip": str("computed")}}, optional: true},
			"owner":   {nested: &object{nesting: nestSingle, attrs: map[string]*attribute{"email": str("optional"), "key": str("optional", "sensitive")}}, optional: true},
		},
		blocks: map[string]*nestedBlock{
			"rule":   {nesting: nestList, block: &block{attrs: map[string]*attribute{"port": withFlags(&attribute{typ: cty.Number}, []string{"required"}), "uid": str("computed")}}},
			"member": {nesting: nestSet, block: &block{attrs: map[string]*attribute{"user": str("required"), "since": str("computed")}}},
			"disk":   {nesting: nestSingle, block: &block{attrs: map[string]*attribute{"gb": withFlags(&attribute{typ: cty.Number}, []string{"optional"})}}},
			"net":    {nesting: nestMap, block: &block{attrs: map[string]*attribute{"cidr": str("optional")}}},
		},
	}
}

func withFlags(a *attribute, flags []string) *attribute {
	for _, f := range flags {
		switch f {
		case "required":
			a.required = true
		case "optional":
			a.optional = true
		case "computed":
			a.computed = true
		case "sensitive":
			a.sensitive = true
		case "writeonly":
			a.writeOnly = true
		}
	}
	return a
}

// TestConfigValueRoundTrip converts specs to configuration values and
// back to the spec's shape.
func TestConfigValueRoundTrip(t *testing.T) {
	b := testBlock()
	tests := map[string]map[string]any{
		"minimal": {"name": "a"},
		"everything": {
			"name": "a", "zone": "z", "count": int64(3), "on": true, "list": []any{"x", "y"},
			"nums":    map[string]any{"a": 1.5, "b": json.Number("12345678901234567891")},
			"obj":     map[string]any{"a": "s", "b": int64(2)},
			"any":     map[string]any{"k": []any{"v", int64(1)}},
			"pw":      "secret-pw",
			"targets": []any{map[string]any{"host": "h1"}, map[string]any{"host": "h2"}},
			"owner":   map[string]any{"email": "e@x"},
			"rule":    []any{map[string]any{"port": int64(80)}},
			"member":  []any{map[string]any{"user": "u"}},
			"disk":    map[string]any{"gb": int64(10)},
			"net":     map[string]any{"lan": map[string]any{"cidr": "10.0.0.0/8"}},
		},
	}
	for name, spec := range tests {
		t.Run(name, func(t *testing.T) {
			v, err := configValue(b, spec)
			if err != nil {
				t.Fatal(err)
			}
			if errs := v.Type().TestConformance(b.impliedType()); len(errs) > 0 {
				t.Fatalf("the value does not conform to the implied type: %v", errs)
			}
			if _, err := encode(v, b.impliedType()); err != nil {
				t.Fatalf("encode: %v", err)
			}
			got := stateView(b, v)
			want := map[string]any{}
			for n, a := range b.attrs {
				if a.specField() && !a.writeOnly {
					want[n] = nil
				}
			}
			want["rule"], want["member"], want["disk"], want["net"] = []any{}, []any{}, nil, map[string]any{}
			for k, e := range spec {
				want[k] = provider.Canonical(e)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("round trip (-want +got):\n%s", d)
			}
		})
	}
}

// TestConfigValueErrors names the path of what does not fit.
func TestConfigValueErrors(t *testing.T) {
	b := testBlock()
	tests := map[string]struct {
		spec map[string]any
		path string
	}{
		"unknown argument":       {map[string]any{"name": "a", "nope": 1}, "nope"},
		"computed set":           {map[string]any{"name": "a", "id": "x"}, "id"},
		"number":                 {map[string]any{"name": "a", "count": "three"}, "count"},
		"bool":                   {map[string]any{"name": "a", "on": "yes"}, "on"},
		"list element":           {map[string]any{"name": "a", "list": []any{"x", []any{}}}, "list[1]"},
		"map value":              {map[string]any{"name": "a", "nums": map[string]any{"a b": "x"}}, `nums["a b"]`},
		"block attribute":        {map[string]any{"name": "a", "rule": []any{map[string]any{"port": "x"}}}, "rule[0].port"},
		"block not a list":       {map[string]any{"name": "a", "rule": map[string]any{}}, "rule"},
		"nested attribute":       {map[string]any{"name": "a", "targets": []any{map[string]any{"hots": "x"}}}, "targets[0].hots"},
		"object attribute":       {map[string]any{"name": "a", "obj": map[string]any{"c": "x"}}, "obj.c"},
		"map block element type": {map[string]any{"name": "a", "net": map[string]any{"lan": "x"}}, "net.lan"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := configValue(b, tt.spec)
			fe := fieldError(err)
			if err == nil || fe.Field != "spec."+tt.path {
				t.Errorf("error %v (field %q); want one at spec.%s", err, fe.Field, tt.path)
			}
		})
	}
}

// TestUnknowns maps provider.Unknown to cty unknowns and back.
func TestUnknowns(t *testing.T) {
	b := testBlock()
	v, err := configValue(b, map[string]any{"name": provider.Unknown{Expr: "${x.y/z.outputs.n}"}, "rule": []any{map[string]any{"port": provider.Unknown{}}}})
	if err != nil {
		t.Fatal(err)
	}
	if v.GetAttr("name").IsKnown() || v.IsWhollyKnown() {
		t.Fatalf("value %#v; want name unknown", v)
	}
	out := outputs(b, v)
	if _, ok := out["name"].(provider.Unknown); !ok {
		t.Errorf("outputs name = %#v; want provider.Unknown", out["name"])
	}
	if _, ok := out["rule"].([]any)[0].(map[string]any)["port"].(provider.Unknown); !ok {
		t.Errorf("outputs rule = %#v; want its port unknown", out["rule"])
	}
}

// TestProposedNew keeps prior values of computed attributes the
// configuration leaves null, through blocks and nested attributes, as
// Terraform's objchange.ProposedNew does.
func TestProposedNew(t *testing.T) {
	b := testBlock()
	cfg := func(spec map[string]any) cty.Value {
		v, err := configValue(b, spec)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	prior := cfg(map[string]any{"name": "a", "zone": "set-by-provider",
		"targets": []any{map[string]any{"host": "h1"}},
		"rule":    []any{map[string]any{"port": int64(80)}, map[string]any{"port": int64(81)}},
		"member":  []any{map[string]any{"user": "u1"}, map[string]any{"user": "u2"}},
	})
	// The provider's computed values.
	pv := prior.AsValueMap()
	pv["id"] = cty.StringVal("id-1")
	pv["targets"] = cty.ListVal([]cty.Value{cty.ObjectVal(map[string]cty.Value{"host": cty.StringVal("h1"), "ip": cty.StringVal("10.0.0.1")})})
	pv["rule"] = cty.ListVal([]cty.Value{
		cty.ObjectVal(map[string]cty.Value{"port": cty.NumberIntVal(80), "uid": cty.StringVal("r0")}),
		cty.ObjectVal(map[string]cty.Value{"port": cty.NumberIntVal(81), "uid": cty.StringVal("r1")}),
	})
	pv["member"] = cty.SetVal([]cty.Value{
		cty.ObjectVal(map[string]cty.Value{"user": cty.StringVal("u1"), "since": cty.StringVal("2020")}),
		cty.ObjectVal(map[string]cty.Value{"user": cty.StringVal("u2"), "since": cty.StringVal("2021")}),
	})
	pv["wo"] = cty.NullVal(cty.String)
	prior = cty.ObjectVal(pv)

	config := cfg(map[string]any{"name": "b", "wo": "write-only",
		"targets": []any{map[string]any{"host": "h1"}, map[string]any{"host": "h3"}},
		"rule":    []any{map[string]any{"port": int64(80)}},
		"member":  []any{map[string]any{"user": "u2"}, map[string]any{"user": "u9"}},
	})
	got := proposedNew(b, prior, config)
	want := map[string]any{
		"id": "id-1", "name": "b", "zone": "set-by-provider",
		"targets": []any{map[string]any{"host": "h1", "ip": "10.0.0.1"}, map[string]any{"host": "h3", "ip": nil}},
		"rule":    []any{map[string]any{"port": int64(80), "uid": "r0"}},
		"member":  []any{map[string]any{"user": "u2", "since": "2021"}, map[string]any{"user": "u9", "since": nil}},
	}
	out := outputs(b, got)
	for k, w := range want {
		g := out[k]
		if k == "member" { // a set: order by user
			if l, ok := g.([]any); ok && len(l) == 2 && l[0].(map[string]any)["user"] != "u2" {
				g = []any{l[1], l[0]}
			}
		}
		if d := cmp.Diff(w, g); d != "" {
			t.Errorf("%s (-want +got):\n%s", k, d)
		}
	}
	if !got.GetAttr("wo").IsNull() {
		t.Error("the write-only attribute is in the proposed new state")
	}
	if n := proposedNew(b, prior, cty.NullVal(b.impliedType())); !n.IsNull() {
		t.Error("a null configuration (a destroy) proposes an object")
	}
	if n := proposedNew(b, cty.NullVal(b.impliedType()), config); !n.GetAttr("id").IsNull() {
		t.Error("a create proposes a computed id")
	}
}

func TestPathString(t *testing.T) {
	s := func(v string) *string { return &v }
	i := func(v int64) *int64 { return &v }
	tests := []struct {
		steps []pathStep
		want  string
	}{
		{[]pathStep{{name: "zone"}}, "zone"},
		{[]pathStep{{name: "rule"}, {index: i(2)}, {name: "port"}}, "rule[2].port"},
		{[]pathStep{{name: "tags"}, {key: s("env")}}, "tags.env"},
		{[]pathStep{{name: "tags"}, {key: s("a.b")}}, `tags["a.b"]`},
	}
	for _, tt := range tests {
		if got := pathString(tt.steps); got != tt.want {
			t.Errorf("pathString(%v) = %q; want %q", tt.steps, got, tt.want)
		}
	}
}

func TestSensitiveStrings(t *testing.T) {
	b := testBlock()
	v, err := configValue(b, map[string]any{"name": "a", "pw": "pw-value", "wo": "wo-value", "owner": map[string]any{"email": "e", "key": "key-value"}})
	if err != nil {
		t.Fatal(err)
	}
	got := b.sensitiveStrings(v, nil)
	want := map[string]bool{"pw-value": true, "wo-value": true, "key-value": true}
	if len(got) != len(want) {
		t.Fatalf("sensitive strings %v; want %v", got, want)
	}
	for _, g := range got {
		if !want[g] {
			t.Errorf("%q is not sensitive", g)
		}
	}
	fields := b.fields()
	if !fields["owner"].Sensitive || !fields["pw"].Sensitive || !fields["wo"].Sensitive || fields["name"].Sensitive {
		t.Errorf("sensitive fields: %+v", fields)
	}
	if _, ok := fields["id"]; ok {
		t.Error("the computed-only id is a spec field")
	}
}
