package kv_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/convergehq/converge/examples/custom-provider/kv"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
)

// TestConformance runs the provider conformance suite against kv.Entry.
func TestConformance(t *testing.T) {
	providertest.Run(t, func(t *testing.T) providertest.Harness {
		p := &kv.Provider{}
		// The store has no listing, so Objects reads every key a spec of
		// the suite named, out of band of the engine.
		var mu sync.Mutex
		keys := map[string]bool{}
		spec := func(key, value string) map[string]any {
			mu.Lock()
			keys[key] = true
			mu.Unlock()
			return map[string]any{"key": key, "value": value, "secret": "s3cret-" + key}
		}
		return providertest.Harness{
			Provider: p,
			Kind:     kv.Kind,
			Spec:     func(name string) map[string]any { return spec(name, "v1") },
			Updated:  func(name string) map[string]any { return spec(name, "v2") },
			Replaced: func(name string) map[string]any { return spec(name+"-renamed", "v1") },
			// A second Create with the same spec writes nothing, and
			// Observe finds an entry by its key alone.
			CreateIdempotent: true,
			ObserveFinds:     true,
			Objects: func(t *testing.T) map[string]any {
				mu.Lock()
				defer mu.Unlock()
				out := map[string]any{}
				for k := range keys {
					obs, err := p.Observe(t.Context(), provider.Request{Spec: map[string]any{"key": k}})
					if err != nil {
						t.Fatalf("observe %s: %v", k, err)
					}
					if obs.Exists {
						out[k] = fmt.Sprint(obs.State, obs.Outputs)
					}
				}
				return out
			},
			Tamper: func(t *testing.T, name string, _ map[string]string) {
				if _, err := p.Update(t.Context(), provider.Request{Spec: map[string]any{"key": name, "value": "tampered", "secret": ""}}); err != nil {
					t.Fatalf("tamper with %s: %v", name, err)
				}
			},
			Failures: []providertest.Failure{
				{Name: "create with a key holding white space", Spec: map[string]any{"key": "a b", "secret": "s3cret-value"}, Class: provider.ClassTerminal},
				{Name: "update with an empty key", Op: providertest.OpUpdate, Spec: map[string]any{"key": "", "secret": "s3cret-value"}, Class: provider.ClassTerminal},
			},
		}
	})
}
