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

	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
)

// once runs ApplyOnce over a memory provider, one fresh engine per step, as
// consecutive converge apply runs do.
type once struct {
	t     *testing.T
	mem   *providertest.Memory
	reg   *provider.Registry
	st    *memory.Store
	clock clock.WithTicker
}

func newOnce(t *testing.T, fault providertest.Fault) *once {
	t.Helper()
	o := &once{t: t, mem: providertest.NewMemory(), st: memory.New(), clock: clock.RealClock{}}
	var p provider.Provider = o.mem
	if fault != nil {
		p = providertest.NewFaulty(o.mem, fault)
	}
	reg, err := provider.NewRegistry(p)
	if err != nil {
		t.Fatal(err)
	}
	o.reg = reg
	return o
}

func (o *once) load(files map[string][]byte) *manifest.Revision {
	o.t.Helper()
	rv, err := manifest.LoadBytes(files, o.reg)
	if err != nil {
		o.t.Fatal(err)
	}
	return rv
}

func (o *once) engine() *engine.Engine {
	o.t.Helper()
	e := engine.New(o.reg, o.st, engine.Options{Workers: 2, Clock: o.clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		BackoffBase: time.Millisecond, BackoffMax: 10 * time.Millisecond})
	if err := e.Load(context.Background()); err != nil {
		o.t.Fatal(err)
	}
	return e
}

func (o *once) apply(rv *manifest.Revision, opts ApplyOptions) engine.Report {
	o.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	opts.Clock = o.clock
	rep, err := ApplyOnce(ctx, o.engine(), rv, opts)
	if err != nil {
		o.t.Fatalf("ApplyOnce: %v (report %+v)", err, rep)
	}
	return rep
}

func (o *once) converged(files map[string][]byte) *manifest.Revision {
	o.t.Helper()
	rv := o.load(files)
	if rep := o.apply(rv, ApplyOptions{}); !rep.OK() {
		o.t.Fatalf("premise: %s converges: %+v", rv.Hash[:8], rep)
	}
	if r := o.revision(rv.Hash); r.State != store.RevisionConverged {
		o.t.Fatalf("revision %s: %s after it converged; want converged", rv.Hash[:8], r.State)
	}
	return rv
}

func (o *once) revision(hash string) store.Revision {
	o.t.Helper()
	r, err := o.st.GetRevision(context.Background(), hash)
	if err != nil {
		o.t.Fatal(err)
	}
	return r
}

func (o *once) events(reason store.Reason) int {
	o.t.Helper()
	evs, err := o.st.ListEvents(context.Background(), store.EventFilter{})
	if err != nil {
		o.t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Reason == reason {
			n++
		}
	}
	return n
}

func (o *once) target() string {
	o.t.Helper()
	t, err := o.st.Target(context.Background())
	if err != nil {
		o.t.Fatal(err)
	}
	return t
}

func (o *once) values() map[string]string {
	out := map[string]string{}
	for _, id := range o.mem.IDs() {
		obj, _ := o.mem.Get(id)
		out[id], _ = obj.Spec["value"].(string)
	}
	return out
}

// refused fails the creates and updates of value terminally.
func refused(value string) providertest.Fault {
	return func(op providertest.Op, req provider.Request, _ int) providertest.Outcome {
		if (op == providertest.OpCreate || op == providertest.OpUpdate) && req.Spec["value"] == value {
			return providertest.Outcome{Before: provider.Terminalf("value %v is refused", value)}
		}
		return providertest.Outcome{}
	}
}

// TestApplyOnceTerminalFailure: with rollback, a revision with a
// terminal failure is failed and the last known good one converged again
// (one RevisionFailed and one RollingBack event, the report says so);
// without, it is failed the same way (event included, as the daemon does)
// and stays the target.
func TestApplyOnceTerminalFailure(t *testing.T) {
	for name, rollback := range map[string]bool{"Auto": true, "Off": false} {
		t.Run(name, func(t *testing.T) {
			o := newOnce(t, refused("bad"))
			good := o.converged(objects(3, "good"))
			bad := o.load(objects(3, "bad"))
			rep := o.apply(bad, ApplyOptions{Rollback: rollback, ProgressDeadline: time.Minute})
			if rep.OK() {
				t.Fatalf("report %+v; want not OK", rep)
			}
			r := o.revision(bad.Hash)
			if r.State != store.RevisionFailed || !strings.Contains(r.Reason, "is refused") {
				t.Errorf("the bad revision: %s (%s); want failed, terminally", r.State, r.Reason)
			}
			if n := o.events(store.ReasonRevisionFailed); n != 1 {
				t.Errorf("RevisionFailed events: %d; want 1", n)
			}
			if !rollback {
				if rep.RolledBack != nil || o.target() != bad.Hash || o.events(store.ReasonRollingBack) != 0 {
					t.Errorf("rolled back %+v, target %s; want no rollback, the bad revision the target", rep.RolledBack, o.target())
				}
				return
			}
			if rb := rep.RolledBack; rb == nil || rb.From != bad.Hash || rb.To != good.Hash || !strings.Contains(rb.Reason, "is refused") {
				t.Fatalf("rolled back %+v; want from the bad revision to the good one, for the refusal", rep.RolledBack)
			}
			if rep.Revision != good.Hash || rep.Ready != 3 || len(rep.Failures) != 0 {
				t.Errorf("report %+v; want the good revision, 3 Ready", rep)
			}
			for id, v := range o.values() {
				if v != "good" {
					t.Errorf("%s = %q after the rollback; want good", id, v)
				}
			}
			if o.target() != good.Hash || o.revision(good.Hash).State != store.RevisionConverged || o.events(store.ReasonRollingBack) != 1 {
				t.Errorf("target %s, good revision %s, RollingBack %d; want the good revision, converged, one event", o.target(), o.revision(good.Hash).State, o.events(store.ReasonRollingBack))
			}
		})
	}
}

// TestApplyOnceNothingToRollBackTo: a first revision that fails is marked
// failed and stays the target; RollbackImpossible says why.
func TestApplyOnceNothingToRollBackTo(t *testing.T) {
	o := newOnce(t, refused("bad"))
	bad := o.load(objects(2, "bad"))
	rep := o.apply(bad, ApplyOptions{Rollback: true, ProgressDeadline: time.Minute})
	if rep.OK() || rep.RolledBack != nil {
		t.Fatalf("report %+v; want a failure and no rollback", rep)
	}
	if r := o.revision(bad.Hash); r.State != store.RevisionFailed {
		t.Errorf("revision: %s; want failed", r.State)
	}
	if o.events(store.ReasonRollbackImpossible) != 1 || o.target() != bad.Hash {
		t.Errorf("RollbackImpossible %d, target %s; want one event, the failed revision the target", o.events(store.ReasonRollbackImpossible), o.target())
	}
}

// TestApplyOnceNeverFailsAProvenRevision: a revision that converged
// before and now fails terminally (its value is refused from now on) is
// neither failed nor rolled back, with rollback and past any deadline.
func TestApplyOnceNeverFailsAProvenRevision(t *testing.T) {
	var on atomic.Bool
	inner := refused("a")
	o := newOnce(t, func(op providertest.Op, req provider.Request, n int) providertest.Outcome {
		if !on.Load() {
			return providertest.Outcome{}
		}
		return inner(op, req, n)
	})
	a := o.converged(objects(1, "a"))
	o.converged(objects(1, "b"))
	on.Store(true)
	rep := o.apply(a, ApplyOptions{Rollback: true, ProgressDeadline: time.Nanosecond})
	if rep.OK() || rep.RolledBack != nil {
		t.Fatalf("report %+v; want the failure reported, no rollback", rep)
	}
	if r := o.revision(a.Hash); r.State == store.RevisionFailed || r.Converged.IsZero() {
		t.Errorf("the proven revision: %s, converged %v; want not failed, still proven", r.State, r.Converged)
	}
	if o.events(store.ReasonRevisionFailed) != 0 || o.events(store.ReasonRollingBack) != 0 || o.target() != a.Hash {
		t.Errorf("RevisionFailed %d, RollingBack %d, target %s; want none, the proven revision the target", o.events(store.ReasonRevisionFailed), o.events(store.ReasonRollingBack), o.target())
	}
}

// TestApplyOnceStoppedConverging: a revision whose removed resource cannot
// be deleted (refused terminally) leaves the apply with nothing to do,
// unconverged. With rollback it stopped converging: failed and rolled
// back, the reason naming the resource; without, it is not failed.
func TestApplyOnceStoppedConverging(t *testing.T) {
	fault := func(op providertest.Op, req provider.Request, _ int) providertest.Outcome {
		if op == providertest.OpDelete && req.ID == "mem.Object/o2" {
			return providertest.Outcome{Before: provider.Terminalf("deletion protection is on")}
		}
		return providertest.Outcome{}
	}
	for name, rollback := range map[string]bool{"Auto": true, "Off": false} {
		t.Run(name, func(t *testing.T) {
			o := newOnce(t, fault)
			all := o.converged(objects(3, "v"))
			fewer := o.load(objects(2, "v"))
			rep := o.apply(fewer, ApplyOptions{Rollback: rollback})
			if _, ok := o.mem.Get("mem.Object/o2"); !ok {
				t.Fatal("premise: the removed object was deleted")
			}
			r := o.revision(fewer.Hash)
			if !rollback {
				if rep.RolledBack != nil || r.State == store.RevisionFailed || o.events(store.ReasonRevisionFailed) != 0 {
					t.Errorf("rolled back %+v, revision %s; want neither failed nor rolled back", rep.RolledBack, r.State)
				}
				return
			}
			want := "stopped converging: mem.Object/o2: not deleted: delete: deletion protection is on"
			if rb := rep.RolledBack; rb == nil || rb.To != all.Hash || rb.Reason != want {
				t.Fatalf("rolled back %+v; want to the first revision, reason %q", rep.RolledBack, want)
			}
			if r.State != store.RevisionFailed || r.Reason != want {
				t.Errorf("revision: %s (%s); want failed, %q", r.State, r.Reason, want)
			}
			if o.target() != all.Hash || o.revision(all.Hash).State != store.RevisionConverged {
				t.Errorf("target %s; want the first revision, converged again", o.target())
			}
		})
	}
}

// TestApplyOnceDeadlineCountsFromItsStart: the progress deadline of an
// apply counts from ApplyOnce's start, not from when the revision became
// the target: a revision targeted an hour before (the engine's Since) is
// still given the whole deadline, and is rolled back once it passes. The
// clock is fake: only stepping it can pass the deadline.
func TestApplyOnceDeadlineCountsFromItsStart(t *testing.T) {
	fault := func(op providertest.Op, req provider.Request, _ int) providertest.Outcome {
		if (op == providertest.OpCreate || op == providertest.OpUpdate) && req.Spec["value"] == "slow" {
			return providertest.Outcome{Before: errors.New("the server is busy")}
		}
		return providertest.Outcome{}
	}
	o := newOnce(t, fault)
	fake := clocktesting.NewFakeClock(t0)
	o.clock = fake
	good := o.converged(objects(2, "good"))
	slow := o.load(objects(2, "slow"))
	e := o.engine()
	ctx := context.Background()
	if err := e.SetTarget(ctx, slow); err != nil {
		t.Fatal(err)
	}
	fake.Step(time.Hour)
	if since := e.Progress().Since; !since.Equal(t0) {
		t.Fatalf("premise: the slow revision is the target since %v; want %v", since, t0)
	}
	const deadline = 10 * time.Minute
	type result struct {
		rep engine.Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := ApplyOnce(ctx, e, slow, ApplyOptions{Rollback: true, ProgressDeadline: deadline, Clock: fake})
		done <- result{rep, err}
	}()
	within := func() {
		select {
		case res := <-done:
			t.Fatalf("ApplyOnce returned within the deadline: %+v, %v", res.rep, res.err)
		default:
		}
	}
	waitFor(t, "the slow objects failing", func() bool {
		within()
		r, err := o.st.GetRecord(ctx, "mem.Object/o0")
		return err == nil && r.Phase == store.PhaseError
	})
	time.Sleep(3 * judgePoll) // judged a few times within the deadline
	within()
	if o.events(store.ReasonRevisionFailed) != 0 {
		t.Fatal("the slow revision was failed within its deadline")
	}
	fake.Step(deadline)
	var res result
	waitFor(t, "ApplyOnce to return past the deadline", func() bool {
		select {
		case res = <-done:
			return true
		default:
			fake.Step(time.Second) // the retries and the rollback's
			return false
		}
	})
	if res.err != nil {
		t.Fatal(res.err)
	}
	if rb := res.rep.RolledBack; rb == nil || rb.To != good.Hash || !strings.Contains(rb.Reason, "progress deadline (10m0s)") {
		t.Fatalf("rolled back %+v; want to the good revision, for the deadline", res.rep.RolledBack)
	}
	if r := o.revision(slow.Hash); r.State != store.RevisionFailed {
		t.Errorf("the slow revision: %s; want failed", r.State)
	}
}
