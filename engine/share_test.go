package engine

import (
	"context"
	"errors"
	"hash/fnv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store/memory"
)

// TestSharesSplitTheWork: two engines over one shared store, each owning
// half of the resources, make every object once between them, each its own
// half.
func TestSharesSplitTheWork(t *testing.T) {
	h := newMemHarness(t, Options{})
	st := memory.New()
	half := func(id string) int {
		f := fnv.New32a()
		f.Write([]byte(id))
		return int(f.Sum32() % 2)
	}
	var docs []string
	for _, n := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		docs = append(docs, memDoc(n, "v-"+n))
	}
	rv := h.load(docs...)
	want := [2]int64{}
	for _, r := range rv.Resources {
		want[half(r.ID)]++
	}
	if want[0] == 0 || want[1] == 0 {
		t.Fatalf("shares %v: the test needs both non-empty", want)
	}
	var engines [2]*Engine
	for i := range engines {
		opts := h.opts
		opts.Shared = true
		opts.Owns = func(id string) bool { return half(id) == i }
		engines[i] = h.engineOn(st, opts)
		h.start(engines[i])
		h.setTarget(engines[i], rv)
	}
	for _, e := range engines {
		h.waitIdle(e)
	}
	for i, e := range engines {
		if got := e.Stats().Creates; got != want[i] {
			t.Errorf("engine %d made %d objects; want its share, %d", i, got, want[i])
		}
	}
	if v := h.mem.Violations(); len(v) > 0 {
		t.Errorf("violations: %v", v)
	}
	if got := len(h.mem.IDs()); got != len(rv.Resources) {
		t.Errorf("%d objects; want %d", got, len(rv.Resources))
	}
}

// TestDrain: after a resource leaves the engine's share, Drain waits for
// the reconcile of it that is still running, and no new one starts.
func TestDrain(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var owned atomic.Bool
	owned.Store(true)
	creates := atomic.Int32{}
	p := &providertest.Funcs{
		ProviderName: "mem",
		KindSchemas:  []provider.Schema{providertest.Schema},
		CreateFn: func(ctx context.Context, req provider.Request) (provider.Result, error) {
			if creates.Add(1) == 1 {
				close(entered)
				<-release
			}
			return provider.Result{Private: map[string]string{"id": "1"}}, nil
		},
	}
	reg, err := provider.NewRegistry(p)
	if err != nil {
		t.Fatal(err)
	}
	h := newMemHarness(t, Options{})
	h.reg = reg
	e := h.engineOn(memory.New(), Options{Logger: quiet(), Owns: func(string) bool { return owned.Load() }})
	h.start(e)
	h.setTarget(e, h.load(memDoc("a", "v")))
	select {
	case <-entered:
	case <-time.After(waitBound):
		t.Fatal("the create never started")
	}
	owned.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := e.Drain(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain with a create of a lost resource in flight: %v; want it to wait", err)
	}
	close(release)
	ctx, cancel = context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	if err := e.Drain(ctx); err != nil {
		t.Fatalf("Drain after the create returned: %v", err)
	}
	e.ResyncAll()
	h.waitIdle(e)
	if got := creates.Load(); got != 1 {
		t.Errorf("creates: %d; want 1 (nothing more once the resource left the share)", got)
	}
}
