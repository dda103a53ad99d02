package engine

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store/memory"
)

// TestRestartReconcilesNewResourcesFirst: after a restart with many
// resources converged, a resource added to the manifests is reconciled
// before the engine has looked at all the others again (kubernetes#74397:
// a controller's restart queued new objects behind every existing one).
func TestRestartReconcilesNewResourcesFirst(t *testing.T) {
	const managed = 300
	var mu sync.Mutex
	objects := map[string]bool{}
	var calls []string
	p := &providertest.Funcs{
		ProviderName: "r",
		KindSchemas:  []provider.Schema{{Kind: "r.Thing", Fields: map[string]provider.Field{"n": {Type: provider.Int}}}},
		ObserveFn: func(_ context.Context, req provider.Request) (provider.Observation, error) {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, "observe "+req.Name)
			if !objects[req.ID] {
				return provider.Observation{}, nil
			}
			return provider.Observation{Exists: true, State: req.Spec}, nil
		},
		CreateFn: func(_ context.Context, req provider.Request) (provider.Result, error) {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, "create "+req.Name)
			objects[req.ID] = true
			return provider.Result{}, nil
		},
	}
	reg, err := provider.NewRegistry(p)
	if err != nil {
		t.Fatal(err)
	}
	manifests := func(n int) *manifest.Revision {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "---\nkind: r.Thing\nmetadata: {name: t%03d}\nspec: {n: %d}\n", i, i)
		}
		b.WriteString("---\nkind: r.Thing\nmetadata: {name: zz-new-one}\nspec: {n: 1}\n")
		rv, err := manifest.LoadBytes(map[string][]byte{"m.yaml": []byte(b.String())}, reg)
		if err != nil {
			t.Fatal(err)
		}
		return rv
	}
	all := manifests(managed)
	var first []*manifest.Resource
	for _, r := range all.Resources {
		if r.Name != "zz-new-one" {
			first = append(first, r)
		}
	}
	before := &manifest.Revision{Resources: first, Paths: all.Paths}
	before.Hash = manifest.RevisionHash(before)
	st := memory.New()
	ctx := context.Background()
	opts := Options{Workers: 1, Logger: slog.New(slog.DiscardHandler)}
	if rep, err := New(reg, st, opts).Apply(ctx, before); err != nil || !rep.OK() {
		t.Fatalf("first apply: %v %+v", err, rep)
	}
	mu.Lock()
	calls = nil
	mu.Unlock()

	// A restart: a new engine on the same state, the manifests with one
	// resource more ("zz-new-one" sorts last: the order of IDs cannot
	// be what puts it first.)
	e := New(reg, st, opts)
	if err := e.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if rep, err := e.Apply(ctx, all); err != nil || !rep.OK() {
		t.Fatalf("apply after the restart: %v %+v", err, rep)
	}
	mu.Lock()
	defer mu.Unlock()
	at := -1
	for i, c := range calls {
		if c == "create zz-new-one" {
			at = i
		}
	}
	if at < 0 || len(calls) < managed {
		t.Fatalf("calls after the restart: %d, create of the new one at %d; want it created and every other one observed", len(calls), at)
	}
	if at > 4 {
		t.Errorf("the new resource was created after %d other calls; want it among the first", at)
	}
}
