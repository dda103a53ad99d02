package cloudsim_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/cloudsim"
)

func TestRateLimit(t *testing.T) {
	e := newEnv(t, cloudsim.Config{QPS: 2, Burst: 3})
	type answer struct {
		Status     int
		RetryAfter string
	}
	get := func() answer {
		r := e.do("GET", "/v1/networks", nil)
		return answer{r.status, r.header.Get("Retry-After")}
	}
	steps := []struct {
		name string
		step time.Duration
		want []answer
	}{
		{"burst then limited", 0, []answer{{200, ""}, {200, ""}, {200, ""}, {429, "1"}}},
		{"one token after half a second", 500 * time.Millisecond, []answer{{200, ""}, {429, "1"}}},
		{"bucket refills to burst, not beyond", time.Hour, []answer{{200, ""}, {200, ""}, {200, ""}, {429, "1"}}},
	}
	for _, s := range steps {
		e.clock.Step(s.step)
		var got []answer
		for range s.want {
			got = append(got, get())
		}
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", s.name, diff)
		}
	}
	a := e.srv.Audit()
	if got, want := a.RateLimited, 3; got != want {
		t.Errorf("audit rateLimited: got %d; want %d", got, want)
	}
	// Admin endpoints are not limited.
	for range 5 {
		if r := e.do("GET", "/admin/audit", nil); r.status != 200 {
			t.Fatalf("GET /admin/audit: got %d; want 200", r.status)
		}
	}
}

func TestRetryAfterRoundsUp(t *testing.T) {
	e := newEnv(t, cloudsim.Config{QPS: 0.25, Burst: 1})
	e.do("GET", "/v1/networks", nil)
	e.clock.Step(time.Second)
	r := e.do("GET", "/v1/networks", nil)
	if got, want := r.header.Get("Retry-After"), "3"; r.status != 429 || got != want {
		t.Errorf("got %d Retry-After %q; want 429 Retry-After %q", r.status, got, want)
	}
}

func TestMaxPerSecond(t *testing.T) {
	// Arrivals (ms after start) and how many each request sees within the
	// sliding second ending at it.
	tests := map[string]struct {
		cfg          cloudsim.Config
		arrivals     []time.Duration
		wantMax      int
		wantAdmitted int
	}{
		"one second apart never share a window": {
			arrivals: []time.Duration{0, time.Second, 2 * time.Second},
			wantMax:  1, wantAdmitted: 1,
		},
		"sliding window spans a second boundary": {
			// 0.6, 0.9, 1.2, 1.5 are within one second: 4.
			arrivals: []time.Duration{0, 600 * time.Millisecond, 900 * time.Millisecond, 1200 * time.Millisecond, 1500 * time.Millisecond, 2600 * time.Millisecond},
			wantMax:  4, wantAdmitted: 4,
		},
		"rejected requests count as seen, not admitted": {
			cfg:      cloudsim.Config{QPS: 1, Burst: 2},
			arrivals: []time.Duration{0, 0, 0, 0, 0, 100 * time.Millisecond},
			wantMax:  6, wantAdmitted: 2,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, tc.cfg)
			var at time.Duration
			for _, a := range tc.arrivals {
				e.clock.Step(a - at)
				at = a
				e.do("GET", "/v1/buckets", nil)
			}
			got := e.srv.Audit()
			if got.MaxPerSecond != tc.wantMax || got.MaxAdmittedPerSecond != tc.wantAdmitted {
				t.Errorf("got max %d, admitted %d; want %d, %d", got.MaxPerSecond, got.MaxAdmittedPerSecond, tc.wantMax, tc.wantAdmitted)
			}
		})
	}
}
