package provider

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestCanonicalGoTypes checks the Go shapes callers hand in (YAML, JSON and
// Go literals) against their one canonical form.
func TestCanonicalGoTypes(t *testing.T) {
	type custom struct{ A int }
	cases := map[string]struct {
		reason string
		in     any
		want   any
	}{
		"Nil":     {reason: "nil stays nil.", in: nil, want: nil},
		"Bool":    {reason: "A bool is itself.", in: true, want: true},
		"String":  {reason: "A string is itself.", in: "x", want: "x"},
		"Int8":    {reason: "Every signed width is an int64.", in: int8(-8), want: int64(-8)},
		"Int16":   {reason: "Every signed width is an int64.", in: int16(-16), want: int64(-16)},
		"Int32":   {reason: "Every signed width is an int64.", in: int32(-32), want: int64(-32)},
		"Uint8":   {reason: "Every unsigned width is an int64 in range.", in: uint8(8), want: int64(8)},
		"Uint16":  {reason: "Every unsigned width is an int64 in range.", in: uint16(16), want: int64(16)},
		"Uint32":  {reason: "Every unsigned width is an int64 in range.", in: uint32(32), want: int64(32)},
		"Uint":    {reason: "A uint is a uint64.", in: uint(7), want: int64(7)},
		"BigUint": {reason: "A uint beyond int64 keeps its digits.", in: uint(math.MaxUint64), want: json.Number("18446744073709551615")},
		"Strings": {
			reason: "A []string is a list.",
			in:     []string{"a", "b"},
			want:   []any{"a", "b"},
		},
		"StringMap": {
			reason: "A map of strings is a map.",
			in:     map[string]string{"a": "b"},
			want:   map[string]any{"a": "b"},
		},
		"YAMLMap": {
			reason: "A map with keys of any type (YAML's) has string keys, and its values are canonical.",
			in:     map[any]any{1: uint8(2), "k": []any{int32(3)}, true: nil},
			want:   map[string]any{"1": int64(2), "k": []any{int64(3)}, "true": nil},
		},
		"Nested": {
			reason: "Lists and maps are canonical all the way down.",
			in:     map[string]any{"a": []any{map[string]any{"b": 2.0}}},
			want:   map[string]any{"a": []any{map[string]any{"b": int64(2)}}},
		},
		"Float32Inf": {
			reason: "An infinite float32 is a float64, as it is.",
			in:     float32(math.Inf(1)),
			want:   math.Inf(1),
		},
		"Float64Inf": {
			reason: "An infinite float64 is itself.",
			in:     math.Inf(-1),
			want:   math.Inf(-1),
		},
		"Unknown": {
			reason: "An Unknown is left as it is.",
			in:     Unknown{Expr: "${a.b/c.outputs.d}"},
			want:   Unknown{Expr: "${a.b/c.outputs.d}"},
		},
		"OtherType": {
			reason: "A value of no spec type is left as it is.",
			in:     custom{A: 1},
			want:   custom{A: 1},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Canonical(tc.in)); diff != "" {
				t.Errorf("%s\nCanonical(%T %v): -want, +got:\n%s", tc.reason, tc.in, tc.in, diff)
			}
		})
	}
	if got := Canonical(float32(math.NaN())); !math.IsNaN(got.(float64)) {
		t.Errorf("Canonical(float32 NaN) = %v; want a float64 NaN", got)
	}
}

func TestCanonicalMap(t *testing.T) {
	cases := map[string]struct {
		reason string
		in     map[string]any
		want   map[string]any
	}{
		"Nil":   {reason: "nil stays nil, not an empty map.", in: nil, want: nil},
		"Empty": {reason: "An empty map stays an empty map.", in: map[string]any{}, want: map[string]any{}},
		"Values": {
			reason: "Every value is canonical.",
			in:     map[string]any{"n": 1, "l": []string{"x"}},
			want:   map[string]any{"n": int64(1), "l": []any{"x"}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := CanonicalMap(tc.in)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s\nCanonicalMap(%v): -want, +got:\n%s", tc.reason, tc.in, diff)
			}
			if (got == nil) != (tc.want == nil) {
				t.Errorf("%s\nCanonicalMap(%v) = %#v; want nil exactly when given nil", tc.reason, tc.in, got)
			}
		})
	}
	in := map[string]any{"l": []any{1}}
	out := CanonicalMap(in)
	out["l"].([]any)[0] = "changed"
	if in["l"].([]any)[0] != 1 {
		t.Errorf("CanonicalMap shares its argument's lists: the argument now holds %v", in["l"])
	}
}

func TestSortedKeys(t *testing.T) {
	if diff := cmp.Diff([]string{"a", "b", "c"}, SortedKeys(map[string]int{"c": 1, "a": 2, "b": 3})); diff != "" {
		t.Errorf("SortedKeys: -want, +got:\n%s", diff)
	}
	if diff := cmp.Diff([]string{}, SortedKeys(map[string]any(nil)), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("SortedKeys(nil): -want, +got:\n%s", diff)
	}
}

func TestIsUnknown(t *testing.T) {
	u := Unknown{Expr: "${x}"}
	cases := map[string]struct {
		reason string
		in     any
		want   bool
	}{
		"Unknown":     {reason: "An Unknown is unknown.", in: u, want: true},
		"Known":       {reason: "A plain value is known.", in: "x", want: false},
		"Nil":         {reason: "nil is known.", in: nil, want: false},
		"InList":      {reason: "A list holding one is unknown.", in: []any{"a", u}, want: true},
		"InMap":       {reason: "A map holding one is unknown.", in: map[string]any{"a": "b", "c": u}, want: true},
		"Deep":        {reason: "At any depth.", in: map[string]any{"a": []any{map[string]any{"b": u}}}, want: true},
		"KnownList":   {reason: "A list of known values is known.", in: []any{"a", 1}, want: false},
		"KnownMap":    {reason: "A map of known values is known.", in: map[string]any{"a": []any{1}}, want: false},
		"PointerToIt": {reason: "Only the value type counts.", in: &u, want: false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, IsUnknown(tc.in)); diff != "" {
				t.Errorf("%s\nIsUnknown(%v): -want, +got:\n%s", tc.reason, tc.in, diff)
			}
		})
	}
}

func TestUnknownMarshalJSON(t *testing.T) {
	b, err := json.Marshal(map[string]any{"url": Unknown{Expr: `${a.b/c.outputs.path}/"x"`}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"url":"${a.b/c.outputs.path}/\"x\""}`; got != want {
		t.Errorf("json.Marshal = %s; want %s", got, want)
	}
}
