package provider

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Type is the type of a spec field.
type Type string

// Field types.
const (
	String Type = "string"
	Int    Type = "int"
	Bool   Type = "bool"
	Float  Type = "float"
	Map    Type = "map"  // map of string to any value
	List   Type = "list" // list of any values
	Any    Type = "any"
)

// Field describes one field of a kind's spec.
type Field struct {
	Type        Type
	Description string
	Required    bool
	// Computed fields are set by the provider, never by the user; they never
	// show as changes.
	Computed bool
	// ForceNew fields cannot change in place: a change replaces the resource.
	ForceNew bool
	// Sensitive values are never printed: plans, logs, events and the API show
	// "(sensitive)" instead.
	Sensitive bool
	// Env fields expand ${env:NAME}, written in the manifest, from the
	// environment at call time (see ExpandEnv), so that the value is never
	// stored. Their resolved strings are templates: only the manifest's own
	// ${env:NAME} are live, every other "$" (of an output, of an escape)
	// is written "$$" so that ExpandEnv gives it back as it was. Fields
	// without Env take ${env:NAME} as text.
	Env bool
	// Default is applied when the field is absent; a defaulted field that is
	// absent from the spec never shows as a change.
	Default any
	// Normalize, when set, maps a valid value to its canonical form (for
	// example "644" and 420 to "0644") before it is compared or applied.
	Normalize func(any) (any, error)
	// Validate, when set, checks a value after its type was checked.
	Validate func(any) error
	// Partial, for Map fields, compares only the keys present in the desired
	// value: keys the remote side adds are neither changes nor drift.
	Partial bool
}

// Schema describes one kind.
type Schema struct {
	// Kind is provider-qualified: "file.File".
	Kind        string
	Description string
	Fields      map[string]Field
	// CreateBeforeDestroy makes a replace create the new object before it
	// deletes the old one (which waits until the resource's dependents have
	// moved to the new object). Set it only when a new object can never
	// collide with the old one. The default is destroy, then create.
	CreateBeforeDestroy bool
	// CreateBeforeDestroyIfDepended creates the new object first only when
	// other resources depend on this one: they move to the new object, then
	// the old one is deleted (an API refuses to delete what is still
	// referenced). Without dependents the old object goes first, so that two
	// objects never share a name. Set it only when the provider can hold
	// both objects at once (it identifies them by a remote id).
	CreateBeforeDestroyIfDepended bool
	// Outputs names the outputs a Ready resource of this kind exposes, for
	// references such as ${file.File/index.outputs.sha256}.
	Outputs []string
	// ReadAfterWriteGrace is how long an object the API created may take to
	// show in reads. After a create whose outcome is unknown (an ambiguous
	// error) the engine looks again for this long before it creates again,
	// so that a lagging API never gets a second object. Zero: no wait.
	ReadAfterWriteGrace time.Duration
	// AnyOutputs makes the outputs open: any name may be referenced (the
	// provider returns the whole remote object). A reference to an output
	// the object lacks fails when it is resolved.
	AnyOutputs bool
	// SensitiveOutputs names the outputs whose values are secret (a
	// generated password): masked wherever converge shows outputs, sealed
	// at rest, and a spec value built from one is sensitive too.
	SensitiveOutputs []string
	// Unfindable says that Observe finds an object only through the
	// Private its create returned (a Terraform provider's state), never by
	// its spec. After a create interrupted before its outcome was recorded
	// (converge stopped during the call), the object may exist and cannot
	// be looked for: the engine does not create it again, which might make
	// a second one, and fails the resource saying how to go on (give its
	// importId, or converge state forget when it does not exist).
	Unfindable bool
	// SealPrivate says that the record's Private values may hold secrets
	// (a Terraform provider's state): they are sealed at rest, as
	// sensitive spec values are.
	SealPrivate bool
}

// SensitiveOutput reports whether the output called name is secret.
func (s Schema) SensitiveOutput(name string) bool {
	for _, o := range s.SensitiveOutputs {
		if o == name {
			return true
		}
	}
	return false
}

// FieldNames returns the spec field names in sorted order.
func (s Schema) FieldNames() []string {
	names := make([]string, 0, len(s.Fields))
	for n := range s.Fields {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// HasOutput reports whether name is a declared output of the kind.
func (s Schema) HasOutput(name string) bool {
	if s.AnyOutputs {
		return true
	}
	for _, o := range s.Outputs {
		if o == name {
			return true
		}
	}
	return false
}

// Apply returns spec with defaults applied and every field normalized. It
// does not check types or required fields; see Check. A value Normalize
// rejects is a FieldError naming the field, wrapping Normalize's error.
func (s Schema) Apply(spec map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(s.Fields))
	for k, v := range spec {
		out[k] = v
	}
	for name, f := range s.Fields {
		v, ok := out[name]
		if !ok || v == nil {
			if f.Default != nil {
				out[name] = f.Default
			}
			continue
		}
		if f.Type == String {
			// A reference to a number or a bool, in a string field, is
			// formatted, as it would be inside a longer string.
			switch x := v.(type) {
			case int, int64, float64, json.Number, bool:
				v = fmt.Sprint(x)
				out[name] = v
			}
		}
		if f.Normalize != nil && !IsUnknown(v) {
			n, err := f.Normalize(v)
			if err != nil {
				return nil, FieldError{Field: "spec." + name, Msg: err.Error(), Err: err}
			}
			out[name] = n
		}
	}
	return out, nil
}

// FieldError is one problem with one spec field. Apply returns one, so a
// caller finds the field with errors.As, never in the message.
type FieldError struct {
	Field string // "spec.mode"
	Msg   string
	// Err is the cause, when the problem came from one (a Normalize
	// error); errors.Is and errors.As see through to it.
	Err error
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap returns the cause, if any.
func (e FieldError) Unwrap() error { return e.Err }

// Check validates spec against the schema: unknown fields, missing required
// fields, computed fields set by the user, types, and each field's Validate.
// Values that are references not yet known (isUnknown reports true) are
// accepted for any type. It returns every problem, sorted by field.
func (s Schema) Check(spec map[string]any, isUnknown func(any) bool) []FieldError {
	var errs []FieldError
	for name, v := range spec {
		f, ok := s.Fields[name]
		if !ok {
			msg := fmt.Sprintf("unknown field for kind %s (known: %s)", s.Kind, strings.Join(s.FieldNames(), ", "))
			if near := Suggest(name, s.FieldNames()); near != "" {
				msg = fmt.Sprintf("unknown field for kind %s: did you mean %s? (known: %s)", s.Kind, near, strings.Join(s.FieldNames(), ", "))
			}
			errs = append(errs, FieldError{Field: "spec." + name, Msg: msg})
			continue
		}
		if f.Computed {
			errs = append(errs, FieldError{Field: "spec." + name, Msg: "is computed by the provider and cannot be set"})
			continue
		}
		if isUnknown != nil && isUnknown(v) {
			continue
		}
		if v == nil {
			if f.Required {
				errs = append(errs, FieldError{Field: "spec." + name, Msg: "is required"})
			}
			continue
		}
		if err := checkType(f.Type, v); err != nil {
			errs = append(errs, FieldError{Field: "spec." + name, Msg: err.Error()})
			continue
		}
		if f.Normalize != nil {
			n, err := f.Normalize(v)
			if err != nil {
				errs = append(errs, FieldError{Field: "spec." + name, Msg: err.Error()})
				continue
			}
			v = n
		}
		if f.Validate != nil {
			if err := f.Validate(v); err != nil {
				errs = append(errs, FieldError{Field: "spec." + name, Msg: err.Error()})
			}
		}
	}
	for name, f := range s.Fields {
		if _, ok := spec[name]; !ok && f.Required {
			errs = append(errs, FieldError{Field: "spec." + name, Msg: "is required"})
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Field < errs[j].Field })
	return errs
}

func checkType(t Type, v any) error {
	ok := false
	switch t {
	case String:
		_, ok = v.(string)
	case Int:
		switch n := v.(type) {
		case int, int64:
			ok = true
		case float64:
			ok = n == float64(int64(n))
		case json.Number:
			ok = isInteger(n)
		}
	case Float:
		switch v.(type) {
		case int, int64, float64, json.Number:
			ok = true
		}
	case Bool:
		_, ok = v.(bool)
	case Map:
		_, ok = v.(map[string]any)
	case List:
		_, ok = v.([]any)
	case Any, "":
		ok = true
	}
	if !ok {
		return fmt.Errorf("must be a %s, got %s", t, describe(v))
	}
	return nil
}

func describe(v any) string {
	switch x := v.(type) {
	case string:
		return "string"
	case int, int64:
		return "int"
	case float64:
		return "float"
	case json.Number:
		if isInteger(x) {
			return "int"
		}
		return "float"
	case bool:
		return "bool"
	case map[string]any:
		return "map"
	case []any:
		return "list"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}
