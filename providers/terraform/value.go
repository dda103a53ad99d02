package terraform

import (
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strconv"

	"github.com/zclconf/go-cty/cty"
	ctymsgpack "github.com/zclconf/go-cty/cty/msgpack"

	"github.com/convergehq/converge/provider"
)

func marshalMsgpack(v cty.Value, ty cty.Type) ([]byte, error) { return ctymsgpack.Marshal(v, ty) }

func unmarshalMsgpack(b []byte, ty cty.Type) (cty.Value, error) { return ctymsgpack.Unmarshal(b, ty) }

// valueError is a spec value that does not fit the schema, at a path in
// converge's syntax ("rule[0].port").
type valueError struct {
	path string
	msg  string
}

func (e *valueError) Error() string { return e.path + ": " + e.msg }

func errAt(path, format string, args ...any) error {
	return &valueError{path: path, msg: fmt.Sprintf(format, args...)}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func key(path, k string) string {
	if isIdent(k) {
		return join(path, k)
	}
	return path + "[" + strconv.Quote(k) + "]"
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' && i > 0) {
			return false
		}
	}
	return true
}

// configValue converts a spec (references resolved; provider.Unknown for
// values not known yet) to the configuration object of b: attributes the
// spec leaves out are null, nested blocks it leaves out are none.
func configValue(b *block, spec map[string]any) (cty.Value, error) {
	return objectValue(b, spec, "")
}

func objectValue(b *block, m map[string]any, path string) (cty.Value, error) {
	for k := range m {
		_, isAttr := b.attrs[k]
		_, isBlock := b.blocks[k]
		if !isAttr && !isBlock {
			return cty.NilVal, errAt(join(path, k), "not an argument of this schema")
		}
	}
	vals := make(map[string]cty.Value, len(b.attrs)+len(b.blocks))
	for n, a := range b.attrs {
		v, set := m[n]
		switch {
		case !set || v == nil:
			vals[n] = cty.NullVal(a.impliedType())
		case !a.specField():
			return cty.NilVal, errAt(join(path, n), "is computed by the provider and cannot be set")
		default:
			cv, err := attrValue(a, v, join(path, n))
			if err != nil {
				return cty.NilVal, err
			}
			vals[n] = cv
		}
	}
	for n, nb := range b.blocks {
		cv, err := blockValue(nb, m[n], join(path, n))
		if err != nil {
			return cty.NilVal, err
		}
		vals[n] = cv
	}
	return cty.ObjectVal(vals), nil
}

func attrValue(a *attribute, v any, path string) (cty.Value, error) {
	if a.nested == nil {
		return toCty(v, a.typ, path)
	}
	o := a.nested
	inner := &block{attrs: o.attrs}
	return collection(o.nesting, inner, o.impliedType(), v, path, false)
}

func blockValue(nb *nestedBlock, v any, path string) (cty.Value, error) {
	if nb.nesting == nestGroup && v == nil {
		v = map[string]any{}
	}
	return collection(nb.nesting, nb.block, nb.impliedType(), v, path, true)
}

// collection converts v to the objects of b held as nesting says, in a
// value of type ty. A block's collections are never null: nil is none.
func collection(nest nesting, b *block, ty cty.Type, v any, path string, isBlock bool) (cty.Value, error) {
	if _, ok := v.(provider.Unknown); ok {
		return cty.UnknownVal(ty), nil
	}
	ot := b.impliedType()
	if v == nil {
		if !isBlock || nest == nestSingle {
			return cty.NullVal(ty), nil
		}
		switch {
		case ty == cty.DynamicPseudoType && nest == nestList:
			return cty.EmptyTupleVal, nil
		case ty == cty.DynamicPseudoType:
			return cty.EmptyObjectVal, nil
		case nest == nestList:
			return cty.ListValEmpty(ot), nil
		case nest == nestSet:
			return cty.SetValEmpty(ot), nil
		}
		return cty.MapValEmpty(ot), nil
	}
	obj := func(e any, p string) (cty.Value, error) {
		if _, ok := e.(provider.Unknown); ok {
			return cty.UnknownVal(ot), nil
		}
		m, ok := e.(map[string]any)
		if !ok {
			return cty.NilVal, errAt(p, "must be a map, got %s", describe(e))
		}
		return objectValue(b, m, p)
	}
	switch nest {
	case nestSingle, nestGroup:
		return obj(v, path)
	case nestList, nestSet:
		l, ok := v.([]any)
		if !ok {
			return cty.NilVal, errAt(path, "must be a list, got %s", describe(v))
		}
		elems := make([]cty.Value, 0, len(l))
		for i, e := range l {
			ev, err := obj(e, index(path, i))
			if err != nil {
				return cty.NilVal, err
			}
			elems = append(elems, ev)
		}
		switch {
		case ty == cty.DynamicPseudoType:
			return cty.TupleVal(elems), nil
		case len(elems) == 0 && nest == nestList:
			return cty.ListValEmpty(ot), nil
		case len(elems) == 0:
			return cty.SetValEmpty(ot), nil
		case nest == nestList:
			return cty.ListVal(elems), nil
		}
		return cty.SetVal(elems), nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return cty.NilVal, errAt(path, "must be a map, got %s", describe(v))
	}
	elems := make(map[string]cty.Value, len(m))
	for k, e := range m {
		ev, err := obj(e, key(path, k))
		if err != nil {
			return cty.NilVal, err
		}
		elems[k] = ev
	}
	switch {
	case ty == cty.DynamicPseudoType:
		return cty.ObjectVal(elems), nil
	case len(elems) == 0:
		return cty.MapValEmpty(ot), nil
	}
	return cty.MapVal(elems), nil
}

// toCty converts a spec value to a value of type t.
func toCty(v any, t cty.Type, path string) (cty.Value, error) {
	if v == nil {
		return cty.NullVal(t), nil
	}
	if _, ok := v.(provider.Unknown); ok {
		return cty.UnknownVal(t), nil
	}
	switch {
	case t == cty.DynamicPseudoType:
		return infer(v, path)
	case t == cty.String:
		switch x := v.(type) {
		case string:
			return cty.StringVal(x), nil
		case bool:
			return cty.StringVal(strconv.FormatBool(x)), nil
		case int, int64, float64, json.Number:
			n, err := numberVal(x, path)
			if err != nil {
				return cty.NilVal, err
			}
			return cty.StringVal(n.AsBigFloat().Text('f', -1)), nil
		}
	case t == cty.Number:
		switch x := v.(type) {
		case int, int64, float64, json.Number:
			return numberVal(x, path)
		case string:
			n, err := cty.ParseNumberVal(x)
			if err != nil {
				return cty.NilVal, errAt(path, "must be a number, got %q", x)
			}
			return n, nil
		}
	case t == cty.Bool:
		switch x := v.(type) {
		case bool:
			return cty.BoolVal(x), nil
		case string:
			if b, err := strconv.ParseBool(x); err == nil && (x == "true" || x == "false") {
				return cty.BoolVal(b), nil
			}
		}
	case t.IsListType() || t.IsSetType():
		l, ok := v.([]any)
		if !ok {
			break
		}
		et := t.ElementType()
		elems := make([]cty.Value, 0, len(l))
		for i, e := range l {
			ev, err := toCty(e, et, index(path, i))
			if err != nil {
				return cty.NilVal, err
			}
			elems = append(elems, ev)
		}
		return listOrSet(t, et, elems)
	case t.IsMapType():
		m, ok := v.(map[string]any)
		if !ok {
			break
		}
		et := t.ElementType()
		if len(m) == 0 {
			return cty.MapValEmpty(et), nil
		}
		elems := make(map[string]cty.Value, len(m))
		for k, e := range m {
			ev, err := toCty(e, et, key(path, k))
			if err != nil {
				return cty.NilVal, err
			}
			elems[k] = ev
		}
		if et == cty.DynamicPseudoType {
			return unifyMap(elems, path)
		}
		return cty.MapVal(elems), nil
	case t.IsObjectType():
		m, ok := v.(map[string]any)
		if !ok {
			break
		}
		for k := range m {
			if !t.HasAttribute(k) {
				return cty.NilVal, errAt(key(path, k), "not an attribute of this object")
			}
		}
		vals := make(map[string]cty.Value, len(t.AttributeTypes()))
		for n, at := range t.AttributeTypes() {
			av, err := toCty(m[n], at, key(path, n))
			if err != nil {
				return cty.NilVal, err
			}
			vals[n] = av
		}
		return cty.ObjectVal(vals), nil
	case t.IsTupleType():
		l, ok := v.([]any)
		if !ok {
			break
		}
		ets := t.TupleElementTypes()
		if len(l) != len(ets) {
			return cty.NilVal, errAt(path, "must have %d elements, got %d", len(ets), len(l))
		}
		elems := make([]cty.Value, len(l))
		for i, e := range l {
			ev, err := toCty(e, ets[i], index(path, i))
			if err != nil {
				return cty.NilVal, err
			}
			elems[i] = ev
		}
		return cty.TupleVal(elems), nil
	}
	return cty.NilVal, errAt(path, "must be a %s, got %s", t.FriendlyName(), describe(v))
}

func listOrSet(t, et cty.Type, elems []cty.Value) (cty.Value, error) {
	if et == cty.DynamicPseudoType && len(elems) > 0 {
		// A list of any: its elements must share one type.
		first := elems[0].Type()
		for _, e := range elems[1:] {
			if !e.Type().Equals(first) {
				return cty.NilVal, fmt.Errorf("elements of different types in a collection of one type")
			}
		}
	}
	switch {
	case len(elems) == 0 && t.IsListType():
		return cty.ListValEmpty(et), nil
	case len(elems) == 0:
		return cty.SetValEmpty(et), nil
	case t.IsListType():
		return cty.ListVal(elems), nil
	}
	return cty.SetVal(elems), nil
}

func unifyMap(elems map[string]cty.Value, path string) (cty.Value, error) {
	var first cty.Type
	for _, e := range elems {
		if first == cty.NilType {
			first = e.Type()
		} else if !e.Type().Equals(first) {
			return cty.NilVal, errAt(path, "values of different types in a map of one type")
		}
	}
	return cty.MapVal(elems), nil
}

// infer converts v to a cty value of the type it has.
func infer(v any, path string) (cty.Value, error) {
	switch x := v.(type) {
	case nil:
		return cty.NullVal(cty.DynamicPseudoType), nil
	case provider.Unknown:
		return cty.DynamicVal, nil
	case string:
		return cty.StringVal(x), nil
	case bool:
		return cty.BoolVal(x), nil
	case int, int64, float64, json.Number:
		return numberVal(x, path)
	case []any:
		if len(x) == 0 {
			return cty.EmptyTupleVal, nil
		}
		elems := make([]cty.Value, len(x))
		for i, e := range x {
			ev, err := infer(e, index(path, i))
			if err != nil {
				return cty.NilVal, err
			}
			elems[i] = ev
		}
		return cty.TupleVal(elems), nil
	case map[string]any:
		if len(x) == 0 {
			return cty.EmptyObjectVal, nil
		}
		vals := make(map[string]cty.Value, len(x))
		for k, e := range x {
			ev, err := infer(e, key(path, k))
			if err != nil {
				return cty.NilVal, err
			}
			vals[k] = ev
		}
		return cty.ObjectVal(vals), nil
	}
	return cty.NilVal, errAt(path, "cannot hold a %T", v)
}

func numberVal(v any, path string) (cty.Value, error) {
	switch x := v.(type) {
	case int:
		return cty.NumberIntVal(int64(x)), nil
	case int64:
		return cty.NumberIntVal(x), nil
	case float64:
		return cty.NumberFloatVal(x), nil
	case json.Number:
		n, err := cty.ParseNumberVal(string(x))
		if err != nil {
			return cty.NilVal, errAt(path, "must be a number, got %q", string(x))
		}
		return n, nil
	}
	return cty.NilVal, errAt(path, "must be a number, got %s", describe(v))
}

func describe(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case int, int64, float64, json.Number:
		return "number"
	case bool:
		return "bool"
	case []any:
		return "list"
	case map[string]any:
		return "map"
	}
	return fmt.Sprintf("%T", v)
}

// fromCty converts v to a converge value (provider.Canonical form), with
// provider.Unknown for what is not known yet.
func fromCty(v cty.Value) any {
	v, _ = v.Unmark()
	if !v.IsKnown() {
		return provider.Unknown{}
	}
	if v.IsNull() {
		return nil
	}
	t := v.Type()
	switch {
	case t == cty.String:
		return v.AsString()
	case t == cty.Number:
		return number(v.AsBigFloat())
	case t == cty.Bool:
		return v.True()
	case t.IsListType() || t.IsSetType() || t.IsTupleType():
		out := make([]any, 0, v.LengthInt())
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			out = append(out, fromCty(e))
		}
		return out
	case t.IsMapType() || t.IsObjectType():
		out := map[string]any{}
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			out[k.AsString()] = fromCty(e)
		}
		return out
	}
	return nil
}

// number is f in canonical form: int64 when it is one, exactly.
func number(f *big.Float) any {
	if f.IsInt() {
		if i, acc := f.Int64(); acc == big.Exact {
			return i
		}
	}
	if n, ok := provider.ParseNumber(f.Text('g', -1)); ok {
		return n
	}
	return json.Number(f.Text('g', -1))
}

// outputs returns every attribute and nested block of the object v but the
// write-only ones (always null in a state).
func outputs(b *block, v cty.Value) map[string]any {
	out := map[string]any{}
	if v.IsNull() || !v.IsKnown() {
		return out
	}
	for n, a := range b.attrs {
		if !a.writeOnly {
			out[n] = fromCty(v.GetAttr(n))
		}
	}
	for n := range b.blocks {
		out[n] = fromCty(v.GetAttr(n))
	}
	return out
}

// stateView returns the spec fields of the object v in the spec's shape:
// top-level fields whatever their value (null is nil), and, inside nested
// objects, only the arguments that hold a value, as a spec writes them.
func stateView(b *block, v cty.Value) map[string]any {
	out := map[string]any{}
	if v.IsNull() || !v.IsKnown() {
		return out
	}
	for n, a := range b.attrs {
		if !a.specField() || a.writeOnly {
			continue
		}
		out[n] = attrView(a, v.GetAttr(n))
	}
	for n, nb := range b.blocks {
		out[n] = nestedView(nb.nesting, nb.block, v.GetAttr(n))
	}
	return out
}

func attrView(a *attribute, v cty.Value) any {
	if a.nested == nil {
		return fromCty(v)
	}
	return nestedView(a.nested.nesting, &block{attrs: a.nested.attrs}, v)
}

func nestedView(nest nesting, b *block, v cty.Value) any {
	if !v.IsKnown() {
		return provider.Unknown{}
	}
	if v.IsNull() {
		return nil
	}
	obj := func(o cty.Value) any {
		if !o.IsKnown() {
			return provider.Unknown{}
		}
		if o.IsNull() {
			return nil
		}
		m := map[string]any{}
		for n, a := range b.attrs {
			if !a.specField() || a.writeOnly {
				continue
			}
			if av := o.GetAttr(n); !av.IsNull() {
				m[n] = attrView(a, av)
			}
		}
		for n, nb := range b.blocks {
			bv := nestedView(nb.nesting, nb.block, o.GetAttr(n))
			if l, ok := bv.([]any); bv == nil || ok && len(l) == 0 {
				continue
			}
			if mm, ok := bv.(map[string]any); ok && len(mm) == 0 {
				continue
			}
			m[n] = bv
		}
		return m
	}
	switch nest {
	case nestSingle, nestGroup:
		return obj(v)
	case nestMap:
		m := map[string]any{}
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			m[k.AsString()] = obj(e)
		}
		return m
	}
	l := []any{}
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		l = append(l, obj(e))
	}
	return l
}

// emptyValue is b with every attribute null and no nested blocks, as
// Terraform's configschema.Block.EmptyValue.
func emptyValue(b *block) cty.Value {
	vals := make(map[string]cty.Value, len(b.attrs)+len(b.blocks))
	for n, a := range b.attrs {
		vals[n] = cty.NullVal(a.impliedType())
	}
	for n, nb := range b.blocks {
		ty := nb.impliedType()
		switch {
		case nb.nesting == nestSingle:
			vals[n] = cty.NullVal(ty)
		case nb.nesting == nestGroup:
			vals[n] = emptyValue(nb.block)
		case ty == cty.DynamicPseudoType && nb.nesting == nestList:
			vals[n] = cty.EmptyTupleVal
		case ty == cty.DynamicPseudoType:
			vals[n] = cty.EmptyObjectVal
		case nb.nesting == nestList:
			vals[n] = cty.ListValEmpty(nb.block.impliedType())
		case nb.nesting == nestSet:
			vals[n] = cty.SetValEmpty(nb.block.impliedType())
		default:
			vals[n] = cty.MapValEmpty(nb.block.impliedType())
		}
	}
	return cty.ObjectVal(vals)
}

// proposedNew is the proposed new state Terraform sends with
// PlanResourceChange (objchange.ProposedNew): the configuration, with the
// prior values kept for computed attributes the configuration leaves null,
// through nested blocks and nested attributes.
func proposedNew(b *block, prior, config cty.Value) cty.Value {
	if config.IsNull() || !config.IsKnown() {
		return config
	}
	if prior.IsNull() || !prior.IsKnown() {
		prior = emptyValue(b)
	}
	return proposedObject(b, prior, config)
}

func proposedObject(b *block, prior, config cty.Value) cty.Value {
	vals := make(map[string]cty.Value, len(b.attrs)+len(b.blocks))
	for n, a := range b.attrs {
		priorV, configV := attrOf(prior, n, a.impliedType()), attrOf(config, n, a.impliedType())
		switch {
		case a.writeOnly:
			vals[n] = cty.NullVal(a.impliedType())
		case a.computed && configV.IsNull():
			vals[n] = priorV
			if a.optional && a.nested != nil && setNonComputed(&block{attrs: a.nested.attrs}, a.nested.nesting, priorV) {
				vals[n] = configV
			}
		case a.nested != nil:
			vals[n] = proposedCollection(a.nested.nesting, &block{attrs: a.nested.attrs}, priorV, configV)
		default:
			vals[n] = configV
		}
	}
	for n, nb := range b.blocks {
		ty := nb.impliedType()
		vals[n] = proposedCollection(nb.nesting, nb.block, attrOf(prior, n, ty), attrOf(config, n, ty))
	}
	return cty.ObjectVal(vals)
}

func attrOf(obj cty.Value, name string, ty cty.Type) cty.Value {
	if obj.IsNull() || !obj.IsKnown() || !obj.Type().IsObjectType() || !obj.Type().HasAttribute(name) {
		return cty.NullVal(ty)
	}
	return obj.GetAttr(name)
}

// setNonComputed reports whether the nested value v holds a value of an
// attribute that is not computed: then the user set it, and a null in the
// configuration removes it.
func setNonComputed(b *block, nest nesting, v cty.Value) bool {
	found := false
	eachObject(v, nest == nestSingle, func(o cty.Value) {
		for n, a := range b.attrs {
			if av := attrOf(o, n, a.impliedType()); !av.IsNull() && !a.computed {
				found = true
			}
		}
	})
	return found
}

func proposedCollection(nest nesting, b *block, prior, config cty.Value) cty.Value {
	if config.IsNull() || !config.IsKnown() {
		return config
	}
	switch nest {
	case nestSingle, nestGroup:
		return proposedNew(b, prior, config)
	case nestList:
		var priorElems []cty.Value
		if !prior.IsNull() && prior.IsKnown() {
			priorElems = prior.AsValueSlice()
		}
		elems := config.AsValueSlice()
		out := make([]cty.Value, len(elems))
		for i, c := range elems {
			p := cty.NullVal(c.Type())
			if i < len(priorElems) {
				p = priorElems[i]
			}
			out[i] = proposedNew(b, p, c)
		}
		switch {
		case config.Type().IsTupleType():
			return cty.TupleVal(out)
		case len(out) == 0:
			return config
		}
		return cty.ListVal(out)
	case nestMap:
		var priorElems map[string]cty.Value
		if !prior.IsNull() && prior.IsKnown() {
			priorElems = prior.AsValueMap()
		}
		elems := config.AsValueMap()
		if len(elems) == 0 {
			return config
		}
		out := make(map[string]cty.Value, len(elems))
		for k, c := range elems {
			p, ok := priorElems[k]
			if !ok {
				p = cty.NullVal(c.Type())
			}
			out[k] = proposedNew(b, p, c)
		}
		if config.Type().IsObjectType() {
			return cty.ObjectVal(out)
		}
		return cty.MapVal(out)
	}
	// A set: a configured element takes the computed values of the prior
	// element it matches on every value the configuration sets.
	var priorElems []cty.Value
	if !prior.IsNull() && prior.IsKnown() {
		priorElems = prior.AsValueSlice()
	}
	elems := config.AsValueSlice()
	if len(elems) == 0 {
		return config
	}
	used := make([]bool, len(priorElems))
	out := make([]cty.Value, len(elems))
	for i, c := range elems {
		p := cty.NullVal(c.Type())
		for j, pe := range priorElems {
			if !used[j] && setMatch(b, pe, c) {
				p, used[j] = pe, true
				break
			}
		}
		out[i] = proposedNew(b, p, c)
	}
	return cty.SetVal(out)
}

// setMatch reports whether the prior set element p is the configured one
// c: equal on every attribute but computed ones c leaves null.
func setMatch(b *block, p, c cty.Value) bool {
	if !p.IsKnown() || p.IsNull() || !c.IsKnown() || c.IsNull() {
		return false
	}
	for n, a := range b.attrs {
		cv := attrOf(c, n, a.impliedType())
		if a.computed && cv.IsNull() || a.writeOnly {
			continue
		}
		if eq := attrOf(p, n, a.impliedType()).Equals(cv); !eq.IsKnown() || eq.False() {
			return false
		}
	}
	for n, nb := range b.blocks {
		ty := nb.impliedType()
		if eq := attrOf(p, n, ty).Equals(attrOf(c, n, ty)); !eq.IsKnown() || eq.False() {
			return false
		}
	}
	return true
}

// changedPaths returns the top-level attributes and nested blocks whose
// values differ between a and b, sorted.
func changedPaths(b *block, a, c cty.Value) []string {
	var out []string
	names := make([]string, 0, len(b.attrs)+len(b.blocks))
	for n := range b.attrs {
		names = append(names, n)
	}
	for n := range b.blocks {
		names = append(names, n)
	}
	for _, n := range names {
		if ba, ok := b.attrs[n]; ok && ba.writeOnly {
			continue
		}
		av, cv := attrOf(a, n, cty.DynamicPseudoType), attrOf(c, n, cty.DynamicPseudoType)
		if eq := av.Equals(cv); !eq.IsKnown() || eq.False() {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// pathString writes an attribute path in converge's syntax:
// "rule[0].port", `tags["a.b"]`.
func pathString(steps []pathStep) string {
	s := ""
	for _, st := range steps {
		switch {
		case st.key != nil:
			s = key(s, *st.key)
		case st.index != nil:
			s = index(s, int(*st.index))
		default:
			s = join(s, st.name)
		}
	}
	return s
}
