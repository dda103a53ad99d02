package queue

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLimiterConfigShare(t *testing.T) {
	tests := map[string]struct {
		cfg  LimiterConfig
		n    int
		want []LimiterConfig // by index
	}{
		"alone": {
			cfg: LimiterConfig{QPS: 20, Burst: 5, MaxInFlight: 8}, n: 1,
			want: []LimiterConfig{{QPS: 20, Burst: 5, MaxInFlight: 8}},
		},
		"three nodes: the remainders go to the first": {
			cfg: LimiterConfig{QPS: 20, Burst: 5, MaxInFlight: 8}, n: 3,
			want: []LimiterConfig{{QPS: 20.0 / 3, Burst: 2, MaxInFlight: 3}, {QPS: 20.0 / 3, Burst: 2, MaxInFlight: 3}, {QPS: 20.0 / 3, Burst: 1, MaxInFlight: 2}},
		},
		"two nodes, even": {
			cfg: LimiterConfig{QPS: 20, Burst: 4, MaxInFlight: 8}, n: 2,
			want: []LimiterConfig{{QPS: 10, Burst: 2, MaxInFlight: 4}, {QPS: 10, Burst: 2, MaxInFlight: 4}},
		},
		"more nodes than maxInFlight and burst: one each, above the limit": {
			cfg: LimiterConfig{QPS: 3, Burst: 2, MaxInFlight: 2}, n: 3,
			want: []LimiterConfig{{QPS: 1, Burst: 1, MaxInFlight: 1}, {QPS: 1, Burst: 1, MaxInFlight: 1}, {QPS: 1, Burst: 1, MaxInFlight: 1}},
		},
		"a burst below one with a qps is one": {
			cfg: LimiterConfig{QPS: 10}, n: 2,
			want: []LimiterConfig{{QPS: 5, Burst: 1}, {QPS: 5, Burst: 1}},
		},
		"unlimited stays unlimited": {
			cfg: LimiterConfig{}, n: 3,
			want: []LimiterConfig{{}, {}, {}},
		},
		"only maxInFlight": {
			cfg: LimiterConfig{MaxInFlight: 16}, n: 3,
			want: []LimiterConfig{{MaxInFlight: 6}, {MaxInFlight: 5}, {MaxInFlight: 5}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got []LimiterConfig
			var qps float64
			inFlight, burst := 0, 0
			for i := range tc.n {
				s := tc.cfg.Share(i, tc.n)
				got = append(got, s)
				qps += s.QPS
				inFlight += s.MaxInFlight
				burst += s.Burst
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("shares (-want +got):\n%s", diff)
			}
			// The parts add up to the limit, unless each node needed one.
			if tc.cfg.QPS > 0 && (qps < tc.cfg.QPS-1e-9 || qps > tc.cfg.QPS+1e-9) {
				t.Errorf("qps parts add up to %v; want %v", qps, tc.cfg.QPS)
			}
			if tc.cfg.MaxInFlight >= tc.n && inFlight != tc.cfg.MaxInFlight {
				t.Errorf("maxInFlight parts add up to %d; want %d", inFlight, tc.cfg.MaxInFlight)
			}
			if tc.cfg.QPS > 0 && tc.cfg.Burst >= tc.n && burst != tc.cfg.Burst {
				t.Errorf("burst parts add up to %d; want %d", burst, tc.cfg.Burst)
			}
		})
	}
	for _, i := range []int{-1, 3} {
		t.Run(fmt.Sprintf("index %d of 3", i), func(t *testing.T) {
			c := LimiterConfig{QPS: 9, Burst: 3, MaxInFlight: 3}
			if got := c.Share(i, 3); got != c {
				t.Errorf("Share(%d, 3) = %+v; want the limits as they are", i, got)
			}
		})
	}
}
