package api

import (
	"context"
	"net/http"
	"time"

	"github.com/convergehq/converge/cluster"
)

// Cluster is the view of the cluster the daemon runs in, as one node of
// several sharing an etcd state (GET /api/v1/cluster).
type Cluster interface {
	Cluster(ctx context.Context) (ClusterView, error)
}

// ClusterView is what GET /api/v1/cluster answers and converge cluster
// status prints: the live nodes, the leader, each node's share and lease.
type ClusterView struct {
	// Enabled says that the state is on etcd, where nodes share it; false
	// for a converge that runs alone (Nodes is then empty).
	Enabled bool `json:"enabled"`
	// Message says why, when Enabled is false.
	Message string `json:"message,omitempty"`
	// Node is the node that answered; empty from the CLI.
	Node string `json:"node,omitempty"`
	// Target is the published target revision's hash.
	Target string `json:"target,omitempty"`
	cluster.Status
	// ResourcesByNode lists the resources of each node's share, when
	// asked for.
	ResourcesByNode map[string][]string `json:"resourcesByNode,omitempty"`
}

// NotClustered is the ClusterView of a converge whose state is not on
// etcd.
func NotClustered() ClusterView {
	return ClusterView{
		Message: "converge runs alone: its state is not on etcd (converge run --store etcd://HOST:PORT runs it as one node of several)",
		Status:  cluster.Status{Nodes: []cluster.NodeStatus{}, At: time.Now()},
	}
}

func (h *Handler) cluster(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Cluster == nil {
		writeJSON(w, http.StatusOK, NotClustered())
		return nil
	}
	v, err := h.cfg.Cluster.Cluster(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}
