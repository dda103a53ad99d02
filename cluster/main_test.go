package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/convergehq/converge/store/etcd"
)

// endpoint is the client URL of the etcd every test shares; each test
// keeps its keys under a prefix of its own.
var endpoint string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "converge-cluster-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	e, err := startEtcd(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start etcd:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	endpoint = e.Clients[0].Addr().String()
	code := m.Run()
	e.Close()
	<-e.Err()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startEtcd starts a one-member etcd on free loopback ports, tuned for
// speed: a 10 ms tick and a 100 ms election (so leases of 1 s are
// granted), no fsync, no logs. Free ports are found by listening on port
// 0; another process may take one before etcd does, so it tries a few
// times.
func startEtcd(dir string) (*embed.Etcd, error) {
	var err error
	for attempt := range 5 {
		cfg := embed.NewConfig()
		cfg.Dir = fmt.Sprintf("%s/%d", dir, attempt)
		cfg.TickMs, cfg.ElectionMs = 10, 100
		cfg.UnsafeNoFsync = true
		cfg.LogOutputs = []string{"/dev/null"}
		var client, peer *url.URL
		if client, err = freeURL(); err != nil {
			return nil, err
		}
		if peer, err = freeURL(); err != nil {
			return nil, err
		}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*client}, []url.URL{*client}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*peer}
		cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
		var e *embed.Etcd
		if e, err = embed.StartEtcd(cfg); err != nil {
			continue
		}
		select {
		case <-e.Server.ReadyNotify():
			return e, nil
		case <-time.After(30 * time.Second):
			e.Close()
			return nil, errors.New("etcd not ready within 30s")
		}
	}
	return nil, err
}

func freeURL() (*url.URL, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer l.Close()
	return &url.URL{Scheme: "http", Host: l.Addr().String()}, nil
}

// prefix returns a prefix no other test uses.
func prefix(t testing.TB) string {
	b := make([]byte, 6)
	rand.Read(b)
	return fmt.Sprintf("/test/%s-%s/", strings.ReplaceAll(t.Name(), "/", "_"), hex.EncodeToString(b))
}

// client returns a client of the test etcd, closed with the test: one per
// node, so that closing it kills that node alone.
func client(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// openStore returns the etcd store under p, through its own client.
func openStore(t testing.TB, p string) *etcd.Store {
	t.Helper()
	s, err := etcd.Open(context.Background(), etcd.Config{Client: client(t), Prefix: p})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// join joins a node named name under cfg.Prefix with a client of its own;
// the node is closed with the test.
func join(t testing.TB, cfg Config, name string) *Node {
	t.Helper()
	cfg.Node = name
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	n, err := Join(context.Background(), client(t), cfg)
	if err != nil {
		t.Fatalf("join %s: %v", name, err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// ids returns k resource IDs.
func ids(k int) []string {
	s := make([]string, k)
	for i := range s {
		s[i] = fmt.Sprintf("file.r%04d", i)
	}
	return s
}

// waitFor polls cond every 2 ms until it holds, and returns when it first
// did; it fails the test after limit.
func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) time.Time {
	t.Helper()
	end := time.Now().Add(limit)
	for {
		if cond() {
			return time.Now()
		}
		if time.Now().After(end) {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// settled reports whether every node adopted a view of exactly them and
// every member adopted it.
func settled(nodes ...*Node) bool {
	var id string
	for i, n := range nodes {
		v, ok := n.View()
		if !ok || len(v.Members) != len(nodes) {
			return false
		}
		if i == 0 {
			id = v.ID
		} else if v.ID != id {
			return false
		}
	}
	return true
}

// owners returns, for each id, the nodes whose Owns says true.
func owners(keys []string, nodes ...*Node) map[string][]string {
	m := make(map[string][]string, len(keys))
	for _, id := range keys {
		for _, n := range nodes {
			if n.Owns(id) {
				m[id] = append(m[id], n.Name())
			}
		}
	}
	return m
}
