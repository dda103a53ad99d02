package alert

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/diff"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// receiver records what it gets; it fails the first failN requests.
type receiver struct {
	mu    sync.Mutex
	got   []Alert
	calls int
	failN int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.calls <= r.failN {
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	var a Alert
	if err := json.NewDecoder(req.Body).Decode(&a); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.got = append(r.got, a)
}

func TestDeliversInOrderWithRetriesAndMasking(t *testing.T) {
	rcv := &receiver{failN: 2}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	n := New([]string{srv.URL}, Options{BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, Logger: quiet()})
	n.Notify(Alert{Type: "drift", Reason: "DriftDetected", Resource: "file.File/a", Diff: diff.Diff{
		{Path: "token", Old: "old-secret", New: "new-secret", Sensitive: true},
		{Path: "content", Old: "a", New: "b"},
	}})
	n.Notify(Alert{Type: "failure", Reason: "Failed", Resource: "file.File/b", Message: "permission denied"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n.Close(ctx)

	var reasons []string
	for _, a := range rcv.got {
		reasons = append(reasons, a.Reason)
	}
	if diff := cmp.Diff([]string{"DriftDetected", "Failed"}, reasons); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	if got := rcv.got[0].Diff[0]; got.Old != "(sensitive)" || got.New != "(sensitive)" {
		t.Errorf("sensitive change delivered as %+v", got)
	}
	if s := n.Stats(); s.Sent != 2 || s.Retries != 2 || s.Undeliverable != 0 {
		t.Errorf("stats = %+v; want 2 sent, 2 retries", s)
	}
}

func TestUndeliverableIsCountedAndNeverBlocks(t *testing.T) {
	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	n := New([]string{url}, Options{MaxAttempts: 2, BackoffBase: time.Millisecond, Buffer: 10, Logger: quiet()})
	start := time.Now()
	for i := 0; i < 10000; i++ {
		n.Notify(Alert{Reason: "Failed"})
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("10,000 Notify calls took %s; Notify must not block", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n.Close(ctx)
	s := n.Stats()
	if s.Sent != 0 || s.Undeliverable+s.Dropped != 10000 || s.Dropped < 9000 {
		t.Errorf("stats = %+v; want every alert undeliverable or dropped", s)
	}
}

func TestRateLimited(t *testing.T) {
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	n := New([]string{srv.URL}, Options{QPS: 20, Burst: 1, Logger: quiet()})
	start := time.Now()
	for i := 0; i < 11; i++ {
		n.Notify(Alert{Reason: "Failed"})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n.Close(ctx)
	// 11 posts at 20/s with a burst of 1 take at least 10 intervals of 50ms.
	if d := time.Since(start); d < 450*time.Millisecond {
		t.Errorf("11 alerts delivered in %s; the rate limit allows no less than 500ms", d)
	}
	if len(rcv.got) != 11 {
		t.Errorf("delivered %d; want 11", len(rcv.got))
	}
}
