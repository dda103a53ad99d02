package controller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
)

// objects declares mem.Object resources named o0 .. o(n-1) holding value.
func objects(n int, value string) map[string][]byte {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "---\nkind: mem.Object\nmetadata: {name: o%d}\nspec: {value: %s}\n", i, value)
	}
	return map[string][]byte{"m.yaml": []byte(b.String())}
}

// fixture is a controller over a memory provider whose manifests a test
// sets, and the events it records.
type fixture struct {
	t   *testing.T
	mem *providertest.Memory
	reg *provider.Registry
	st  *memory.Store
	e   *engine.Engine
	c   *Controller

	mu        sync.Mutex
	manifests map[string][]byte
}

func newFixture(t *testing.T, fault providertest.Fault, opts Options) *fixture {
	t.Helper()
	f := &fixture{t: t, mem: providertest.NewMemory(), st: memory.New()}
	var p provider.Provider = f.mem
	if fault != nil {
		p = providertest.NewFaulty(f.mem, fault)
	}
	reg, err := provider.NewRegistry(p)
	if err != nil {
		t.Fatal(err)
	}
	f.reg = reg
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.e = engine.New(reg, f.st, engine.Options{Workers: 4, Logger: log, BackoffBase: time.Millisecond, BackoffMax: 10 * time.Millisecond, ReadyPoll: 10 * time.Millisecond})
	opts.Load = f.load
	opts.Logger = log
	if opts.Guard == (engine.Guard{}) {
		opts.Guard = engine.Guard{MaxDelete: engine.DeleteLimit{Percent: 50, IsPercent: true}}
	}
	f.c = New(f.e, f.st, opts)
	return f
}

func (f *fixture) set(files map[string][]byte) {
	f.mu.Lock()
	f.manifests = files
	f.mu.Unlock()
}

func (f *fixture) load() (*manifest.Revision, error) {
	f.mu.Lock()
	files := f.manifests
	f.mu.Unlock()
	return manifest.LoadBytes(files, f.reg)
}

// run starts the controller on the current manifests and returns a
// function that stops it and returns Run's error.
func (f *fixture) run() func() error {
	f.t.Helper()
	rv, err := f.load()
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.c.Run(ctx, rv) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			f.t.Fatal("Run did not return within 10 s of its context's end")
			return nil
		}
	}
	f.t.Cleanup(func() { _ = stop() })
	return stop
}

func (f *fixture) eventually(what string, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			f.t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (f *fixture) hasEvent(reason string) bool {
	evs, err := f.st.ListEvents(context.Background(), store.EventFilter{})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, ev := range evs {
		if string(ev.Reason) == reason {
			return true
		}
	}
	return false
}

func (f *fixture) values() map[string]string {
	out := map[string]string{}
	for _, id := range f.mem.IDs() {
		o, _ := f.mem.Get(id)
		out[id], _ = o.Spec["value"].(string)
	}
	return out
}

// TestRunFollowsReloads: Reload converges a changed set; an empty set and
// a mass deletion are not targeted (EmptyManifests, DeletionHeld); a set
// that deletes within the limit is; Run returns nil when its context ends.
func TestRunFollowsReloads(t *testing.T) {
	f := newFixture(t, nil, Options{Resync: time.Hour})
	f.set(objects(4, "a"))
	stop := f.run()
	f.eventually("first converge", func() bool { v := f.values(); return len(v) == 4 && v["mem.Object/o3"] == "a" })

	f.set(objects(4, "b"))
	f.c.Reload()
	f.eventually("reload converges the change", func() bool { return f.values()["mem.Object/o0"] == "b" })

	f.set(map[string][]byte{"m.yaml": nil})
	f.c.Reload()
	f.eventually("EmptyManifests", func() bool { return f.hasEvent("EmptyManifests") })

	f.set(objects(1, "b")) // 3 of 4 deleted: over 50%
	f.c.Reload()
	f.eventually("DeletionHeld", func() bool { return f.hasEvent("DeletionHeld") })
	time.Sleep(100 * time.Millisecond)
	if n := len(f.mem.IDs()); n != 4 {
		t.Fatalf("objects after an empty set and a held revision: %d; want 4", n)
	}

	f.set(objects(2, "b")) // 2 of 4: within 50%
	f.c.Reload()
	f.eventually("a deletion within the limit converges", func() bool { return len(f.mem.IDs()) == 2 })
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestRunRefusesAnEmptyStart: the controller does not start on a set that
// declares nothing over a managed state.
func TestRunRefusesAnEmptyStart(t *testing.T) {
	f := newFixture(t, nil, Options{Resync: time.Hour})
	f.set(objects(2, "a"))
	stop := f.run()
	f.eventually("first converge", func() bool { return len(f.mem.IDs()) == 2 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	f.set(map[string][]byte{"m.yaml": nil})
	rv, err := f.load()
	if err != nil {
		t.Fatal(err)
	}
	g := New(f.e, f.st, Options{Load: f.load, Guard: engine.Guard{MaxDelete: engine.DeleteLimit{Percent: 50, IsPercent: true}}, Logger: slog.New(slog.DiscardHandler)})
	if err := g.Run(context.Background(), rv); !errors.Is(err, engine.ErrEmpty) {
		t.Fatalf("Run on an empty set: %v; want engine.ErrEmpty", err)
	}
}

// TestRunRollsBackAFailingRevision: with Rollback, a revision whose
// resource fails terminally is marked failed and the last known good one
// converges again; the failed one is not targeted again on reload.
func TestRunRollsBackAFailingRevision(t *testing.T) {
	fault := func(op providertest.Op, req provider.Request, _ int) providertest.Outcome {
		if (op == providertest.OpCreate || op == providertest.OpUpdate) && req.Spec["value"] == "bad" {
			return providertest.Outcome{Before: provider.Terminalf("value bad is refused")}
		}
		return providertest.Outcome{}
	}
	f := newFixture(t, fault, Options{Resync: time.Hour, Rollback: true, ProgressDeadline: time.Minute})
	f.set(objects(2, "good"))
	stop := f.run()
	f.eventually("first converge and judged", func() bool {
		revs, _ := f.st.ListRevisions(context.Background())
		lkg, ok := store.LastKnownGood(revs)
		return ok && lkg.State == store.RevisionConverged
	})
	f.set(objects(2, "bad"))
	f.c.Reload()
	f.eventually("rolled back", func() bool { return f.hasEvent("RollingBack") })
	f.eventually("back on the good revision", func() bool {
		v := f.values()
		return v["mem.Object/o0"] == "good" && v["mem.Object/o1"] == "good" && f.e.Progress().Converged
	})
	bad, err := f.load()
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.st.GetRevision(context.Background(), bad.Hash)
	if err != nil || r.State != store.RevisionFailed {
		t.Fatalf("the bad revision: %+v, %v; want it failed", r, err)
	}
	// A reload of the same bad manifests stays on the good revision.
	f.c.Reload()
	time.Sleep(200 * time.Millisecond)
	if got := f.e.Progress().Revision; got == bad.Hash {
		t.Errorf("the failed revision was targeted again")
	}
	if err := stop(); err != nil {
		t.Error(err)
	}
}

// TestRunFollowsAnotherTargetThroughWatch: a target another process sets
// is followed through the store's Watch: the controller's clock is fake
// and never ticks, so the once-a-second poll cannot be what follows it.
func TestRunFollowsAnotherTargetThroughWatch(t *testing.T) {
	fake := clocktesting.NewFakeClock(time.Now())
	f := newFixture(t, nil, Options{Resync: time.Hour, Clock: fake})
	f.set(objects(2, "one"))
	one, err := f.load()
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := f.e.Apply(context.Background(), one); err != nil || !rep.OK() {
		t.Fatalf("apply: %v %+v", err, rep.Failures)
	}
	// A second revision recorded, as converge rollback or apply
	// --allow-delete beside the daemon leave it.
	f.set(objects(2, "two"))
	two, err := f.load()
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := engine.New(f.reg, f.st, engine.Options{Logger: slog.New(slog.DiscardHandler)}).Apply(context.Background(), two); err != nil || !rep.OK() {
		t.Fatalf("apply two: %v %+v", err, rep.Failures)
	}
	f.set(objects(2, "one"))
	f.e = engine.New(f.reg, f.st, engine.Options{Workers: 2, Logger: slog.New(slog.DiscardHandler)})
	f.c = New(f.e, f.st, Options{Load: f.load, Resync: time.Hour, Clock: fake, Logger: slog.New(slog.DiscardHandler), Guard: engine.Guard{MaxDelete: engine.DeleteLimit{Percent: 50, IsPercent: true}}})
	stop := f.run()
	f.eventually("the controller targets revision one", func() bool {
		return f.e.Progress().Revision == one.Hash && f.values()["mem.Object/o0"] == "one"
	})
	if err := f.st.SetTarget(context.Background(), two.Hash); err != nil { // another process
		t.Fatal(err)
	}
	f.eventually("the other process's target followed", func() bool {
		return f.e.Progress().Revision == two.Hash && f.values()["mem.Object/o0"] == "two"
	})
	if err := stop(); err != nil {
		t.Error(err)
	}
}
