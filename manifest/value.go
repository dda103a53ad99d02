package manifest

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/convergehq/converge/provider"
)

const (
	// maxDepth bounds nesting (and alias recursion) in a spec.
	maxDepth = 64
	// maxNodes bounds the values one document may expand to, aliases
	// included, so that a few lines of anchors cannot expand exponentially.
	maxNodes = 100000
	// freePath is how long a field path may be before rendering it (for
	// an error or a reference) counts against MaxAliasBytes: manifests'
	// paths are far shorter, and only very long keys nested deep make
	// longer ones, which each error below them would repeat.
	freePath = 256
)

// converter turns the YAML nodes of one document into canonical values,
// collecting references and problems on the way. The path of the value
// being converted is kept as a stack of steps and rendered only for an
// error or a reference.
type converter struct {
	d      *docParser
	root   string // the path of the value converted: "spec"
	budget int    // values left (maxNodes)
	refs   []Ref
	steps  []step

	aliases  int  // aliases being expanded
	useLine  int  // the line of the outermost of them
	overflow bool // MaxAliasBytes was passed: convert nothing more
}

// step is one step of a path: a map key, or a list index when key is
// absent.
type step struct {
	key   string
	index int
	isKey bool
}

// path renders the path of the value being converted ("spec.env.HOME",
// "spec.args[2]"). A long path, or any path below an alias, counts against
// MaxAliasBytes.
func (c *converter) path(n *yaml.Node) string {
	p := c.render()
	cost := len(p) - freePath
	if c.aliases > 0 {
		cost = len(p)
	}
	if cost > 0 {
		c.charge(n, cost)
	}
	return p
}

func (c *converter) render() string {
	size := len(c.root)
	for _, s := range c.steps {
		size += len(s.key) + 2 + 20
	}
	b := make([]byte, 0, size)
	b = append(b, c.root...)
	for _, s := range c.steps {
		if s.isKey {
			b = append(b, '.')
			b = append(b, s.key...)
			continue
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(s.index), 10)
		b = append(b, ']')
	}
	return string(b)
}

// errorf reports a problem with the value at the current path; none once
// MaxAliasBytes was passed, which is the one problem left to report.
func (c *converter) errorf(n *yaml.Node, format string, args ...any) {
	if path := c.path(n); !c.overflow {
		c.d.errorf(n.Line, path, format, args...)
	}
}

// charge counts bytes that aliases expand to against the load's
// MaxAliasBytes, and reports whether they fit. Past the limit, the
// document converts to nothing more.
func (c *converter) charge(n *yaml.Node, bytes int) bool {
	if c.overflow {
		return false
	}
	if c.d.expanded.Add(int64(bytes)) <= MaxAliasBytes {
		return true
	}
	c.overflow = true
	if c.aliases > 0 {
		c.d.errorf(c.useLine, c.render(), "aliases expand to more than %s", byteSize(MaxAliasBytes))
	} else {
		c.d.errorf(n.Line, "", "the paths of the fields named in errors and references add up to more than %s (very long keys?)", byteSize(MaxAliasBytes))
	}
	return false
}

// value converts n, found at the current path, to a canonical value.
// Strings are kept as written; references in them are recorded.
func (c *converter) value(n *yaml.Node, depth int) any {
	if c.overflow {
		return nil
	}
	c.budget--
	if c.budget < 0 {
		if c.budget == -1 {
			c.errorf(n, "document expands to more than %d values (aliases?)", maxNodes)
		}
		return nil
	}
	if depth > maxDepth {
		c.errorf(n, "nested more than %d levels deep (recursive alias?)", maxDepth)
		return nil
	}
	if c.aliases > 0 && !c.charge(n, 1+len(n.Value)) {
		return nil
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			c.errorf(n, "unknown alias")
			return nil
		}
		if c.aliases == 0 {
			c.useLine = n.Line
		}
		c.aliases++
		v := c.value(n.Alias, depth+1)
		c.aliases--
		return v
	case yaml.ScalarNode:
		return c.scalar(n)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content) && !c.overflow; i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key, ok := c.key(k)
			if !ok {
				continue
			}
			if c.aliases > 0 && !c.charge(k, len(key)) {
				return nil
			}
			c.steps = append(c.steps, step{key: key, isKey: true})
			if _, dup := m[key]; dup {
				c.errorf(k, "duplicate key")
			} else {
				m[key] = c.value(v, depth+1)
			}
			c.steps = c.steps[:len(c.steps)-1]
		}
		return m
	case yaml.SequenceNode:
		l := make([]any, len(n.Content))
		for i, e := range n.Content {
			if c.overflow {
				return nil
			}
			c.steps = append(c.steps, step{index: i})
			l[i] = c.value(e, depth+1)
			c.steps = c.steps[:len(c.steps)-1]
		}
		return l
	}
	c.errorf(n, "unexpected YAML node")
	return nil
}

// key returns the string form of the mapping key k, found in the map at
// the current path.
func (c *converter) key(k *yaml.Node) (string, bool) {
	if k.Kind == yaml.AliasNode && k.Alias != nil {
		k = k.Alias
	}
	if k.Kind == yaml.ScalarNode && k.ShortTag() != "!!merge" {
		return k.Value, true
	}
	return c.d.key(k, c.path(k)) // reports the problem
}

func (c *converter) scalar(n *yaml.Node) any {
	switch tag := n.ShortTag(); tag {
	case "!!str", "!!timestamp", "!!binary":
		s := n.Value
		if isTemplate(s) {
			parts, _, err := parseTemplate(s)
			if err != nil {
				c.errorf(n, "%v", err)
				return s
			}
			path := ""
			for _, p := range parts {
				if p.target != "" {
					if path == "" {
						path = c.path(n)
					}
					c.refs = append(c.refs, Ref{Target: p.target, Output: p.output, Field: path, Source: Source{File: c.d.file, Line: n.Line}})
				}
			}
		}
		return s
	case "!!null":
		return nil
	case "!!bool", "!!int", "!!float":
		var v any
		if err := n.Decode(&v); err != nil {
			c.errorf(n, "%v", err)
			return nil
		}
		if f, ok := v.(float64); ok {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				c.errorf(n, "NaN and infinite numbers are not supported")
				return nil
			}
			if x, ok := exactNumber(n); ok {
				return x
			}
		}
		return provider.Canonical(v)
	default:
		c.errorf(n, "unsupported YAML tag %s", tag)
		return nil
	}
}

// exactNumber returns the exact value of the number scalar n, which
// yaml.v3 decodes to a float64: rounded, for a decimal of many digits or an
// integer beyond uint64 (12345678901234567891234 is a float to yaml.v3).
// The value is read from the text, as yaml.v3 reads it: a decimal, with
// underscores left out; an integer text under an explicit !!float tag is
// read as yaml.v3 reads integers (0x1F, 0o17).
func exactNumber(n *yaml.Node) (any, bool) {
	plain := yaml.Node{Kind: yaml.ScalarNode, Value: n.Value}
	switch plain.ShortTag() {
	case "!!float":
		return provider.ParseNumber(strings.ReplaceAll(n.Value, "_", ""))
	case "!!int":
		var v any
		if err := plain.Decode(&v); err == nil {
			return provider.Canonical(v), true
		}
	}
	return nil, false
}

// key returns the string form of the mapping key k.
func (d *docParser) key(k *yaml.Node, path string) (string, bool) {
	if k.Kind == yaml.AliasNode && k.Alias != nil {
		k = k.Alias
	}
	if k.Kind != yaml.ScalarNode {
		d.errorf(k.Line, path, "mapping keys must be scalars")
		return "", false
	}
	if k.ShortTag() == "!!merge" {
		d.errorf(k.Line, path, "merge keys (<<) are not supported")
		return "", false
	}
	return k.Value, true
}

// lineOf returns the line of the field at path ("spec.env.HOME",
// "spec.args[2]") below the mapping node root (found at path prefix), or of
// its nearest ancestor that exists, or fallback.
func lineOf(root *yaml.Node, prefix, path string, fallback int) int {
	if root == nil {
		return fallback
	}
	rest, ok := strings.CutPrefix(path, prefix)
	if !ok {
		return fallback
	}
	line, n := fallback, root
	for rest != "" {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		switch {
		case rest[0] == '.' && n.Kind == yaml.MappingNode:
			rest = rest[1:]
			// Keys may hold dots: take the longest key that matches.
			var found *yaml.Node
			var foundKey string
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				if strings.HasPrefix(rest, k) && len(k) >= len(foundKey) && (len(rest) == len(k) || rest[len(k)] == '.' || rest[len(k)] == '[') {
					found, foundKey = n.Content[i+1], k
					line = n.Content[i].Line
				}
			}
			if found == nil {
				return line
			}
			n, rest = found, rest[len(foundKey):]
		case rest[0] == '[' && n.Kind == yaml.SequenceNode:
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return line
			}
			i, err := strconv.Atoi(rest[1:end])
			if err != nil || i < 0 || i >= len(n.Content) {
				return line
			}
			n, rest = n.Content[i], rest[end+1:]
			line = n.Line
		default:
			return line
		}
	}
	return line
}

// scalarString returns the text of a scalar node, or an error naming what it
// is instead.
func scalarString(n *yaml.Node) (string, error) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		return "", fmt.Errorf("must be a string, got %s", nodeKind(n))
	}
	return n.Value, nil
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a map"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "null"
		}
		return strings.TrimPrefix(n.ShortTag(), "!!")
	}
	return "an alias"
}
