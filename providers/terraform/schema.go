package terraform

import (
	"sort"

	"github.com/zclconf/go-cty/cty"

	"github.com/convergehq/converge/provider"
)

// nesting is how a nested block or a nested attribute holds its objects.
type nesting int

// The values are the protocol's NestingMode values.
const (
	nestSingle nesting = 1
	nestList   nesting = 2
	nestSet    nesting = 3
	nestMap    nesting = 4
	nestGroup  nesting = 5
)

// block is a schema block, protocol-neutral: the top level of a resource
// type or of the provider's configuration, or a nested block.
type block struct {
	attrs       map[string]*attribute
	blocks      map[string]*nestedBlock
	description string
}

// attribute is one attribute of a block or of a nested object.
type attribute struct {
	typ                                                cty.Type // when nested is nil
	nested                                             *object  // protocol 6 nested attributes
	required, optional, computed, sensitive, writeOnly bool
	description                                        string
}

// object is the type of a protocol 6 nested attribute.
type object struct {
	attrs   map[string]*attribute
	nesting nesting
}

// nestedBlock is a block type inside a block.
type nestedBlock struct {
	block    *block
	nesting  nesting
	minItems int64
	maxItems int64
}

// resourceSchema is one resource type's schema.
type resourceSchema struct {
	version int64
	block   *block
	ty      cty.Type // block.impliedType(), cached
}

func newResourceSchema(version int64, b *block) *resourceSchema {
	if b == nil {
		b = &block{}
	}
	return &resourceSchema{version: version, block: b, ty: b.impliedType()}
}

// impliedType is the cty type of a value of b: an object of its
// attributes and nested blocks.
func (b *block) impliedType() cty.Type {
	atys := make(map[string]cty.Type, len(b.attrs)+len(b.blocks))
	for n, a := range b.attrs {
		atys[n] = a.impliedType()
	}
	for n, nb := range b.blocks {
		atys[n] = nb.impliedType()
	}
	return cty.Object(atys)
}

func (a *attribute) impliedType() cty.Type {
	if a.nested == nil {
		return a.typ
	}
	return a.nested.impliedType()
}

// objectType is the type of one object of o.
func (o *object) objectType() cty.Type {
	atys := make(map[string]cty.Type, len(o.attrs))
	for n, a := range o.attrs {
		atys[n] = a.impliedType()
	}
	return cty.Object(atys)
}

func (o *object) impliedType() cty.Type {
	ot := o.objectType()
	switch o.nesting {
	case nestList:
		return cty.List(ot)
	case nestSet:
		return cty.Set(ot)
	case nestMap:
		return cty.Map(ot)
	}
	return ot
}

func (nb *nestedBlock) impliedType() cty.Type {
	ot := nb.block.impliedType()
	switch nb.nesting {
	case nestList:
		if ot.HasDynamicTypes() {
			return cty.DynamicPseudoType // a tuple: elements may differ in type
		}
		return cty.List(ot)
	case nestSet:
		return cty.Set(ot)
	case nestMap:
		if ot.HasDynamicTypes() {
			return cty.DynamicPseudoType // an object
		}
		return cty.Map(ot)
	}
	return ot
}

// specField reports whether a is set by the user: computed-only
// attributes are outputs only.
func (a *attribute) specField() bool { return a.required || a.optional }

// fields returns the spec fields of b.
func (b *block) fields() map[string]provider.Field {
	out := map[string]provider.Field{}
	for n, a := range b.attrs {
		if !a.specField() {
			continue
		}
		out[n] = provider.Field{
			Type:        fieldType(a.impliedType()),
			Description: a.description,
			Required:    a.required,
			Sensitive:   a.sensitive || a.writeOnly || a.hasSensitive(),
			Env:         a.envField(),
		}
	}
	for n, nb := range b.blocks {
		t := provider.List
		if nb.nesting == nestSingle || nb.nesting == nestGroup || nb.nesting == nestMap {
			t = provider.Map
		}
		out[n] = provider.Field{
			Type:        t,
			Description: nb.block.description,
			Required:    nb.minItems > 0 && nb.nesting != nestGroup,
			Sensitive:   nb.block.hasSensitive(),
		}
	}
	return out
}

// envField reports whether a takes ${env:NAME}: a sensitive string, so
// that a secret can come from the environment and never be stored.
func (a *attribute) envField() bool {
	return a.nested == nil && a.typ == cty.String && (a.sensitive || a.writeOnly)
}

// hasSensitive reports whether a nested attribute holds a sensitive one.
func (a *attribute) hasSensitive() bool {
	if a.nested == nil {
		return false
	}
	for _, na := range a.nested.attrs {
		if na.sensitive || na.writeOnly || na.hasSensitive() {
			return true
		}
	}
	return false
}

// hasSensitive reports whether b holds a sensitive attribute, at any
// depth: the block's whole value is then treated as sensitive.
func (b *block) hasSensitive() bool {
	for _, a := range b.attrs {
		if a.sensitive || a.writeOnly || a.hasSensitive() {
			return true
		}
	}
	for _, nb := range b.blocks {
		if nb.block.hasSensitive() {
			return true
		}
	}
	return false
}

// fieldType maps a cty type to a spec field type.
func fieldType(t cty.Type) provider.Type {
	switch {
	case t == cty.String:
		return provider.String
	case t == cty.Number:
		return provider.Float // Terraform numbers are not only integers
	case t == cty.Bool:
		return provider.Bool
	case t.IsListType(), t.IsSetType(), t.IsTupleType():
		return provider.List
	case t.IsMapType():
		return provider.Map
	}
	return provider.Any
}

// outputs returns the names of every attribute and nested block of b, and
// those that are sensitive, sorted.
func (b *block) outputs() (all, sensitive []string) {
	for n, a := range b.attrs {
		if a.writeOnly {
			continue // never in the state
		}
		all = append(all, n)
		if a.sensitive || a.hasSensitive() {
			sensitive = append(sensitive, n)
		}
	}
	for n, nb := range b.blocks {
		all = append(all, n)
		if nb.block.hasSensitive() {
			sensitive = append(sensitive, n)
		}
	}
	sort.Strings(all)
	sort.Strings(sensitive)
	return all, sensitive
}

// sensitiveStrings returns every string leaf of v that b marks sensitive
// (a sensitive attribute's whole value, at any depth), for redaction.
func (b *block) sensitiveStrings(v cty.Value, out []string) []string {
	if !v.IsKnown() || v.IsNull() || !v.Type().IsObjectType() {
		return out
	}
	for n, a := range b.attrs {
		if !v.Type().HasAttribute(n) {
			continue
		}
		av := v.GetAttr(n)
		switch {
		case a.sensitive || a.writeOnly:
			out = stringLeaves(av, out)
		case a.nested != nil:
			eachObject(av, a.nested.nesting == nestSingle, func(o cty.Value) {
				out = (&block{attrs: a.nested.attrs}).sensitiveStrings(o, out)
			})
		}
	}
	for n, nb := range b.blocks {
		if !v.Type().HasAttribute(n) {
			continue
		}
		eachObject(v.GetAttr(n), nb.nesting == nestSingle || nb.nesting == nestGroup, func(o cty.Value) {
			out = nb.block.sensitiveStrings(o, out)
		})
	}
	return out
}

// eachObject calls fn with v (single) or each element of v.
func eachObject(v cty.Value, single bool, fn func(cty.Value)) {
	if !v.IsKnown() || v.IsNull() {
		return
	}
	if single {
		fn(v)
		return
	}
	if !v.CanIterateElements() {
		return
	}
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		fn(e)
	}
}

// stringLeaves appends every known string in v, and numbers as text.
func stringLeaves(v cty.Value, out []string) []string {
	if !v.IsKnown() || v.IsNull() {
		return out
	}
	switch {
	case v.Type() == cty.String:
		return append(out, v.AsString())
	case v.Type() == cty.Number:
		return append(out, v.AsBigFloat().Text('f', -1))
	case v.CanIterateElements():
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			out = stringLeaves(e, out)
		}
	}
	return out
}
