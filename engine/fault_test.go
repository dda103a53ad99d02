package engine

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/provider"
	pt "github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store"
)

// The tests in this file inject faults into the Memory provider through
// Faulty and drive time with a fake clock: retries happen when the test
// steps the clock, never on their own.

func TestFaultRetryableBackoff(t *testing.T) {
	tests := map[string]struct {
		base, max time.Duration
		rand      float64
		failures  int
		want      []time.Duration // the delay before each retry
	}{
		"doubles from the base": {
			base: time.Second, max: time.Minute, rand: 1, failures: 3,
			want: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second},
		},
		"capped at the max": {
			base: time.Second, max: 3 * time.Second, rand: 1, failures: 5,
			want: []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second, 3 * time.Second},
		},
		"jitter scales the delay": {
			base: time.Second, max: time.Minute, rand: 0.5, failures: 3,
			want: []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newMemHarness(t, Options{Workers: 2, BackoffBase: tc.base, BackoffMax: tc.max, Rand: func() float64 { return tc.rand }})
			h.faulty.Fault = func(op pt.Op, _ provider.Request, n int) pt.Outcome {
				switch {
				case op == pt.OpCreate && n <= tc.failures:
					return pt.Outcome{Before: errors.New("connection refused")}
				case op == pt.OpUpdate && n == 1:
					return pt.Outcome{Before: errors.New("connection reset")}
				}
				return pt.Outcome{}
			}
			id := memID("a")
			e := h.engine()
			h.setTarget(e, h.load(memDoc("a", "v1")))
			h.start(e)

			var got []time.Duration
			for k := 1; k <= tc.failures; k++ {
				r := h.awaitRetry(e, id, k)
				got = append(got, r.NextRetry.Sub(h.clk.Now()))
				if r.ErrorClass != provider.ClassRetryable || !strings.Contains(r.LastError, "connection refused") {
					t.Errorf("attempt %d: class %q, last error %q; want a retryable connection refused", k, r.ErrorClass, r.LastError)
				}
				calls := len(h.faulty.Calls())
				if n := h.faulty.Count(pt.OpCreate); n != k {
					t.Fatalf("attempt %d: %d create calls; want %d", k, n, k)
				}
				// Not before the delay: the queue's timer does not fire and the
				// provider sees nothing.
				h.clk.Step(tc.want[k-1] - time.Nanosecond)
				if h.clk.Waiters() != 1 {
					t.Fatalf("attempt %d: the retry fired before %s of fake time", k, tc.want[k-1])
				}
				if extra := h.callsSince(calls); len(extra) != 0 {
					t.Fatalf("attempt %d: calls before the retry was due: %v", k, extra)
				}
				h.clk.Step(time.Nanosecond)
				pollUntil(t, "the retry's create call", func() bool { return h.faulty.Count(pt.OpCreate) > k })
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("NextRetry - now per attempt (-want +got):\n%s", diff)
			}

			h.waitIdle(e)
			r, _ := recordOf(e, id)
			type state struct {
				Phase     store.Phase
				Attempts  int
				NextRetry time.Time
				LastError string
				Requeues  int
			}
			wantState := state{Phase: store.PhaseReady}
			if diff := cmp.Diff(wantState, state{r.Phase, r.Attempts, r.NextRetry, r.LastError, e.q.NumRequeues(id)}); diff != "" {
				t.Errorf("after success (-want +got):\n%s", diff)
			}
			if n := h.mem.Creates.Load(); n != 1 {
				t.Errorf("Memory saw %d creates; want 1", n)
			}

			// The failures were forgotten: the next failure waits the first
			// delay again.
			h.setTarget(e, h.load(memDoc("a", "v2")))
			r = h.awaitRetry(e, id, 1)
			if got, want := r.NextRetry.Sub(h.clk.Now()), tc.want[0]; got != want {
				t.Errorf("first retry after success in %s; want %s", got, want)
			}
			h.clk.Step(tc.want[0])
			h.waitIdle(e)
			if o, _ := h.mem.Get(id); o.Spec["value"] != "v2" {
				t.Errorf("object value = %v; want v2", o.Spec["value"])
			}
		})
	}
}

func TestFaultRateLimitPausesProvider(t *testing.T) {
	tests := map[string]struct {
		config string // a ProviderConfig document, if any
	}{
		"default limits":        {},
		"ProviderConfig limits": {config: providerConfigDoc("maxInFlight: 10")},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			const pause = 7 * time.Second
			h := newMemHarness(t, Options{Workers: 4})
			a := memID("a")
			h.faulty.Fault = func(op pt.Op, req provider.Request, n int) pt.Outcome {
				if op == pt.OpCreate && req.ID == a && n == 1 {
					return pt.Outcome{Before: provider.RateLimited(errors.New("429 too many requests"), pause)}
				}
				return pt.Outcome{}
			}
			docs := func(names ...string) []string {
				var out []string
				if tc.config != "" {
					out = append(out, tc.config)
				}
				for _, n := range names {
					out = append(out, memDoc(n, "x"))
				}
				return out
			}
			e := h.engine()
			h.setTarget(e, h.load(docs("a")...))
			h.start(e)
			var r store.Record
			pollUntil(t, "a to be rate limited with its retry scheduled", func() bool {
				var ok bool
				r, ok = recordOf(e, a)
				return ok && r.ErrorClass == provider.ClassRateLimited && h.clk.Waiters() == 1
			})
			if got, want := r.NextRetry, faultEpoch.Add(pause); !got.Equal(want) {
				t.Errorf("NextRetry = %s; want %s", got, want)
			}

			// Other resources of the provider make no call during the pause.
			before := len(h.faulty.Calls())
			h.setTarget(e, h.load(docs("a", "b", "c")...))
			pollUntil(t, "b and c to wait for the provider", func() bool {
				return waiting(e) == 2 || len(h.faulty.Calls()) > before
			})
			if extra := h.callsSince(before); len(extra) != 0 {
				t.Fatalf("calls to a paused provider: %v", extra)
			}
			h.clk.Step(pause - time.Nanosecond)
			if extra := h.callsSince(before); len(extra) != 0 {
				t.Fatalf("calls before the pause ended: %v", extra)
			}
			if n := waiting(e); n != 2 {
				t.Fatalf("%d workers wait for the provider just before the pause ends; want 2", n)
			}

			// Then all proceed.
			h.clk.Step(time.Nanosecond)
			h.waitIdle(e)
			var phases []string
			for _, r := range e.Records() {
				phases = append(phases, r.ID+" "+string(r.Phase))
			}
			want := []string{a + " Ready", memID("b") + " Ready", memID("c") + " Ready"}
			if diff := cmp.Diff(want, phases); diff != "" {
				t.Errorf("phases (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{a, memID("b"), memID("c")}, h.mem.IDs()); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFaultTerminalIsNotRetried(t *testing.T) {
	h := newMemHarness(t, Options{Workers: 2})
	h.faulty.Fault = func(op pt.Op, _ provider.Request, n int) pt.Outcome {
		if op == pt.OpCreate && n == 1 {
			return pt.Outcome{Before: provider.Terminalf("machine type %q does not exist", "huge")}
		}
		return pt.Outcome{}
	}
	id := memID("a")
	e := h.engine()
	v1 := h.load(memDoc("a", "v1"))
	h.setTarget(e, v1)
	h.start(e)
	h.waitIdle(e)

	r, _ := recordOf(e, id)
	res, _ := v1.Get(id)
	ready, _ := r.Condition("Ready")
	type state struct {
		Phase       store.Phase
		ErrorClass  provider.Class
		FailedHash  string
		ReadyStatus string
	}
	want := state{Phase: store.PhaseFailed, ErrorClass: provider.ClassTerminal, FailedHash: res.Hash, ReadyStatus: "False"}
	if diff := cmp.Diff(want, state{r.Phase, r.ErrorClass, r.FailedHash, string(ready.Status)}); diff != "" {
		t.Errorf("after a terminal error (-want +got):\n%s", diff)
	}
	if h.clk.Waiters() != 0 {
		t.Errorf("a retry is scheduled on the clock after a terminal error")
	}

	// Many resyncs, much later: no retry loop.
	for i := 0; i < 5; i++ {
		h.clk.Step(time.Hour)
		e.ResyncAll()
		h.waitIdle(e)
	}
	if n := h.faulty.Count(pt.OpCreate); n != 1 {
		t.Errorf("%d create calls after resyncs; want 1", n)
	}
	evs := h.events(id, "Failed")
	if len(evs) != 1 || evs[0].Type != store.Warning || evs[0].Count != 1 {
		t.Errorf("Failed events = %+v; want one Warning, seen once", evs)
	}

	// A new spec is tried again.
	h.setTarget(e, h.load(memDoc("a", "v2")))
	h.waitIdle(e)
	r, _ = recordOf(e, id)
	if r.Phase != store.PhaseReady || h.faulty.Count(pt.OpCreate) != 2 {
		t.Errorf("after a spec change: phase %s, %d creates; want Ready after 2", r.Phase, h.faulty.Count(pt.OpCreate))
	}
	if o, ok := h.mem.Get(id); !ok || o.Spec["value"] != "v2" {
		t.Errorf("object = %+v, %v; want value v2", o, ok)
	}
}

func TestFaultHangTimesOutAndRetries(t *testing.T) {
	for _, op := range []pt.Op{pt.OpObserve, pt.OpCreate} {
		t.Run(string(op), func(t *testing.T) {
			const timeout = 50 * time.Millisecond // real time: the call timeout is not on the fake clock
			h := newMemHarness(t, Options{Workers: 1, CallTimeout: timeout, BackoffBase: time.Second})
			h.faulty.Fault = func(o pt.Op, _ provider.Request, n int) pt.Outcome {
				return pt.Outcome{Hang: o == op && n == 1}
			}
			id := memID("a")
			e := h.engine()
			h.setTarget(e, h.load(memDoc("a", "v1")))
			h.start(e)

			r := h.awaitRetry(e, id, 1)
			if r.ErrorClass != provider.ClassRetryable || !strings.Contains(r.LastError, "deadline exceeded") {
				t.Errorf("class %q, last error %q; want a retryable deadline exceeded", r.ErrorClass, r.LastError)
			}
			var hung []error
			for _, c := range h.faulty.Calls() {
				if c.Op == op {
					hung = append(hung, c.Err)
				}
			}
			if len(hung) != 1 || !errors.Is(hung[0], context.DeadlineExceeded) {
				t.Errorf("%s calls returned %v; want one DeadlineExceeded", op, hung)
			}
			h.clk.Step(time.Second)
			h.waitIdle(e)
			if r, _ := recordOf(e, id); r.Phase != store.PhaseReady {
				t.Errorf("phase %s; want Ready", r.Phase)
			}
			if diff := cmp.Diff([]string{id}, h.mem.IDs()); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
			if n := h.mem.Creates.Load(); n != 1 {
				t.Errorf("Memory saw %d creates; want 1", n)
			}
		})
	}
}

func TestFaultAmbiguousFailure(t *testing.T) {
	// The change happens, the caller is told it failed: the next attempt
	// observes what is there instead of doing it again.
	type counts struct{ Creates, Updates, Deletes int64 }
	tests := map[string]struct {
		before  []string // converged first, without faults
		after   []string // then targeted, with the fault
		op      pt.Op
		failing string
		wantIDs []string
		want    counts
	}{
		"create": {
			after: []string{memDoc("a", "v1")}, op: pt.OpCreate, failing: "a",
			wantIDs: []string{memID("a")}, want: counts{Creates: 1},
		},
		"update": {
			before: []string{memDoc("a", "v1")}, after: []string{memDoc("a", "v2")}, op: pt.OpUpdate, failing: "a",
			wantIDs: []string{memID("a")}, want: counts{Creates: 1, Updates: 1},
		},
		"delete": {
			before: []string{memDoc("a", "v1"), memDoc("b", "v1")}, after: []string{memDoc("a", "v1")}, op: pt.OpDelete, failing: "b",
			wantIDs: []string{memID("a")}, want: counts{Creates: 2, Deletes: 1},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newMemHarness(t, Options{Workers: 2, BackoffBase: time.Second})
			var armed atomic.Bool
			h.faulty.Fault = func(op pt.Op, _ provider.Request, _ int) pt.Outcome {
				if op == tc.op && armed.CompareAndSwap(true, false) {
					return pt.Outcome{After: errors.New("connection reset by peer")}
				}
				return pt.Outcome{}
			}
			e := h.engine()
			h.start(e)
			if tc.before != nil {
				h.setTarget(e, h.load(tc.before...))
				h.waitIdle(e)
			}
			armed.Store(true)
			h.setTarget(e, h.load(tc.after...))
			h.awaitRetry(e, memID(tc.failing), 1)
			h.clk.Step(time.Second)
			h.waitIdle(e)

			if v := h.mem.Violations(); len(v) != 0 {
				t.Errorf("violations: %v", v)
			}
			if diff := cmp.Diff(tc.wantIDs, h.mem.IDs()); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
			got := counts{h.mem.Creates.Load(), h.mem.Updates.Load(), h.mem.Deletes.Load()}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Memory calls (-want +got):\n%s", diff)
			}
			var recs []string
			for _, r := range e.Records() {
				recs = append(recs, r.ID+" "+string(r.Phase))
				if r.Pending != nil || r.Origin != store.OriginCreated {
					t.Errorf("%s: pending %+v, origin %q; want no pending operation, created", r.ID, r.Pending, r.Origin)
				}
			}
			var want []string
			for _, id := range tc.wantIDs {
				want = append(want, id+" Ready")
			}
			if diff := cmp.Diff(want, recs); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
		})
	}
}

// crashStore is a store that stops taking writes once crashed, as if the
// process had died: what it holds is what a restart finds.
type crashStore struct {
	store.Store
	crashed atomic.Bool
}

var errCrashed = errors.New("the process crashed")

func (s *crashStore) PutRecord(ctx context.Context, r store.Record) error {
	if s.crashed.Load() {
		return errCrashed
	}
	return s.Store.PutRecord(ctx, r)
}

func (s *crashStore) DeleteRecord(ctx context.Context, id string) error {
	if s.crashed.Load() {
		return errCrashed
	}
	return s.Store.DeleteRecord(ctx, id)
}

func (s *crashStore) AddEvent(ctx context.Context, ev store.Event) (store.Event, error) {
	if s.crashed.Load() {
		return store.Event{}, errCrashed
	}
	return s.Store.AddEvent(ctx, ev)
}

func (s *crashStore) PutRevision(ctx context.Context, r store.Revision) error {
	if s.crashed.Load() {
		return errCrashed
	}
	return s.Store.PutRevision(ctx, r)
}

func (s *crashStore) SetTarget(ctx context.Context, hash string) error {
	if s.crashed.Load() {
		return errCrashed
	}
	return s.Store.SetTarget(ctx, hash)
}

func TestFaultCrashDuringCreate(t *testing.T) {
	tests := map[string]struct {
		landed bool // the create reached the provider before the crash
	}{
		"before the create reached the provider": {},
		"after the create reached the provider":  {landed: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newMemHarness(t, Options{Workers: 2, CallTimeout: 50 * time.Millisecond})
			id := memID("a")
			cs := &crashStore{Store: h.st}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			h.faulty.Fault = func(op pt.Op, req provider.Request, n int) pt.Outcome {
				if op != pt.OpCreate || n != 1 {
					return pt.Outcome{}
				}
				if tc.landed {
					if _, err := h.mem.Create(context.Background(), req); err != nil {
						t.Errorf("create before the crash: %v", err)
					}
				}
				cs.crashed.Store(true)
				cancel()
				return pt.Outcome{Hang: true}
			}
			rv := h.load(memDoc("a", "v1"))
			_, _ = h.engineOn(cs, h.opts).Apply(ctx, rv) // dies mid-create

			crashed, err := h.st.GetRecord(context.Background(), id)
			if err != nil {
				t.Fatalf("record after the crash: %v", err)
			}
			if crashed.Pending == nil || crashed.Pending.Op != "create" || crashed.Pending.Key == "" {
				t.Fatalf("pending operation after the crash = %+v; want a create with a key", crashed.Pending)
			}
			key := crashed.Pending.Key
			first := len(h.faulty.Calls())

			// Restart: a new engine on the same store.
			rep := h.apply(h.engine(), rv)
			if !rep.OK() {
				t.Fatalf("apply after the crash: %+v", rep.Failures)
			}
			if v := h.mem.Violations(); len(v) != 0 {
				t.Errorf("violations: %v", v)
			}
			if diff := cmp.Diff([]string{id}, h.mem.IDs()); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
			if n := h.mem.Creates.Load(); n != 1 {
				t.Errorf("Memory saw %d creates; want 1", n)
			}
			r, err := h.st.GetRecord(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if r.Pending != nil || r.Phase != store.PhaseReady || r.Origin != store.OriginCreated {
				t.Errorf("record: pending %+v, phase %s, origin %q; want none, Ready, created", r.Pending, r.Phase, r.Origin)
			}
			// Every call after the restart carries the key of the create
			// that was interrupted.
			var keys []string
			for _, c := range h.faulty.Calls()[first:] {
				keys = append(keys, string(c.Op)+" "+c.Key)
			}
			want := []string{"observe " + key}
			if !tc.landed {
				want = append(want, "create "+key)
			}
			if diff := cmp.Diff(want, keys); diff != "" {
				t.Errorf("calls after the restart (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFaultDryRunMutatesNothing(t *testing.T) {
	h := newMemHarness(t, Options{Workers: 4})
	rep := h.apply(h.engine(), h.load(memDoc("a", "v1"), memDoc("b", "v1")))
	if !rep.OK() {
		t.Fatalf("setup apply: %+v", rep.Failures)
	}
	mutations := h.mem.Mutations()

	opts := h.opts
	opts.DryRun = true
	h.apply(h.engineOn(h.st, opts), h.load(memDoc("a", "v2"), memDoc("c", "v1")))

	if got := h.mem.Mutations(); got != mutations {
		t.Errorf("dry run made %d mutating calls", got-mutations)
	}
	got := map[string]string{}
	for _, id := range []string{memID("a"), memID("b"), memID("c")} {
		for _, ev := range h.events(id, "DryRun") {
			got[id] = string(ev.Type) + " " + strings.SplitN(ev.Message, " (", 2)[0]
		}
	}
	want := map[string]string{
		memID("a"): "Normal dry run: would update",
		memID("b"): "Normal dry run: would delete",
		memID("c"): "Normal dry run: would create",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DryRun events (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{memID("a"), memID("b")}, h.mem.IDs()); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	if o, _ := h.mem.Get(memID("a")); o.Spec["value"] != "v1" {
		t.Errorf("a's value = %v; want v1", o.Spec["value"])
	}
}

func TestFaultTerminalDeleteIsNotRetried(t *testing.T) {
	h := newMemHarness(t, Options{Workers: 2})
	h.faulty.Fault = func(op pt.Op, _ provider.Request, n int) pt.Outcome {
		if op == pt.OpDelete && n == 1 {
			return pt.Outcome{Before: provider.Terminalf("deletion protection is on")}
		}
		return pt.Outcome{}
	}
	b := memID("b")
	e := h.engine()
	h.start(e)
	h.setTarget(e, h.load(memDoc("a", "v1"), memDoc("b", "v1")))
	h.waitIdle(e)
	h.setTarget(e, h.load(memDoc("a", "v1")))
	h.waitIdle(e)
	if r, _ := recordOf(e, b); r.Phase != store.PhaseFailed || r.ErrorClass != provider.ClassTerminal {
		t.Fatalf("b: phase %s, class %q; want Failed, terminal", r.Phase, r.ErrorClass)
	}

	// Resyncs do not retry the delete: it stays failed until the manifests
	// change.
	for i := 0; i < 3; i++ {
		h.clk.Step(time.Hour)
		e.ResyncAll()
		h.waitIdle(e)
	}
	if n := h.faulty.Count(pt.OpDelete); n != 1 {
		t.Errorf("%d delete calls after resyncs; want 1", n)
	}
	if r, ok := recordOf(e, b); !ok || r.Phase != store.PhaseFailed {
		t.Errorf("b: record %v, phase %q after resyncs; want a Failed record", ok, r.Phase)
	}
}

func TestFaultRateLimitWithoutRetryAfterBacksOff(t *testing.T) {
	// A rate limit that does not say how long to wait is retried with the
	// key's exponential backoff, like any retryable error, so a provider
	// that keeps answering 429 is not called at a fixed rate forever.
	h := newMemHarness(t, Options{Workers: 2, BackoffBase: time.Second, BackoffMax: time.Minute})
	h.faulty.Fault = func(op pt.Op, _ provider.Request, n int) pt.Outcome {
		if op == pt.OpCreate && n <= 3 {
			return pt.Outcome{Before: provider.RateLimited(errors.New("429 too many requests"), 0)}
		}
		return pt.Outcome{}
	}
	id := memID("a")
	e := h.engine()
	h.setTarget(e, h.load(memDoc("a", "v1")))
	h.start(e)
	var got []time.Duration
	for k := 1; k <= 3; k++ {
		var r store.Record
		pollUntil(t, "a rate-limited failure with its retry scheduled", func() bool {
			var ok bool
			r, ok = recordOf(e, id)
			return ok && r.Attempts == k && r.Phase == store.PhaseError && h.faulty.Count(pt.OpCreate) == k && h.clk.Waiters() > 0
		})
		d := r.NextRetry.Sub(h.clk.Now())
		got = append(got, d)
		h.clk.Step(d)
		pollUntil(t, "the retry", func() bool { return h.faulty.Count(pt.OpCreate) > k })
	}
	h.waitIdle(e)
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delays between rate-limited attempts (-want +got):\n%s", diff)
	}
}
