package diff_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/diff"
	"github.com/convergehq/converge/provider"
)

func TestFormatValue(t *testing.T) {
	tests := map[string]struct {
		v    any
		want string
	}{
		"Nil":          {v: nil, want: "null"},
		"String":       {v: "a\tb", want: `"a\tb"`},
		"EmptyString":  {v: "", want: `""`},
		"ThreeLines":   {v: "a\nb\nc\n", want: `"a\nb\nc\n"`},
		"FourLines":    {v: "<html>\n<body>\n</body>\n</html>\n", want: `"<html>"... (4 lines)`},
		"LongLine":     {v: strings.Repeat("x", 121), want: `"` + strings.Repeat("x", 60) + `"... (121 chars)`},
		"AtLimit":      {v: strings.Repeat("é", 120), want: `"` + strings.Repeat("é", 120) + `"`},
		"LongFirstRow": {v: strings.Repeat("y", 70) + "\n" + strings.Repeat("z", 70), want: `"` + strings.Repeat("y", 60) + `"... (2 lines)`},
		"Int":          {v: 42, want: "42"},
		"IntegralFlt":  {v: 3.0, want: "3"},
		"Float":        {v: 2.5, want: "2.5"},
		"BigInt":       {v: json.Number("12345678901234567891"), want: "12345678901234567891"},
		"BigUint":      {v: uint64(12345678901234567891), want: "12345678901234567891"},
		"Decimal":      {v: json.Number("0.10"), want: "0.1"},
		"FloatDecimal": {v: 0.1, want: "0.1"},
		"ExactDecimal": {v: json.Number("3.14159265358979323846"), want: "3.14159265358979323846"},
		"Bool":         {v: true, want: "true"},
		"List":         {v: []any{"a", 1, nil}, want: `["a", 1, null]`},
		"EmptyList":    {v: []any{}, want: "[]"},
		"Map":          {v: map[string]any{"b": 1, "a": []any{true}, "c": map[string]any{}}, want: `{"a": [true], "b": 1, "c": {}}`},
		"StringMap":    {v: map[string]string{"z": "1", "a": "2"}, want: `{"a": "2", "z": "1"}`},
		"Unknown":      {v: provider.Unknown{Expr: "${a/b.outputs.c}"}, want: "(known after apply)"},
		"NestedUnkown": {v: []any{provider.Unknown{Expr: "${a/b.outputs.c}"}}, want: "[(known after apply)]"},
		"Other":        {v: struct{ A int }{1}, want: "{1}"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := diff.FormatValue(tc.v)
			if got != tc.want {
				t.Errorf("FormatValue(%#v): got %s; want %s", tc.v, got, tc.want)
			}
		})
	}
}

func TestChangeString(t *testing.T) {
	tests := map[string]struct {
		c    diff.Change
		want string
	}{
		"Update":       {c: diff.Change{Path: "content", Old: "a", New: "b"}, want: `content: "a" -> "b"`},
		"ForceNew":     {c: diff.Change{Path: "mode", Old: "0644", New: "0600", ForceNew: true}, want: `mode: "0644" -> "0600" (forces replacement)`},
		"Added":        {c: diff.Change{Path: "path", New: "x", OldAbsent: true}, want: `path: (none) -> "x"`},
		"Removed":      {c: diff.Change{Path: "env.A", Old: "1", NewAbsent: true}, want: `env.A: "1" -> (none)`},
		"Null":         {c: diff.Change{Path: "env.A", Old: "1", New: nil}, want: `env.A: "1" -> null`},
		"Sensitive":    {c: diff.Change{Path: "token", Old: "s1", New: "s2", Sensitive: true}, want: `token: (sensitive) -> (sensitive)`},
		"SensitiveNew": {c: diff.Change{Path: "token", New: "s2", OldAbsent: true, Sensitive: true}, want: `token: (none) -> (sensitive)`},
		"Masked":       {c: diff.Diff{{Path: "token", Old: "s1", New: "s2", Sensitive: true}}.Masked()[0], want: `token: (sensitive) -> (sensitive)`},
		"Unknown":      {c: diff.Change{Path: "content", Old: "a", New: provider.Unknown{Expr: "${x}"}, Unknown: true}, want: `content: "a" -> (known after apply)`},
		"UnknownForce": {c: diff.Change{Path: "path", OldAbsent: true, Unknown: true, ForceNew: true}, want: `path: (none) -> (known after apply) (forces replacement)`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := tc.c.String()
			if got != tc.want {
				t.Errorf("String(): got %s; want %s", got, tc.want)
			}
		})
	}
}

func TestMasked(t *testing.T) {
	in := diff.Diff{
		{Path: "content", Old: "a", New: "b"},
		{Path: "secrets.db", Old: "pw1", New: "pw2", Sensitive: true},
		{Path: "secrets.new", New: "pw3", OldAbsent: true, Sensitive: true},
		{Path: "secrets.old", Old: "pw4", NewAbsent: true, Sensitive: true, ForceNew: true},
	}
	orig := append(diff.Diff(nil), in...)
	got := in.Masked()
	want := diff.Diff{
		{Path: "content", Old: "a", New: "b"},
		{Path: "secrets.db", Old: "(sensitive)", New: "(sensitive)", Sensitive: true},
		{Path: "secrets.new", New: "(sensitive)", OldAbsent: true, Sensitive: true},
		{Path: "secrets.old", Old: "(sensitive)", NewAbsent: true, Sensitive: true, ForceNew: true},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Masked(): -want +got:\n%s", d)
	}
	if d := cmp.Diff(orig, in); d != "" {
		t.Errorf("Masked() modified its receiver: -before +after:\n%s", d)
	}
	if got := diff.Diff(nil).Masked(); got != nil {
		t.Errorf("nil.Masked(): got %v; want nil", got)
	}
}

func TestChangeStringMultiline(t *testing.T) {
	tests := map[string]struct {
		c    diff.Change
		want string
	}{
		"second line differs": {
			diff.Change{Path: "content", Old: "a\nb\nc\n", New: "a\nB\nc\n"},
			`content: line 2: "b" -> "B" (3 -> 3 lines)`,
		},
		"line added": {
			diff.Change{Path: "content", Old: "a\nb", New: "a\nb\nc"},
			`content: line 3: (none) -> "c" (2 -> 3 lines)`,
		},
		"sensitive stays masked": {
			diff.Change{Path: "token", Old: "a\nb", New: "a\nc", Sensitive: true},
			`token: (sensitive) -> (sensitive)`,
		},
		"a final newline is not a line": {
			diff.Change{Path: "content", Old: "hello\n", New: "hello again\n"},
			`content: line 1: "hello" -> "hello again" (1 -> 1 lines)`,
		},
		"short strings unchanged": {
			diff.Change{Path: "mode", Old: "0644", New: "0600"},
			`mode: "0644" -> "0600"`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.c.String(); got != tc.want {
				t.Errorf("String() = %s; want %s", got, tc.want)
			}
		})
	}
}
