package provider

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Registry maps kinds to the providers that manage them. It is safe for
// concurrent use: a provider a manifest declares (a Terraform provider)
// may be registered while an engine reads the registry.
type Registry struct {
	mu        sync.RWMutex
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
	schemas := p.Schemas()
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.providers[name]; dup {
		return fmt.Errorf("provider %q registered twice", name)
	}
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
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.schemas[kind]
	return s, ok
}

// For returns the provider managing kind.
func (r *Registry) For(kind string) (Provider, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if _, ok := r.schemas[kind]; !ok {
		return nil, false
	}
	p, ok := r.providers[ProviderName(kind)]
	return p, ok
}

// Kinds returns every registered kind, sorted.
func (r *Registry) Kinds() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ks := make([]string, 0, len(r.schemas))
	for k := range r.schemas {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Provider returns the provider called name.
func (r *Registry) Provider(name string) (Provider, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, ok := r.providers[name]
	return p, ok
}

// Providers returns every provider, sorted by name.
func (r *Registry) Providers() []Provider {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Provider, 0, len(r.providers))
	for _, p := range r.providers {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

// ProviderName returns the provider prefix of kind: "file" for "file.File".
func ProviderName(kind string) string {
	if i := strings.IndexByte(kind, '.'); i >= 0 {
		return kind[:i]
	}
	return kind
}
