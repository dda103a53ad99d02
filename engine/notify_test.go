package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/provider"
)

// notifier is a provider layer with every optional lifecycle ability: it
// records what the engine tells it, calls changed for each ID sent on fire
// while Notify runs, and notes every guarantee of the lifecycle the engine
// breaks.
type notifier struct {
	provider.Provider
	fire chan string

	mu       sync.Mutex
	watched  map[string]provider.Request
	started  int // Notify calls so far
	running  int // Notify calls running
	inFlight int // other calls running
	closes   int
	broken   []string
}

func newNotifier() *notifier {
	return &notifier{fire: make(chan string), watched: map[string]provider.Request{}}
}

func (n *notifier) layer(p provider.Provider) provider.Provider {
	n.Provider = p
	return n
}

func (n *notifier) call(what string) func() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closes > 0 {
		n.broken = append(n.broken, what+" after Close")
	}
	n.inFlight++
	return func() {
		n.mu.Lock()
		n.inFlight--
		n.mu.Unlock()
	}
}

func (n *notifier) Observe(ctx context.Context, req provider.Request) (provider.Observation, error) {
	defer n.call("Observe")()
	return n.Provider.Observe(ctx, req)
}

func (n *notifier) Create(ctx context.Context, req provider.Request) (provider.Result, error) {
	defer n.call("Create")()
	return n.Provider.Create(ctx, req)
}

func (n *notifier) Update(ctx context.Context, req provider.Request) (provider.Result, error) {
	defer n.call("Update")()
	return n.Provider.Update(ctx, req)
}

func (n *notifier) Delete(ctx context.Context, req provider.Request) error {
	defer n.call("Delete")()
	return n.Provider.Delete(ctx, req)
}

func (n *notifier) Watch(req provider.Request) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.watched[req.ID] = req
}

func (n *notifier) Unwatch(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.watched, id)
}

func (n *notifier) Notify(ctx context.Context, changed func(id string)) error {
	n.mu.Lock()
	n.started++
	n.running++
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		n.running--
		n.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case id := <-n.fire:
			changed(id)
		}
	}
}

func (n *notifier) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closes++
	if n.running > 0 {
		n.broken = append(n.broken, "Close while Notify runs")
	}
	if n.inFlight > 0 {
		n.broken = append(n.broken, fmt.Sprintf("Close during %d calls", n.inFlight))
	}
	return nil
}

// notify sends id as a change, failing the test if no Notify takes it.
func (n *notifier) notify(t *testing.T, id string) {
	t.Helper()
	select {
	case n.fire <- id:
	case <-time.After(waitBound):
		t.Fatalf("no Notify running to take the change of %s", id)
	}
}

func (n *notifier) state() (started, running, closes int, broken []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.started, n.running, n.closes, append([]string(nil), n.broken...)
}

var (
	_ provider.Notifier = (*notifier)(nil)
	_ provider.Watcher  = (*notifier)(nil)
	_ provider.Closer   = (*notifier)(nil)
)

// TestNotificationReconcilesAtOnce: a change the provider notifies is
// corrected without any resync (the clock is fake and never moves), and a
// change nobody notifies is not.
func TestNotificationReconcilesAtOnce(t *testing.T) {
	n := newNotifier()
	h := newMemHarness(t, Options{Workers: 2}, n.layer)
	e := h.engine()
	h.start(e)
	h.setTarget(e, h.load(memDoc("a", "v1"), memDoc("b", "v1")))
	h.waitIdle(e)

	h.mem.Set(memID("a"), map[string]any{"value": "by hand"})
	h.mem.Set(memID("b"), map[string]any{"value": "by hand"})
	n.notify(t, memID("a"))
	pollUntil(t, "a corrected", func() bool {
		o, _ := h.mem.Get(memID("a"))
		return o.Spec["value"] == "v1"
	})
	h.waitIdle(e)
	if o, _ := h.mem.Get(memID("b")); o.Spec["value"] != "by hand" {
		t.Errorf("b, never notified: got value %v; want it left until a resync", o.Spec["value"])
	}
}

// TestNotificationsCollapse: a storm of notifications of one resource is a
// handful of reconciles, not one each.
func TestNotificationsCollapse(t *testing.T) {
	n := newNotifier()
	h := newMemHarness(t, Options{Workers: 4}, n.layer)
	h.mem.Latency = time.Millisecond
	e := h.engine()
	h.start(e)
	h.setTarget(e, h.load(memDoc("a", "v1")))
	h.waitIdle(e)
	before := h.mem.Observes.Load()
	const storm = 5000
	for range storm {
		n.notify(t, memID("a"))
	}
	h.waitIdle(e)
	if got := h.mem.Observes.Load() - before; got < 1 || got > storm/50 {
		t.Errorf("%d notifications: got %d observes; want between 1 and %d", storm, got, storm/50)
	}
}

// TestNotificationOfAnUnknownIDIsIgnored: an ID the engine neither desires
// nor records is not reconciled.
func TestNotificationOfAnUnknownIDIsIgnored(t *testing.T) {
	n := newNotifier()
	h := newMemHarness(t, Options{Workers: 2}, n.layer)
	e := h.engine()
	h.start(e)
	h.setTarget(e, h.load(memDoc("a", "v1")))
	h.waitIdle(e)
	before := h.mem.Observes.Load()
	n.notify(t, memID("stranger"))
	n.notify(t, memID("a")) // taken after the stranger: its reconcile follows
	pollUntil(t, "a observed", func() bool { return h.mem.Observes.Load() > before })
	h.waitIdle(e)
	if got := h.mem.Observes.Load() - before; got != 1 {
		t.Errorf("got %d observes; want 1 (a's, none for the stranger)", got)
	}
	e.mu.Lock()
	_, queued := e.outstanding[memID("stranger")]
	e.mu.Unlock()
	if queued {
		t.Error("the stranger is outstanding")
	}
}

// TestWatchFollowsRecords: the Watcher is told of every record the engine
// holds, loaded ones before anything starts, with the applied spec and
// the private state, and of every record that goes.
func TestWatchFollowsRecords(t *testing.T) {
	n := newNotifier()
	h := newMemHarness(t, Options{Workers: 2}, n.layer)
	e := h.engine()
	h.start(e)
	h.setTarget(e, h.load(memDoc("a", "v1"), memDoc("b", "v1")))
	h.waitIdle(e)
	h.setTarget(e, h.load(memDoc("a", "v2")))
	h.waitIdle(e)

	want := map[string]provider.Request{}
	for _, r := range e.Records() {
		want[r.ID] = provider.Request{ID: r.ID, Kind: r.Kind, Name: r.Name, Spec: r.AppliedSpec, Outputs: r.Outputs, Private: r.Private}
	}
	got := func() map[string]provider.Request {
		n.mu.Lock()
		defer n.mu.Unlock()
		out := map[string]provider.Request{}
		for id, r := range n.watched {
			out[id] = r
		}
		return out
	}
	if diff := cmp.Diff(want, got()); diff != "" {
		t.Errorf("watched (-records +watched):\n%s", diff)
	}
	if r := got()[memID("a")]; r.Spec["value"] != "v2" || r.Private["id"] == "" {
		t.Errorf("a watched as %+v; want the applied spec (value v2) and the private id", r)
	}

	// A new engine (a restart) tells a fresh Watcher of every record as it
	// loads them, before it starts.
	n.mu.Lock()
	n.watched = map[string]provider.Request{}
	n.mu.Unlock()
	h.engine()
	if diff := cmp.Diff(want, got()); diff != "" {
		t.Errorf("watched after Load (-records +watched):\n%s", diff)
	}
}

// TestNotifyAndCloseLifecycle: Start runs Notify once; Stop cancels it,
// waits for it and for every call, then closes the provider once, even
// when Stop is called twice.
func TestNotifyAndCloseLifecycle(t *testing.T) {
	n := newNotifier()
	h := newMemHarness(t, Options{Workers: 4}, n.layer)
	h.mem.Latency = 5 * time.Millisecond
	e := h.engine()
	wg := e.Start(context.Background())
	h.setTarget(e, h.load(memDoc("a", "v1"), memDoc("b", "v1"), memDoc("c", "v1")))
	pollUntil(t, "Notify running", func() bool { _, running, _, _ := n.state(); return running == 1 })
	e.Stop(wg) // calls in flight
	e.Stop(wg)
	started, running, closes, broken := n.state()
	if started != 1 || running != 0 || closes != 1 || len(broken) > 0 {
		t.Errorf("got Notify started %d, running %d, closes %d, broken %q; want 1, 0, 1, none", started, running, closes, broken)
	}
}

// TestApplyStartsNoNotifier: Apply converges once, without notifications,
// and closes the provider when it is done.
func TestApplyStartsNoNotifier(t *testing.T) {
	n := newNotifier()
	h := newMemHarness(t, Options{Workers: 2}, n.layer)
	e := h.engine()
	if rep := h.apply(e, h.load(memDoc("a", "v1"))); !rep.OK() {
		t.Fatalf("apply: %+v", rep)
	}
	started, _, closes, broken := n.state()
	if started != 0 || closes != 1 || len(broken) > 0 {
		t.Errorf("got Notify started %d, closes %d, broken %q; want 0, 1, none", started, closes, broken)
	}
}
