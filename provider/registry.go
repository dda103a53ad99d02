package provider

import (
	"fmt"
	"sort"
	"strings"
)

// Registry maps kinds to the providers that manage them.
type Registry struct {
	providers map[string]Provider
	schemas   map[string]Schema
}

// NewRegistry returns a registry holding ps. Registering two providers of one
// name or two schemas of one kind is an error.
func NewRegistry(ps ...Provider) (*Registry, error) {
	r := &Registry{providers: map[string]Provider{}, schemas: map[string]Schema{}}
	for _, p := range ps {
		if err := r.Register(p); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Register adds p.
func (r *Registry) Register(p Provider) error {
	name := p.Name()
	if _, dup := r.providers[name]; dup {
		return fmt.Errorf("provider %q registered twice", name)
	}
	schemas := p.Schemas()
	seen := map[string]bool{}
	for _, s := range schemas { // check every kind before adding any
		if !strings.HasPrefix(s.Kind, name+".") {
			return fmt.Errorf("provider %q declares kind %q outside its prefix", name, s.Kind)
		}
		if _, dup := r.schemas[s.Kind]; dup || seen[s.Kind] {
			return fmt.Errorf("kind %q registered twice", s.Kind)
		}
		seen[s.Kind] = true
	}
	for _, s := range schemas {
		r.schemas[s.Kind] = s
	}
	r.providers[name] = p
	return nil
}

// Schema returns the schema of kind.
func (r *Registry) Schema(kind string) (Schema, bool) {
	s, ok := r.schemas[kind]
	return s, ok
}

// For returns the provider managing kind.
func (r *Registry) For(kind string) (Provider, bool) {
	if _, ok := r.schemas[kind]; !ok {
		return nil, false
	}
	p, ok := r.providers[ProviderName(kind)]
	return p, ok
}

// Kinds returns every registered kind, sorted.
func (r *Registry) Kinds() []string {
	ks := make([]string, 0, len(r.schemas))
	for k := range r.schemas {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// ProviderName returns the provider prefix of kind: "file" for "file.File".
func ProviderName(kind string) string {
	if i := strings.IndexByte(kind, '.'); i >= 0 {
		return kind[:i]
	}
	return kind
}
