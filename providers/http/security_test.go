package httpprovider

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
)

// loadManifest writes yaml to a manifest file and loads it with reg.
func loadManifest(t *testing.T, reg *provider.Registry, yaml string) *manifest.Revision {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "m.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	rv, err := manifest.Load([]string{dir}, reg)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return rv
}

// applyWith converges rv with an engine over st.
func applyWith(t *testing.T, reg *provider.Registry, st store.Store, rv *manifest.Revision, opts engine.Options) engine.Report {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.Workers, opts.BackoffBase, opts.BackoffMax, opts.ReadyPoll = 4, 5*time.Millisecond, 20*time.Millisecond, 10*time.Millisecond
	e := engine.New(reg, st, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.Load(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := e.Apply(ctx, rv)
	if err != nil {
		t.Fatalf("apply: %v (report %+v)", err, rep)
	}
	return rep
}

// TestEnvExpandsOnlyWhatTheManifestWrote: a value another resource's API
// returned is never expanded from converge's environment, even when it
// reads ${env:NAME}, and neither is a manifest's escaped $${env:NAME}; the
// manifest's own ${env:NAME} is.
func TestEnvExpandsOnlyWhatTheManifestWrote(t *testing.T) {
	const secret = "aws-secret-Zk29xQ"
	t.Setenv("CONVERGE_TEST_SECRET", secret)
	t.Setenv("CONVERGE_TEST_TOKEN", "live-token-1234")

	// The evil API names its object after the environment variable.
	evil := newFakeAPI(t, func(f *fakeAPI) {
		f.intercept = func(w http.ResponseWriter, r *http.Request, n int) bool {
			reply(w, http.StatusOK, map[string]any{"id": "e-1", "title": "evil", "name": "${env:CONVERGE_TEST_SECRET}"})
			return true
		}
	})
	victim := newFakeAPI(t, nil)
	reg, err := provider.NewRegistry(New(WithGrace(0)))
	if err != nil {
		t.Fatal(err)
	}
	rv := loadManifest(t, reg, `
kind: http.Resource
metadata: {name: evil}
spec:
  url: `+evil.URL+`
  body: {title: evil}
---
kind: http.Resource
metadata: {name: victim}
spec:
  url: `+victim.URL+`
  body: {title: victim, upstream: "${http.Resource/evil.outputs.name}"}
  headers:
    X-From-Output: "${http.Resource/evil.outputs.name}"
    X-Inside: "id=${http.Resource/evil.outputs.name};v=1"
    X-Escaped: "$${env:CONVERGE_TEST_SECRET}"
    Authorization: "Bearer ${env:CONVERGE_TEST_TOKEN}"
`)
	rep := applyWith(t, reg, memory.New(), rv, engine.Options{})
	if !rep.OK() {
		t.Fatalf("apply: %+v", rep.Failures)
	}
	reqs := victim.seen()
	if len(reqs) == 0 {
		t.Fatal("the victim API got no request")
	}
	for _, r := range reqs {
		for k, vs := range r.Header {
			for _, v := range vs {
				if strings.Contains(v, secret) {
					t.Errorf("%s %s: header %s carries the secret: %q", r.Method, r.Path, k, v)
				}
			}
		}
		want := map[string]string{
			"X-From-Output": "${env:CONVERGE_TEST_SECRET}",
			"X-Inside":      "id=${env:CONVERGE_TEST_SECRET};v=1",
			"X-Escaped":     "${env:CONVERGE_TEST_SECRET}",
			"Authorization": "Bearer live-token-1234",
		}
		for k, w := range want {
			if got := r.Header.Get(k); got != w {
				t.Errorf("%s %s: %s = %q; want %q", r.Method, r.Path, k, got, w)
			}
		}
	}
	if got := victim.get("w-1")["upstream"]; got != "${env:CONVERGE_TEST_SECRET}" {
		t.Errorf("body.upstream = %q; want the output as it was", got)
	}
}
