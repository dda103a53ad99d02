// Package kv is a complete converge provider, small enough to read in one
// sitting: its one kind, kv.Entry, is an entry of an in-process key/value
// store.
//
//	kind: kv.Entry
//	metadata: {name: db}
//	spec: {key: db-host, value: db.internal, secret: hunter2}
//
// Fields: key (required; changing it replaces the entry), value (updated in
// place) and secret (updated in place, and sensitive: converge never prints
// it). Outputs: key, and version, which grows by one whenever the entry's
// content changes, so that "${kv.Entry/db.outputs.version}" follows it.
//
// Guarantees:
//   - Every method is idempotent: writing what is already there changes
//     nothing (the version stays), and deleting a missing entry succeeds.
//   - Observe never writes.
//   - Safe for concurrent use.
//
// Errors: a key that is empty or holds white space is terminal (retrying
// cannot help). Load rejects such a key when a manifest writes it; Create
// and Update reject it when a reference resolved to one. Nothing else
// fails.
//
// The whole provider is under 60 lines of Go, not counting blank lines
// and comments (size_test.go keeps it so).
package kv

import (
	"context"
	"strings"
	"sync"

	"github.com/convergehq/converge/provider"
)

// Kind is the one kind the provider manages.
const Kind = "kv.Entry"

// Schema describes kv.Entry.
var Schema = provider.Schema{Kind: Kind, Outputs: []string{"key", "version"}, Fields: map[string]provider.Field{
	"key":    {Type: provider.String, Required: true, ForceNew: true, Validate: checkKey, Description: "The entry's key; changing it replaces the entry."},
	"value":  {Type: provider.String, Default: "", Description: "The value, updated in place."},
	"secret": {Type: provider.String, Default: "", Sensitive: true, Description: "A value kept beside value, never printed."},
}}

// Provider is an in-process key/value store and the converge provider of
// its entries. The zero value is an empty store, ready to use.
type Provider struct{ entries sync.Map } // key -> entry

type entry struct {
	key, value, secret string
	version            int64
}

var _ provider.Provider = (*Provider)(nil)

// Name returns "kv", the prefix of its kinds.
func (p *Provider) Name() string { return "kv" }

// Schemas returns Schema.
func (p *Provider) Schemas() []provider.Schema { return []provider.Schema{Schema} }

// Observe reads the entry of the key in req.Spec. It never writes. Once
// the entry is converge's, req.Spec is the spec last applied, so a key
// changed in the manifests still finds the old entry, and the engine,
// seeing the force-new key differ, replaces it.
func (p *Provider) Observe(_ context.Context, req provider.Request) (provider.Observation, error) {
	v, ok := p.entries.Load(req.Spec["key"])
	if !ok {
		return provider.Observation{}, nil // absent is not an error
	}
	e := v.(entry)
	return provider.Observation{Exists: true, State: map[string]any{"key": e.key, "value": e.value, "secret": e.secret}, Outputs: e.outputs()}, nil
}

// Create writes the entry of req.Spec. It is idempotent: writing what is
// there already changes nothing, not even the version. The engine never
// runs two calls on one resource at once, so the Load and the Store below
// do not race.
func (p *Provider) Create(_ context.Context, req provider.Request) (provider.Result, error) {
	k, _ := req.Spec["key"].(string)
	if err := checkKey(k); err != nil { // a reference may have resolved to a bad key
		return provider.Result{}, err
	}
	v, _ := req.Spec["value"].(string)
	s, _ := req.Spec["secret"].(string)
	old, _ := p.entries.Load(k)
	e, found := old.(entry)
	if !found || e.value != v || e.secret != s {
		e = entry{key: k, value: v, secret: s, version: e.version + 1}
		p.entries.Store(k, e)
	}
	return provider.Result{Outputs: e.outputs()}, nil
}

// Update writes the entry's value and secret: a write to a key/value store
// is the same whether the entry exists or not. Idempotent.
func (p *Provider) Update(ctx context.Context, req provider.Request) (provider.Result, error) {
	return p.Create(ctx, req)
}

// Delete removes the entry. Deleting a missing entry succeeds.
func (p *Provider) Delete(_ context.Context, req provider.Request) error {
	p.entries.Delete(req.Spec["key"])
	return nil
}

func (e entry) outputs() map[string]any { return map[string]any{"key": e.key, "version": e.version} }

// checkKey is the key field's Validate, which Load runs on the keys the
// manifests write, and Create's check of a key a reference resolved to. Its
// error is terminal: retrying cannot help.
func checkKey(v any) error {
	if s, _ := v.(string); s == "" || strings.ContainsAny(s, " \t\r\n") {
		return provider.Terminalf("must be non-empty and free of white space, not %q", s)
	}
	return nil
}
