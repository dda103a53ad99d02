package alert

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestWebhookSecrets: a webhook URL's password and its path and query
// (where services keep their tokens) never appear in logs, and a redirect
// is not followed: the alert, and the credentials of the URL, go to the
// webhook's own origin only.
func TestWebhookSecrets(t *testing.T) {
	var mu sync.Mutex
	var stolen int
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		stolen++
		mu.Unlock()
	}))
	defer other.Close()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/collect", http.StatusTemporaryRedirect)
	}))
	defer hook.Close()
	u := strings.Replace(hook.URL, "http://", "http://bot:hook-pa55word@", 1) + "/services/T000/B000/hook-path-token?sig=hook-query-token"
	var logs bytes.Buffer
	n := New([]string{u}, Options{MaxAttempts: 2, BackoffBase: time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	n.Notify(Alert{Type: "failure", Reason: "Failed", Message: "m"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n.Close(ctx)
	if s := n.Stats(); s.Undeliverable != 1 {
		t.Errorf("stats %+v; want the alert undeliverable (a redirect is a failure)", s)
	}
	mu.Lock()
	defer mu.Unlock()
	if stolen != 0 {
		t.Errorf("%d requests followed the redirect to another origin", stolen)
	}
	for _, s := range []string{"hook-pa55word", "hook-path-token", "hook-query-token"} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("logs hold %q:\n%s", s, logs.String())
		}
	}
	if !strings.Contains(logs.String(), "307") || !strings.Contains(logs.String(), hook.Listener.Addr().String()) {
		t.Errorf("logs do not say which webhook failed, and why:\n%s", logs.String())
	}
}
