package controller

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store"
)

// TestShareChange: what each share change hands the node's engine. A
// resource that became the node's is reconciled unless it is recorded
// Ready as desired; those are resynced for the node's first share alone;
// what the node owned at the last change is left alone.
func TestShareChange(t *testing.T) {
	desired := map[string]string{"a": "ha", "b": "hb", "c": "hc", "d": "hd"}
	records := []store.Record{
		{ID: "a", Phase: store.PhaseReady, AppliedHash: "ha"},     // Ready as desired
		{ID: "b", Phase: store.PhaseReady, AppliedHash: "old"},    // applied from another spec
		{ID: "c", Phase: store.PhaseFailed, AppliedHash: "hc"},    // not Ready
		{ID: "d", Phase: store.PhaseReady, AppliedHash: "hd"},     // Ready as desired
		{ID: "gone", Phase: store.PhaseReady, AppliedHash: "hg"},  // no longer desired
		{ID: "gone2", Phase: store.PhaseReady, AppliedHash: "hg"}, // no longer desired
	}
	type step struct {
		owns []string
		want takeover
	}
	tests := map[string][]step{
		"first share": {
			{owns: []string{"a", "b", "c", "e", "gone"}, want: takeover{Reconcile: []string{"b", "c", "e", "gone"}, Resync: true}},
		},
		"owning nothing first: the first share is the first one owned": {
			{owns: nil, want: takeover{}},
			{owns: []string{"a"}, want: takeover{Resync: true}},
		},
		"a later share: only what is new, and no resync": {
			{owns: []string{"a", "b"}, want: takeover{Reconcile: []string{"b"}, Resync: true}},
			{owns: []string{"a", "b", "c", "d", "gone2"}, want: takeover{Reconcile: []string{"c", "gone2"}}},
			{owns: []string{"a", "b", "c", "d", "gone2"}, want: takeover{}},
		},
		"lost, then owned again": {
			{owns: []string{"b", "d"}, want: takeover{Reconcile: []string{"b"}, Resync: true}},
			{owns: []string{"d"}, want: takeover{}},
			{owns: []string{"b", "d"}, want: takeover{Reconcile: []string{"b"}}},
		},
	}
	for name, steps := range tests {
		t.Run(name, func(t *testing.T) {
			var sh share
			withE := withID(desired, "e", "he")
			for i, s := range steps {
				owned := map[string]bool{}
				for _, id := range s.owns {
					owned[id] = true
				}
				got := sh.change(withE, records, func(id string) bool { return owned[id] })
				if diff := cmp.Diff(s.want, got, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("step %d (owns %v): takeover (-want +got):\n%s", i, s.owns, diff)
				}
			}
		})
	}
}

// withID returns m with id -> hash added.
func withID(m map[string]string, id, hash string) map[string]string {
	out := map[string]string{id: hash}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// memberNode is a Node whose share, deadline and end a test sets.
type memberNode struct {
	*fakeNode
	fenceName string

	mu       sync.Mutex
	owns     map[string]bool
	deadline time.Time
	changes  chan struct{}
	done     chan struct{}
	err      error
}

func newMemberNode(deadline time.Time) *memberNode {
	n := &memberNode{fakeNode: newFakeNode("1"), fenceName: "cluster/node/a/1", owns: map[string]bool{}, deadline: deadline,
		changes: make(chan struct{}, 1), done: make(chan struct{})}
	n.leading.Store(true)
	return n
}

func (n *memberNode) Owns(id string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.owns[id]
}
func (n *memberNode) Fence() store.Fence { return store.Fence{Name: n.fenceName, Token: "1"} }
func (n *memberNode) Deadline() time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.deadline
}
func (n *memberNode) Changes() <-chan struct{} { return n.changes }
func (n *memberNode) Done() <-chan struct{}    { return n.done }
func (n *memberNode) Err() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.err
}

// own makes ids the node's share, and says so on Changes.
func (n *memberNode) own(ids ...string) {
	n.mu.Lock()
	n.owns = map[string]bool{}
	for _, id := range ids {
		n.owns[id] = true
	}
	n.mu.Unlock()
	select {
	case n.changes <- struct{}{}:
	default:
	}
}

func (n *memberNode) setDeadline(d time.Time) {
	n.mu.Lock()
	n.deadline = d
	n.mu.Unlock()
}

var _ Node = (*memberNode)(nil)

// memberFixture is one incarnation of a node, a Member over a controller
// and an engine that share a fake clock, converging six objects.
type memberFixture struct {
	*fixture
	node   *memberNode
	m      *Member
	fake   *clocktesting.FakeClock
	cancel context.CancelFunc
	ended  chan struct{} // closed once Run returned
	runErr error         // Run's error, once ended
}

// startMember starts the member; wrap, when set, wraps the memory
// provider.
func startMember(t *testing.T, wrap func(*providertest.Memory) provider.Provider) *memberFixture {
	t.Helper()
	// The node's deadline bounds the drain's real context: the fake clock
	// starts at the real time.
	fake := clocktesting.NewFakeClock(time.Now())
	mf := &memberFixture{fixture: &fixture{t: t, mem: providertest.NewMemory()}, fake: fake, node: newMemberNode(fake.Now().Add(time.Hour))}
	st := newSharedMemory()
	mf.st = st.Store
	if err := st.SetFence(context.Background(), mf.node.fenceName, "1"); err != nil {
		t.Fatal(err)
	}
	var p provider.Provider = mf.mem
	if wrap != nil {
		p = wrap(mf.mem)
	}
	reg, err := provider.NewRegistry(p)
	if err != nil {
		t.Fatal(err)
	}
	mf.reg = reg
	mf.set(objects(6, "v1"))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mf.m = NewMember(mf.node, st)
	opts := engine.Options{Workers: 2, Logger: log, Clock: fake, BackoffBase: time.Millisecond, BackoffMax: 10 * time.Millisecond}
	mf.m.Configure(&opts)
	mf.e = engine.New(reg, st, opts)
	mf.c = New(mf.e, st, Options{Load: mf.load, Logger: log, Clock: fake, Cluster: mf.node, Resync: time.Hour})
	rv, err := mf.load()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	mf.cancel, mf.ended = cancel, make(chan struct{})
	go func() {
		defer close(mf.ended)
		mf.runErr = mf.m.Run(ctx, mf.c, func(ctx context.Context) error { return mf.c.Run(ctx, rv) })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-mf.ended:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10 s of its context's end")
		}
	})
	return mf
}

// created returns the IDs of the objects the provider holds.
func (mf *memberFixture) created() []string { return mf.mem.IDs() }

// returned returns Run's error once it returned, moving the fake clock
// a second at a time while it has not.
func (mf *memberFixture) returned(what string) error {
	mf.t.Helper()
	mf.stepUntil(what, mf.fake, mf.hasReturned)
	return mf.runErr
}

// hasReturned reports whether Run returned.
func (mf *memberFixture) hasReturned() bool {
	select {
	case <-mf.ended:
		return true
	default:
		return false
	}
}

// wait returns Run's error once it returned.
func (mf *memberFixture) wait(what string) error {
	mf.t.Helper()
	select {
	case <-mf.ended:
		return mf.runErr
	case <-time.After(10 * time.Second):
		mf.t.Fatalf("%s: Run did not return within 10 s", what)
		return nil
	}
}

func ids(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "mem.Object/" + n
	}
	return out
}

// TestMemberTakesItsShareOver: a node that owns nothing creates nothing;
// as its share grows, what became its own is reconciled at once (no
// resync: it is an hour away on a clock that only moves when told).
func TestMemberTakesItsShareOver(t *testing.T) {
	mf := startMember(t, nil)
	mf.eventually("the target is published", func() bool {
		_, err := mf.st.Target(context.Background())
		return err == nil
	})
	if got := mf.created(); len(got) != 0 {
		t.Fatalf("created %v owning nothing; want nothing", got)
	}
	mf.node.own(ids("o0", "o1")...)
	mf.eventually("o0 and o1 are created", func() bool { return cmp.Equal(mf.created(), ids("o0", "o1")) })
	mf.node.own(ids("o0", "o1", "o2", "o3", "o4", "o5")...)
	mf.eventually("the whole share is created", func() bool { return len(mf.created()) == 6 })
	if got := mf.mem.Mutations(); got != 6 {
		t.Errorf("%d mutations; want each object created once (6)", got)
	}
	if mf.hasReturned() {
		t.Fatalf("Run returned %v while the node keeps its place", mf.runErr)
	}
}

// TestMemberStopsAtItsDeadline: a deadline that moved ahead (a keepalive
// acknowledged) is not passed; once the controller's clock passes the
// deadline, the node acts on nothing more and Run returns ErrLostPlace.
func TestMemberStopsAtItsDeadline(t *testing.T) {
	mf := startMember(t, nil)
	start := mf.fake.Now()
	mf.node.own(ids("o0")...)
	mf.eventually("o0 is created", func() bool { return len(mf.created()) == 1 })

	mf.node.setDeadline(start.Add(3 * time.Hour))
	mf.fake.Step(2 * time.Hour) // past the first deadline, not the second
	mf.node.own(ids("o0", "o1")...)
	mf.eventually("o1 is created after the first deadline", func() bool { return len(mf.created()) == 2 })

	mf.fake.Step(time.Hour - 5*time.Second)
	err := mf.returned("Run returns once the deadline passed")
	if !errors.Is(err, ErrLostPlace) || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("Run: %v; want ErrLostPlace for the deadline", err)
	}
	if now := mf.fake.Now(); now.Before(start.Add(3 * time.Hour)) {
		t.Errorf("Run returned at %s; want at the deadline, %s", now.Sub(start), 3*time.Hour)
	}
	mf.node.own(ids("o0", "o1", "o2")...)
	if mf.m.Owns("mem.Object/o2") {
		t.Error("the member owns o2 after its incarnation ended; want nothing")
	}
}

// TestMemberLosesItsPlace: the node's lease lost (Done), or a write of its
// engine fenced, ends the incarnation with ErrLostPlace.
func TestMemberLosesItsPlace(t *testing.T) {
	lost := errors.New("lease expired")
	tests := map[string]func(mf *memberFixture){
		"lease lost": func(mf *memberFixture) {
			mf.node.mu.Lock()
			mf.node.err = lost
			mf.node.mu.Unlock()
			close(mf.node.done)
		},
		"fenced": func(mf *memberFixture) {
			var o engine.Options
			mf.m.Configure(&o)
			o.OnFenced(lost)
		},
	}
	for name, end := range tests {
		t.Run(name, func(t *testing.T) {
			mf := startMember(t, nil)
			mf.node.own(ids("o0")...)
			mf.eventually("o0 is created", func() bool { return len(mf.created()) == 1 })
			end(mf)
			err := mf.wait("the node lost its place")
			if !errors.Is(err, ErrLostPlace) || !strings.Contains(err.Error(), lost.Error()) {
				t.Errorf("Run: %v; want ErrLostPlace for %q", err, lost)
			}
		})
	}
}

// TestMemberLeaves: on its context's end the node takes nothing more at
// once, lets the reconcile in flight finish with its write, then ends
// with no error.
func TestMemberLeaves(t *testing.T) {
	var bc *blockingCreate
	mf := startMember(t, func(mem *providertest.Memory) provider.Provider {
		bc = &blockingCreate{Memory: mem, id: "mem.Object/o1", entered: make(chan struct{}), release: make(chan struct{})}
		return bc
	})
	entered, release := bc.entered, bc.release
	mf.node.own(ids("o0", "o1")...)
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("o1's create did not start")
	}
	mf.cancel()
	mf.eventually("the member takes nothing more", func() bool { return !mf.m.Owns("mem.Object/o0") })
	if !mf.node.Owns("mem.Object/o0") {
		t.Fatal("premise: the node still owns o0")
	}
	if mf.hasReturned() {
		t.Fatalf("Run returned %v with a reconcile in flight", mf.runErr)
	}
	close(release)
	if err := mf.wait("the reconcile in flight finished"); err != nil {
		t.Errorf("Run: %v; want nil on leaving", err)
	}
	if err := bc.callErr(); err != nil {
		t.Errorf("the create in flight had its context ended (%v); want it to run to its end", err)
	}
	r, err := mf.st.GetRecord(context.Background(), "mem.Object/o1")
	if err != nil || r.Phase != store.PhaseReady {
		t.Errorf("o1's record: %+v, %v; want the create in flight written Ready", r, err)
	}
}

// blockingCreate holds the create of id until release is closed, and
// notes whether the call's context ended meanwhile.
type blockingCreate struct {
	*providertest.Memory
	id               string
	entered, release chan struct{}
	once             sync.Once

	mu  sync.Mutex
	err error
}

func (b *blockingCreate) Create(ctx context.Context, req provider.Request) (provider.Result, error) {
	if req.ID == b.id {
		b.once.Do(func() { close(b.entered) })
		<-b.release
		b.mu.Lock()
		b.err = ctx.Err()
		b.mu.Unlock()
	}
	return b.Memory.Create(ctx, req)
}

func (b *blockingCreate) callErr() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}
