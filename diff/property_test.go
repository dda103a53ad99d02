package diff_test

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"pgregory.net/rapid"

	"github.com/convergehq/converge/diff"
	"github.com/convergehq/converge/provider"
)

// Keys include ones that must be quoted in paths.
var keyGen = rapid.SampledFrom([]string{"a", "b", "HOME", "x-y", "0", "a.b", "with space", `q"uote`, "", "[1]"})

func scalarGen() *rapid.Generator[any] {
	return rapid.OneOf(
		rapid.Just[any](nil),
		rapid.Map(rapid.Bool(), func(b bool) any { return b }),
		rapid.Map(rapid.SampledFrom([]string{"", "a", "B", "a\nb", "Mixed Case"}), func(s string) any { return s }),
		rapid.Map(rapid.Int64Range(-3, 3), func(i int64) any { return i }),
		rapid.Map(rapid.SampledFrom([]float64{0.5, -2.25, 3, math.NaN(), math.Inf(1)}), func(f float64) any { return f }),
	)
}

// valueGen generates spec values up to depth levels of nesting.
func valueGen(depth int) *rapid.Generator[any] {
	if depth == 0 {
		return scalarGen()
	}
	inner := valueGen(depth - 1)
	return rapid.OneOf(
		scalarGen(),
		rapid.Map(rapid.SliceOfN(inner, 0, 4), func(l []any) any { return l }),
		rapid.Map(rapid.MapOfN(keyGen, inner, 0, 4), func(m map[string]any) any { return m }),
	)
}

func lower(v any) (any, error) {
	if s, ok := v.(string); ok {
		return strings.ToLower(s), nil
	}
	return v, nil
}

// schemaGen generates a schema over fields f0..f5 with every flag.
func schemaGen() *rapid.Generator[provider.Schema] {
	return rapid.Custom(func(t *rapid.T) provider.Schema {
		s := provider.Schema{Kind: "prop.Thing", Fields: map[string]provider.Field{}}
		n := rapid.IntRange(0, 6).Draw(t, "fields")
		for i := range n {
			f := provider.Field{
				Type:      rapid.SampledFrom([]provider.Type{provider.String, provider.Int, provider.Map, provider.List, provider.Any}).Draw(t, "type"),
				Computed:  rapid.Float64Range(0, 1).Draw(t, "computed") < 0.15,
				ForceNew:  rapid.Bool().Draw(t, "forceNew"),
				Sensitive: rapid.Bool().Draw(t, "sensitive"),
			}
			f.Partial = f.Type == provider.Map && rapid.Bool().Draw(t, "partial")
			if rapid.Bool().Draw(t, "hasDefault") {
				f.Default = provider.Canonical(valueGen(1).Draw(t, "default"))
			}
			if rapid.Bool().Draw(t, "normalize") {
				f.Normalize = lower
			}
			s.Fields["f"+strconv.Itoa(i)] = f
		}
		return s
	})
}

// specGen generates a canonical spec for s as manifest produces it: some
// schema fields, some extra ones, defaults applied.
func specGen(s provider.Schema) *rapid.Generator[map[string]any] {
	return rapid.Custom(func(t *rapid.T) map[string]any {
		raw := map[string]any{}
		for _, name := range append(s.FieldNames(), "x0", "x1") {
			if rapid.Bool().Draw(t, "set "+name) {
				raw[name] = valueGen(2).Draw(t, name)
			}
		}
		spec, err := s.Apply(provider.CanonicalMap(raw))
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		return provider.CanonicalMap(spec)
	})
}

// mutate returns a value near v, so that observed states share structure
// with desired ones and nested diffs happen.
func mutate(t *rapid.T, v any, label string) any {
	switch rapid.IntRange(0, 3).Draw(t, label) {
	case 0:
		return v
	case 1:
		return provider.Canonical(valueGen(1).Draw(t, label+" new"))
	}
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for _, k := range provider.SortedKeys(x) {
			if !rapid.Bool().Draw(t, label+" drop "+k) {
				out[k] = mutate(t, x[k], label+"."+k)
			}
		}
		if rapid.Bool().Draw(t, label+" add") {
			out[keyGen.Draw(t, label+" key")] = provider.Canonical(scalarGen().Draw(t, label+" val"))
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = mutate(t, x[i], fmt.Sprintf("%s[%d]", label, i))
		}
		return out
	}
	return provider.Canonical(scalarGen().Draw(t, label+" scalar"))
}

func observedGen(s provider.Schema, desired map[string]any) *rapid.Generator[map[string]any] {
	return rapid.Custom(func(t *rapid.T) map[string]any {
		if rapid.Float64Range(0, 1).Draw(t, "nothing observed") < 0.1 {
			return nil
		}
		o := map[string]any{}
		for _, name := range append(s.FieldNames(), "x0", "x1") {
			v, ok := desired[name]
			switch {
			case rapid.Float64Range(0, 1).Draw(t, "unreadable "+name) < 0.15:
			case ok:
				o[name] = mutate(t, v, name)
			case rapid.Bool().Draw(t, "extra "+name):
				o[name] = provider.Canonical(valueGen(2).Draw(t, "extra value "+name))
			}
		}
		return o
	})
}

// TestComputeSelfIsEmpty: a canonical spec never differs from itself.
func TestComputeSelfIsEmpty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := schemaGen().Draw(t, "schema")
		x := specGen(s).Draw(t, "spec")
		if got := diff.Compute(s, x, x); !got.Empty() {
			t.Fatalf("Compute(s, x, x): got %v; want no change", got)
		}
	})
}

// TestComputeApplyConverges: applying the changes of Compute(s, d, o) to o
// gives a state that no longer differs from d.
func TestComputeApplyConverges(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := schemaGen().Draw(t, "schema")
		d := specGen(s).Draw(t, "desired")
		o := observedGen(s, d).Draw(t, "observed")
		changes := diff.Compute(s, d, o)
		seen := map[string]bool{}
		for _, c := range changes {
			if seen[c.Path] {
				t.Fatalf("path %s appears twice in %v", c.Path, changes)
			}
			seen[c.Path] = true
		}
		applied, err := applyChanges(o, changes)
		if err != nil {
			t.Fatalf("apply %v: %v", changes, err)
		}
		if got := diff.Compute(s, d, applied); !got.Empty() {
			t.Fatalf("after applying %v to %v: Compute: got %v; want no change", changes, o, got)
		}
	})
}

// applyChanges sets each change's New value at its path in a copy of o; it
// parses paths the way a consumer of Change.Path would.
func applyChanges(o map[string]any, changes diff.Diff) (map[string]any, error) {
	root := map[string]any{}
	if o != nil {
		root = provider.CanonicalMap(o) // Canonical copies
	}
	for _, c := range changes {
		steps, err := parsePath(c.Path)
		if err != nil {
			return nil, err
		}
		var parent any = root
		for _, st := range steps[:len(steps)-1] {
			if parent, err = step(parent, st); err != nil {
				return nil, fmt.Errorf("%s: %w", c.Path, err)
			}
		}
		last := steps[len(steps)-1]
		switch p := parent.(type) {
		case map[string]any:
			if last.isIndex {
				return nil, fmt.Errorf("%s: index into a map", c.Path)
			}
			if c.NewAbsent {
				delete(p, last.key)
			} else {
				p[last.key] = c.New
			}
		case []any:
			if !last.isIndex || last.index >= len(p) || c.NewAbsent {
				return nil, fmt.Errorf("%s: bad list step", c.Path)
			}
			p[last.index] = c.New
		default:
			return nil, fmt.Errorf("%s: parent is a %T", c.Path, parent)
		}
	}
	return root, nil
}

type pathStep struct {
	key     string
	index   int
	isIndex bool
}

func step(v any, st pathStep) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if c, ok := x[st.key]; ok && !st.isIndex {
			return c, nil
		}
	case []any:
		if st.isIndex && st.index < len(x) {
			return x[st.index], nil
		}
	}
	return nil, fmt.Errorf("no step %+v in %T", st, v)
}

// parsePath splits `name.key["odd key"][2]` into steps.
func parsePath(p string) ([]pathStep, error) {
	var steps []pathStep
	first := true
	for p != "" {
		switch {
		case strings.HasPrefix(p, `["`):
			q, err := strconv.QuotedPrefix(p[1:])
			if err != nil || !strings.HasPrefix(p[1+len(q):], "]") {
				return nil, fmt.Errorf("bad quoted key in %q", p)
			}
			k, _ := strconv.Unquote(q)
			steps = append(steps, pathStep{key: k})
			p = p[len(q)+2:]
		case strings.HasPrefix(p, "["):
			end := strings.IndexByte(p, ']')
			i, err := strconv.Atoi(p[1:max(end, 1)])
			if end < 0 || err != nil {
				return nil, fmt.Errorf("bad index in %q", p)
			}
			steps = append(steps, pathStep{index: i, isIndex: true})
			p = p[end+1:]
		default:
			if !first {
				if !strings.HasPrefix(p, ".") {
					return nil, fmt.Errorf("expected . in %q", p)
				}
				p = p[1:]
			}
			end := strings.IndexAny(p, ".[")
			if end < 0 {
				end = len(p)
			}
			if end == 0 {
				return nil, fmt.Errorf("empty key in %q", p)
			}
			steps = append(steps, pathStep{key: p[:end]})
			p = p[end:]
		}
		first = false
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("empty path")
	}
	return steps, nil
}

func TestParsePath(t *testing.T) {
	// The helper the property test relies on must itself be right.
	got, err := parsePath(`env["a.b"].x[12][""]`)
	if err != nil {
		t.Fatalf("parsePath: %v", err)
	}
	want := []pathStep{{key: "env"}, {key: "a.b"}, {key: "x"}, {index: 12, isIndex: true}, {key: ""}}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(pathStep{}), cmpopts.EquateEmpty()); d != "" {
		t.Errorf("parsePath: -want +got:\n%s", d)
	}
}
