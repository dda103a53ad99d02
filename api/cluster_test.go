package api

import (
	"context"
	"net/http"
	"testing"

	"github.com/convergehq/converge/cluster"
)

// clusterFunc is a Cluster made of a function.
type clusterFunc func(ctx context.Context) (ClusterView, error)

func (f clusterFunc) Cluster(ctx context.Context) (ClusterView, error) { return f(ctx) }

func TestClusterEndpoint(t *testing.T) {
	const docs = "kind: mem.Object\nmetadata: {name: web}\nspec: {value: v1}\n"
	view := ClusterView{Enabled: true, Node: "n1", Target: "abc", Status: cluster.Status{
		Leader: "n1", Resources: 3,
		Nodes: []cluster.NodeStatus{{Name: "n1", Leader: true, Share: 2}, {Name: "n2", Share: 1}},
	}}
	tests := map[string]struct {
		cluster     Cluster
		wantEnabled bool
		wantNodes   []string
		wantLeader  string
	}{
		"alone":   {cluster: nil, wantNodes: []string{}},
		"on etcd": {cluster: clusterFunc(func(context.Context) (ClusterView, error) { return view, nil }), wantEnabled: true, wantNodes: []string{"n1", "n2"}, wantLeader: "n1"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			d := startDaemon(t, docs, daemonOptions{cfg: func(c *Config) { c.Cluster = tt.cluster }})
			var got struct {
				Enabled bool   `json:"enabled"`
				Message string `json:"message"`
				Leader  string `json:"leader"`
				Nodes   []struct {
					Name  string `json:"name"`
					Share int    `json:"share"`
				} `json:"nodes"`
			}
			if code := call(t, "GET", d.url+"/api/v1/cluster", "", "", &got); code != http.StatusOK {
				t.Fatalf("GET /api/v1/cluster: status %d", code)
			}
			if got.Nodes == nil {
				t.Fatalf("nodes is null; want a list")
			}
			var names []string
			for _, n := range got.Nodes {
				names = append(names, n.Name)
			}
			if got.Enabled != tt.wantEnabled || len(names) != len(tt.wantNodes) || got.Leader != tt.wantLeader {
				t.Errorf("got enabled %v, nodes %v, leader %q; want %v, %v, %q", got.Enabled, names, got.Leader, tt.wantEnabled, tt.wantNodes, tt.wantLeader)
			}
			for i := range names {
				if names[i] != tt.wantNodes[i] {
					t.Errorf("nodes %v; want %v", names, tt.wantNodes)
				}
			}
			if !tt.wantEnabled && got.Message == "" {
				t.Errorf("a converge that runs alone says nothing of why it has no nodes")
			}
		})
	}
}
