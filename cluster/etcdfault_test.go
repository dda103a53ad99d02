package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/convergehq/converge/store/etcd/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// startEtcdCluster starts a three-member etcd in this process, members
// started in parallel, and returns them once all are ready, with a kill
// that stops one hard (no leadership transfer); they are closed with the
// test.
func startEtcdCluster(t *testing.T) ([]*embed.Etcd, func(*embed.Etcd)) {
	t.Helper()
	const size = 3
	cfgs := make([]*embed.Config, size)
	var initial []string
	for i := range cfgs {
		cfg := embed.NewConfig()
		cfg.Name = fmt.Sprintf("m%d", i)
		cfg.Dir = t.TempDir()
		cfg.TickMs, cfg.ElectionMs = 10, 100
		cfg.UnsafeNoFsync = true
		cfg.LogOutputs = []string{"/dev/null"}
		client, err := etcdtest.FreeURL()
		if err != nil {
			t.Fatal(err)
		}
		peer, err := etcdtest.FreeURL()
		if err != nil {
			t.Fatal(err)
		}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*client}, []url.URL{*client}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*peer}
		initial = append(initial, cfg.Name+"="+peer.String())
		cfgs[i] = cfg
	}
	es := make([]*embed.Etcd, size)
	errs := make([]error, size)
	var wg sync.WaitGroup
	for i, cfg := range cfgs {
		cfg.InitialCluster = strings.Join(initial, ",")
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := embed.StartEtcd(cfg)
			if err != nil {
				errs[i] = err
				return
			}
			es[i] = e
			select {
			case <-e.Server.ReadyNotify():
			case <-time.After(30 * time.Second):
				errs[i] = errors.New("not ready within 30s")
			}
		}()
	}
	wg.Wait()
	var (
		mu     sync.Mutex
		killed = map[*embed.Etcd]bool{}
		closes sync.WaitGroup
	)
	t.Cleanup(func() {
		mu.Lock()
		for _, e := range es {
			if e != nil && !killed[e] {
				closes.Add(1)
				go func() {
					defer closes.Done()
					e.Close()
				}()
			}
		}
		mu.Unlock()
		closes.Wait()
	})
	kill := func(e *embed.Etcd) {
		mu.Lock()
		defer mu.Unlock()
		killed[e] = true
		e.Server.HardStop()
		// Its listeners take ReqTimeout (5 s) to close after a hard
		// stop: the test goes on meanwhile.
		closes.Add(1)
		go func() {
			defer closes.Done()
			e.Close()
		}()
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("start etcd member m%d: %v (ports may have been taken)", i, err)
		}
	}
	return es, kill
}

// TestEtcdLeaderKillMovesNoShare kills the raft leader of a three-member
// etcd under three settled nodes: the leases survive (a new raft leader
// extends them), so no view changes, no resource changes owner, and the
// converge leader keeps leading.
func TestEtcdLeaderKillMovesNoShare(t *testing.T) {
	start := time.Now()
	es, kill := startEtcdCluster(t)
	t.Logf("three etcd members ready in %s", time.Since(start).Round(time.Millisecond))
	var eps []string
	for _, e := range es {
		eps = append(eps, e.Clients[0].Addr().String())
	}
	cfg := Config{Prefix: etcdtest.Prefix(t), LeaseTTL: 2 * time.Second, Logger: quiet}
	var nodes []*Node
	for i := range 3 {
		cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.Close() })
		c := cfg
		c.Node = fmt.Sprintf("n%d", i)
		n, err := Join(t.Context(), cli, c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		nodes = append(nodes, n)
	}
	waitFor(t, 5*time.Second, "settled", func() bool { return settled(nodes...) })
	waitFor(t, 5*time.Second, "a leader", func() bool { return leaderOf(nodes) != nil })
	keys := ids(300)
	before := owners(keys, nodes...)
	view, _ := nodes[0].View()
	leader := leaderOf(nodes)

	var raftLeader *embed.Etcd
	for _, e := range es {
		if e.Server.Leader() == e.Server.MemberID() {
			raftLeader = e
		}
	}
	if raftLeader == nil {
		t.Fatal("no raft leader")
	}
	killed := time.Now()
	kill(raftLeader)
	// Writes go on through the other members.
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	resumed := waitFor(t, 10*time.Second, "a write after the kill", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		_, err := cli.Put(ctx, cfg.Prefix+"probe", "x")
		return err == nil
	})
	// Watch the shares until a lease not renewed would have expired.
	watch := nodes[0].ttl + time.Second
	end := time.Now().Add(watch)
	for time.Now().Before(end) {
		for _, n := range nodes {
			if v, _ := n.View(); v.ID != view.ID {
				t.Fatalf("%s adopted another view after the etcd leader was killed: %v", n.Name(), v.Names())
			}
		}
		for id, os := range owners(keys, nodes...) {
			if len(os) != 1 || os[0] != before[id][0] {
				t.Fatalf("%s owned by %v after the etcd leader was killed; want %v", id, os, before[id])
			}
		}
		if !leader.IsLeader() {
			t.Fatalf("%s stopped leading after the etcd leader was killed", leader.Name())
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("etcd raft leader killed: writes resumed after %s; over %s no share moved and the leader kept leading",
		resumed.Sub(killed).Round(time.Millisecond), watch)
}
