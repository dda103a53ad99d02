package manifest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/convergehq/converge/provider"
)

// fakeProvider is a tiny provider: schemas and an optional validator.
type fakeProvider struct {
	name     string
	schemas  []provider.Schema
	validate func(kind string, spec map[string]any) []provider.FieldError
}

var (
	_ provider.Provider  = (*fakeProvider)(nil)
	_ provider.Validator = (*fakeProvider)(nil)
)

func (p *fakeProvider) Name() string               { return p.name }
func (p *fakeProvider) Schemas() []provider.Schema { return p.schemas }
func (p *fakeProvider) Observe(context.Context, provider.Request) (provider.Observation, error) {
	return provider.Observation{}, nil
}
func (p *fakeProvider) Create(context.Context, provider.Request) (provider.Result, error) {
	return provider.Result{}, nil
}
func (p *fakeProvider) Update(context.Context, provider.Request) (provider.Result, error) {
	return provider.Result{}, nil
}
func (p *fakeProvider) Delete(context.Context, provider.Request) error { return nil }
func (p *fakeProvider) ValidateSpec(kind string, spec map[string]any) []provider.FieldError {
	if p.validate == nil {
		return nil
	}
	return p.validate(kind, spec)
}

// normalizeMode maps 644, "644" and "0644" to "0644".
func normalizeMode(v any) (any, error) {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case int64:
		s = strconv.FormatInt(x, 10)
	default:
		return nil, fmt.Errorf("must be an octal mode")
	}
	if _, err := strconv.ParseUint(s, 8, 32); err != nil {
		return nil, fmt.Errorf("%q is not an octal mode", s)
	}
	return "0" + strings.TrimLeft(s, "0"), nil
}

// testRegistry has a file provider (file.File, file.Directory) with a
// validator refusing paths with "..", and a net provider without one.
func testRegistry(t testing.TB) *provider.Registry {
	t.Helper()
	file := &fakeProvider{
		name: "file",
		schemas: []provider.Schema{
			{
				Kind: "file.File",
				Fields: map[string]provider.Field{
					"path":    {Type: provider.String, Required: true},
					"content": {Type: provider.String},
					"mode":    {Type: provider.Any, Default: "0644", Normalize: normalizeMode},
					"size":    {Type: provider.Int},
					"owner":   {Type: provider.Map},
					"args":    {Type: provider.List},
					"sha256":  {Type: provider.String, Computed: true},
				},
				Outputs: []string{"path", "sha256"},
			},
			{
				Kind:    "file.Directory",
				Fields:  map[string]provider.Field{"path": {Type: provider.String, Required: true}},
				Outputs: []string{"path"},
			},
		},
		validate: func(kind string, spec map[string]any) []provider.FieldError {
			if p, ok := spec["path"].(string); ok && strings.Contains(p, "..") {
				return []provider.FieldError{{Field: "spec.path", Msg: "escapes the root"}}
			}
			return nil
		},
	}
	net := &fakeProvider{
		name: "net",
		schemas: []provider.Schema{{
			Kind:    "net.Port",
			Fields:  map[string]provider.Field{"number": {Type: provider.Int}, "labels": {Type: provider.Any}},
			Outputs: []string{"number", "addrs"},
		}},
	}
	reg, err := provider.NewRegistry(file, net)
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	return reg
}
