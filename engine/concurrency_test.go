package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store"
)

// orderChecker is a provider layer that checks, as calls arrive, that the
// engine respects the dependency graph: a create starts only once every
// dependency is Ready in the store, a delete only once every dependent's
// object is gone.
type orderChecker struct {
	provider.Provider
	st         store.Store
	mem        *providertest.Memory
	deps       map[string][]string // id -> dependencies
	dependents map[string][]string // id -> dependents

	mu       sync.Mutex
	problems []string
	deleted  []string // in call order
}

func (c *orderChecker) problem(format string, args ...any) {
	c.mu.Lock()
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
	c.mu.Unlock()
}

func (c *orderChecker) Create(ctx context.Context, req provider.Request) (provider.Result, error) {
	for _, d := range c.deps[req.ID] {
		r, err := c.st.GetRecord(ctx, d)
		if err != nil || r.Phase != store.PhaseReady {
			c.problem("create of %s began while its dependency %s was %q (%v)", req.ID, d, r.Phase, err)
		}
	}
	return c.Provider.Create(ctx, req)
}

func (c *orderChecker) Delete(ctx context.Context, req provider.Request) error {
	for _, d := range c.dependents[req.ID] {
		if _, ok := c.mem.Get(d); ok {
			c.problem("delete of %s began while its dependent %s exists", req.ID, d)
		}
	}
	c.mu.Lock()
	c.deleted = append(c.deleted, req.ID)
	c.mu.Unlock()
	return c.Provider.Delete(ctx, req)
}

func TestConcurrencyRespectsGraphAndExclusivity(t *testing.T) {
	const n = 500
	rng := rand.New(rand.NewPCG(1, 2))
	ids := make([]string, n)
	deps := map[string][]string{}
	dependents := map[string][]string{}
	for i := range ids {
		ids[i] = memID(fmt.Sprintf("r%03d", i))
		seen := map[string]bool{}
		for k := rng.IntN(4); i > 0 && k > 0; k-- {
			d := ids[rng.IntN(i)]
			if !seen[d] {
				seen[d] = true
				deps[ids[i]] = append(deps[ids[i]], d)
				dependents[d] = append(dependents[d], ids[i])
			}
		}
	}
	// Remove a random subset, with everything that depends on it (a
	// dependency cannot leave while its dependents stay).
	removed := map[string]bool{}
	var mark func(id string)
	mark = func(id string) {
		if removed[id] {
			return
		}
		removed[id] = true
		for _, d := range dependents[id] {
			mark(d)
		}
	}
	for len(removed) < n/5 {
		mark(ids[rng.IntN(n)])
	}
	docs := func(keep func(id string) bool) []string {
		var out []string
		for i, id := range ids {
			if keep(id) {
				out = append(out, memDoc(fmt.Sprintf("r%03d", i), fmt.Sprint(i), deps[id]...))
			}
		}
		return out
	}

	var checker *orderChecker
	h := newMemHarness(t, Options{Workers: 16}, func(p provider.Provider) provider.Provider {
		checker = &orderChecker{Provider: p, deps: deps, dependents: dependents}
		return checker
	})
	checker.st, checker.mem = h.st, h.mem
	h.mem.Latency = 200 * time.Microsecond

	rep := h.apply(h.engine(), h.load(docs(func(string) bool { return true })...))
	if !rep.OK() || rep.Ready != n {
		t.Fatalf("first apply: %d ready, failures %+v", rep.Ready, rep.Failures)
	}
	rep = h.apply(h.engine(), h.load(docs(func(id string) bool { return !removed[id] })...))
	if !rep.OK() {
		t.Fatalf("second apply: failures %+v", rep.Failures)
	}

	if v := h.mem.Violations(); len(v) != 0 {
		t.Errorf("violations: %v", v)
	}
	if len(checker.problems) != 0 {
		t.Errorf("order problems (%d):\n%v", len(checker.problems), checker.problems)
	}
	var want []string
	for _, id := range ids {
		if !removed[id] {
			want = append(want, id)
		}
	}
	if diff := cmp.Diff(want, h.mem.IDs()); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	var wantDeleted []string
	for id := range removed {
		wantDeleted = append(wantDeleted, id)
	}
	gotDeleted := append([]string(nil), checker.deleted...)
	sort.Strings(wantDeleted)
	sort.Strings(gotDeleted)
	if diff := cmp.Diff(wantDeleted, gotDeleted); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	if got := h.mem.Creates.Load(); got != n {
		t.Errorf("Memory saw %d creates; want %d", got, n)
	}
}

// concurrencyMeter is a provider layer that measures how many calls run at
// once.
type concurrencyMeter struct {
	provider.Provider
	now, max atomic.Int64
}

func (m *concurrencyMeter) track() func() {
	cur := m.now.Add(1)
	for {
		old := m.max.Load()
		if cur <= old || m.max.CompareAndSwap(old, cur) {
			break
		}
	}
	return func() { m.now.Add(-1) }
}

func (m *concurrencyMeter) Observe(ctx context.Context, req provider.Request) (provider.Observation, error) {
	defer m.track()()
	return m.Provider.Observe(ctx, req)
}

func (m *concurrencyMeter) Create(ctx context.Context, req provider.Request) (provider.Result, error) {
	defer m.track()()
	return m.Provider.Create(ctx, req)
}

func (m *concurrencyMeter) Update(ctx context.Context, req provider.Request) (provider.Result, error) {
	defer m.track()()
	return m.Provider.Update(ctx, req)
}

func (m *concurrencyMeter) Delete(ctx context.Context, req provider.Request) error {
	defer m.track()()
	return m.Provider.Delete(ctx, req)
}

func TestLimitsMaxInFlight(t *testing.T) {
	tests := map[string]struct {
		config  string
		wantMax func(int64) bool
		want    string
	}{
		"maxInFlight 3": {config: "maxInFlight: 3", wantMax: func(m int64) bool { return m == 3 }, want: "3"},
		"maxInFlight 1": {config: "maxInFlight: 1", wantMax: func(m int64) bool { return m == 1 }, want: "1"},
		// Without a cap the workers overlap: the meter can see a breach.
		"no ProviderConfig": {wantMax: func(m int64) bool { return m > 3 }, want: "more than 3"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			meter := &concurrencyMeter{}
			h := newMemHarness(t, Options{Workers: 8}, func(p provider.Provider) provider.Provider {
				meter.Provider = p
				return meter
			})
			h.mem.Latency = 2 * time.Millisecond
			var docs []string
			if tc.config != "" {
				docs = append(docs, providerConfigDoc(tc.config))
			}
			for i := 0; i < 24; i++ {
				docs = append(docs, memDoc(fmt.Sprintf("r%02d", i), "x"))
			}
			rep := h.apply(h.engine(), h.load(docs...))
			if !rep.OK() {
				t.Fatalf("apply: %+v", rep.Failures)
			}
			if got := meter.max.Load(); !tc.wantMax(got) {
				t.Errorf("at most %d calls at once; want %s", got, tc.want)
			}
		})
	}
}

// A new revision arriving while calls are in flight must not lift the cap.
func TestLimitsMaxInFlightAcrossNewRevision(t *testing.T) {
	meter := &concurrencyMeter{}
	h := newMemHarness(t, Options{Workers: 8}, func(p provider.Provider) provider.Provider {
		meter.Provider = p
		return meter
	})
	release := make(chan struct{})
	var entered atomic.Int64
	h.faulty.Fault = func(op providertest.Op, _ provider.Request, _ int) providertest.Outcome {
		if op == providertest.OpCreate {
			entered.Add(1)
			<-release
		}
		return providertest.Outcome{}
	}
	docs := func(n int, value string) []string {
		out := []string{providerConfigDoc("maxInFlight: 2")}
		for i := 0; i < n; i++ {
			out = append(out, memDoc(fmt.Sprintf("r%02d", i), value))
		}
		return out
	}
	e := h.engine()
	h.setTarget(e, h.load(docs(2, "x")...))
	h.start(e)
	// On a failure, let the blocked creates go before the workers drain.
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	pollUntil(t, "two creates in flight", func() bool { return entered.Load() == 2 })

	// Two more resources arrive, with the same ProviderConfig.
	h.setTarget(e, h.load(docs(4, "x")...))
	pollUntil(t, "the new resources to wait for a slot, or to get one", func() bool {
		return waiting(e) == 2 || meter.max.Load() > 2
	})
	unblock()
	h.waitIdle(e)
	if got := meter.max.Load(); got != 2 {
		t.Errorf("at most %d calls at once; want 2 (maxInFlight)", got)
	}
}
