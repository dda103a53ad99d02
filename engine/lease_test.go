package engine

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/queue"
	"github.com/convergehq/converge/store/memory"
)

// TestMutatingCallAsksOwnsAgain: the resource leaves the engine's share
// while it is observed; the create that follows is not made, and once the
// resource is the engine's again the worker comes back to it by itself
// and makes it.
func TestMutatingCallAsksOwnsAgain(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var owned atomic.Bool
	owned.Store(true)
	var observes, creates atomic.Int32
	p := &providertest.Funcs{
		ProviderName: "mem",
		KindSchemas:  []provider.Schema{providertest.Schema},
		ObserveFn: func(ctx context.Context, req provider.Request) (provider.Observation, error) {
			if observes.Add(1) == 1 {
				close(entered)
				<-release
			}
			return provider.Observation{}, nil
		},
		CreateFn: func(ctx context.Context, req provider.Request) (provider.Result, error) {
			creates.Add(1)
			return provider.Result{Private: map[string]string{"id": "1"}}, nil
		},
	}
	reg, err := provider.NewRegistry(p)
	if err != nil {
		t.Fatal(err)
	}
	h := newMemHarness(t, Options{})
	h.reg = reg
	e := h.engineOn(memory.New(), Options{Logger: quiet(), BackoffBase: 10 * time.Millisecond, BackoffMax: 20 * time.Millisecond,
		Rand: func() float64 { return 1 }, Owns: func(string) bool { return owned.Load() }})
	h.start(e)
	h.setTarget(e, h.load(memDoc("a", "v")))
	select {
	case <-entered:
	case <-time.After(waitBound):
		t.Fatal("the observation never started")
	}
	owned.Store(false)
	close(release)
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	if err := e.Drain(ctx); err != nil { // the pass that observed is over
		t.Fatal(err)
	}
	if got := creates.Load(); got != 0 {
		t.Fatalf("creates once the resource left the share during the observation: %d; want 0", got)
	}
	owned.Store(true)
	pollUntil(t, "the create, once the resource is the engine's again", func() bool { return creates.Load() == 1 })
	h.waitIdle(e)
	if got := observes.Load(); got < 2 {
		t.Errorf("observes = %d; want the create preceded by another observation", got)
	}
}

// TestCallsEndByTheDeadline: a call in flight is cut at the deadline that
// Options.CallDeadline gives, read again as it moves on (later, as a lease
// deadline does); no mutating call
// starts once it passed.
func TestCallsEndByTheDeadline(t *testing.T) {
	var mu sync.Mutex
	first := time.Now().Add(600 * time.Millisecond)
	deadline := first
	setDeadline := func(d time.Time) {
		mu.Lock()
		deadline = d
		mu.Unlock()
	}
	callDeadline := func() (time.Time, bool) {
		mu.Lock()
		defer mu.Unlock()
		return deadline, true
	}
	started := make(chan struct{}, 1)
	type ended struct {
		at    time.Time
		cause error
	}
	ends := make(chan ended, 1)
	var creates atomic.Int32
	p := &providertest.Funcs{
		ProviderName: "mem",
		KindSchemas:  []provider.Schema{providertest.Schema},
		ObserveFn: func(ctx context.Context, req provider.Request) (provider.Observation, error) {
			return provider.Observation{}, nil
		},
		CreateFn: func(ctx context.Context, req provider.Request) (provider.Result, error) {
			if creates.Add(1) > 1 {
				return provider.Result{Private: map[string]string{"id": "1"}}, nil
			}
			started <- struct{}{}
			<-ctx.Done()
			ends <- ended{time.Now(), context.Cause(ctx)}
			return provider.Result{}, ctx.Err()
		},
	}
	reg, err := provider.NewRegistry(p)
	if err != nil {
		t.Fatal(err)
	}
	h := newMemHarness(t, Options{})
	h.reg = reg
	e := h.engineOn(memory.New(), Options{Logger: quiet(), BackoffBase: time.Hour, CallTimeout: time.Minute, CallDeadline: callDeadline})
	h.start(e)
	h.setTarget(e, h.load(memDoc("a", "v")))
	select {
	case <-started:
	case <-time.After(waitBound):
		t.Fatal("the create never started")
	}
	// The deadline moves on (a keepalive was answered) while the call
	// runs: the call runs to the later one.
	later := first.Add(300 * time.Millisecond)
	setDeadline(later)
	var end ended
	select {
	case end = <-ends:
	case <-time.After(waitBound):
		t.Fatal("the call was not cut at the deadline")
	}
	if !errors.Is(end.cause, errLeaseDeadline) {
		t.Errorf("the call's context ended with %v; want errLeaseDeadline", end.cause)
	}
	if end.at.Before(later) {
		t.Errorf("the call was cut %s before the deadline it moved on to; want at it", later.Sub(end.at))
	}
	pollUntil(t, "the failure recorded", func() bool {
		r, ok := recordOf(e, memID("a"))
		return ok && r.LastError != "" && r.Pending != nil && r.Pending.Ambiguous
	})

	// Past the deadline, no mutating call starts.
	setDeadline(time.Now().Add(-time.Second))
	e.Reconcile(memID("a"))
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	if err := e.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // time enough to go wrong
	if got := creates.Load(); got != 1 {
		t.Errorf("creates = %d; want only the first, none past the deadline", got)
	}
}

// TestShareLimits: the engine keeps to its part of a provider's limits, as
// the ProviderConfig changes too, and gets them whole back alone.
func TestShareLimits(t *testing.T) {
	h := newMemHarness(t, Options{})
	e := h.engine()
	limits := func() queue.LimiterConfig {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.limiters["mem"].Limits()
	}
	h.setTarget(e, h.load(providerConfigDoc("qps: 20, burst: 5, maxInFlight: 8"), memDoc("a", "v")))
	if got, want := limits(), (queue.LimiterConfig{QPS: 20, Burst: 5, MaxInFlight: 8}); got != want {
		t.Fatalf("limits alone = %+v; want %+v", got, want)
	}
	e.ShareLimits(2, 3)
	if got, want := limits(), (queue.LimiterConfig{QPS: 20.0 / 3, Burst: 1, MaxInFlight: 2}); got != want {
		t.Errorf("limits as node 2 of 3 = %+v; want %+v", got, want)
	}
	h.setTarget(e, h.load(providerConfigDoc("qps: 30, burst: 6, maxInFlight: 9"), memDoc("a", "v")))
	if got, want := limits(), (queue.LimiterConfig{QPS: 10, Burst: 2, MaxInFlight: 3}); got != want {
		t.Errorf("limits of a new ProviderConfig as node 2 of 3 = %+v; want %+v", got, want)
	}
	e.ShareLimits(0, 1)
	if got, want := limits(), (queue.LimiterConfig{QPS: 30, Burst: 6, MaxInFlight: 9}); got != want {
		t.Errorf("limits alone again = %+v; want %+v", got, want)
	}
}
