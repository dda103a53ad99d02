package provider

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var errBoom = errors.New("boom")

// thing is a schema with a field of every type and every option.
var thing = Schema{
	Kind: "test.Thing",
	Fields: map[string]Field{
		"name":  {Type: String, Required: true},
		"size":  {Type: Int, Default: int64(1)},
		"ratio": {Type: Float},
		"on":    {Type: Bool},
		"tags":  {Type: Map, Partial: true},
		"args":  {Type: List},
		"extra": {Type: Any},
		"free":  {}, // no type: anything
		"id":    {Type: String, Computed: true},
		"level": {
			Type: String,
			// Upper case is canonical; "boom" cannot be normalized.
			Normalize: func(v any) (any, error) {
				s := v.(string)
				if s == "boom" {
					return nil, errBoom
				}
				return strings.ToUpper(s), nil
			},
			// Validate sees the normalized value.
			Validate: func(v any) error {
				if s := v.(string); s != "LOW" && s != "HIGH" {
					return fmt.Errorf("%q is not LOW or HIGH", s)
				}
				return nil
			},
		},
	},
	Outputs: []string{"id", "url"},
}

// knownFields is what Check lists for thing.
const knownFields = "(known: args, extra, free, id, level, name, on, ratio, size, tags)"

func TestSchemaFieldNames(t *testing.T) {
	want := []string{"args", "extra", "free", "id", "level", "name", "on", "ratio", "size", "tags"}
	if diff := cmp.Diff(want, thing.FieldNames()); diff != "" {
		t.Errorf("FieldNames() mismatch (-want +got):\n%s", diff)
	}
	if got := (Schema{}).FieldNames(); len(got) != 0 {
		t.Errorf("FieldNames() of no fields = %v; want none", got)
	}
}

func TestSchemaHasOutput(t *testing.T) {
	type args struct {
		schema Schema
		name   string
	}
	cases := map[string]struct {
		reason string
		args   args
		want   bool
	}{
		"Declared": {
			reason: "A declared output is one.",
			args:   args{schema: thing, name: "url"},
			want:   true,
		},
		"Undeclared": {
			reason: "A name the schema does not declare is no output, even a field's.",
			args:   args{schema: thing, name: "name"},
			want:   false,
		},
		"AnyOutputs": {
			reason: "With AnyOutputs, every name may be referenced.",
			args:   args{schema: Schema{AnyOutputs: true}, name: "whatever"},
			want:   true,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := tc.args.schema.HasOutput(tc.args.name)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s\nHasOutput(%q): -want, +got:\n%s", tc.reason, tc.args.name, diff)
			}
		})
	}
}

func TestSchemaCheck(t *testing.T) {
	unknown := func(v any) bool { _, ok := v.(Unknown); return ok }
	type args struct {
		spec      map[string]any
		isUnknown func(any) bool
	}
	cases := map[string]struct {
		reason string
		args   args
		want   []FieldError
	}{
		"Minimal": {
			reason: "A spec with its required fields only is valid.",
			args:   args{spec: map[string]any{"name": "a"}},
		},
		"EveryType": {
			reason: "A value of its field's type passes, in any spelling of a number.",
			args: args{spec: map[string]any{
				"name": "a", "size": json.Number("2"), "ratio": json.Number("0.5"), "on": true,
				"tags": map[string]any{"a": "b"}, "args": []any{1}, "extra": 3, "free": []any{}, "level": "low",
			}},
		},
		"IntSpellings": {
			reason: "An integral float64 and an int64 are integers.",
			args:   args{spec: map[string]any{"name": "a", "size": 2.0, "ratio": int64(3)}},
		},
		"MissingRequired": {
			reason: "A required field that is absent is reported.",
			args:   args{spec: map[string]any{}},
			want:   []FieldError{{Field: "spec.name", Msg: "is required"}},
		},
		"NullRequired": {
			reason: "A required field set to null is reported once.",
			args:   args{spec: map[string]any{"name": nil}},
			want:   []FieldError{{Field: "spec.name", Msg: "is required"}},
		},
		"NullOptional": {
			reason: "An optional field may be null.",
			args:   args{spec: map[string]any{"name": "a", "on": nil}},
		},
		"UnknownFieldNear": {
			reason: "An unknown field near a known one suggests it.",
			args:   args{spec: map[string]any{"name": "a", "sise": 1}},
			want:   []FieldError{{Field: "spec.sise", Msg: "unknown field for kind test.Thing: did you mean size? " + knownFields}},
		},
		"UnknownFieldFar": {
			reason: "An unknown field far from every known one lists them.",
			args:   args{spec: map[string]any{"name": "a", "colour": 1}},
			want:   []FieldError{{Field: "spec.colour", Msg: "unknown field for kind test.Thing " + knownFields}},
		},
		"Computed": {
			reason: "A computed field cannot be set.",
			args:   args{spec: map[string]any{"name": "a", "id": "x"}},
			want:   []FieldError{{Field: "spec.id", Msg: "is computed by the provider and cannot be set"}},
		},
		"WrongTypes": {
			reason: "A value of another type names the type it is, and every problem is reported, sorted by field.",
			args: args{spec: map[string]any{
				"name": true, "size": "big", "ratio": "x", "on": "yes",
				"tags": []any{}, "args": map[string]any{}, "level": 7,
			}},
			want: []FieldError{
				{Field: "spec.args", Msg: "must be a list, got map"},
				{Field: "spec.level", Msg: "must be a string, got int"},
				{Field: "spec.name", Msg: "must be a string, got bool"},
				{Field: "spec.on", Msg: "must be a bool, got string"},
				{Field: "spec.ratio", Msg: "must be a float, got string"},
				{Field: "spec.size", Msg: "must be a int, got string"},
				{Field: "spec.tags", Msg: "must be a map, got list"},
			},
		},
		"NotAnInteger": {
			reason: "A fraction is no integer, in whichever form.",
			args:   args{spec: map[string]any{"name": "a", "size": 1.5, "ratio": int64(1)}},
			want:   []FieldError{{Field: "spec.size", Msg: "must be a int, got float"}},
		},
		"JSONFraction": {
			reason: "A json.Number fraction is a float.",
			args:   args{spec: map[string]any{"name": "a", "size": json.Number("1.5")}},
			want:   []FieldError{{Field: "spec.size", Msg: "must be a int, got float"}},
		},
		"JSONIntegerInStringField": {
			reason: "A json.Number integer is described as an int.",
			args:   args{spec: map[string]any{"name": json.Number("7")}},
			want:   []FieldError{{Field: "spec.name", Msg: "must be a string, got int"}},
		},
		"Float": {
			reason: "A float64 is described as a float.",
			args:   args{spec: map[string]any{"name": 1.5}},
			want:   []FieldError{{Field: "spec.name", Msg: "must be a string, got float"}},
		},
		"GoType": {
			reason: "A value of no spec type is described by its Go type.",
			args:   args{spec: map[string]any{"name": struct{}{}}},
			want:   []FieldError{{Field: "spec.name", Msg: "must be a string, got struct {}"}},
		},
		"NormalizeFails": {
			reason: "A value Normalize rejects is reported with its error.",
			args:   args{spec: map[string]any{"name": "a", "level": "boom"}},
			want:   []FieldError{{Field: "spec.level", Msg: "boom"}},
		},
		"ValidateSeesNormalized": {
			reason: "Validate checks the normalized value.",
			args:   args{spec: map[string]any{"name": "a", "level": "medium"}},
			want:   []FieldError{{Field: "spec.level", Msg: `"MEDIUM" is not LOW or HIGH`}},
		},
		"UnknownValues": {
			reason: "A value not known yet passes for any type, and is neither normalized nor validated.",
			args: args{
				spec:      map[string]any{"name": Unknown{Expr: "${a}"}, "size": Unknown{Expr: "${b}"}, "level": Unknown{Expr: "${c}"}},
				isUnknown: unknown,
			},
		},
		"UnknownWithoutPredicate": {
			reason: "Without isUnknown, an Unknown is a value of its Go type.",
			args:   args{spec: map[string]any{"name": Unknown{Expr: "${a}"}}},
			want:   []FieldError{{Field: "spec.name", Msg: "must be a string, got provider.Unknown"}},
		},
		"ComputedEvenUnknown": {
			reason: "A computed field is refused even when its value is not known yet.",
			args:   args{spec: map[string]any{"name": "a", "id": Unknown{}}, isUnknown: unknown},
			want:   []FieldError{{Field: "spec.id", Msg: "is computed by the provider and cannot be set"}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := thing.Check(tc.args.spec, tc.args.isUnknown)
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("%s\nCheck(%v): -want, +got:\n%s", tc.reason, tc.args.spec, diff)
			}
		})
	}
}

func TestFieldErrorError(t *testing.T) {
	if got, want := (FieldError{Field: "spec.mode", Msg: "is required"}).Error(), "spec.mode: is required"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
}

func TestSchemaApply(t *testing.T) {
	type want struct {
		spec map[string]any
		err  error
	}
	cases := map[string]struct {
		reason string
		spec   map[string]any
		want   want
	}{
		"Defaults": {
			reason: "An absent field with a default gets it; one without stays absent.",
			spec:   map[string]any{"name": "a"},
			want:   want{spec: map[string]any{"name": "a", "size": int64(1)}},
		},
		"NullTakesDefault": {
			reason: "A null field with a default gets it, as if absent.",
			spec:   map[string]any{"name": "a", "size": nil},
			want:   want{spec: map[string]any{"name": "a", "size": int64(1)}},
		},
		"NullWithoutDefault": {
			reason: "A null field without a default stays null.",
			spec:   map[string]any{"name": "a", "on": nil},
			want:   want{spec: map[string]any{"name": "a", "on": nil, "size": int64(1)}},
		},
		"SetKeepsValue": {
			reason: "A set field keeps its value over the default, and fields outside the schema are kept.",
			spec:   map[string]any{"name": "a", "size": int64(5), "other": "x"},
			want:   want{spec: map[string]any{"name": "a", "size": int64(5), "other": "x"}},
		},
		"NumbersInStringFields": {
			reason: "A number or bool in a string field (a resolved reference) is formatted, then normalized; Apply does not validate.",
			spec:   map[string]any{"name": int64(7), "level": true},
			want:   want{spec: map[string]any{"name": "7", "level": "TRUE", "size": int64(1)}},
		},
		"Normalized": {
			reason: "A field with Normalize is normalized.",
			spec:   map[string]any{"name": 2.5, "level": "low"},
			want:   want{spec: map[string]any{"name": "2.5", "level": "LOW", "size": int64(1)}},
		},
		"JSONNumberFormatted": {
			reason: "A json.Number in a string field keeps its text.",
			spec:   map[string]any{"name": json.Number("12345678901234567891")},
			want:   want{spec: map[string]any{"name": "12345678901234567891", "size": int64(1)}},
		},
		"NormalizeFails": {
			reason: "A value Normalize rejects is an error naming the field.",
			spec:   map[string]any{"name": "a", "level": "boom"},
			want:   want{err: errBoom},
		},
		"UnknownNotNormalized": {
			reason: "A value not known yet is left for later.",
			spec:   map[string]any{"name": "a", "level": Unknown{Expr: "${x}"}},
			want:   want{spec: map[string]any{"name": "a", "level": Unknown{Expr: "${x}"}, "size": int64(1)}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			in := cloneSpec(tc.spec)
			got, err := thing.Apply(tc.spec)
			if diff := cmp.Diff(tc.want.err, err, cmpopts.EquateErrors()); diff != "" {
				t.Errorf("%s\nApply(...): -want error, +got error:\n%s", tc.reason, diff)
			}
			if diff := cmp.Diff(tc.want.spec, got); diff != "" {
				t.Errorf("%s\nApply(...): -want, +got:\n%s", tc.reason, diff)
			}
			if diff := cmp.Diff(in, tc.spec); diff != "" {
				t.Errorf("Apply modified its argument: -before, +after:\n%s", diff)
			}
		})
	}
}

// TestSchemaApplyErrorNamesField: the field a Normalize error is about is
// data (a FieldError found with errors.As), not a prefix of the message.
func TestSchemaApplyErrorNamesField(t *testing.T) {
	_, err := thing.Apply(map[string]any{"name": "a", "level": "boom"})
	if got, want := fmt.Sprint(err), "spec.level: boom"; got != want {
		t.Errorf("Apply error = %q; want %q", got, want)
	}
	var fe FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("Apply error %T is no FieldError", err)
	}
	if diff := cmp.Diff(FieldError{Field: "spec.level", Msg: "boom", Err: errBoom}, fe, cmpopts.EquateErrors()); diff != "" {
		t.Errorf("FieldError: -want, +got:\n%s", diff)
	}
	if !errors.Is(err, errBoom) {
		t.Errorf("Apply error %v does not wrap Normalize's", err)
	}
}

func cloneSpec(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
