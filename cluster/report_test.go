package cluster

import (
	"testing"
	"time"

	"github.com/convergehq/converge/store/etcd/etcdtest"
)

// TestStatusShowsManifests checks that each node's manifests show in the
// status, and leave with its lease.
func TestStatusShowsManifests(t *testing.T) {
	cfg := Config{Prefix: etcdtest.Prefix(t), LeaseTTL: 3 * time.Second}
	a, b := join(t, cfg, "a"), join(t, cfg, "b")
	waitFor(t, 5*time.Second, "settled", func() bool { return settled(a, b) })
	if err := a.SetManifests(t.Context(), "rev-a"); err != nil {
		t.Fatal(err)
	}
	st, err := ReadStatus(t.Context(), client(t), cfg.Prefix, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, n := range st.Nodes {
		got[n.Name] = n.Manifests
	}
	if got["a"] != "rev-a" || got["b"] != "" || len(got) != 2 {
		t.Errorf("manifests by node %v; want a: rev-a, b: none", got)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	resp, err := client(t).Get(t.Context(), newKeys(cfg.Prefix).root+manifestsKeys+"a")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 0 {
		t.Errorf("a's manifests outlived its lease: %s", resp.Kvs[0].Value)
	}
}
