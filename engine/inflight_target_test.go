package engine

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
)

// A resource only the old target declares, whose reconcile is in flight
// when the target changes (a rollback, say), is deleted once that pass
// has returned, even when the pass had not recorded anything yet and goes
// on to create it: the world ends up as the new target declares.
func TestNewTargetDeletesWhatAnInFlightCreateMade(t *testing.T) {
	h := newMemHarness(t, Options{Workers: 8})
	release := make(chan struct{})
	var entered atomic.Int64
	h.faulty.Fault = func(op providertest.Op, req provider.Request, _ int) providertest.Outcome {
		if op == providertest.OpObserve && req.ID == "mem.Object/b" && entered.Load() == 0 {
			entered.Add(1)
			<-release
		}
		return providertest.Outcome{}
	}
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)

	e := h.engine()
	h.setTarget(e, h.load(memDoc("a", "x")))
	h.start(e)
	h.waitIdle(e)
	h.setTarget(e, h.load(memDoc("a", "x"), memDoc("b", "y")))
	pollUntil(t, "b's first observe in flight", func() bool { return entered.Load() == 1 })
	h.setTarget(e, h.load(memDoc("a", "x")))
	unblock()
	h.waitIdle(e)
	if _, ok := h.mem.Get("mem.Object/b"); ok {
		t.Errorf("b exists after the target that declares only a converged; want it deleted")
	}
	for _, r := range e.Records() {
		if r.ID == "mem.Object/b" {
			t.Errorf("b is still recorded (%s); want it forgotten after its delete", r.Phase)
		}
	}
}
