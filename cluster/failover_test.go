package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/etcd/etcdtest"
)

// kill stops n as kill -9 would: its client closes, nothing is revoked or
// resigned, and its lease runs out on its own.
func kill(n *Node) {
	n.cli.Close()
	n.crash()
}

func leaderOf(nodes []*Node) *Node {
	for _, n := range nodes {
		if n.IsLeader() {
			return n
		}
	}
	return nil
}

func durations(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	out := ""
	for _, d := range s {
		out += fmt.Sprintf(" %s", d.Round(time.Millisecond))
	}
	return fmt.Sprintf("min %s, max %s:%s", s[0].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond), out)
}

func put(ctx context.Context, s *store.ConditionalRecordStore, id string, f store.Fence) error {
	_, err := (*s).PutRecordIf(ctx, store.Record{ID: id, Kind: "file", Name: id, Phase: store.PhaseReady}, store.AnyVersion, f)
	return err
}

// TestLeaderFailover kills the leader (its client closed, nothing revoked)
// three times and reports how long the others took to lead; then closes it
// gracefully and reports that too. The leader's jobs never run on two
// nodes at once, and a deposed leader's fenced writes fail.
func TestLeaderFailover(t *testing.T) {
	cfg := Config{Prefix: etcdtest.Prefix(t), LeaseTTL: time.Second}
	s := openStore(t, cfg.Prefix)
	cfg.Fencer = s
	var cs store.ConditionalRecordStore = s
	var jobs atomic.Int32
	cfg.Lead = func(ctx context.Context, fence store.Fence) {
		if j := jobs.Add(1); j > 1 {
			t.Errorf("%d leaders' jobs run at once", j)
		}
		<-ctx.Done()
		jobs.Add(-1)
	}
	var nodes []*Node
	for i := range 3 {
		nodes = append(nodes, join(t, cfg, fmt.Sprintf("n%d", i)))
	}
	ttl := nodes[0].ttl
	var crashes []time.Duration
	for round := range 3 {
		old := leaderOf(nodes)
		if old == nil {
			waitFor(t, 3*ttl, "a leader", func() bool { return leaderOf(nodes) != nil })
			old = leaderOf(nodes)
		}
		oldFence, _ := old.LeaderFence()
		if err := put(t.Context(), &cs, "leader.job", oldFence); err != nil {
			t.Fatalf("the leader's fenced write: %v", err)
		}
		start := time.Now()
		kill(old)
		nodes = slices.DeleteFunc(nodes, func(n *Node) bool { return n == old })
		at := waitFor(t, 3*ttl+time.Second, "another leader", func() bool { return leaderOf(nodes) != nil })
		crashes = append(crashes, at.Sub(start))
		newFence, _ := leaderOf(nodes).LeaderFence()
		if err := put(t.Context(), &cs, "leader.job", oldFence); !errors.Is(err, store.ErrFenced) {
			t.Errorf("round %d: the killed leader's fenced write: %v; want ErrFenced", round, err)
		}
		if err := put(t.Context(), &cs, "leader.job", newFence); err != nil {
			t.Errorf("round %d: the new leader's fenced write: %v", round, err)
		}
		nodes = append(nodes, join(t, cfg, fmt.Sprintf("n%d", 3+round)))
	}
	old := leaderOf(nodes)
	start := time.Now()
	old.Close()
	nodes = slices.DeleteFunc(nodes, func(n *Node) bool { return n == old })
	at := waitFor(t, 3*ttl, "another leader", func() bool { return leaderOf(nodes) != nil })
	t.Logf("leader killed -> another leads (lease TTL %s): %s", ttl, durations(crashes))
	t.Logf("leader closed (resigned) -> another leads: %s", at.Sub(start).Round(time.Millisecond))
}

// TestKilledMemberShareIsTakenOver kills a member three times and
// reports how long the others took to own its share and make a fenced
// write in it; the killed member's fenced writes fail after that.
func TestKilledMemberShareIsTakenOver(t *testing.T) {
	cfg := Config{Prefix: etcdtest.Prefix(t), LeaseTTL: time.Second}
	s := openStore(t, cfg.Prefix)
	cfg.Fencer = s
	var cs store.ConditionalRecordStore = s
	keys := ids(300)
	var mu sync.Mutex
	var nodes []*Node
	samples := watchOwners(t, keys, func() []*Node {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(nodes)
	})
	for i := range 3 {
		n := join(t, cfg, fmt.Sprintf("n%d", i))
		mu.Lock()
		nodes = append(nodes, n)
		mu.Unlock()
	}
	ttl := nodes[0].ttl
	var took []time.Duration
	for round := range 3 {
		waitFor(t, 3*ttl, "settled", func() bool { return settled(nodes...) })
		victim := nodes[round%len(nodes)]
		var share []string
		for _, id := range keys {
			if victim.Owns(id) {
				share = append(share, id)
			}
		}
		if err := put(t.Context(), &cs, share[0], victim.Fence()); err != nil {
			t.Fatalf("the victim's fenced write: %v", err)
		}
		start := time.Now()
		kill(victim)
		mu.Lock()
		nodes = slices.DeleteFunc(nodes, func(n *Node) bool { return n == victim })
		rest := slices.Clone(nodes)
		mu.Unlock()
		// Taken over: every resource of the share owned by a survivor,
		// and a fenced write by its new owner committed.
		var owner *Node
		waitFor(t, 3*ttl+time.Second, "the share taken over", func() bool {
			for _, id := range share {
				if os := owners([]string{id}, rest...)[id]; len(os) != 1 {
					return false
				}
			}
			return true
		})
		for _, n := range rest {
			if n.Owns(share[0]) {
				owner = n
			}
		}
		if err := put(t.Context(), &cs, share[0], owner.Fence()); err != nil {
			t.Fatalf("round %d: the new owner's fenced write: %v", round, err)
		}
		took = append(took, time.Since(start))
		if err := put(t.Context(), &cs, share[0], victim.Fence()); !errors.Is(err, store.ErrFenced) {
			t.Errorf("round %d: the killed member's fenced write after the takeover: %v; want ErrFenced", round, err)
		}
		n := join(t, cfg, fmt.Sprintf("n%d", 3+round))
		mu.Lock()
		nodes = append(nodes, n)
		mu.Unlock()
	}
	t.Logf("member killed -> its %d-of-%d share owned elsewhere and written under the new owner's fence (lease TTL %s): %s",
		len(keys)/3, len(keys), ttl, durations(took))
	t.Logf("%d samples of every resource's owners, none with two", samples.Load())
}

// TestPausedNodeStopsBeforeTakeover stops a node's keepalives (as a
// partition or a pause would) and checks that it stopped acting, by its
// own deadline, before the other node owned its share and its leadership,
// that its fenced writes then fail while the new owner's commit, and that
// it finds itself lost once it can talk to etcd again.
func TestPausedNodeStopsBeforeTakeover(t *testing.T) {
	cfg := Config{Prefix: etcdtest.Prefix(t), LeaseTTL: time.Second}
	s := openStore(t, cfg.Prefix)
	cfg.Fencer = s
	var cs store.ConditionalRecordStore = s
	keys := ids(100)
	for range 2 {
		p := join(t, cfg, "p")
		waitFor(t, 3*time.Second, "p leads", p.IsLeader)
		q := join(t, cfg, "q")
		waitFor(t, 3*time.Second, "settled", func() bool { return settled(p, q) })
		samples := watchOwners(t, keys, func() []*Node { return []*Node{p, q} })
		var x string
		for _, id := range keys {
			if p.Owns(id) {
				x = id
				break
			}
		}
		if err := put(t.Context(), &cs, x, p.Fence()); err != nil {
			t.Fatalf("p's fenced write before the pause: %v", err)
		}
		pLead, _ := p.LeaderFence()

		p.kaPaused.Store(true)
		start := time.Now()
		took := waitFor(t, 3*p.ttl+time.Second, "q owns p's share", func() bool { return q.Owns(x) })
		led := waitFor(t, 3*p.ttl+time.Second, "q leads", q.IsLeader)
		stopped := p.Deadline()
		if !stopped.Before(took) || !stopped.Before(led) {
			t.Errorf("p's deadline %s is not before q owned its share (%s) and led (%s)",
				stopped.Sub(start), took.Sub(start), led.Sub(start))
		}
		if p.Owns(x) || p.IsLeader() {
			t.Error("p still owns or leads")
		}
		if err := put(t.Context(), &cs, x, p.Fence()); !errors.Is(err, store.ErrFenced) {
			t.Errorf("p's fenced write after the takeover: %v; want ErrFenced", err)
		}
		if err := put(t.Context(), &cs, x, pLead); !errors.Is(err, store.ErrFenced) {
			t.Errorf("p's leader-fenced write after q leads: %v; want ErrFenced", err)
		}
		if err := put(t.Context(), &cs, x, q.Fence()); err != nil {
			t.Errorf("q's fenced write: %v", err)
		}
		qLead, _ := q.LeaderFence()
		if err := put(t.Context(), &cs, x, qLead); err != nil {
			t.Errorf("q's leader-fenced write: %v", err)
		}
		p.kaPaused.Store(false)
		select {
		case <-p.Done():
		case <-time.After(3 * p.ttl):
			t.Fatal("p did not find itself lost")
		}
		if !errors.Is(p.Err(), ErrLost) {
			t.Errorf("p.Err() = %v; want ErrLost", p.Err())
		}
		t.Logf("keepalives stopped at 0: p stopped acting at %s, q owned p's share at %s and led at %s (margin %s); %d ownership samples, none with two",
			stopped.Sub(start).Round(time.Millisecond), took.Sub(start).Round(time.Millisecond), led.Sub(start).Round(time.Millisecond),
			took.Sub(stopped).Round(time.Millisecond), samples.Load())
		p.Close()
		q.Close()
	}
}
