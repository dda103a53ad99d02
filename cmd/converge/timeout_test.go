package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestTimeoutBoundsInFlightCalls: --timeout bounds the whole apply, the
// call in flight included, even when one provider call alone would take
// longer than the timeout.
func TestTimeoutBoundsInFlightCalls(t *testing.T) {
	var posts atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			posts.Add(1)
		}
		select { // hang far longer than the timeout
		case <-release:
		case <-r.Context().Done():
		case <-time.After(60 * time.Second):
		}
		http.Error(w, "too late", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	defer close(release)

	e := newEnv(t)
	e.write(map[string]string{"slow.yaml": `kind: http.Resource
metadata:
  name: slow
spec:
  url: ` + srv.URL + `/v1/widgets
  body: {name: slow}
`})
	began := time.Now()
	r := e.run("apply", "--timeout", "2s")
	took := time.Since(began)
	if posts.Load() == 0 {
		t.Fatalf("premise: the create never reached the server\n%s", r)
	}
	if r.code != 1 {
		t.Errorf("apply against a hanging server: got exit %d; want 1\n%s", r.code, r)
	}
	// The provider's own call timeout is 30 s: an apply that waited for
	// the call would take that long.
	if took > 2*time.Second+5*time.Second {
		t.Errorf("apply --timeout 2s took %s: the call in flight was not bounded", took)
	}
	if !strings.Contains(r.stdout, "Stopped before converging") {
		t.Errorf("the report does not say the apply stopped:\n%s", r)
	}
}
