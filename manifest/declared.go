package manifest

import (
	"bytes"
	"errors"
	"io"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Files are manifests read from their paths and not validated yet: what a
// caller reads once to find the providers they declare (Declared), start
// those, and then load them with a registry that holds them (Load).
type Files struct {
	paths []string
	files []file
	errs  ErrorList
}

// Read reads the manifests at paths as Load does. Problems reading them
// are reported by Load.
func Read(paths []string) *Files {
	files, errs := readPaths(paths)
	return &Files{paths: append([]string(nil), paths...), files: files, errs: errs}
}

// Load validates the files into a Revision, as the package's Load does.
func (f *Files) Load(reg Registry) (*Revision, error) {
	rv, err := load(f.files, reg, f.errs)
	if err != nil {
		return nil, err
	}
	rv.Paths = append([]string(nil), f.paths...)
	return rv, nil
}

// Declared is a provider a ProviderConfig asks for by spec.source: a
// Terraform provider, or another instance of a built-in one.
type Declared struct {
	// Name is the ProviderConfig's metadata.name: the kind prefix of the
	// provider's kinds.
	Name string
	// Plugin is spec.source and Version spec.version, as written.
	Plugin, Version string
	Source          Source // the document's "kind:" line
}

// Declared returns the providers the files' ProviderConfigs ask for by
// spec.source, sorted by name. It reads only what it needs and skips what
// it cannot read: Load reports every problem, at its file and line, once
// the providers are registered.
func (f *Files) Declared() []Declared {
	var out []Declared
	seen := map[string]bool{}
	for _, fl := range f.files {
		if !bytes.Contains(fl.data, []byte(KindProviderConfig)) {
			continue
		}
		dec := yaml.NewDecoder(bytes.NewReader(fl.data))
		for {
			var n yaml.Node
			err := dec.Decode(&n)
			if errors.Is(err, io.EOF) || err != nil {
				break
			}
			d, ok := declared(&n)
			if !ok || seen[d.Name] {
				continue
			}
			seen[d.Name] = true
			d.Source.File = fl.name
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// declared reads a document that is a ProviderConfig with a spec.source.
func declared(n *yaml.Node) (Declared, bool) {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return Declared{}, false
	}
	var d Declared
	var kind string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "kind":
			kind = v.Value
			d.Source.Line = k.Line
		case "metadata":
			d.Name = strings.TrimSpace(mapString(v, "name"))
		case "spec":
			d.Plugin = strings.TrimSpace(mapString(v, "source"))
			d.Version = strings.TrimSpace(mapString(v, "version"))
		}
	}
	return d, kind == KindProviderConfig && d.Name != "" && d.Plugin != ""
}

// mapString returns the scalar value of key in the mapping n.
func mapString(n *yaml.Node, key string) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key && n.Content[i+1].Kind == yaml.ScalarNode {
			return n.Content[i+1].Value
		}
	}
	return ""
}
