package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ClusterStats is what a cluster node reports of itself (see Cluster).
type ClusterStats struct {
	// Leader says that the node leads now.
	Leader bool
	// Share is how many of the target's resources the node owns now.
	Share int
	// Members is how many live nodes the node's view holds.
	Members int
	// LeaseDeadline is until when the node may act without hearing from
	// etcd again (cluster.Node.Deadline).
	LeaseDeadline time.Time
}

// Cluster reports, at every scrape, what stats says of the node:
// converge_cluster_leader (1 while it leads, else 0),
// converge_cluster_share_resources, converge_cluster_members,
// converge_cluster_lease_deadline_seconds (a Unix time) and
// converge_cluster_lease_remaining_seconds (from the scrape; at or below 0
// the node acts on nothing). Call it once, on a node of a cluster.
func (r *Registry) Cluster(stats func() ClusterStats) {
	r.reg.MustRegister(clusterCollector{stats: stats,
		leader:    prometheus.NewDesc("converge_cluster_leader", "1 while this node leads the cluster (it publishes and judges the target), else 0.", nil, nil),
		share:     prometheus.NewDesc("converge_cluster_share_resources", "Resources of the target this node owns now.", nil, nil),
		members:   prometheus.NewDesc("converge_cluster_members", "Live nodes in this node's view of the cluster.", nil, nil),
		deadline:  prometheus.NewDesc("converge_cluster_lease_deadline_seconds", "Until when this node may act without hearing from etcd again, as a Unix time.", nil, nil),
		remaining: prometheus.NewDesc("converge_cluster_lease_remaining_seconds", "How long this node may act without hearing from etcd again; at or below 0 it acts on nothing.", nil, nil),
	})
}

type clusterCollector struct {
	stats                                       func() ClusterStats
	leader, share, members, deadline, remaining *prometheus.Desc
}

func (c clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.leader, c.share, c.members, c.deadline, c.remaining} {
		ch <- d
	}
}

func (c clusterCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	leader := 0.0
	if s.Leader {
		leader = 1
	}
	ch <- prometheus.MustNewConstMetric(c.leader, prometheus.GaugeValue, leader)
	ch <- prometheus.MustNewConstMetric(c.share, prometheus.GaugeValue, float64(s.Share))
	ch <- prometheus.MustNewConstMetric(c.members, prometheus.GaugeValue, float64(s.Members))
	deadline, remaining := 0.0, 0.0
	if !s.LeaseDeadline.IsZero() {
		deadline = float64(s.LeaseDeadline.UnixNano()) / 1e9
		remaining = time.Until(s.LeaseDeadline).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(c.deadline, prometheus.GaugeValue, deadline)
	ch <- prometheus.MustNewConstMetric(c.remaining, prometheus.GaugeValue, remaining)
}
