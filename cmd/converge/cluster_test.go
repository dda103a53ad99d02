package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"

	"github.com/convergehq/converge/api"
	"github.com/convergehq/converge/cloudsim"
	"github.com/convergehq/converge/cluster"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/etcd"
	"github.com/convergehq/converge/store/etcd/etcdtest"
)

// The tests' etcd: one embedded server for the test binary, started by
// the first test that needs it, stopped by TestMain (stopEtcd).
var (
	etcdOnce     sync.Once
	etcdServer   *embed.Etcd
	etcdDir      string
	etcdEndpoint string
	etcdErr      error
)

func testEtcd(t testing.TB) string {
	t.Helper()
	etcdOnce.Do(func() {
		if etcdDir, etcdErr = os.MkdirTemp("", "converge-etcd-"); etcdErr != nil {
			return
		}
		if etcdServer, etcdErr = etcdtest.Start(etcdDir, nil); etcdErr == nil {
			etcdEndpoint = etcdServer.Clients[0].Addr().String()
		}
	})
	if etcdErr != nil {
		t.Fatalf("start etcd: %v", etcdErr)
	}
	return etcdEndpoint
}

// stopEtcd stops the tests' etcd, if one started.
func stopEtcd() {
	if etcdServer != nil {
		etcdServer.Close()
		<-etcdServer.Err()
	}
	if etcdDir != "" {
		os.RemoveAll(etcdDir)
	}
}

// fleet is a cluster for a test: cloudsim, an etcd prefix, a state key,
// a manifest directory, and the converge nodes started on them.
type fleet struct {
	t         testing.TB
	sim       *cloudsim.Server
	simURL    string
	endpoint  string
	prefix    string
	key       string
	manifests string
	st        *etcd.Store // the test's own view of the state
	mu        sync.Mutex
	nodes     map[string]*proc
	ports     map[string]string
}

func newFleet(t testing.TB, latency time.Duration) *fleet {
	t.Helper()
	sim := cloudsim.New(cloudsim.Config{DisableIdempotency: true, Seed: 1})
	if latency > 0 {
		if err := sim.SetFaults(cloudsim.Faults{Latency: cloudsim.Duration(latency)}); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	f := &fleet{t: t, sim: sim, simURL: srv.URL, endpoint: testEtcd(t), prefix: etcdtest.Prefix(t),
		key: filepath.Join(dir, "state.key"), manifests: filepath.Join(dir, "manifests"),
		nodes: map[string]*proc{}, ports: map[string]string{}}
	if err := os.WriteFile(f.key, []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(f.manifests, 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := etcd.Open(t.Context(), etcd.Config{Endpoints: []string{f.endpoint}, Prefix: f.prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.st = st
	return f
}

// buckets writes n bucket manifests (b-000, b-001, ...) from first on
// into dir, replacing what was there.
func buckets(t testing.TB, dir string, first, n int) []string {
	t.Helper()
	var b strings.Builder
	var ids []string
	for i := first; i < first+n; i++ {
		fmt.Fprintf(&b, "---\nkind: cloud.Bucket\nmetadata: {name: b-%03d}\nspec: {versioning: true}\n", i)
		ids = append(ids, fmt.Sprintf("cloud.Bucket/b-%03d", i))
	}
	if err := os.WriteFile(filepath.Join(dir, "buckets.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return ids
}

// storeArgs point a command at the fleet's state.
func (f *fleet) storeArgs() []string {
	return []string{"--store", etcdScheme + f.endpoint, "--etcd-prefix", f.prefix, "--state-key", f.key, "--cloud-url", f.simURL}
}

// start starts the node name, with its own root and API port.
func (f *fleet) start(name string, extra ...string) *proc {
	f.t.Helper()
	root := filepath.Join(f.t.TempDir(), "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		f.t.Fatal(err)
	}
	u, err := etcdtest.FreeURL()
	if err != nil {
		f.t.Fatal(err)
	}
	args := append([]string{"run", "-f", f.manifests, "--root", root, "--node", name, "--lease-ttl", "2s",
		"--resync", "1h", "--workers", "4", "--log-format", "json", "--listen", u.Host}, f.storeArgs()...)
	p := start(f.t, append(args, extra...)...)
	f.mu.Lock()
	f.nodes[name], f.ports[name] = p, u.Host
	f.mu.Unlock()
	f.t.Cleanup(func() {
		if f.t.Failed() {
			f.t.Logf("node %s's log (last lines):\n%s", name, tail(p.stderr.String(), 30))
		}
	})
	return p
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// dumpGoroutines makes every node still running print its goroutines
// (SIGQUIT) into the test's log, to find what holds a node up.
func (f *fleet) dumpGoroutines() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for name, p := range f.nodes {
		if p.exited() {
			continue
		}
		_ = p.cmd.Process.Signal(syscall.SIGQUIT)
		<-p.done
		f.t.Logf("node %s's goroutines:\n%s", name, tail(p.stderr.String(), 400))
	}
}

// live returns the names of the live nodes.
func (f *fleet) live() []string {
	ms, err := cluster.Members(context.Background(), f.st.Client(), f.prefix)
	if err != nil {
		return nil
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

// records returns every record's phase.
func (f *fleet) records() map[string]store.Phase {
	f.t.Helper()
	recs, err := f.st.ListRecords(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]store.Phase{}
	for _, r := range recs {
		out[r.ID] = r.Phase
	}
	return out
}

// converged returns "" once exactly ids are recorded, all Ready, and the
// target is hash ("": any).
func (f *fleet) converged(ids []string, hash string) func() string {
	return func() string {
		if hash != "" {
			if t, err := f.st.Target(context.Background()); err != nil || t != hash {
				return fmt.Sprintf("target %q, %v; want %s", t, err, short(hash))
			}
		}
		got := f.records()
		ready := 0
		for _, id := range ids {
			if got[id] == store.PhaseReady {
				ready++
			}
		}
		if ready != len(ids) || len(got) != len(ids) {
			var missing []string
			for _, id := range ids {
				if got[id] != store.PhaseReady && len(missing) < 5 {
					missing = append(missing, fmt.Sprintf("%s (%s, owner %s)", id, got[id], cluster.Owner(id, f.live())))
				}
			}
			return fmt.Sprintf("%d of %d Ready, %d recorded; not Ready: %v", ready, len(ids), len(got), missing)
		}
		return ""
	}
}

// createdOnce fails unless cloudsim made each of names exactly once, and
// saw no two mutations of one object at once.
func (f *fleet) createdOnce(names []string) {
	f.t.Helper()
	a := f.sim.Audit()
	for _, n := range names {
		if got := a.Created["Bucket"][n]; got != 1 {
			f.t.Errorf("bucket %s created %d times; want once", n, got)
		}
	}
	if a.Overlaps != 0 || len(a.Duplicates) != 0 {
		f.t.Errorf("cloudsim saw %d overlapping mutations (%v) and duplicates %v; want none", a.Overlaps, a.OverlapIDs, a.Duplicates)
	}
}

// createdBy returns, by node, the resources its log says it created.
func (f *fleet) createdBy() map[string][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]string{}
	for name, p := range f.nodes {
		out[name] = []string{}
		for _, line := range strings.Split(p.stderr.String(), "\n") {
			var l struct{ Reason, Resource string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Reason == string(store.ReasonCreated) {
				out[name] = append(out[name], l.Resource)
			}
		}
	}
	return out
}

func names(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = strings.TrimPrefix(id, "cloud.Bucket/")
	}
	return out
}

// clusterStatus runs converge cluster status -o json from a process that
// runs no node.
func (f *fleet) clusterStatus() api.ClusterView {
	f.t.Helper()
	r := bin(f.t, append([]string{"cluster", "status", "-o", "json", "--resources"}, f.storeArgs()...)...)
	if r.code != 0 {
		f.t.Fatalf("cluster status: %s", r)
	}
	var v api.ClusterView
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		f.t.Fatalf("cluster status -o json: %v\n%s", err, r.stdout)
	}
	return v
}

// settled returns "" once the cluster holds exactly want, every one settled
// on the same view, one of them leading.
func (f *fleet) settled(want ...string) func() string {
	return func() string {
		st, err := cluster.ReadStatus(context.Background(), f.st.Client(), f.prefix, nil)
		if err != nil {
			return err.Error()
		}
		var got []string
		for _, n := range st.Nodes {
			if !n.Settled {
				return n.Name + " not settled"
			}
			got = append(got, n.Name)
		}
		if !slices.Equal(got, want) {
			return fmt.Sprintf("nodes %v; want %v", got, want)
		}
		if st.Leader == "" || !slices.Contains(want, st.Leader) {
			return fmt.Sprintf("leader %q", st.Leader)
		}
		return ""
	}
}

// TestClusterThreeNodes runs three converge nodes on one etcd state
// against cloudsim (idempotency keys off, so that a duplicate create
// shows): they converge the set once between them, a CLI-only process
// sees it all, a push from CI is converged, and a node that stops hands
// its share over within a second.
func TestClusterThreeNodes(t *testing.T) {
	f := newFleet(t, 0)
	ids := buckets(t, f.manifests, 0, 45)
	for _, n := range []string{"n1", "n2", "n3"} {
		f.start(n)
	}
	eventually(t, 20*time.Second, "three nodes converge the set", f.converged(ids, ""))
	eventually(t, 5*time.Second, "the cluster settles", f.settled("n1", "n2", "n3"))
	f.createdOnce(names(ids))
	// Each bucket was created by one node, and the work was spread. (A
	// node logs "created" just after it writes the record: the last lines
	// may still be on their way when the records say converged.)
	eventually(t, 5*time.Second, "every create logged", func() string {
		n := 0
		for _, got := range f.createdBy() {
			n += len(got)
		}
		if n < len(ids) {
			return fmt.Sprintf("%d of %d creates logged", n, len(ids))
		}
		return ""
	})
	by := f.createdBy()
	busy := 0
	for n, got := range by {
		t.Logf("%s created %d buckets", n, len(got))
		if len(got) > 0 {
			busy++
		}
	}
	seen := map[string]string{}
	for n, got := range by {
		for _, id := range got {
			if o, dup := seen[id]; dup {
				t.Errorf("%s created by %s and %s", id, o, n)
			}
			seen[id] = n
		}
	}
	if len(seen) != len(ids) || busy < 2 {
		t.Errorf("%d of %d buckets logged created, by %d nodes; want all, by at least 2", len(seen), len(ids), busy)
	}

	t.Run("cluster status", func(t *testing.T) {
		v := f.clusterStatus()
		leaders, sum := 0, 0
		for _, n := range v.Nodes {
			sum += n.Share
			if n.Leader {
				leaders++
			}
			if n.Share == 0 || len(v.ResourcesByNode[n.Name]) != n.Share {
				t.Errorf("%s: share %d, %d resources listed; want a share, all listed", n.Name, n.Share, len(v.ResourcesByNode[n.Name]))
			}
			if n.Manifests != v.Target {
				t.Errorf("%s's manifests %s; want the target %s", n.Name, n.Manifests, v.Target)
			}
		}
		if !v.Enabled || len(v.Nodes) != 3 || leaders != 1 || sum != len(ids) || v.Resources != len(ids) {
			t.Errorf("status: enabled %v, %d nodes, %d leaders, shares sum to %d of %d; want 3 nodes, 1 leader, all shared", v.Enabled, len(v.Nodes), leaders, sum, v.Resources)
		}
		text := bin(t, append([]string{"cluster", "status"}, f.storeArgs()...)...)
		if text.code != 0 || !strings.Contains(text.stdout, "3 nodes, leader "+v.Leader) {
			t.Errorf("cluster status: %s", text)
		}
	})

	t.Run("API and metrics", func(t *testing.T) {
		var v api.ClusterView
		if err := getJSON("http://"+f.ports["n2"]+"/api/v1/cluster", &v); err != nil {
			t.Fatal(err)
		}
		if !v.Enabled || v.Node != "n2" || len(v.Nodes) != 3 {
			t.Errorf("GET /api/v1/cluster from n2: enabled %v, node %q, %d nodes", v.Enabled, v.Node, len(v.Nodes))
		}
		leaders := 0.0
		for _, n := range []string{"n1", "n2", "n3"} {
			m, err := getText("http://" + f.ports[n] + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			leaders += metricValue(m, "converge_cluster_leader")
			if metricValue(m, "converge_cluster_share_resources") <= 0 || metricValue(m, "converge_cluster_lease_remaining_seconds") <= 0 {
				t.Errorf("%s's metrics: share %v, lease remaining %v; want both positive", n,
					metricValue(m, "converge_cluster_share_resources"), metricValue(m, "converge_cluster_lease_remaining_seconds"))
			}
		}
		if leaders != 1 {
			t.Errorf("converge_cluster_leader sums to %v over the nodes; want 1", leaders)
		}
	})

	t.Run("CLI-only process", func(t *testing.T) {
		r := bin(t, append([]string{"status", "-o", "json"}, f.storeArgs()...)...)
		var st struct{ Resources []struct{ ID, Phase string } }
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil {
			t.Fatalf("status: %s", r)
		}
		if len(st.Resources) != len(ids) {
			t.Errorf("status shows %d resources; want %d", len(st.Resources), len(ids))
		}
		for _, sub := range [][]string{{"history"}, {"get", "cloud.Bucket/b-007"}, {"describe", "cloud.Bucket/b-007"}, {"events"}} {
			if r := bin(t, append(sub, f.storeArgs()...)...); r.code != 0 {
				t.Errorf("converge %s: %s", strings.Join(sub, " "), r)
			}
		}
		// Converging beside the nodes is refused: they own the resources.
		r = bin(t, append([]string{"apply", "-f", f.manifests}, f.storeArgs()...)...)
		if r.code == 0 || !strings.Contains(r.stderr, "converge push") {
			t.Errorf("apply beside the nodes: %s; want it refused, pointing at converge push", r)
		}
	})

	t.Run("push from CI", func(t *testing.T) {
		ci := t.TempDir()
		next := buckets(t, ci, 5, 45) // b-000..b-004 go, b-045..b-049 come
		r := bin(t, append([]string{"push", "-f", ci, "-o", "json", "--max-delete", "20%"}, f.storeArgs()...)...)
		var p pushed
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &p) != nil {
			t.Fatalf("push: %s", r)
		}
		if len(p.Added) != 5 || len(p.Removed) != 5 || len(p.Changed) != 0 || p.Same != 40 || len(p.Nodes) != 3 {
			t.Errorf("push: %+v; want 5 added, 5 removed, 40 unchanged, 3 nodes", p)
		}
		eventually(t, 20*time.Second, "the nodes converge the pushed revision", f.converged(next, p.Revision))
		f.createdOnce(names(next))
		if a := f.sim.Audit(); a.Live["Bucket"] != len(next) {
			t.Errorf("%d live buckets; want %d", a.Live["Bucket"], len(next))
		}
		// The nodes' manifests are at the first revision: they say so,
		// and do not fight over the target.
		eventually(t, 5*time.Second, "a node reports its manifests differ", func() string {
			for _, n := range []string{"n1", "n2", "n3"} {
				if strings.Contains(f.nodes[n].stderr.String(), "the published target is revision "+short(p.Revision)) {
					return ""
				}
			}
			return "no node said so"
		})
		if t2, _ := f.st.Target(context.Background()); t2 != p.Revision {
			t.Errorf("target %s; want the pushed %s to stand", short(t2), short(p.Revision))
		}
		v := f.clusterStatus()
		for _, n := range v.Nodes {
			if n.Manifests == v.Target {
				t.Errorf("%s's manifests show at the target; want them shown differing", n.Name)
			}
		}
	})

	t.Run("SIGTERM hands the share over", func(t *testing.T) {
		p := f.nodes["n3"]
		began := time.Now()
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, "n1 and n2 own everything", f.settled("n1", "n2"))
		took := time.Since(began)
		t.Logf("handover after SIGTERM: %s", took.Round(time.Millisecond))
		if took > time.Second {
			t.Errorf("handover took %s; want under 1s", took)
		}
		<-p.done
		if c := p.code(); c != 0 {
			t.Errorf("n3 exited %d; want 0", c)
		}
	})
}

// TestClusterFailover stops one of three nodes while they converge, by
// kill -9 and by SIGTERM in turn, and measures how long until another
// node writes, fenced, the first record of its share; then the set
// converges, each bucket made once, and the node comes back. Each round
// pushes a set of 45 buckets that replaces the 30 oldest with 30 new
// ones. CONVERGE_CLUSTER_KILLS sets the rounds (default 2: one kill -9,
// one SIGTERM).
func TestClusterFailover(t *testing.T) {
	rounds := 2
	if v := os.Getenv("CONVERGE_CLUSTER_KILLS"); v != "" {
		if _, err := fmt.Sscan(v, &rounds); err != nil || rounds < 1 {
			t.Fatalf("CONVERGE_CLUSTER_KILLS=%q: want a positive number", v)
		}
	}
	f := newFleet(t, 150*time.Millisecond)
	all := []string{"n1", "n2", "n3"}
	ci := t.TempDir()
	ids := buckets(t, f.manifests, 0, 15)
	for _, n := range all {
		f.start(n, "--workers", "2")
	}
	eventually(t, 20*time.Second, "the first set converges", f.converged(ids, ""))
	made := names(ids) // every bucket ever declared: each made once
	var kills, owned, terms, termWrites []time.Duration
	for round := range rounds {
		sig := syscall.SIGKILL
		if round%2 == 1 {
			sig = syscall.SIGTERM
		}
		victim := all[round%3]
		ids = buckets(t, ci, 30*round, 45)
		made = append(made, names(ids[15:])...)
		r := bin(t, append([]string{"push", "-f", ci, "--max-delete", "100%"}, f.storeArgs()...)...)
		if r.code != 0 {
			t.Fatalf("push: %s", r)
		}
		share := map[string]bool{}
		for _, id := range ids[len(ids)-30:] {
			if cluster.Owner(id, all) == victim {
				share[id] = true
			}
		}
		// Stop the victim once it converged some of its new share, not all.
		eventually(t, 20*time.Second, victim+" converges part of its share", func() string {
			got := f.records()
			ready := 0
			for id := range share {
				if got[id] == store.PhaseReady {
					ready++
				}
			}
			if ready < 2 {
				return fmt.Sprintf("%d of %d Ready", ready, len(share))
			}
			return ""
		})
		ctx, cancel := context.WithCancel(context.Background())
		seq, err := f.st.LastSeq(ctx)
		if err != nil {
			t.Fatal(err)
		}
		changes, err := f.st.Watch(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		before := f.records()
		pending := 0
		for id := range share {
			if before[id] != store.PhaseReady {
				pending++
			}
		}
		if pending == 0 {
			t.Fatalf("premise: %s converged its whole share before it was stopped", victim)
		}
		p := f.nodes[victim]
		others := slices.DeleteFunc(slices.Clone(all), func(n string) bool { return n == victim })
		handedOver := make(chan time.Duration, 1)
		stopped := time.Now()
		if err := p.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		go func() { // until the others own everything, settled on their view
			for f.settled(others...)() != "" && time.Since(stopped) < 15*time.Second {
				time.Sleep(5 * time.Millisecond)
			}
			handedOver <- time.Since(stopped)
		}()
		// A write of the victim's share once it exited is another node's.
		<-p.done
		exited, err := f.st.LastSeq(ctx)
		if err != nil {
			t.Fatal(err)
		}
		left := 0
		for id, ph := range f.records() {
			if share[id] && ph != store.PhaseReady {
				left++
			}
		}
		for id := range share {
			if _, ok := f.records()[id]; !ok {
				left++
			}
		}
		var first time.Duration
		deadline := time.After(15 * time.Second)
		for first == 0 && left > 0 {
			select {
			case c := <-changes:
				if c.Kind == store.ChangePut && share[c.ID] && c.Seq > exited {
					first = time.Since(stopped)
				}
			case <-deadline:
				got := f.records()
				var left []string
				for id := range share {
					left = append(left, fmt.Sprintf("%s: %s", id, got[id]))
				}
				slices.Sort(left)
				t.Fatalf("no other node wrote a record of %s's share within 15s of %v; its share now: %v", victim, sig, left)
			}
		}
		cancel()
		handover := <-handedOver
		if handover >= 15*time.Second {
			f.dumpGoroutines()
			t.Fatalf("round %d: the others did not settle within 15s of %v to %s", round+1, sig, victim)
		}
		t.Logf("round %d: %v to %s with %d of its %d new resources left: the others owned its share %s later, and wrote its first record, fenced, %s later (lease TTL 2s)",
			round+1, sig, victim, pending, len(share), handover.Round(time.Millisecond), first.Round(time.Millisecond))
		if left == 0 {
			t.Logf("round %d: %s finished its share before it exited: nothing to take over", round+1, victim)
		}
		if sig == syscall.SIGKILL && left > 0 {
			kills = append(kills, first)
		}
		if sig == syscall.SIGKILL {
			owned = append(owned, handover)
			if handover > 4*time.Second {
				t.Errorf("takeover after kill -9 took %s; want within the lease TTL (2s) + 2s", handover)
			}
		} else {
			terms = append(terms, handover)
			if left > 0 {
				termWrites = append(termWrites, first)
			}
			if handover > time.Second {
				t.Errorf("handover after SIGTERM took %s; want under 1s", handover)
			}
			if c := p.code(); c != 0 {
				t.Errorf("%s exited %d after SIGTERM; want 0", victim, c)
			}
		}
		eventually(t, 25*time.Second, "the others converge the set", f.converged(ids, ""))
		f.createdOnce(made)
		if live := f.sim.Audit().Live["Bucket"]; live != len(ids) {
			t.Errorf("%d live buckets; want the set's %d", live, len(ids))
		}
		f.start(victim, "--workers", "2")
		eventually(t, 10*time.Second, victim+" is back", f.settled(all...))
	}
	t.Logf("kill -9: the others owned the share after %s", durations(owned))
	t.Logf("kill -9: first fenced write of the share by another node after %s", durations(kills))
	t.Logf("SIGTERM: the others owned the share after %s", durations(terms))
	t.Logf("SIGTERM: first fenced write of the share by another node after %s", durations(termWrites))
}

// durations lists ds sorted, with their median and maximum.
func durations(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := append([]time.Duration(nil), ds...)
	slices.Sort(s)
	var parts []string
	for _, d := range s {
		parts = append(parts, d.Round(time.Millisecond).String())
	}
	return fmt.Sprintf("%s (p50 %s, max %s)", strings.Join(parts, ", "), s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func getText(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// metricValue returns the value of the unlabelled sample name in a
// Prometheus text exposition; -1 when it has none.
func metricValue(text, name string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err == nil {
				return f
			}
		}
	}
	return -1
}

// TestClusterPause stops one of three nodes with SIGSTOP beyond its lease
// while they converge: the others take its share over, and once resumed
// it steps down, joins again as a new incarnation, and the set converges,
// each bucket made once.
func TestClusterPause(t *testing.T) {
	f := newFleet(t, 150*time.Millisecond)
	all := []string{"n1", "n2", "n3"}
	ids := buckets(t, f.manifests, 0, 60)
	for _, n := range all {
		f.start(n, "--workers", "2")
	}
	victim := "n3"
	share := map[string]bool{}
	for _, id := range ids {
		if cluster.Owner(id, all) == victim {
			share[id] = true
		}
	}
	eventually(t, 20*time.Second, victim+" converges part of its share", func() string {
		got := f.records()
		ready := 0
		for id := range share {
			if got[id] == store.PhaseReady {
				ready++
			}
		}
		if ready < 2 {
			return fmt.Sprintf("%d of %d Ready", ready, len(share))
		}
		return ""
	})
	p := f.nodes[victim]
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	eventually(t, 10*time.Second, "n1 and n2 take the paused node's share over", f.settled("n1", "n2"))
	t.Logf("the others owned the paused node's share %s after SIGSTOP (lease TTL 2s)", time.Since(paused).Round(time.Millisecond))
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "the resumed node joins again", func() string {
		if !strings.Contains(p.stderr.String(), "joining the cluster again") {
			return "it did not say it joins again"
		}
		return f.settled(all...)()
	})
	if p.exited() {
		t.Fatalf("the resumed node exited: %s", tail(p.stderr.String(), 20))
	}
	eventually(t, 25*time.Second, "the set converges", f.converged(ids, ""))
	f.createdOnce(names(ids))
}

// apiRequest is one request a node sent cloudsim, as its front saw it.
type apiRequest struct {
	node     string
	at       time.Time // when it arrived
	mutating bool
}

// fronts stand between the nodes and cloudsim, one per node, so that each
// request is known by the node that sent it.
type fronts struct {
	mu       sync.Mutex
	reqs     []apiRequest
	inFlight map[string]int // by node: requests arrived and not answered
}

// front returns the URL of a front to cloudsim for node, for --cloud-url.
func (f *fleet) front(fr *fronts, node string) string {
	f.t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1/") {
			f.sim.ServeHTTP(w, r)
			return
		}
		fr.mu.Lock()
		fr.reqs = append(fr.reqs, apiRequest{node: node, at: time.Now(), mutating: r.Method != http.MethodGet && r.Method != http.MethodHead})
		if fr.inFlight == nil {
			fr.inFlight = map[string]int{}
		}
		fr.inFlight[node]++
		fr.mu.Unlock()
		f.sim.ServeHTTP(w, r)
		fr.mu.Lock()
		fr.inFlight[node]--
		fr.mu.Unlock()
	}))
	f.t.Cleanup(srv.Close)
	return srv.URL
}

func (fr *fronts) requests() []apiRequest {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	out := slices.Clone(fr.reqs)
	slices.SortFunc(out, func(a, b apiRequest) int { return a.at.Compare(b.at) })
	return out
}

func (fr *fronts) inFlightOf(node string) int {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	return fr.inFlight[node]
}

// maxInWindow returns the most requests of reqs (sorted, filtered by keep)
// that arrived within one window of length w, and when that window began.
func maxInWindow(reqs []apiRequest, w time.Duration, keep func(apiRequest) bool) (int, time.Time) {
	var kept []time.Time
	for _, r := range reqs {
		if keep == nil || keep(r) {
			kept = append(kept, r.at)
		}
	}
	most, at, j := 0, time.Time{}, 0
	for i := range kept {
		for kept[i].Sub(kept[j]) >= w {
			j++
		}
		if n := i - j + 1; n > most {
			most, at = n, kept[j]
		}
	}
	return most, at
}

// rateOf returns the requests per second of reqs from node ("": any) that
// arrived in [from, to).
func rateOf(reqs []apiRequest, node string, from, to time.Time) float64 {
	n := 0
	for _, r := range reqs {
		if (node == "" || r.node == node) && !r.at.Before(from) && r.at.Before(to) {
			n++
		}
	}
	return float64(n) / to.Sub(from).Seconds()
}

// TestClusterSharesRateLimits runs three nodes against cloudsim with a
// ProviderConfig of qps 20 and burst 5: each node keeps to its part, so
// that no one-second window sees more than qps + burst requests from the
// three together; once one node leaves (SIGTERM), the two left take its
// part over, and the set converges.
func TestClusterSharesRateLimits(t *testing.T) {
	const qps, burst = 20, 5
	f := newFleet(t, 0)
	ids := buckets(t, f.manifests, 0, 300)
	if err := os.WriteFile(filepath.Join(f.manifests, "provider.yaml"), []byte(fmt.Sprintf("kind: ProviderConfig\nmetadata: {name: cloud}\nspec: {qps: %d, burst: %d}\n", qps, burst)), 0o644); err != nil {
		t.Fatal(err)
	}
	fr := &fronts{}
	all := []string{"n1", "n2", "n3"}
	for _, n := range all {
		f.start(n, "--cloud-url", f.front(fr, n))
	}
	eventually(t, 20*time.Second, "the cluster settles", f.settled(all...))
	threeFrom := time.Now()
	// n3 leaves once a third of the set is Ready.
	eventually(t, 60*time.Second, "a third of the set Ready", func() string {
		ready := 0
		for _, ph := range f.records() {
			if ph == store.PhaseReady {
				ready++
			}
		}
		if ready < len(ids)/3 {
			return fmt.Sprintf("%d Ready", ready)
		}
		return ""
	})
	left := time.Now()
	if err := f.nodes["n3"].cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "n1 and n2 own everything", f.settled("n1", "n2"))
	twoFrom := time.Now()
	<-f.nodes["n3"].done
	eventually(t, 120*time.Second, "the two converge the set", f.converged(ids, ""))
	done := time.Now()
	f.createdOnce(names(ids))

	reqs := fr.requests()
	most, at := maxInWindow(reqs, time.Second, nil)
	t.Logf("%d requests in %s; at most %d in one second (from %s after the first), the cluster's budget %d + burst %d",
		len(reqs), done.Sub(reqs[0].at).Round(time.Millisecond), most, at.Sub(reqs[0].at).Round(time.Millisecond), qps, burst)
	if most > qps+burst {
		t.Errorf("%d requests in one second from the three nodes; want at most qps + burst = %d", most, qps+burst)
	}
	// The rates: three nodes, from the time all had settled on the three
	// until n3 left; two nodes for 5 s once they settled.
	twoTo := twoFrom.Add(5 * time.Second)
	if done.Before(twoTo) {
		t.Fatalf("premise: the set converged %s after n3 left: no time to measure two nodes", done.Sub(left))
	}
	three, two := rateOf(reqs, "", threeFrom, left), rateOf(reqs, "", twoFrom, twoTo)
	t.Logf("cluster rate: %.1f/s with three nodes, %.1f/s with two (budget %d/s)", three, two, qps)
	for _, n := range []string{"n1", "n2"} {
		before, after := rateOf(reqs, n, threeFrom, left), rateOf(reqs, n, twoFrom, twoTo)
		t.Logf("%s: %.1f/s among three, %.1f/s among two", n, before, after)
		if after < before*1.25 {
			t.Errorf("%s sent %.1f/s among three and %.1f/s among two; want its rate to rise to about half the budget", n, before, after)
		}
	}
	// The budget is used: the nodes press on it, three as two.
	if three < 0.8*qps || two < 0.8*qps {
		t.Errorf("cluster rate %.1f/s with three nodes, %.1f/s with two; want both near the budget of %d/s (the test presses on it)", three, two, qps)
	}
}

// logTime returns the time of the first line of a node's JSON log whose
// message begins with msg; zero when none does.
func logTime(log, msg string) time.Time {
	for _, line := range strings.Split(log, "\n") {
		var l struct {
			Time time.Time
			Msg  string
		}
		if json.Unmarshal([]byte(line), &l) == nil && strings.HasPrefix(l.Msg, msg) {
			return l.Time
		}
	}
	return time.Time{}
}

// TestClusterPauseLandsNoCallPastTheLease stops one of three nodes with
// SIGSTOP beyond its lease while it has provider calls in flight and
// queued behind its limits, and continues it: no create, update or delete
// of that node reaches cloudsim once it continued, until it joined again
// as a new incarnation. Its calls were queued behind a tight rate limit
// after it recorded their intents: without a check of its share right
// before each call, they go out as soon as it runs again.
func TestClusterPauseLandsNoCallPastTheLease(t *testing.T) {
	f := newFleet(t, 150*time.Millisecond)
	ids := buckets(t, f.manifests, 0, 45)
	if err := os.WriteFile(filepath.Join(f.manifests, "provider.yaml"), []byte("kind: ProviderConfig\nmetadata: {name: cloud}\nspec: {qps: 9, burst: 3}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fr := &fronts{}
	all := []string{"n1", "n2", "n3"}
	for _, n := range all {
		f.start(n, "--workers", "4", "--cloud-url", f.front(fr, n))
	}
	victim := "n3"
	share := map[string]bool{}
	for _, id := range ids {
		if cluster.Owner(id, all) == victim {
			share[id] = true
		}
	}
	eventually(t, 20*time.Second, "the cluster settles", f.settled(all...))
	// Stop the victim once it converged part of its share, with a call in
	// flight and creates recorded and queued behind the rate limit, as
	// seen once it is stopped (continued at once, and stopped again
	// later, when it is not so).
	p := f.nodes[victim]
	state := func() (ready, creating, inFlight int) {
		for id, ph := range f.records() {
			switch {
			case !share[id]:
			case ph == store.PhaseReady:
				ready++
			case ph == store.PhaseCreating:
				creating++
			}
		}
		return ready, creating, fr.inFlightOf(victim)
	}
	var stopped time.Time
	var inFlight, intents int
	for try := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		if time.Since(try) > 30*time.Second {
			t.Fatalf("premise: %s never had a call in flight and creates queued, after part of its share converged", victim)
		}
		if ready, creating, n := state(); ready < 2 || n == 0 || creating < n+2 {
			continue
		}
		if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		stopped = time.Now()
		_, intents, inFlight = state()
		if inFlight > 0 && intents > inFlight {
			break
		}
		if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "n1 and n2 take the paused node's share over", f.settled("n1", "n2"))
	time.Sleep(500 * time.Millisecond) // well beyond the lease (2 s)
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	if resumed.Sub(stopped) <= 2*time.Second {
		t.Fatalf("premise: %s was stopped for %s, not beyond its lease (2 s)", victim, resumed.Sub(stopped))
	}
	eventually(t, 15*time.Second, "the resumed node joins again", func() string {
		if logTime(p.stderr.String(), "joining the cluster again").IsZero() {
			return "it did not say it joins again"
		}
		return f.settled(all...)()
	})
	rejoin := logTime(p.stderr.String(), "joining the cluster again")
	if rejoin.Before(resumed) {
		t.Fatalf("premise: %s says it joins again at %s, before it was continued at %s", victim, rejoin, resumed)
	}
	late := 0
	for _, r := range fr.requests() {
		if r.node == victim && r.mutating && !r.at.Before(resumed) && r.at.Before(rejoin) {
			late++
		}
	}
	t.Logf("%s stopped with %d calls in flight and %d creates recorded, for %s (lease TTL 2 s); mutating requests from it once continued, before it joined again: %d",
		victim, inFlight, intents, resumed.Sub(stopped).Round(time.Millisecond), late)
	if late != 0 {
		t.Errorf("%d mutating requests of %s reached cloudsim after its lease deadline; want 0", late, victim)
	}
	eventually(t, 40*time.Second, "the set converges", f.converged(ids, ""))
	f.createdOnce(names(ids))
}
