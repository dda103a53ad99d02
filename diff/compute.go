package diff

import (
	"math"
	"reflect"
	"sort"
	"strconv"

	"github.com/convergehq/converge/provider"
)

// Compute returns the changes that would turn observed into desired, for a
// resource of the kind s describes. It is pure and deterministic.
//
// The rules, field by field (schema fields and any extra desired fields, in
// sorted order):
//   - Computed fields are skipped: they never differ.
//   - The desired value is desired[f]; when it is absent (or null, as
//     Schema.Apply treats it) the field's Default stands in. A field neither
//     set nor defaulted is not managed and never differs.
//   - observed == nil means nothing exists yet: every set or defaulted field
//     is a change with OldAbsent, which shows what a create will do.
//   - Otherwise a field absent from observed is skipped: the provider cannot
//     read it.
//   - Values are compared in provider.Canonical form (reflect.DeepEqual, with
//     NaN equal to itself), after the field's Normalize when it has one (a
//     value Normalize rejects is compared as is). A number has one canonical
//     form, so numbers compare by exact value: 12345678901234567891 from an
//     API equals the same integer in a manifest and differs from
//     12345678901234567892; 1e2 equals 100.
//   - Maps are diffed per key ("env.HOME", `labels["a.b"]`); for Partial map
//     fields only the desired keys count. Lists of equal length are diffed per
//     index ("args[2]"); lists of different lengths change whole.
//   - A desired provider.Unknown value gives a change with Unknown set.
//   - ForceNew and Sensitive come from the top-level field and apply to every
//     change below it. Fields missing from the schema carry no flags.
//
// The result is sorted by path: fields and map keys in lexical order, list
// elements by index.
func Compute(s provider.Schema, desired, observed map[string]any) Diff {
	names := make([]string, 0, len(s.Fields)+len(desired))
	for name := range s.Fields {
		names = append(names, name)
	}
	for name := range desired {
		if _, ok := s.Fields[name]; !ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)

	var d Diff
	for _, name := range names {
		f := s.Fields[name] // zero Field for names outside the schema
		if f.Computed {
			continue
		}
		want, ok := desired[name]
		if !ok || want == nil {
			if f.Default == nil {
				continue
			}
			want = f.Default
		}
		want = normalize(f, want)
		c := walker{field: f, out: &d}
		path := fieldPath(name)
		if observed == nil {
			c.add(Change{Path: path, New: want, OldAbsent: true})
			continue
		}
		have, ok := observed[name]
		if !ok {
			continue
		}
		c.compare(path, want, normalize(f, have), f.Type == provider.Map && f.Partial)
	}
	return d
}

// normalize returns v in canonical form after f's Normalize, if any.
// Unknown values and values Normalize rejects are returned canonical but
// otherwise untouched: the diff shows them, validation reports them.
func normalize(f provider.Field, v any) any {
	v = provider.Canonical(v)
	if f.Normalize == nil || v == nil || provider.IsUnknown(v) {
		return v
	}
	n, err := f.Normalize(v)
	if err != nil {
		return v
	}
	return provider.Canonical(n)
}

// walker appends the changes below one top-level field.
type walker struct {
	field provider.Field
	out   *Diff
}

func (w walker) add(c Change) {
	c.ForceNew = w.field.ForceNew
	c.Sensitive = w.field.Sensitive
	if !c.NewAbsent && provider.IsUnknown(c.New) {
		c.Unknown = true
	}
	*w.out = append(*w.out, c)
}

// compare diffs want against have, both canonical. partial limits a map to
// the keys of want.
func (w walker) compare(path string, want, have any, partial bool) {
	if _, ok := want.(provider.Unknown); ok {
		w.add(Change{Path: path, Old: have, New: want})
		return
	}
	if equal(want, have) {
		return
	}
	switch wv := want.(type) {
	case map[string]any:
		hv, ok := have.(map[string]any)
		if !ok {
			break
		}
		keys := provider.SortedKeys(wv)
		if !partial {
			for k := range hv {
				if _, ok := wv[k]; !ok {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
		}
		for _, k := range keys {
			p := path + keyPath(k)
			wk, inWant := wv[k]
			hk, inHave := hv[k]
			switch {
			case inWant && inHave:
				w.compare(p, wk, hk, false)
			case inWant:
				w.add(Change{Path: p, New: wk, OldAbsent: true})
			default:
				w.add(Change{Path: p, Old: hk, NewAbsent: true})
			}
		}
		return
	case []any:
		hv, ok := have.([]any)
		if !ok || len(hv) != len(wv) {
			break
		}
		for i := range wv {
			w.compare(path+"["+strconv.Itoa(i)+"]", wv[i], hv[i], false)
		}
		return
	}
	w.add(Change{Path: path, Old: have, New: want})
}

// fieldPath renders a top-level field name; names that are not plain
// identifiers are quoted like map keys.
func fieldPath(name string) string {
	if plainKey(name) {
		return name
	}
	return keyPath(name)
}

// keyPath renders the path step for map key k: ".k" for plain keys,
// `["k"]` (Go-quoted) for anything else.
func keyPath(k string) string {
	if plainKey(k) {
		return "." + k
	}
	return "[" + strconv.Quote(k) + "]"
}

// plainKey reports whether k can follow a dot unquoted: ASCII letters,
// digits, '_' and '-', at least one.
func plainKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// equal is reflect.DeepEqual for canonical values, except that NaN equals
// NaN: a value always equals itself, so an unchanged spec never differs.
func equal(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || (math.IsNaN(x) && math.IsNaN(y)))
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !equal(xv, yv) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}
