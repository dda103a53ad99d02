package controller

import (
	"context"
	"testing"
	"time"

	"github.com/convergehq/converge/manifest"
)

// TestRetargetedBetweenTicksIsJudgedAgain: a target that goes A, B and A
// again between two of the judge's ticks is a new A: once it converges,
// the tick marks it converged again (its converged time moves), so that
// it is the last known good one and a rollback to it is not left pending.
// Before, the judge saw the same A as at its last tick, already settled.
func TestRetargetedBetweenTicksIsJudgedAgain(t *testing.T) {
	f, fake := clockedFixture(t, nil, Options{Resync: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wg := f.e.Start(ctx)
	defer f.e.Stop(wg)
	w := &revisionWatch{c: f.c, watched: true}
	target := func(value string) *manifest.Revision {
		t.Helper()
		rv := f.target(ctx, value)
		f.eventually(value+" converges", func() bool { return f.e.Progress().Revision == rv.Hash && f.e.Progress().Converged })
		return rv
	}
	a := target("a")
	w.tick(ctx)
	first := f.revision(a.Hash).Converged
	if first.IsZero() {
		t.Fatal("premise: a is not marked converged after a tick")
	}
	fake.Step(time.Minute)
	target("b") // no tick between: the judge never sees b
	fake.Step(time.Minute)
	target("a")
	w.tick(ctx)
	if got := f.revision(a.Hash).Converged; !got.After(first) {
		t.Errorf("a's converged time %v after it was targeted and converged again; want it after %v", got, first)
	}
}
