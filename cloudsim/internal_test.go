package cloudsim

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestLatencyDraws(t *testing.T) {
	const fixed, jitter = 100 * time.Millisecond, 50 * time.Millisecond
	draws := func(seed uint64) []time.Duration {
		s := New(Config{Seed: seed, Faults: Faults{Latency: Duration(fixed), LatencyJitter: Duration(jitter)}})
		now := s.clock.Now()
		out := make([]time.Duration, 200)
		for i := range out {
			out[i] = s.drawFaults(now).latency
		}
		return out
	}
	a := draws(3)
	if diff := cmp.Diff(a, draws(3)); diff != "" {
		t.Errorf("same seed, different latencies (-first +second):\n%s", diff)
	}
	lo, hi := a[0], a[0]
	for _, d := range a {
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo < fixed || hi >= fixed+jitter {
		t.Errorf("latencies span [%v, %v]; want within [%v, %v)", lo, hi, fixed, fixed+jitter)
	}
	if hi-lo < jitter/2 {
		t.Errorf("latencies span only [%v, %v]; want them spread over the jitter %v", lo, hi, jitter)
	}
}

func TestHistoryIsForgotten(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := New(Config{Clock: clk, Lag: time.Second, IdempotencyTTL: time.Hour})
	e := httptest.NewServer(s)
	defer e.Close()
	do := func(method, path, body string, header ...string) int {
		t.Helper()
		req, err := http.NewRequest(method, e.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := e.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := do("POST", "/v1/buckets", `{"name":"keyed"}`, "Idempotency-Key", "k"); got != 201 {
		t.Fatalf("keyed create: got %d; want 201", got)
	}
	clk.Step(2 * time.Hour)
	deleted := firstFiller(s, "")
	if got := do("DELETE", "/v1/buckets/"+deleted, ""); got != 204 {
		t.Fatalf("delete: got %d; want 204", got)
	}
	// Enough writes to sweep all history; the deleted bucket is still
	// readable for the lag, so it must survive this sweep.
	for range 256 {
		if got := do("POST", "/v1/buckets", `{"name":"filler"}`); got != 201 {
			t.Fatalf("filler create: got %d; want 201", got)
		}
	}
	if got := do("GET", "/v1/buckets/"+deleted, ""); got != 200 {
		t.Errorf("deleted bucket within the lag: got %d; want 200", got)
	}
	if _, ok := s.st.keys["buckets\x00k"]; ok {
		t.Errorf("expired idempotency key still remembered")
	}
	clk.Step(time.Second)
	filler := firstFiller(s, deleted)
	for i := range 256 {
		if got := do("PATCH", "/v1/buckets/"+filler, fmt.Sprintf(`{"versioning":%v}`, i%2 == 0)); got != 200 {
			t.Fatalf("filler update: got %d; want 200", got)
		}
	}
	if _, ok := s.st.objects[deleted]; ok {
		t.Errorf("deleted bucket still kept after the lag passed")
	}
	if got := do("GET", "/v1/buckets/"+deleted, ""); got != 404 {
		t.Errorf("deleted bucket after the lag: got %d; want 404", got)
	}
}

// firstFiller returns the ID of a live bucket other than skip.
func firstFiller(s *Server, skip string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, o := range s.st.objects {
		if id != skip && o.current() != nil {
			return id
		}
	}
	return ""
}
