package engine

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
	"github.com/convergehq/converge/store/sqlite"
)

// sharedStores are the stores that can be shared, each new per test.
var sharedStores = map[string]func(t *testing.T) store.Store{
	"memory": func(*testing.T) store.Store { return memory.New() },
	"sqlite": func(t *testing.T) store.Store {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	},
}

// TestSharedFence: once the store holds another token for the engine's
// fence, its intent does not commit, the provider is not called, the
// record stays as it was, and OnFenced is told once.
func TestSharedFence(t *testing.T) {
	for name, open := range sharedStores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			fencer := st.(store.Fencer)
			if err := fencer.SetFence(ctx, "shard-1", "A"); err != nil {
				t.Fatal(err)
			}
			var told atomic.Int32
			h := newMemHarness(t, Options{Fence: store.Fence{Name: "shard-1", Token: "A"}, OnFenced: func(error) { told.Add(1) }})
			if rep := h.apply(h.engineOn(st, h.opts), h.load(memDoc("a", "one"), memDoc("b", "one"))); !rep.OK() {
				t.Fatalf("apply with the fence held: %+v", rep.Failures)
			}
			if err := fencer.SetFence(ctx, "shard-1", "B"); err != nil {
				t.Fatal(err)
			}
			e := h.engineOn(st, h.opts)
			rep := h.apply(e, h.load(memDoc("a", "two"), memDoc("b", "two")))
			if rep.OK() {
				t.Errorf("apply after the fence moved: OK; want it to act on nothing")
			}
			if got := e.Stats().Mutations(); got != 0 {
				t.Errorf("provider mutations after the fence moved: %d; want none", got)
			}
			if !e.Fenced() || told.Load() != 1 {
				t.Errorf("Fenced %v, OnFenced called %d times; want true, once", e.Fenced(), told.Load())
			}
			for _, id := range []string{memID("a"), memID("b")} {
				r, err := st.GetRecord(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if r.AppliedSpec["value"] != "one" || r.Pending != nil || r.Phase != store.PhaseReady {
					t.Errorf("%s after the fence moved: %s, pending %+v, applied %v; want it untouched", id, r.Phase, r.Pending, r.AppliedSpec)
				}
				if o, _ := h.mem.Get(id); o.Spec["value"] != "one" {
					t.Errorf("%s object: %v; want it unchanged", id, o.Spec)
				}
			}
		})
	}
}

// TestSharedConflict: another writer changed a record after the engine
// read it; the engine's intent loses the race, the engine reads the
// record again and goes on from it: one update, nothing lost.
func TestSharedConflict(t *testing.T) {
	for name, open := range sharedStores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			h := newMemHarness(t, Options{Shared: true})
			if rep := h.apply(h.engineOn(st, h.opts), h.load(memDoc("a", "one"))); !rep.OK() {
				t.Fatalf("first apply: %+v", rep.Failures)
			}
			e := h.engineOn(st, h.opts) // reads version v
			r, err := st.GetRecord(ctx, memID("a"))
			if err != nil {
				t.Fatal(err)
			}
			r.Message = "written by another node"
			if err := st.PutRecord(ctx, r); err != nil { // now v+1
				t.Fatal(err)
			}
			rep := h.apply(e, h.load(memDoc("a", "two")))
			if !rep.OK() {
				t.Fatalf("apply over the other writer's change: %+v", rep.Failures)
			}
			st2 := e.Stats()
			if st2.Conflicts != 1 || st2.Updates != 1 {
				t.Errorf("conflicts %d, updates %d; want the one race lost, then one update", st2.Conflicts, st2.Updates)
			}
			got, err := st.GetRecord(ctx, memID("a"))
			if err != nil {
				t.Fatal(err)
			}
			if got.AppliedSpec["value"] != "two" || got.Phase != store.PhaseReady || got.Version <= r.Version {
				t.Errorf("record after: %s, applied %v, version %d; want Ready with value two, written over the other writer's record (version > %d)", got.Phase, got.AppliedSpec, got.Version, r.Version)
			}
		})
	}
}

// TestSharedFollow: while an engine runs, another writer's change of a
// record reaches its memory through the store's watch, and the resource is
// reconciled again at once (there is no resync here).
func TestSharedFollow(t *testing.T) {
	for name, open := range sharedStores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			h := newMemHarness(t, Options{Shared: true})
			e := h.engineOn(st, h.opts)
			h.start(e)
			h.setTarget(e, h.load(memDoc("a", "one")))
			h.waitIdle(e)
			before := e.Stats().Observes

			r, err := st.GetRecord(ctx, memID("a"))
			if err != nil {
				t.Fatal(err)
			}
			r.Phase, r.Message = store.PhaseError, "written by another node"
			if err := st.PutRecord(ctx, r); err != nil {
				t.Fatal(err)
			}
			pollUntil(t, "the engine to see the other writer's record and reconcile it", func() bool {
				return e.Stats().Observes > before
			})
			h.waitIdle(e)
			got, err := st.GetRecord(ctx, memID("a"))
			if err != nil {
				t.Fatal(err)
			}
			if got.Phase != store.PhaseReady || got.Version <= r.Version {
				t.Errorf("record after the reconcile: %s %q, version %d; want Ready again, written after the other writer's", got.Phase, got.Message, got.Version)
			}
		})
	}
}

// TestSharedNeedsConditionalWrites: an engine asked to share a store that
// has no conditional writes refuses to load.
func TestSharedNeedsConditionalWrites(t *testing.T) {
	var plain struct{ store.Store }
	plain.Store = memory.New()
	h := newMemHarness(t, Options{Shared: true})
	err := New(h.reg, plain, h.opts).Load(context.Background())
	if !errors.Is(err, errNotShareable) {
		t.Errorf("Load: %v; want %v", err, errNotShareable)
	}
}
