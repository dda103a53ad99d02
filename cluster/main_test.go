package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/convergehq/converge/store/etcd"
	"github.com/convergehq/converge/store/etcd/etcdtest"
)

// endpoint is the client URL of the etcd every test shares; each test
// keeps its keys under a prefix of its own.
var endpoint string

func TestMain(m *testing.M) { etcdtest.Main(m, &endpoint) }

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
