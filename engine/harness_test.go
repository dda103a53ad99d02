package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
)

// faultEpoch is where the fake clocks of these tests start.
var faultEpoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// waitBound is the real-time bound of every wait in these tests: a bug shows
// up as a failure, never as a hang.
const waitBound = 10 * time.Second

// memHarness runs the engine against the Memory provider wrapped in Faulty
// (and any further layers), over a memory store, with a fake clock and a
// fixed jitter.
type memHarness struct {
	t      *testing.T
	mem    *providertest.Memory
	faulty *providertest.Faulty
	reg    *provider.Registry
	st     *memory.Store
	clk    *clocktesting.FakeClock
	opts   Options
}

// layer wraps the provider the engine sees.
type layer func(provider.Provider) provider.Provider

// newMemHarness returns a harness whose engines use opts, completed with the
// fake clock, Rand = 1 (no jitter) unless set, and the test logger. Set
// h.faulty.Fault before starting an engine.
func newMemHarness(t *testing.T, opts Options, layers ...layer) *memHarness {
	t.Helper()
	h := &memHarness{t: t, mem: providertest.NewMemory(), st: memory.New(), clk: clocktesting.NewFakeClock(faultEpoch)}
	h.faulty = providertest.NewFaulty(h.mem, nil)
	var p provider.Provider = h.faulty
	for _, l := range layers {
		p = l(p)
	}
	reg, err := provider.NewRegistry(p)
	if err != nil {
		t.Fatalf("registry: %v", err)
	}
	h.reg = reg
	opts.Clock = h.clk
	if opts.Rand == nil {
		opts.Rand = func() float64 { return 1 }
	}
	opts.Logger = testLogger()
	h.opts = opts
	return h
}

// engine returns a new engine over the harness store, loaded.
func (h *memHarness) engine() *Engine {
	h.t.Helper()
	return h.engineOn(h.st, h.opts)
}

func (h *memHarness) engineOn(st store.Store, opts Options) *Engine {
	h.t.Helper()
	e := New(h.reg, st, opts)
	if err := e.Load(context.Background()); err != nil {
		h.t.Fatalf("load records: %v", err)
	}
	return e
}

// load parses manifests documents, joined as one file.
func (h *memHarness) load(docs ...string) *manifest.Revision {
	h.t.Helper()
	rv, err := manifest.LoadBytes(map[string][]byte{"m.yaml": []byte(strings.Join(docs, "---\n"))}, h.reg)
	if err != nil {
		h.t.Fatalf("load manifests: %v", err)
	}
	return rv
}

// start runs e's workers until the test ends. The cleanup cancels first, so
// a worker parked on the fake clock (a limiter pause) lets go, then drains.
func (h *memHarness) start(e *Engine) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	wg := e.Start(ctx)
	h.t.Cleanup(func() {
		cancel()
		e.Stop(wg)
	})
}

func (h *memHarness) setTarget(e *Engine, rv *manifest.Revision) {
	h.t.Helper()
	if err := e.SetTarget(context.Background(), rv); err != nil {
		h.t.Fatalf("set target: %v", err)
	}
}

// waitIdle waits until e has nothing queued, delayed or in progress.
func (h *memHarness) waitIdle(e *Engine) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	if err := e.WaitIdle(ctx); err != nil {
		h.t.Fatalf("engine not idle within %s: %v; records: %+v", waitBound, err, summarizeRecords(e.Records()))
	}
}

// apply runs one Apply of rv on e and fails the test on an error.
func (h *memHarness) apply(e *Engine, rv *manifest.Revision) Report {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	rep, err := e.Apply(ctx, rv)
	if err != nil {
		h.t.Fatalf("apply: %v (report %+v)", err, rep)
	}
	return rep
}

// awaitRetry waits until id failed its attempt-th time in a row and the
// retry is scheduled on the fake clock (the queue's timer is its only
// waiter), and returns the record.
func (h *memHarness) awaitRetry(e *Engine, id string, attempt int) store.Record {
	h.t.Helper()
	var r store.Record
	pollUntil(h.t, fmt.Sprintf("%s to fail for the %d. time with a retry scheduled", id, attempt), func() bool {
		var ok bool
		r, ok = recordOf(e, id)
		return ok && r.Attempts == attempt && r.Phase == store.PhaseError && h.clk.Waiters() == 1
	})
	return r
}

// events returns the events of resource id with the given reason.
func (h *memHarness) events(id, reason string) []store.Event {
	h.t.Helper()
	evs, err := h.st.ListEvents(context.Background(), store.EventFilter{Resource: id})
	if err != nil {
		h.t.Fatalf("list events: %v", err)
	}
	var out []store.Event
	for _, ev := range evs {
		if string(ev.Reason) == reason {
			out = append(out, ev)
		}
	}
	return out
}

// callsSince returns the ops Faulty saw from the n-th call on, as "op id".
func (h *memHarness) callsSince(n int) []string {
	var out []string
	for _, c := range h.faulty.Calls()[n:] {
		out = append(out, string(c.Op)+" "+c.ID)
	}
	return out
}

// recordOf returns e's record of id.
func recordOf(e *Engine, id string) (store.Record, bool) {
	for _, r := range e.Records() {
		if r.ID == id {
			return r, true
		}
	}
	return store.Record{}, false
}

// pollUntil polls cond until it holds, failing the test after waitBound of
// real time. It polls; it does not sleep to let things happen.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitBound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", waitBound, what)
		}
		time.Sleep(100 * time.Microsecond) // poll interval: the machine is shared
	}
}

// waiting returns how many callers are blocked in the Acquire of e's
// limiters. Tests use it to know that workers are parked, a state no event
// announces.
func waiting(e *Engine) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, l := range e.limiters {
		n += l.Waiting()
	}
	return n
}

// memDoc is a mem.Object manifest document.
func memDoc(name, value string, dependsOn ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "kind: mem.Object\nmetadata: {name: %s}\n", name)
	if len(dependsOn) > 0 {
		fmt.Fprintf(&b, "dependsOn: [%s]\n", strings.Join(dependsOn, ", "))
	}
	fmt.Fprintf(&b, "spec: {value: %q}\n", value)
	return b.String()
}

// providerConfigDoc is the ProviderConfig document of the mem provider.
func providerConfigDoc(spec string) string {
	return "kind: ProviderConfig\nmetadata: {name: mem}\nspec: {" + spec + "}\n"
}

func memID(name string) string { return providertest.Kind + "/" + name }

func summarizeRecords(rs []store.Record) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s %s attempts=%d %s", r.ID, r.Phase, r.Attempts, r.Message))
	}
	return out
}
