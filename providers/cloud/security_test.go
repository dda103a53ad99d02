package cloud_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/convergehq/converge/cloudsim"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/providers/cloud"
)

// TestRedirects: the cloud provider follows no redirect by default, and
// with followRedirects: same-origin only those to the same origin; what it
// sends (the credentials of the base URL included) never reaches another
// origin.
func TestRedirects(t *testing.T) {
	var mu sync.Mutex
	var stolen []http.Header
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		stolen = append(stolen, r.Header.Clone())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`[]`))
	}))
	t.Cleanup(other.Close)
	sim := httptest.NewServer(cloudsim.New(cloudsim.Config{}))
	t.Cleanup(sim.Close)
	var target string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			http.Redirect(w, r, target+r.URL.RequestURI(), http.StatusTemporaryRedirect)
			return
		}
		// Same origin: served by cloudsim under /same.
		r.URL.Path = strings.TrimPrefix(r.URL.Path, "/same")
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, sim.URL+r.URL.RequestURI(), r.Body)
		req.Header = r.Header
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.StatusCode)
		buf := make([]byte, 1<<16)
		n, _ := resp.Body.Read(buf)
		_, _ = w.Write(buf[:n])
	}))
	t.Cleanup(api.Close)
	base := strings.Replace(api.URL, "http://", "http://ops:hunter2-pass@", 1)

	tests := map[string]struct {
		policy, target string
		wantErr        []string
	}{
		"default, another origin": {target: other.URL, wantErr: []string{"307 Temporary Redirect", "redirected to " + other.URL, "not followed"}},
		"default, same origin":    {target: api.URL + "/same", wantErr: []string{"307 Temporary Redirect", "not followed"}},
		"same-origin, another":    {policy: provider.RedirectsSameOrigin, target: other.URL, wantErr: []string{"another origin", "not followed"}},
		"same-origin, same":       {policy: provider.RedirectsSameOrigin, target: api.URL + "/same"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			target = tc.target
			p := cloud.New(base)
			if err := p.Configure(provider.Settings{FollowRedirects: tc.policy}); err != nil {
				t.Fatal(err)
			}
			req := provider.Request{ID: "cloud.Bucket/b", Kind: "cloud.Bucket", Name: "b", Spec: map[string]any{"versioning": false}}
			_, err := p.Observe(context.Background(), req)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("Observe: %v", err)
			case tc.wantErr != nil:
				if c, _ := provider.Classify(err); err == nil || c != provider.ClassTerminal {
					t.Fatalf("Observe: %v; want a terminal error", err)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				if strings.Contains(err.Error(), "hunter2-pass") {
					t.Errorf("error %q holds the base URL's password", err)
				}
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(stolen) > 0 {
		t.Errorf("%d requests reached the other origin: %v", len(stolen), stolen)
	}
}
