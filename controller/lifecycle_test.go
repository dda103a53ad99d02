package controller

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
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

// TestStaysAndChooseTarget: the one rule (Stays) and what ChooseTarget and
// Status make of it, for the manifests at a revision that was rolled back,
// failed or converged, with --rollback auto and off. With rollback off a
// failed revision is targeted again, and status says both.
func TestStaysAndChooseTarget(t *testing.T) {
	ctx := context.Background()
	cases := map[string]struct {
		state    store.RevisionState
		auto     bool
		stays    bool
		note     string // a part of ChooseTarget's note; "" for none
		staying  string // a part of Status's Staying; "" for none
		notStays string // what Staying must not say
	}{
		"RolledBackAuto": {state: store.RevisionRolledBack, auto: true, stays: true,
			note:    "the manifests are at revision bad, which was rolled-back (by hand); staying on revision good until the manifests change",
			staying: "which was rolled-back (by hand); converge stays on revision good until they change."},
		"RolledBackOff": {state: store.RevisionRolledBack, auto: false, stays: true,
			note:    "which was rolled-back (by hand); staying on revision good",
			staying: "which was rolled-back (by hand); converge stays on revision good until they change."},
		"FailedAuto": {state: store.RevisionFailed, auto: true, stays: true,
			note:    "the manifests are at revision bad, which was failed (by hand); staying on revision good until the manifests change",
			staying: "which failed (by hand); with --rollback auto converge stays on revision good until they change, with --rollback off the next apply or run targets it again."},
		"FailedOff": {state: store.RevisionFailed, auto: false, stays: false,
			staying: "with --rollback off the next apply or run targets it again."},
		"ConvergedAuto": {state: store.RevisionConverged, auto: true, stays: false, notStays: "stays"},
		"ConvergedOff":  {state: store.RevisionConverged, auto: false, stays: false, notStays: "stays"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			st := memory.New()
			t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
			put := func(r store.Revision) {
				t.Helper()
				r.Resources = []byte(`{"hash":"` + r.Hash + `","paths":[],"resources":[]}`)
				if err := st.PutRevision(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			put(store.Revision{Hash: "good", Created: t0, State: store.RevisionConverged, Converged: t0})
			bad := store.Revision{Hash: "bad", Created: t0.Add(time.Hour), State: tc.state, Reason: "by hand"}
			if tc.state == store.RevisionConverged {
				bad.Converged = t0.Add(time.Hour)
			}
			put(bad)
			if err := st.SetTarget(ctx, "good"); err != nil {
				t.Fatal(err)
			}
			rv := &manifest.Revision{Hash: "bad"}

			if got := Stays(bad, tc.auto); got != tc.stays {
				t.Errorf("Stays(%s, auto %v) = %v; want %v", tc.state, tc.auto, got, tc.stays)
			}
			target, note, err := ChooseTarget(ctx, st, rv, tc.auto)
			if err != nil {
				t.Fatal(err)
			}
			want := "bad"
			if tc.stays {
				want = "good"
			}
			if target.Hash != want {
				t.Errorf("ChooseTarget targets %q; want %q", target.Hash, want)
			}
			if (tc.note == "") != (note == "") || !strings.Contains(note, tc.note) {
				t.Errorf("ChooseTarget's note %q; want one with %q", note, tc.note)
			}

			v, err := Status(ctx, st, rv)
			if err != nil {
				t.Fatal(err)
			}
			if (tc.staying == "") != (v.Staying == "") || !strings.Contains(v.Staying, tc.staying) {
				t.Errorf("Staying %q; want one with %q", v.Staying, tc.staying)
			}
			if tc.notStays != "" && strings.Contains(v.Staying, tc.notStays) {
				t.Errorf("Staying %q says %q", v.Staying, tc.notStays)
			}
		})
	}

	t.Run("NotRecordedOrTheTarget", func(t *testing.T) {
		st := memory.New()
		rv := &manifest.Revision{Hash: "new"}
		if target, note, err := ChooseTarget(ctx, st, rv, true); err != nil || target != rv || note != "" {
			t.Errorf("an unrecorded revision: %v %q %v; want it targeted", target, note, err)
		}
		if err := st.PutRevision(ctx, store.Revision{Hash: "new", State: store.RevisionFailed, Resources: []byte(`{"hash":"new","paths":[],"resources":[]}`)}); err != nil {
			t.Fatal(err)
		}
		if err := st.SetTarget(ctx, "new"); err != nil {
			t.Fatal(err)
		}
		if target, note, err := ChooseTarget(ctx, st, rv, true); err != nil || target != rv || note != "" {
			t.Errorf("a failed revision that is the target: %v %q %v; want it targeted", target, note, err)
		}
	})
}

// clockedFixture is a fixture whose engine and controller share a fake
// clock, as the controller requires.
func clockedFixture(t *testing.T, fault providertest.Fault, opts Options) (*fixture, *clocktesting.FakeClock) {
	t.Helper()
	fake := clocktesting.NewFakeClock(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	f := &fixture{t: t, mem: providertest.NewMemory(), st: memory.New()}
	reg, err := provider.NewRegistry(providertest.NewFaulty(f.mem, fault))
	if err != nil {
		t.Fatal(err)
	}
	f.reg = reg
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.e = engine.New(reg, f.st, engine.Options{Workers: 2, Logger: log, Clock: fake, BackoffBase: time.Millisecond, BackoffMax: 10 * time.Millisecond})
	opts.Load, opts.Logger, opts.Clock = f.load, log, fake
	opts.Guard = engine.Guard{MaxDelete: engine.DeleteLimit{Percent: 50, IsPercent: true}}
	f.c = New(f.e, f.st, opts)
	return f, fake
}

// stepUntil moves the fake clock a second at a time until cond holds.
func (f *fixture) stepUntil(what string, fake *clocktesting.FakeClock, cond func() bool) {
	f.t.Helper()
	f.eventually(what, func() bool {
		fake.Step(time.Second)
		return cond()
	})
}

// target makes the revision of one object holding value the engine's
// target, bypassing the controller's choice.
func (f *fixture) target(ctx context.Context, value string) *manifest.Revision {
	f.t.Helper()
	f.set(objects(1, value))
	rv, err := f.load()
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.e.SetTarget(ctx, rv); err != nil {
		f.t.Fatal(err)
	}
	return rv
}

func (f *fixture) revision(hash string) store.Revision {
	f.t.Helper()
	r, err := f.st.GetRevision(context.Background(), hash)
	if err != nil {
		f.t.Fatalf("revision %s: %v", hash, err)
	}
	return r
}

// TestRunFailsARevisionPastItsProgressDeadline: a revision that never
// converges (its creates are refused as retryable, forever) is failed
// once the controller's clock passes the progress deadline, and the last
// known good revision converges again. The clock is fake: only stepping it
// past the deadline can fail the revision.
func TestRunFailsARevisionPastItsProgressDeadline(t *testing.T) {
	fault := func(op providertest.Op, req provider.Request, _ int) providertest.Outcome {
		if (op == providertest.OpCreate || op == providertest.OpUpdate) && req.Spec["value"] == "slow" {
			return providertest.Outcome{Before: errors.New("the server is busy")}
		}
		return providertest.Outcome{}
	}
	const deadline = 10 * time.Minute
	f, fake := clockedFixture(t, fault, Options{Resync: time.Hour, Rollback: true, ProgressDeadline: deadline})
	f.set(objects(2, "good"))
	good, err := f.load()
	if err != nil {
		t.Fatal(err)
	}
	stop := f.run()
	f.stepUntil("the good revision converged and judged", fake, func() bool {
		r, err := f.st.GetRevision(context.Background(), good.Hash)
		return err == nil && r.State == store.RevisionConverged
	})

	f.set(objects(2, "slow"))
	slow, err := f.load()
	if err != nil {
		t.Fatal(err)
	}
	f.c.Reload()
	f.eventually("the slow revision targeted", func() bool { return f.e.Progress().Revision == slow.Hash })
	for range 5 { // judged within the deadline: still progressing
		fake.Step(time.Second)
		time.Sleep(10 * time.Millisecond)
	}
	if r := f.revision(slow.Hash); r.State != store.RevisionProgressing || f.hasEvent(string(store.ReasonRevisionFailed)) {
		t.Fatalf("premise: within the deadline the slow revision is %s (events: RevisionFailed %v); want progressing", r.State, f.hasEvent(string(store.ReasonRevisionFailed)))
	}
	if p := f.e.Progress(); p.Converged || p.Failed != "" {
		t.Fatalf("premise: the slow revision converged or failed by itself: %+v", p)
	}

	fake.Step(deadline)
	f.stepUntil("rolled back past the deadline", fake, func() bool {
		return f.hasEvent(string(store.ReasonRollingBack)) && f.e.Progress().Revision == good.Hash && f.e.Progress().Converged
	})
	r := f.revision(slow.Hash)
	if r.State != store.RevisionFailed || !strings.Contains(r.Reason, "progress deadline") {
		t.Errorf("the slow revision: %s (%s); want failed for its progress deadline", r.State, r.Reason)
	}
	if v := f.values(); v["mem.Object/o0"] != "good" || v["mem.Object/o1"] != "good" {
		t.Errorf("objects %v; want the good revision's", v)
	}
	if err := stop(); err != nil {
		t.Error(err)
	}
}

// TestAProvenRevisionIsNeverFailed: a revision that converged once is not
// failed when it is targeted again and cannot converge (here, an update
// refused terminally), even past its progress deadline; one that never
// converged is failed and rolled back in the same situation. The judge is
// driven tick by tick, so that what it did not do is certain.
func TestAProvenRevisionIsNeverFailed(t *testing.T) {
	var refuse atomic.Bool
	fault := func(op providertest.Op, req provider.Request, _ int) providertest.Outcome {
		if refuse.Load() && (op == providertest.OpCreate || op == providertest.OpUpdate) && (req.Spec["value"] == "a" || req.Spec["value"] == "c") {
			return providertest.Outcome{Before: provider.Terminalf("value %v is refused now", req.Spec["value"])}
		}
		return providertest.Outcome{}
	}
	f, fake := clockedFixture(t, fault, Options{Resync: time.Hour, Rollback: true, ProgressDeadline: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wg := f.e.Start(ctx)
	defer f.e.Stop(wg)
	w := &revisionWatch{c: f.c, watched: true}

	target := func(value string) *manifest.Revision { return f.target(ctx, value) }
	converge := func(value string) *manifest.Revision {
		t.Helper()
		rv := target(value)
		f.eventually(value+" converges", func() bool { return f.e.Progress().Converged })
		w.tick(ctx)
		if r := f.revision(rv.Hash); r.State != store.RevisionConverged {
			t.Fatalf("revision %s: %s after a tick; want converged", value, r.State)
		}
		return rv
	}
	a := converge("a")
	converge("b")

	refuse.Store(true)
	target("a")
	f.eventually("a fails now", func() bool { return f.e.Progress().Failed != "" })
	fake.Step(2 * time.Minute) // past the progress deadline too
	w.tick(ctx)
	w.tick(ctx)
	// Targeted again, it is progressing; it keeps its convergence.
	if r := f.revision(a.Hash); r.State != store.RevisionProgressing || r.Converged.IsZero() {
		t.Errorf("the proven revision: %s (%s), converged at %v; want it progressing, proven", r.State, r.Reason, r.Converged)
	}
	if f.hasEvent(string(store.ReasonRevisionFailed)) || f.hasEvent(string(store.ReasonRollingBack)) {
		t.Errorf("the proven revision was judged failed or rolled back")
	}
	if got := f.e.Progress().Revision; got != a.Hash {
		t.Errorf("target %s; want the proven revision to stay the target", got)
	}

	// The contrast: a revision that never converged, in the same state.
	c := target("c")
	f.eventually("c fails", func() bool { return f.e.Progress().Failed != "" })
	w.tick(ctx)
	if r := f.revision(c.Hash); r.State != store.RevisionFailed {
		t.Errorf("the unproven revision: %s; want failed", r.State)
	}
	if !f.hasEvent(string(store.ReasonRevisionFailed)) || f.e.Progress().Revision == c.Hash {
		t.Errorf("the unproven revision was not failed and rolled back (target %s)", f.e.Progress().Revision)
	}
}
