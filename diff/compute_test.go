package diff_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/diff"
	"github.com/convergehq/converge/provider"
)

// fileSchema is a kind shaped like file.File, with one field of each rule.
var fileSchema = provider.Schema{
	Kind: "test.File",
	Fields: map[string]provider.Field{
		"path":    {Type: provider.String, Required: true, ForceNew: true},
		"content": {Type: provider.String},
		"mode":    {Type: provider.String, Default: "0644", Normalize: normalizeMode},
		"owner":   {Type: provider.String},
		"sha256":  {Type: provider.String, Computed: true},
		"token":   {Type: provider.String, Sensitive: true},
		"secrets": {Type: provider.Map, Sensitive: true},
		"env":     {Type: provider.Map},
		"labels":  {Type: provider.Map, Partial: true},
		"args":    {Type: provider.List},
		"size":    {Type: provider.Int},
		"volume":  {Type: provider.Map, ForceNew: true},
	},
}

// normalizeMode maps 420, "644" and "0644" to "0644".
func normalizeMode(v any) (any, error) {
	switch x := v.(type) {
	case int64:
		return fmt.Sprintf("%04o", x), nil
	case string:
		if x == "" || strings.Trim(x, "01234567") != "" {
			return nil, fmt.Errorf("mode %q is not octal", x)
		}
		return fmt.Sprintf("%04s", x), nil
	}
	return nil, fmt.Errorf("mode must be a string or an integer, got %T", v)
}

func TestCompute(t *testing.T) {
	ref := provider.Unknown{Expr: "${test.Dir/www.outputs.path}/index.html"}
	tests := map[string]struct {
		reason   string
		schema   provider.Schema
		desired  map[string]any
		observed map[string]any
		want     diff.Diff
	}{
		"Equal": {
			reason:   "identical specs give no change",
			desired:  map[string]any{"path": "/a", "content": "x", "mode": "0600"},
			observed: map[string]any{"path": "/a", "content": "x", "mode": "0600"},
		},
		"ScalarChanged": {
			reason:   "a changed string is one change with old and new",
			desired:  map[string]any{"path": "/a", "content": "b"},
			observed: map[string]any{"path": "/a", "content": "a"},
			want:     diff.Diff{{Path: "content", Old: "a", New: "b"}},
		},
		"ComputedSkipped": {
			reason:   "computed fields never differ, even when desired sets them",
			desired:  map[string]any{"path": "/a", "sha256": "x"},
			observed: map[string]any{"path": "/a", "sha256": "y"},
		},
		"DefaultStandsInForAbsent": {
			reason:   "an absent defaulted field is compared as its default",
			desired:  map[string]any{"path": "/a"},
			observed: map[string]any{"path": "/a", "mode": "0600"},
			want:     diff.Diff{{Path: "mode", Old: "0600", New: "0644"}},
		},
		"DefaultStandsInForNull": {
			reason:   "a null defaulted field is compared as its default, as Schema.Apply does",
			desired:  map[string]any{"path": "/a", "mode": nil},
			observed: map[string]any{"path": "/a", "mode": "0644"},
		},
		"UnsetFieldNotManaged": {
			reason:   "a field neither set nor defaulted never differs",
			desired:  map[string]any{"path": "/a"},
			observed: map[string]any{"path": "/a", "owner": "root", "content": "x"},
		},
		"ObservedFieldUnreadable": {
			reason:   "a field absent from observed is skipped: the provider cannot read it",
			desired:  map[string]any{"path": "/a", "content": "x", "token": "t"},
			observed: map[string]any{"path": "/a"},
		},
		"CreateShowsEverySetField": {
			reason:   "nothing observed: every set or defaulted field is a change from absent; unset and computed ones are not",
			desired:  map[string]any{"path": "/a", "content": "x", "sha256": "ignored", "env": map[string]any{"HOME": "/root"}},
			observed: nil,
			want: diff.Diff{
				{Path: "content", New: "x", OldAbsent: true},
				{Path: "env", New: map[string]any{"HOME": "/root"}, OldAbsent: true},
				{Path: "mode", New: "0644", OldAbsent: true},
				{Path: "path", New: "/a", OldAbsent: true, ForceNew: true},
			},
		},
		"EmptyObservedIsNotCreate": {
			reason:   "an empty (non-nil) observed state exists but could read nothing",
			desired:  map[string]any{"path": "/a", "content": "x"},
			observed: map[string]any{},
		},
		"CanonicalNumbers": {
			reason:   "an int, an int64 and an integral float64 are the same value",
			desired:  map[string]any{"size": 3, "args": []string{"a"}, "env": map[string]string{"A": "1"}},
			observed: map[string]any{"size": 3.0, "args": []any{"a"}, "env": map[string]any{"A": "1"}},
		},
		"CanonicalNumberChanged": {
			reason:   "changed values are reported in canonical form",
			desired:  map[string]any{"size": 4},
			observed: map[string]any{"size": 3.0},
			want:     diff.Diff{{Path: "size", Old: int64(3), New: int64(4)}},
		},
		"NormalizeBothSides": {
			reason:   "the field's Normalize applies to desired and observed before comparing",
			desired:  map[string]any{"mode": "644"},
			observed: map[string]any{"mode": 420},
		},
		"NormalizeRejectedComparedAsIs": {
			reason:   "a value Normalize rejects is compared as it is",
			desired:  map[string]any{"mode": "644"},
			observed: map[string]any{"mode": "rw-r--r--"},
			want:     diff.Diff{{Path: "mode", Old: "rw-r--r--", New: "0644"}},
		},
		"MapPerKey": {
			reason: "maps are diffed per key: changed, added and removed keys, sorted, odd keys quoted",
			desired: map[string]any{"env": map[string]any{
				"HOME": "/root", "a.b": "new", "SAME": "s", "": "empty",
			}},
			observed: map[string]any{"env": map[string]any{
				"HOME": "/home", "SAME": "s", "OLD": "gone", "with space": "x",
			}},
			want: diff.Diff{
				{Path: `env[""]`, New: "empty", OldAbsent: true},
				{Path: "env.HOME", Old: "/home", New: "/root"},
				{Path: "env.OLD", Old: "gone", NewAbsent: true},
				{Path: `env["a.b"]`, New: "new", OldAbsent: true},
				{Path: `env["with space"]`, Old: "x", NewAbsent: true},
			},
		},
		"NestedMapsAndLists": {
			reason: "maps and lists nest: paths join their steps",
			desired: map[string]any{"env": map[string]any{
				"deep": map[string]any{"x": []any{"a", map[string]any{"k": 1}}},
			}},
			observed: map[string]any{"env": map[string]any{
				"deep": map[string]any{"x": []any{"a", map[string]any{"k": 2}}},
			}},
			want: diff.Diff{{Path: "env.deep.x[1].k", Old: int64(2), New: int64(1)}},
		},
		"NullIsNotAbsent": {
			reason:   "a null value in desired differs from an absent key in observed",
			desired:  map[string]any{"env": map[string]any{"A": nil}},
			observed: map[string]any{"env": map[string]any{}},
			want:     diff.Diff{{Path: "env.A", New: nil, OldAbsent: true}},
		},
		"PartialMapIgnoresExtraKeys": {
			reason:   "a Partial map counts only desired keys: keys the remote side added are not changes",
			desired:  map[string]any{"labels": map[string]any{"app": "web", "tier": "front"}},
			observed: map[string]any{"labels": map[string]any{"app": "api", "added-by-cloud": "x"}},
			want: diff.Diff{
				{Path: "labels.app", Old: "api", New: "web"},
				{Path: "labels.tier", New: "front", OldAbsent: true},
			},
		},
		"PartialMapOnlyExtraKeys": {
			reason:   "a Partial map whose desired keys all match has no change",
			desired:  map[string]any{"labels": map[string]any{"app": "web"}},
			observed: map[string]any{"labels": map[string]any{"app": "web", "added-by-cloud": "x"}},
		},
		"PartialIsTopLevelOnly": {
			reason:   "Partial applies to the field's own keys, not to maps nested in it",
			desired:  map[string]any{"labels": map[string]any{"n": map[string]any{"a": "1"}}},
			observed: map[string]any{"labels": map[string]any{"n": map[string]any{"a": "1", "b": "2"}}},
			want:     diff.Diff{{Path: "labels.n.b", Old: "2", NewAbsent: true}},
		},
		"ListSameLengthPerIndex": {
			reason: "lists of equal length are diffed per index, in index order",
			desired: map[string]any{"args": []any{
				"a", "b", "C", "d", "e", "f", "g", "h", "i", "j", "K",
			}},
			observed: map[string]any{"args": []any{
				"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k",
			}},
			want: diff.Diff{
				{Path: "args[2]", Old: "c", New: "C"},
				{Path: "args[10]", Old: "k", New: "K"},
			},
		},
		"ListDifferentLengthWhole": {
			reason:   "lists of different lengths change whole",
			desired:  map[string]any{"args": []any{"a", "b"}},
			observed: map[string]any{"args": []any{"a"}},
			want:     diff.Diff{{Path: "args", Old: []any{"a"}, New: []any{"a", "b"}}},
		},
		"TypeChangedWhole": {
			reason:   "values of different shapes change whole",
			desired:  map[string]any{"env": map[string]any{"A": "1"}},
			observed: map[string]any{"env": "A=1"},
			want:     diff.Diff{{Path: "env", Old: "A=1", New: map[string]any{"A": "1"}}},
		},
		"UnknownDesired": {
			reason:   "a reference not resolved yet is a change known after apply",
			desired:  map[string]any{"content": ref},
			observed: map[string]any{"content": "old"},
			want:     diff.Diff{{Path: "content", Old: "old", New: ref, Unknown: true}},
		},
		"UnknownInCreate": {
			reason:   "an unknown value in a create is flagged too",
			desired:  map[string]any{"content": ref},
			observed: nil,
			want: diff.Diff{
				{Path: "content", New: ref, OldAbsent: true, Unknown: true},
				{Path: "mode", New: "0644", OldAbsent: true},
			},
		},
		"UnknownNested": {
			reason:   "an unknown value below a map key or in a resized list is flagged on its change",
			desired:  map[string]any{"env": map[string]any{"P": ref}, "args": []any{"a", ref}},
			observed: map[string]any{"env": map[string]any{"P": "/x"}, "args": []any{"a"}},
			want: diff.Diff{
				{Path: "args", Old: []any{"a"}, New: []any{"a", ref}, Unknown: true},
				{Path: "env.P", Old: "/x", New: ref, Unknown: true},
			},
		},
		"ForceNewPropagates": {
			reason:   "ForceNew of the top-level field applies to nested changes",
			desired:  map[string]any{"path": "/b", "volume": map[string]any{"size": 2}},
			observed: map[string]any{"path": "/a", "volume": map[string]any{"size": 1}},
			want: diff.Diff{
				{Path: "path", Old: "/a", New: "/b", ForceNew: true},
				{Path: "volume.size", Old: int64(1), New: int64(2), ForceNew: true},
			},
		},
		"SensitivePropagates": {
			reason:   "Sensitive of the top-level field applies to nested changes",
			desired:  map[string]any{"token": "new", "secrets": map[string]any{"db": "pw2"}},
			observed: map[string]any{"token": "old", "secrets": map[string]any{"db": "pw1", "old": "x"}},
			want: diff.Diff{
				{Path: "secrets.db", Old: "pw1", New: "pw2", Sensitive: true},
				{Path: "secrets.old", Old: "x", NewAbsent: true, Sensitive: true},
				{Path: "token", Old: "old", New: "new", Sensitive: true},
			},
		},
		"FieldsOutsideSchema": {
			reason:   "desired fields missing from the schema are compared, without flags, in sorted order",
			desired:  map[string]any{"zzz": 1, "aaa": "x", "content": "c", "unread": true},
			observed: map[string]any{"zzz": 2, "aaa": "x", "content": "c"},
			want:     diff.Diff{{Path: "zzz", Old: int64(2), New: int64(1)}},
		},
		"FieldOutsideSchemaOddName": {
			reason:   "a top-level name that is not a plain identifier is quoted",
			schema:   provider.Schema{Kind: "test.Empty"},
			desired:  map[string]any{"a.b": 1},
			observed: map[string]any{"a.b": 2},
			want:     diff.Diff{{Path: `["a.b"]`, Old: int64(2), New: int64(1)}},
		},
		"BigIntegersEqual": {
			reason:   "an id beyond int64, as a manifest and an API (JSON read with UseNumber) give it, is no change",
			desired:  map[string]any{"env": map[string]any{"id": json.Number("12345678901234567891"), "n": int64(100), "r": json.Number("0.1")}},
			observed: map[string]any{"env": map[string]any{"id": uint64(12345678901234567891), "n": json.Number("1e2"), "r": 0.1}},
		},
		"BigIntegersDiffer": {
			reason:   "integers beyond int64 that a float64 cannot tell apart still differ",
			desired:  map[string]any{"env": map[string]any{"id": json.Number("12345678901234567891")}},
			observed: map[string]any{"env": map[string]any{"id": json.Number("12345678901234567892")}},
			want:     diff.Diff{{Path: "env.id", Old: json.Number("12345678901234567892"), New: json.Number("12345678901234567891")}},
		},
		"DecimalsDiffer": {
			reason:   "decimals a float64 rounds alike still differ",
			desired:  map[string]any{"env": map[string]any{"x": json.Number("0.1")}},
			observed: map[string]any{"env": map[string]any{"x": json.Number("0.10000000000000000001")}},
			want:     diff.Diff{{Path: "env.x", Old: json.Number("0.10000000000000000001"), New: json.Number("0.1")}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := tc.schema
			if s.Kind == "" {
				s = fileSchema
			}
			got := diff.Compute(s, tc.desired, tc.observed)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("%s\nCompute(...): -want +got:\n%s", tc.reason, d)
			}
		})
	}
}
