package cluster

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convergehq/converge/store/etcd/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// watchOwners checks, until the test ends, that no resource is ever owned
// by two of the nodes nodes() returns at once; it reports how many
// samples it took.
func watchOwners(t *testing.T, keys []string, nodes func() []*Node) *atomic.Int64 {
	t.Helper()
	var samples atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for id, os := range owners(keys, nodes()...) {
				if len(os) > 1 {
					t.Errorf("%s owned by %v at once", id, os)
					return
				}
			}
			samples.Add(1)
			time.Sleep(time.Millisecond)
		}
	}()
	t.Cleanup(func() {
		close(stop)
		wg.Wait()
	})
	return &samples
}

// exactlyOne fails the test unless every key has exactly one owner among
// nodes, the one Owner names.
func exactlyOne(t *testing.T, keys []string, nodes ...*Node) {
	t.Helper()
	var ns []string
	for _, n := range nodes {
		ns = append(ns, n.Name())
	}
	for id, os := range owners(keys, nodes...) {
		if want := Owner(id, ns); len(os) != 1 || os[0] != want {
			t.Fatalf("%s owned by %v; want [%s]", id, os, want)
		}
	}
	if got := len(owners(keys, nodes...)); got != len(keys) {
		t.Fatalf("%d of %d keys have an owner", got, len(keys))
	}
}

func TestSharesPartitionTheResources(t *testing.T) {
	cfg := Config{Prefix: etcdtest.Prefix(t), LeaseTTL: 2 * time.Second}
	keys := ids(600)
	var mu sync.Mutex
	var live []*Node
	snapshot := func() []*Node {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(live)
	}
	samples := watchOwners(t, keys, snapshot)
	add := func(name string) *Node {
		n := join(t, cfg, name)
		mu.Lock()
		live = append(live, n)
		mu.Unlock()
		return n
	}

	a := add("a")
	waitFor(t, 5*time.Second, "a alone settles", func() bool { return settled(a) })
	exactlyOne(t, keys, a)

	// Joins: each moves resources only to the joiner.
	b := add("b")
	waitFor(t, 5*time.Second, "a, b settle", func() bool { return settled(a, b) })
	exactlyOne(t, keys, a, b)
	before := owners(keys, a, b)
	start := time.Now()
	c := add("c")
	at := waitFor(t, 5*time.Second, "a, b, c settle", func() bool { return settled(a, b, c) })
	t.Logf("a third node joined and owned its share in %s", at.Sub(start).Round(time.Millisecond))
	exactlyOne(t, keys, a, b, c)
	moved := 0
	for id, os := range owners(keys, a, b, c) {
		if os[0] != before[id][0] {
			moved++
			if os[0] != "c" {
				t.Errorf("%s moved from %s to %s on c's join", id, before[id][0], os[0])
			}
		}
	}
	t.Logf("c's join moved %d of %d (ideal %d)", moved, len(keys), len(keys)/3)

	// A leave moves only the leaver's resources.
	before = owners(keys, a, b, c)
	mu.Lock()
	live = []*Node{a, c}
	mu.Unlock()
	start = time.Now()
	if err := b.Close(); err != nil {
		t.Fatalf("close b: %v", err)
	}
	at = waitFor(t, 5*time.Second, "a, c settle", func() bool { return settled(a, c) })
	t.Logf("b left gracefully; its share was owned by the others %s after Close began", at.Sub(start).Round(time.Millisecond))
	exactlyOne(t, keys, a, c)
	for id, os := range owners(keys, a, c) {
		if was := before[id][0]; was != "b" && os[0] != was {
			t.Errorf("%s moved from %s to %s when b left", id, was, os[0])
		}
	}
	if samples.Load() == 0 {
		t.Error("ownership never sampled")
	}
	t.Logf("%d samples of every resource's owners, none with two", samples.Load())
}

func TestJoinRefusesADuplicateName(t *testing.T) {
	cfg := Config{Prefix: etcdtest.Prefix(t), LeaseTTL: 2 * time.Second, Node: "a"}
	join(t, cfg, "a")
	if n, err := Join(t.Context(), client(t), cfg); err == nil {
		n.Close()
		t.Fatal("a second node named a joined")
	}
}

func TestMembersAndStatus(t *testing.T) {
	cfg := Config{Prefix: etcdtest.Prefix(t), LeaseTTL: 3 * time.Second}
	a, b, c := join(t, cfg, "a"), join(t, cfg, "b"), join(t, cfg, "c")
	waitFor(t, 5*time.Second, "settled", func() bool { return settled(a, b, c) })
	waitFor(t, 5*time.Second, "a leader", func() bool { return a.IsLeader() || b.IsLeader() || c.IsLeader() })

	ms, err := a.Members(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.Name)
		if left := time.Until(m.Expires); left <= 0 || left > 4*time.Second {
			t.Errorf("%s's lease expires in %s; want within its TTL", m.Name, left)
		}
	}
	if !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("members %v; want [a b c]", got)
	}

	keys := ids(300)
	st, err := ReadStatus(t.Context(), client(t), cfg.Prefix, keys)
	if err != nil {
		t.Fatal(err)
	}
	var leader string
	for _, n := range []*Node{a, b, c} {
		if n.IsLeader() {
			leader = n.Name()
		}
	}
	if st.Leader != leader {
		t.Errorf("status leader %q; want %q", st.Leader, leader)
	}
	sum := 0
	for _, ns := range st.Nodes {
		sum += ns.Share
		if !ns.Settled {
			t.Errorf("%s not settled", ns.Name)
		}
		if ns.Leader != (ns.Name == leader) {
			t.Errorf("%s: leader %v", ns.Name, ns.Leader)
		}
		if ns.LeaseRemainingSeconds < 0 || ns.LeaseRemainingSeconds > 3 {
			t.Errorf("%s: lease remaining %ds; want 0..3", ns.Name, ns.LeaseRemainingSeconds)
		}
	}
	if len(st.Nodes) != 3 || sum != len(keys) || st.Resources != len(keys) {
		t.Errorf("status has %d nodes sharing %d of %d; want 3 sharing all", len(st.Nodes), sum, st.Resources)
	}
	if v, _ := a.View(); st.View != v.ID {
		t.Errorf("status view %s; want %s", st.View, v.ID)
	}
	out, _ := json.MarshalIndent(st, "", "  ")
	t.Logf("status:\n%s", out)
}

func TestCloseReleasesEverything(t *testing.T) {
	cfg := Config{Prefix: etcdtest.Prefix(t), LeaseTTL: 2 * time.Second}
	s := openStore(t, cfg.Prefix)
	cfg.Fencer = s
	a, b := join(t, cfg, "a"), join(t, cfg, "b")
	waitFor(t, 5*time.Second, "settled", func() bool { return settled(a, b) })
	waitFor(t, 5*time.Second, "a leader", func() bool { return a.IsLeader() || b.IsLeader() })
	for _, n := range []*Node{a, b} {
		if err := n.Close(); err != nil {
			t.Fatalf("close %s: %v", n.Name(), err)
		}
		select {
		case <-n.Done():
		default:
			t.Errorf("%s: Done not closed", n.Name())
		}
		if n.Owns("x") || n.IsLeader() {
			t.Errorf("%s owns or leads after Close", n.Name())
		}
	}
	cli := client(t)
	resp, err := cli.Get(t.Context(), cfg.Prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range resp.Kvs {
		t.Errorf("left behind: %s = %q", kv.Key, kv.Value)
	}
	leases, err := cli.Leases(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leases.Leases {
		if int64(l.ID) == a.lease || int64(l.ID) == b.lease {
			t.Errorf("lease %x left behind", l.ID)
		}
	}
}

// TestDrainHoldsTheNewOwnersBack joins a node while another's Drain
// blocks: no one owns what moves until it returns, what stays keeps its
// owner meanwhile, and Changes tells the joiner once it owns its share.
func TestDrainHoldsTheNewOwnersBack(t *testing.T) {
	keys := ids(300)
	cfg := Config{Prefix: etcdtest.Prefix(t), LeaseTTL: 2 * time.Second}
	a := join(t, cfg, "a")
	release := make(chan struct{})
	var draining atomic.Bool
	bcfg := cfg
	bcfg.Drain = func(ctx context.Context) {
		if !draining.Load() {
			return
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
	}
	b := join(t, bcfg, "b")
	waitFor(t, 5*time.Second, "a, b settle", func() bool { return settled(a, b) })
	before := owners(keys, a, b)

	draining.Store(true)
	c := join(t, cfg, "c")
	waitFor(t, 5*time.Second, "every node adopted the view with c", func() bool {
		for _, n := range []*Node{a, b, c} {
			if v, _ := n.View(); len(v.Members) != 3 {
				return false
			}
		}
		return true
	})
	time.Sleep(100 * time.Millisecond) // time enough to go wrong
	moving, staying := 0, 0
	for id, os := range owners(keys, a, b, c) {
		if slices.Contains(os, "c") {
			t.Errorf("c owns %s while b drains", id)
		}
		if len(os) == 1 {
			staying++
		}
	}
	for _, id := range keys {
		if Owner(id, []string{"a", "b", "c"}) == "c" {
			moving++
		} else if !slices.Equal(owners([]string{id}, a, b)[id], before[id]) {
			t.Errorf("%s left its owner %v while b drains", id, before[id])
		}
	}
	if staying != len(keys)-moving {
		t.Errorf("%d resources owned while b drains; want the %d that stay", staying, len(keys)-moving)
	}
	select {
	case <-c.Changes():
	default:
	}
	close(release)
	waitFor(t, 5*time.Second, "settled", func() bool { return settled(a, b, c) })
	exactlyOne(t, keys, a, b, c)
	select {
	case <-c.Changes():
	case <-time.After(time.Second):
		t.Error("Changes said nothing to c when it came to own its share")
	}
}

// TestRebalanceBeforeTheJoinerActs joins a third node: every member is
// told its place among three before the joiner owns anything, and the two
// left are told their place among two once it leaves.
func TestRebalanceBeforeTheJoinerActs(t *testing.T) {
	keys := ids(300)
	cfg := Config{Prefix: etcdtest.Prefix(t), LeaseTTL: 2 * time.Second}
	var mu sync.Mutex
	places := map[string][2]int{}
	rebalancing := func(name string) Config {
		c := cfg
		c.Rebalance = func(index, count int) {
			mu.Lock()
			places[name] = [2]int{index, count}
			mu.Unlock()
		}
		return c
	}
	place := func(name string) [2]int {
		mu.Lock()
		defer mu.Unlock()
		return places[name]
	}
	a := join(t, rebalancing("a"), "a")
	b := join(t, rebalancing("b"), "b")
	waitFor(t, 5*time.Second, "a, b settle", func() bool { return settled(a, b) })
	if pa, pb := place("a"), place("b"); pa != [2]int{0, 2} || pb != [2]int{1, 2} {
		t.Fatalf("places %v, %v; want 0 of 2, 1 of 2", pa, pb)
	}
	c := join(t, rebalancing("c"), "c")
	if got := place("c"); got != [2]int{2, 3} {
		t.Errorf("c's place once Join returned = %v; want 2 of 3", got)
	}
	waitFor(t, 5*time.Second, "c owns part of its share", func() bool {
		for _, id := range keys {
			if c.Owns(id) {
				return true
			}
		}
		return false
	})
	if pa, pb := place("a"), place("b"); pa != [2]int{0, 3} || pb != [2]int{1, 3} {
		t.Errorf("places once c owns its share: a %v, b %v; want 0 of 3, 1 of 3", pa, pb)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a, b rebalance to two", func() bool {
		return place("a") == [2]int{0, 2} && place("b") == [2]int{1, 2}
	})
}

// TestJoinTakesTheNameOfADeadNode: a node restarted right after it died
// (its lease still alive in etcd, nothing revoked) joins under its name
// once the old lease expires, within a lease TTL, instead of failing; a
// live node's name stays refused (TestJoinRefusesADuplicateName).
func TestJoinTakesTheNameOfADeadNode(t *testing.T) {
	cfg := Config{Prefix: etcdtest.Prefix(t), LeaseTTL: time.Second}
	old := join(t, cfg, "a")
	old.crash()
	start := time.Now()
	n := join(t, cfg, "a")
	took := time.Since(start)
	waitFor(t, 3*time.Second, "the new a settles", func() bool { return settled(n) })
	if v, _ := n.View(); !slices.Equal(v.Names(), []string{"a"}) {
		t.Errorf("the new a's view: %v; want [a]", v.Names())
	}
	if took > n.ttl+3*time.Second {
		t.Errorf("joining took %s; want within the dead lease's TTL and 3 s", took)
	}
	t.Logf("joined under the dead node's name %s after its death", took.Round(time.Millisecond))
}
