package httpprovider

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/store/memory"
)

// recorder is a server that records the headers of every request it gets
// and answers 200 with an object.
type recorder struct {
	*httptest.Server
	mu      sync.Mutex
	headers []http.Header
}

func newRecorder(t *testing.T) *recorder {
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.headers = append(rec.headers, r.Header.Clone())
		rec.mu.Unlock()
		reply(w, http.StatusOK, map[string]any{"id": "w-1", "name": "web-1"})
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (r *recorder) got() []http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]http.Header(nil), r.headers...)
}

// TestRedirects: no redirect is followed by default, a 3xx is a terminal
// error naming where it pointed (without its password or our secrets), and
// with followRedirects: same-origin only redirects to the same scheme,
// host and port are followed: headers never reach another origin.
func TestRedirects(t *testing.T) {
	other := newRecorder(t) // another origin: another port
	var target string       // where the API redirects to
	api := newFakeAPI(t, func(f *fakeAPI) {
		f.intercept = func(w http.ResponseWriter, r *http.Request, n int) bool {
			if strings.HasPrefix(r.URL.Path, "/moved") {
				return false
			}
			if r.URL.Path == "/v1/widgets/w-1" && r.Method == http.MethodGet && target != "" {
				w.Header().Set("Location", target)
				w.WriteHeader(http.StatusFound)
				return true
			}
			return false
		}
	})
	api.put("w-1", map[string]any{"name": "web-1"})
	base := strings.TrimSuffix(api.URL, collectionPath)
	headers := map[string]any{"Authorization": "Bearer ${env:API_TOKEN}", "X-Api-Key": "key-0123456789"}
	spec := widget(t, api.URL, map[string]any{"name": "web-1"}, map[string]any{"headers": headers})
	otherWithSecrets := strings.Replace(other.URL, "http://", "http://alice:pa55word@", 1) + "/steal?token=s3cret-token"

	tests := map[string]struct {
		policy     string
		target     string
		wantErr    []string // substrings of the error; nil: success
		notInErr   []string
		wantOther  int // requests that reach the other origin
		wantFollow bool
	}{
		"default: not followed": {
			target:   otherWithSecrets,
			wantErr:  []string{"302 Found", "redirected to http://alice:xxxxx@127.0.0.1:", "/steal?token=(sensitive)", "not followed", "followRedirects"},
			notInErr: []string{"pa55word", "s3cret-token"},
		},
		"default: same origin not followed either": {
			target:  base + "/moved/w-1",
			wantErr: []string{"302 Found", "redirected to " + base + "/moved/w-1"},
		},
		"same-origin: another port is refused": {
			policy:   provider.RedirectsSameOrigin,
			target:   otherWithSecrets,
			wantErr:  []string{"302 Found", "another origin", "not followed"},
			notInErr: []string{"pa55word", "s3cret-token"},
		},
		"same-origin: followed": {
			policy:     provider.RedirectsSameOrigin,
			target:     base + "/moved/w-1",
			wantFollow: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			target = tc.target
			before := len(other.got())
			p := newTestProvider(newClock())
			if tc.policy != "" {
				if err := p.Configure(provider.Settings{FollowRedirects: tc.policy}); err != nil {
					t.Fatal(err)
				}
			}
			_, err := p.Observe(context.Background(), request(spec, map[string]string{"id": "w-1"}))
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Observe: %v", err)
				}
			} else {
				t.Logf("error: %v", err)
				if got := classOf(err); got != "terminal" {
					t.Fatalf("class = %s (%v); want terminal", got, err)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				for _, s := range tc.notInErr {
					if strings.Contains(err.Error(), s) {
						t.Errorf("error %q contains %q", err, s)
					}
				}
			}
			if got := len(other.got()) - before; got != tc.wantOther {
				t.Errorf("requests at the other origin = %d; want %d", got, tc.wantOther)
			}
			for _, h := range other.got() {
				if h.Get("Authorization") != "" || h.Get("X-Api-Key") != "" {
					t.Errorf("headers reached the other origin: %v", h)
				}
			}
			if tc.wantFollow {
				var moved []seen
				for _, s := range api.seen() {
					if strings.HasPrefix(s.Path, "/moved") {
						moved = append(moved, s)
					}
				}
				if len(moved) == 0 || moved[len(moved)-1].Auth != "Bearer s3cret-token" {
					t.Errorf("the same-origin redirect was not followed with the headers: %+v", moved)
				}
			}
		})
	}

	t.Run("unknown policy", func(t *testing.T) {
		if err := New().Configure(provider.Settings{FollowRedirects: "always"}); err == nil {
			t.Errorf("Configure accepted followRedirects: always")
		}
	})
}

// TestProviderConfigFollowRedirects: the ProviderConfig's followRedirects
// reaches the provider through the engine, and is taken back when the
// ProviderConfig goes.
func TestProviderConfigFollowRedirects(t *testing.T) {
	api := newFakeAPI(t, func(f *fakeAPI) {
		f.intercept = func(w http.ResponseWriter, r *http.Request, n int) bool {
			// The collection moved: every call is redirected to /v2.
			if strings.HasPrefix(r.URL.Path, "/old") {
				w.Header().Set("Location", strings.Replace(r.URL.RequestURI(), "/old", "", 1))
				w.WriteHeader(http.StatusPermanentRedirect)
				return true
			}
			return false
		}
	})
	old := strings.Replace(api.URL, collectionPath, "/old"+collectionPath, 1)
	reg, err := provider.NewRegistry(New(WithGrace(0)))
	if err != nil {
		t.Fatal(err)
	}
	res := `
kind: http.Resource
metadata: {name: web-1}
spec:
  url: ` + old + `
  body: {name: web-1}
  headers: {Authorization: "Bearer ${env:CONVERGE_TEST_TOKEN}"}
`
	t.Setenv("CONVERGE_TEST_TOKEN", "tok-9876")
	cfg := `
---
kind: ProviderConfig
metadata: {name: http}
spec: {followRedirects: same-origin}
`
	st := memory.New()
	rep := applyWith(t, reg, st, loadManifest(t, reg, res+cfg), engine.Options{})
	if !rep.OK() || api.count() != 1 {
		t.Fatalf("with followRedirects: same-origin: %+v, %d objects; want Ready, 1 object", rep.Failures, api.count())
	}
	for _, s := range api.seen() {
		if !strings.HasPrefix(s.Path, "/old") && s.Auth != "Bearer tok-9876" {
			t.Errorf("%s %s after the redirect: Authorization %q", s.Method, s.Path, s.Auth)
		}
	}
	rep = applyWith(t, reg, memory.New(), loadManifest(t, reg, strings.Replace(res, "web-1}", "web-2}", 2)), engine.Options{})
	if rep.OK() || len(rep.Failures) != 1 || !strings.Contains(rep.Failures[0].Message, "308 Permanent Redirect") {
		t.Fatalf("without the ProviderConfig: %+v; want a failure naming the redirect", rep.Failures)
	}
}
