package provider

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
)

// Canonical returns v in the one form converge compares and stores spec
// values in: nil, bool, string, int64 (every integral number), float64,
// []any and map[string]any, recursively. YAML, JSON and Go values that mean
// the same thing become equal under reflect.DeepEqual.
func Canonical(v any) any {
	switch x := v.(type) {
	case nil, bool, string, int64:
		return x
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case uint:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x)
		}
		return float64(x)
	case float32:
		return Canonical(float64(x))
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x)
		}
		return x
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return Canonical(f)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = Canonical(e)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = Canonical(e)
		}
		return out
	case map[string]string:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = e
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = Canonical(e)
		}
		return out
	}
	return v
}

// CanonicalMap is Canonical for a spec map; nil stays nil.
func CanonicalMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	return Canonical(m).(map[string]any)
}

// SortedKeys returns the keys of m in sorted order.
func SortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Unknown stands for a value not known yet: a spec string holding a
// reference to an output of a resource that is not Ready. Plans show it as
// "(known after apply)".
type Unknown struct {
	Expr string // the string as written, "${file.Directory/www.outputs.path}/index.html"
}

// IsUnknown reports whether v is, or contains, an Unknown value.
func IsUnknown(v any) bool {
	switch x := v.(type) {
	case Unknown:
		return true
	case []any:
		for _, e := range x {
			if IsUnknown(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if IsUnknown(e) {
				return true
			}
		}
	}
	return false
}

// MarshalJSON writes an Unknown as the expression it stands for.
func (u Unknown) MarshalJSON() ([]byte, error) { return json.Marshal(u.Expr) }
