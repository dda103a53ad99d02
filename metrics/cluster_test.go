package metrics

import (
	"testing"
	"time"
)

func TestCluster(t *testing.T) {
	deadline := time.Unix(2_000_000_000, 0)
	tests := map[string]struct {
		stats ClusterStats
		want  map[string]float64
	}{
		"leader": {
			stats: ClusterStats{Leader: true, Share: 7, Members: 3, LeaseDeadline: deadline},
			want: map[string]float64{"converge_cluster_leader{}": 1, "converge_cluster_share_resources{}": 7,
				"converge_cluster_members{}": 3, "converge_cluster_lease_deadline_seconds{}": 2e9},
		},
		"follower, lost": {
			stats: ClusterStats{},
			want: map[string]float64{"converge_cluster_leader{}": 0, "converge_cluster_share_resources{}": 0,
				"converge_cluster_members{}": 0, "converge_cluster_lease_deadline_seconds{}": 0, "converge_cluster_lease_remaining_seconds{}": 0},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			r := New()
			r.Cluster(func() ClusterStats { return tt.stats })
			values, _ := gather(t, r)
			for k, want := range tt.want {
				if got, ok := values[k]; !ok || got != want {
					t.Errorf("%s = %v (present %v); want %v", k, got, ok, want)
				}
			}
			if !tt.stats.LeaseDeadline.IsZero() && values["converge_cluster_lease_remaining_seconds{}"] <= 0 {
				t.Errorf("a deadline ahead shows %v seconds remaining", values["converge_cluster_lease_remaining_seconds{}"])
			}
		})
	}
}
