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
)

// converter turns the YAML nodes of one document into canonical values,
// collecting references and problems on the way.
type converter struct {
	d      *docParser
	budget int
	refs   []Ref
}

// value converts n, found at path ("spec.env.HOME"), to a canonical value.
// Strings are kept as written; references in them are recorded.
func (c *converter) value(n *yaml.Node, path string, depth int) any {
	c.budget--
	if c.budget < 0 {
		if c.budget == -1 {
			c.d.errorf(n.Line, path, "document expands to more than %d values (aliases?)", maxNodes)
		}
		return nil
	}
	if depth > maxDepth {
		c.d.errorf(n.Line, path, "nested more than %d levels deep (recursive alias?)", maxDepth)
		return nil
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			c.d.errorf(n.Line, path, "unknown alias")
			return nil
		}
		return c.value(n.Alias, path, depth+1)
	case yaml.ScalarNode:
		return c.scalar(n, path)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key, ok := c.d.key(k, path)
			if !ok {
				continue
			}
			sub := path + "." + key
			if _, dup := m[key]; dup {
				c.d.errorf(k.Line, sub, "duplicate key")
				continue
			}
			m[key] = c.value(v, sub, depth+1)
		}
		return m
	case yaml.SequenceNode:
		l := make([]any, len(n.Content))
		for i, e := range n.Content {
			l[i] = c.value(e, path+"["+strconv.Itoa(i)+"]", depth+1)
		}
		return l
	}
	c.d.errorf(n.Line, path, "unexpected YAML node")
	return nil
}

func (c *converter) scalar(n *yaml.Node, path string) any {
	switch tag := n.ShortTag(); tag {
	case "!!str", "!!timestamp", "!!binary":
		s := n.Value
		if isTemplate(s) {
			parts, _, err := parseTemplate(s)
			if err != nil {
				c.d.errorf(n.Line, path, "%v", err)
				return s
			}
			for _, p := range parts {
				if p.target != "" {
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
			c.d.errorf(n.Line, path, "%v", err)
			return nil
		}
		if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			c.d.errorf(n.Line, path, "NaN and infinite numbers are not supported")
			return nil
		}
		return provider.Canonical(v)
	default:
		c.d.errorf(n.Line, path, "unsupported YAML tag %s", tag)
		return nil
	}
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
