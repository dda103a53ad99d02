package controller

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
)

// sharedMemory is a memory store whose target can be set under a fence,
// as store/etcd's: it records which token each target write carried.
type sharedMemory struct {
	*memory.Store
	mu     sync.Mutex
	writes []string // the token of each target write; "" unfenced
}

func newSharedMemory() *sharedMemory {
	return &sharedMemory{Store: memory.New()}
}

func (s *sharedMemory) SetTarget(ctx context.Context, hash string) error {
	return s.SetTargetFrom(ctx, store.AnyTarget, hash, store.Fence{})
}

func (s *sharedMemory) SetTargetIf(ctx context.Context, hash string, f store.Fence) error {
	return s.SetTargetFrom(ctx, store.AnyTarget, hash, f)
}

func (s *sharedMemory) SetTargetFrom(ctx context.Context, from, hash string, f store.Fence) error {
	if err := s.Store.SetTargetFrom(ctx, from, hash, f); err != nil {
		return err
	}
	s.mu.Lock()
	s.writes = append(s.writes, f.Token)
	s.mu.Unlock()
	return nil
}

func (s *sharedMemory) targetWrites() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.writes...)
}

var _ SharedStore = (*sharedMemory)(nil)

// fakeNode is a Cluster whose leadership a test moves, with the fence of
// its term.
type fakeNode struct {
	leading atomic.Bool
	token   string
	ch      chan struct{}
}

func newFakeNode(token string) *fakeNode { return &fakeNode{token: token, ch: make(chan struct{}, 1)} }

func (n *fakeNode) IsLeader() bool                 { return n.leading.Load() }
func (n *fakeNode) LeaderChanges() <-chan struct{} { return n.ch }
func (n *fakeNode) fence() (store.Fence, bool) {
	return store.Fence{Name: "cluster/leader", Token: n.token}, n.leading.Load()
}

// lead makes the node lead (or not), taking the leader's fence.
func (n *fakeNode) lead(t *testing.T, st *sharedMemory, on bool) {
	t.Helper()
	if on {
		if err := st.SetFence(context.Background(), "cluster/leader", n.token); err != nil {
			t.Fatal(err)
		}
	}
	n.leading.Store(on)
	select {
	case n.ch <- struct{}{}:
	default:
	}
}

func TestNodeStore(t *testing.T) {
	ctx := context.Background()
	tests := map[string]struct {
		leads   bool
		stale   bool // another took the leader's fence
		op      func(s SharedStore) error
		wantErr error
		target  string // after the op
		state   store.RevisionState
	}{
		"leader publishes":          {leads: true, op: func(s SharedStore) error { return s.SetTarget(ctx, "b") }, target: "b"},
		"deposed leader is fenced":  {leads: true, stale: true, op: func(s SharedStore) error { return s.SetTarget(ctx, "b") }, wantErr: store.ErrFenced, target: "a"},
		"follower follows":          {op: func(s SharedStore) error { return s.SetTarget(ctx, "a") }, target: "a"},
		"follower does not publish": {op: func(s SharedStore) error { return s.SetTarget(ctx, "b") }, wantErr: ErrNotLeader, target: "a"},
		"follower does not clear":   {op: func(s SharedStore) error { return s.ClearTarget(ctx) }, wantErr: ErrNotLeader, target: "a"},
		"follower leaves a stored revision": {op: func(s SharedStore) error {
			return s.PutRevision(ctx, store.Revision{Hash: "a", State: store.RevisionProgressing})
		}, target: "a", state: store.RevisionConverged},
		"leader judges": {leads: true, op: func(s SharedStore) error {
			return s.PutRevision(ctx, store.Revision{Hash: "a", State: store.RevisionFailed})
		}, target: "a", state: store.RevisionFailed},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			st := newSharedMemory()
			for _, h := range []string{"a", "b"} {
				if err := st.Store.PutRevision(ctx, store.Revision{Hash: h, State: store.RevisionConverged}); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.Store.SetTarget(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			n := newFakeNode("me/1")
			n.lead(t, st, tt.leads)
			if tt.stale {
				if err := st.SetFence(ctx, "cluster/leader", "other/2"); err != nil {
					t.Fatal(err)
				}
			}
			err := tt.op(NodeStore(st, n.fence))
			if (tt.wantErr == nil) != (err == nil) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("got %v; want %v", err, tt.wantErr)
			}
			if got, _ := st.Target(ctx); got != tt.target {
				t.Errorf("target %q; want %q", got, tt.target)
			}
			if tt.state != "" {
				if r, _ := st.GetRevision(ctx, "a"); r.State != tt.state {
					t.Errorf("revision a is %s; want %s", r.State, tt.state)
				}
			}
		})
	}
}

// clusterNode is one node of TestClusterNodes: an engine over the shared
// store that acts on its share only, and a controller.
type clusterNode struct {
	node *fakeNode
	e    *engine.Engine
	c    *Controller
	mu   sync.Mutex
	docs map[string][]byte
	reg  *provider.Registry
}

func (n *clusterNode) set(docs map[string][]byte) {
	n.mu.Lock()
	n.docs = docs
	n.mu.Unlock()
}

func (n *clusterNode) load() (*manifest.Revision, error) {
	n.mu.Lock()
	docs := n.docs
	n.mu.Unlock()
	return manifest.LoadBytes(docs, n.reg)
}

// testCluster is two controllers on one shared store, a and b, each acting
// on half the resources, as TestClusterNodes and TestClusterRollsBack run
// them; a leads.
type testCluster struct {
	st    *sharedMemory
	mem   *providertest.Memory
	nodes map[string]*clusterNode
}

func startCluster(t *testing.T, fault providertest.Fault, rollback bool) *testCluster {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	mem := providertest.NewMemory()
	var p provider.Provider = mem
	if fault != nil {
		p = providertest.NewFaulty(mem, fault)
	}
	reg, err := provider.NewRegistry(p)
	if err != nil {
		t.Fatal(err)
	}
	st := newSharedMemory()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	half := func(even bool) func(string) bool {
		return func(id string) bool { return (id[len(id)-1]-'0')%2 == 0 == even }
	}
	tc := &testCluster{st: st, mem: mem, nodes: map[string]*clusterNode{}}
	var wg sync.WaitGroup
	for _, name := range []string{"a", "b"} {
		n := &clusterNode{node: newFakeNode(name + "/1"), reg: reg, docs: objects(6, "v1")}
		ns := NodeStore(st, n.node.fence)
		n.e = engine.New(reg, ns, engine.Options{Workers: 2, Logger: log, BackoffBase: time.Millisecond, BackoffMax: 10 * time.Millisecond,
			ReadyPoll: 10 * time.Millisecond, Shared: true, Owns: half(name == "a")})
		n.c = New(n.e, ns, Options{Load: n.load, Logger: log, Cluster: n.node, Resync: time.Hour, Rollback: rollback, ProgressDeadline: time.Minute})
		tc.nodes[name] = n
	}
	tc.nodes["a"].node.lead(t, st, true)
	for _, n := range tc.nodes {
		rv, err := n.load()
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.c.Run(ctx, rv); err != nil {
				t.Errorf("run: %v", err)
			}
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return tc
}

// values returns a condition: every object holds want.
func (tc *testCluster) values(want string) func() bool {
	return func() bool {
		ids := tc.mem.IDs()
		if len(ids) != 6 {
			return false
		}
		for _, id := range ids {
			if o, _ := tc.mem.Get(id); o.Spec["value"] != want {
				return false
			}
		}
		return true
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestClusterNodes runs two controllers on one shared store, each acting
// on half the resources: the leader publishes, the other follows and
// never writes the target; a node whose manifests differ says so and
// converges the published target; leadership moves and the new leader
// publishes only when its manifests change.
func TestClusterNodes(t *testing.T) {
	ctx := context.Background()
	tc := startCluster(t, nil, false)
	st, mem := tc.st, tc.mem
	a, b := tc.nodes["a"], tc.nodes["b"]
	values := tc.values
	wait := func(what string, cond func() bool) {
		t.Helper()
		waitFor(t, what, cond)
	}
	tokens := func() []string {
		var out []string
		for _, w := range st.targetWrites() {
			if len(out) == 0 || out[len(out)-1] != w {
				out = append(out, w)
			}
		}
		return out
	}
	wait("the two nodes converge v1", values("v1"))
	if got := mem.Mutations(); got != 6 {
		t.Errorf("%d mutations for 6 objects; want each created once", got)
	}
	rv1, _ := a.load()
	wait("the leader judges v1 converged", func() bool {
		r, err := st.GetRevision(ctx, rv1.Hash)
		return err == nil && r.State == store.RevisionConverged
	})

	// The follower's manifests change: it says so and publishes nothing.
	b.set(objects(6, "v2"))
	b.c.Reload()
	wait("b reports its manifests differ", func() bool {
		evs, _ := st.ListEvents(ctx, store.EventFilter{})
		for _, ev := range evs {
			if ev.Reason == ReasonManifestsDiffer && strings.Contains(ev.Message, "published target is revision "+short(rv1.Hash)) {
				return true
			}
		}
		return false
	})
	if got, _ := st.Target(ctx); got != rv1.Hash {
		t.Errorf("target %s; want v1's %s to stand", short(got), short(rv1.Hash))
	}

	// The leader's change is published and converged by both.
	a.set(objects(6, "v2"))
	a.c.Reload()
	wait("the two nodes converge v2", values("v2"))
	if got := mem.Mutations(); got != 12 {
		t.Errorf("%d mutations after v2; want each object updated once (12)", got)
	}

	// Leadership moves to b, whose manifests are at v2, known: it publishes
	// nothing. Its manifests change: it publishes them, under its term.
	a.node.lead(t, st, false)
	b.node.lead(t, st, true)
	time.Sleep(50 * time.Millisecond)
	if got := tokens(); len(got) != 1 || got[0] != "a/1" {
		t.Fatalf("target writes by token %v; want a's alone so far", got)
	}
	b.set(objects(6, "v3"))
	b.c.Reload()
	wait("the two nodes converge b's v3", values("v3"))
	if got := tokens(); len(got) != 2 || got[1] != "b/1" {
		t.Errorf("target writes by token %v; want a's, then b's", got)
	}
	for _, w := range st.targetWrites() {
		if w == "" {
			t.Errorf("an unfenced target write: %v", st.targetWrites())
			break
		}
	}
}

// TestClusterRollsBack: a revision that fails terminally on the follower's
// share is judged failed by the leader, which rolls the cluster back to
// the last known good revision, under its fence.
func TestClusterRollsBack(t *testing.T) {
	fault := func(op providertest.Op, req provider.Request, _ int) providertest.Outcome {
		if (op == providertest.OpCreate || op == providertest.OpUpdate) && req.Spec["value"] == "bad" && strings.HasSuffix(req.ID, "1") {
			return providertest.Outcome{Before: provider.Terminalf("value bad is refused")}
		}
		return providertest.Outcome{}
	}
	tc := startCluster(t, fault, true)
	a := tc.nodes["a"]
	waitFor(t, "v1 converges", tc.values("v1"))
	good, _ := a.load()
	waitFor(t, "v1 judged converged", func() bool {
		r, err := tc.st.GetRevision(context.Background(), good.Hash)
		return err == nil && r.State == store.RevisionConverged
	})
	a.set(objects(6, "bad"))
	a.c.Reload()
	bad, _ := a.load()
	waitFor(t, "the leader judges bad failed", func() bool {
		r, err := tc.st.GetRevision(context.Background(), bad.Hash)
		return err == nil && r.State == store.RevisionFailed
	})
	// The premise: the failure was the follower's, on its share.
	if r, _ := tc.st.GetRevision(context.Background(), bad.Hash); !strings.Contains(r.Reason, "mem.Object/o1") {
		t.Errorf("bad failed for %q; want o1, b's", r.Reason)
	}
	waitFor(t, "the cluster is back on v1", func() bool {
		t, err := tc.st.Target(context.Background())
		return err == nil && t == good.Hash && tc.values("v1")()
	})
	for _, w := range tc.st.targetWrites() {
		if w != "a/1" {
			t.Errorf("target writes by token %v; want every one under a's term", tc.st.targetWrites())
			break
		}
	}
}
