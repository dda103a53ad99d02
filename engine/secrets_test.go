package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/convergehq/converge/alert"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/secret"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
	"github.com/convergehq/converge/store/sqlite"
)

// leakSchema has a sensitive string, sensitive headers that expand the
// environment, and a URL that may hold a password.
var leakSchema = provider.Schema{
	Kind: "leak.Thing",
	Fields: map[string]provider.Field{
		"token":   {Type: provider.String, Sensitive: true},
		"headers": {Type: provider.Map, Sensitive: true, Env: true},
		"url":     {Type: provider.String},
		"fail":    {Type: provider.String}, // "" succeeds, else the class of the error
	},
	Outputs:    []string{"id"},
	AnyOutputs: true,
}

// leaky is a provider that puts every secret it is given, in several
// encodings and with terminal escapes, into its errors: the engine's own
// redaction is what keeps them out of what it writes.
type leaky struct {
	mu      sync.Mutex
	objects map[string]map[string]any
	deletes []provider.Request
	env     func(string) (string, bool)
}

func (p *leaky) Name() string { return "leak" }

// ConfigSchema takes an API key in its ProviderConfig.
func (p *leaky) ConfigSchema() provider.Schema {
	return provider.Schema{Fields: map[string]provider.Field{"apiKey": {Type: provider.String, Sensitive: true}}}
}

func (p *leaky) Schemas() []provider.Schema { return []provider.Schema{leakSchema} }

func (p *leaky) leak(req provider.Request) error {
	var parts []string
	for _, v := range []any{req.Spec["token"], req.Spec["url"]} {
		if s, ok := v.(string); ok {
			parts = append(parts, s)
		}
	}
	if hs, ok := req.Spec["headers"].(map[string]any); ok {
		for _, v := range hs {
			x, _, _ := provider.ExpandEnv(v.(string), p.env)
			parts = append(parts, x)
		}
	}
	var b strings.Builder
	for _, s := range parts {
		j, _ := json.Marshal(s)
		fmt.Fprintf(&b, "raw[%s] json[%s] query[%s] ", s, j, url.QueryEscape(s))
	}
	b.WriteString("\x1b]0;pwned\x07\x1b[2J\r\u202e done")
	err := errors.New(b.String())
	switch req.Spec["fail"] {
	case "terminal":
		return provider.Terminal(err)
	case "retryable":
		return provider.Retryable(err)
	}
	return nil
}

func (p *leaky) Observe(ctx context.Context, req provider.Request) (provider.Observation, error) {
	if err := p.leak(req); err != nil {
		return provider.Observation{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	o, ok := p.objects[req.ID]
	if !ok {
		return provider.Observation{}, nil
	}
	st := map[string]any{}
	for k, v := range req.Spec {
		if k != "headers" {
			st[k] = v
		}
	}
	return provider.Observation{Exists: true, State: st, Outputs: o}, nil
}

func (p *leaky) Create(ctx context.Context, req provider.Request) (provider.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// The API echoes the token in the object it returns.
	o := map[string]any{"id": req.Name, "echo": "token is " + fmt.Sprint(req.Spec["token"]), "decoy": "sealed:v1:not-ours"}
	p.objects[req.ID] = o
	return provider.Result{Outputs: o}, nil
}

func (p *leaky) Update(ctx context.Context, req provider.Request) (provider.Result, error) {
	return p.Create(ctx, req)
}

func (p *leaky) Delete(ctx context.Context, req provider.Request) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.deletes = append(p.deletes, req)
	delete(p.objects, req.ID)
	return nil
}

// syncBuffer is a bytes.Buffer for concurrent log writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const (
	leakToken = `tok"en/é-1234567`    // written in the manifest
	leakEnv   = `env-secret-98765432` // in the environment only
	leakPass  = `url-pa55word`        // in a URL's userinfo
	leakKey   = `config-k3y-0987`     // in the ProviderConfig's spec.config
)

func leakManifest(fail string) string {
	return `
kind: leak.Thing
metadata: {name: a}
spec:
  token: '` + leakToken + `'
  headers: {Authorization: "Bearer ${env:LEAK_TEST_SECRET}"}
  url: "https://ops:` + leakPass + `@api.example.com/v1"
  fail: "` + fail + `"
`
}

// forbidden are the forms no message may hold.
func forbidden() []string {
	var out []string
	for _, s := range []string{leakToken, leakEnv, leakPass} {
		j, _ := json.Marshal(s)
		out = append(out, s, string(j[1:len(j)-1]), url.QueryEscape(s))
	}
	return append(out, "\x1b", "\r", "\u202e")
}

func checkClean(t *testing.T, where, text string) {
	t.Helper()
	for _, f := range forbidden() {
		if strings.Contains(text, f) {
			t.Errorf("%s holds %q:\n%s", where, f, text)
		}
	}
}

// TestSecretsStayOutOfMessages: whatever a provider puts in its errors,
// the engine writes no secret it knows (sensitive fields, the values of
// their ${env:NAME}, URL passwords), in its exact, JSON-escaped or
// URL-encoded form, and no terminal escape, to events, records, logs (at
// debug level), alerts or plans.
func TestSecretsStayOutOfMessages(t *testing.T) {
	env := map[string]string{"LEAK_TEST_SECRET": leakEnv}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	p := &leaky{objects: map[string]map[string]any{}, env: lookup}
	reg, err := provider.NewRegistry(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, fail := range []string{"terminal", "retryable"} {
		t.Run(fail, func(t *testing.T) {
			rv, err := manifest.LoadBytes(map[string][]byte{"m.yaml": []byte(leakManifest(fail))}, reg)
			if err != nil {
				t.Fatal(err)
			}
			var logs syncBuffer
			var mu sync.Mutex
			var alerts []alert.Alert
			st := memory.New()
			e := New(reg, st, Options{
				Workers: 2, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond,
				Logger:    slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
				Alert:     func(a alert.Alert) { mu.Lock(); alerts = append(alerts, a); mu.Unlock() },
				LookupEnv: lookup,
			})
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			if err := e.Load(ctx); err != nil {
				t.Fatal(err)
			}
			rep, _ := e.Apply(ctx, rv)
			if len(rep.Failures) != 1 {
				t.Fatalf("report %+v; want the one failure", rep)
			}
			checkClean(t, "report", fmt.Sprint(rep.Failures))
			evs, err := st.ListEvents(context.Background(), store.EventFilter{})
			if err != nil || len(evs) == 0 {
				t.Fatalf("events: %v, %v", evs, err)
			}
			for _, ev := range evs {
				checkClean(t, "event "+string(ev.Reason), ev.Message)
			}
			recs, _ := st.ListRecords(context.Background())
			for _, r := range append(recs, e.Records()...) {
				checkClean(t, "record "+r.ID, r.Message+"\n"+r.LastError)
				for _, c := range r.Conditions {
					checkClean(t, "condition "+string(c.Type), c.Message)
				}
				if !strings.Contains(r.LastError, secret.Placeholder) || !strings.Contains(r.LastError, "done") {
					t.Errorf("LastError %q: want the error with the secrets masked", r.LastError)
				}
			}
			checkClean(t, "logs", logs.String())
			if !strings.Contains(logs.String(), "level=WARN") {
				t.Errorf("no failure logged:\n%s", logs.String())
			}
			mu.Lock()
			for _, a := range alerts {
				b, _ := json.Marshal(a)
				checkClean(t, "alert", string(b))
			}
			mu.Unlock()
			pl, err := e.Plan(context.Background(), rv)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(pl)
			checkClean(t, "plan", string(b))
		})
	}
}

// stateBytes returns the bytes of the SQLite state at path and of its
// write-ahead log, as strings(1) would read them.
func stateBytes(t *testing.T, path string) []byte {
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

// TestStateHoldsNoSecret: with a Sealer, the state file (and its WAL)
// holds no sensitive value in clear, in records (applied spec, pending
// intent, outputs that echo a secret) or in revisions; the engine reads
// the values back, so a resource that left the manifests is deleted with
// the spec it was applied with, after a restart.
func TestStateHoldsNoSecret(t *testing.T) {
	env := map[string]string{"LEAK_TEST_SECRET": leakEnv}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	p := &leaky{objects: map[string]map[string]any{}, env: lookup}
	reg, err := provider.NewRegistry(p)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	sealer, err := secret.StateSealer(path, true, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Workers: 2, Logger: slog.New(slog.DiscardHandler), LookupEnv: lookup, Sealer: sealer}
	ctx := context.Background()

	config := "kind: ProviderConfig\nmetadata: {name: leak}\nspec: {config: {apiKey: " + leakKey + "}}\n---\n"
	rv, err := manifest.LoadBytes(map[string][]byte{"m.yaml": []byte(config + leakManifest(""))}, reg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	e := New(reg, st, opts)
	if err := e.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if rep, err := e.Apply(ctx, rv); err != nil || !rep.OK() {
		t.Fatalf("apply: %v, %+v", err, rep)
	}
	if got := e.Records()[0].Outputs["echo"]; got != "token is "+leakToken {
		t.Errorf("in memory, outputs.echo = %q; want it as the API returned it", got)
	}
	for _, s := range []string{leakToken, leakEnv, leakPass, leakKey, `tok\"en`} {
		if b := stateBytes(t, path); bytes.Contains(b, []byte(s)) {
			t.Errorf("the state holds %q in clear", s)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// Another process: the values come back from the state.
	st, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e = New(reg, st, opts)
	if err := e.Load(ctx); err != nil {
		t.Fatal(err)
	}
	recs := e.Records()
	if len(recs) != 1 || recs[0].AppliedSpec["token"] != leakToken || recs[0].Outputs["decoy"] != "sealed:v1:not-ours" {
		t.Fatalf("records read back: %+v", recs)
	}
	revs, _ := st.ListRevisions(ctx)
	back, err := RevisionFromStore(revs[0])
	if err != nil {
		t.Fatal(err)
	}
	if opened, err := e.openRevision(back); err != nil || opened.ProviderConfigs["leak"].Config["apiKey"] != leakKey || opened.Hash != rv.Hash {
		t.Errorf("the stored revision, opened: %v, config %v, hash %s; want the API key back, hash %s", err, opened.ProviderConfigs["leak"].Config, opened.Hash, rv.Hash)
	}
	if rep, err := e.Apply(ctx, back); err != nil || !rep.OK() {
		t.Fatalf("apply of the stored revision: %v, %+v", err, rep)
	}
	if got := p.objects["leak.Thing/a"]["echo"]; got != "token is "+leakToken {
		t.Errorf("after applying the stored revision, the object's token is %q", got)
	}
	e = New(reg, st, opts) // an engine applies once
	if err := e.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if rep, err := e.Apply(ctx, nil); err != nil || !rep.OK() {
		t.Fatalf("destroy: %v, %+v", err, rep)
	}
	if len(p.deletes) != 1 || p.deletes[0].Spec["token"] != leakToken ||
		p.deletes[0].Spec["headers"].(map[string]any)["Authorization"] != "Bearer ${env:LEAK_TEST_SECRET}" {
		t.Fatalf("delete requests %+v; want one, with the applied spec", p.deletes)
	}
	for _, s := range []string{leakToken, leakEnv, leakPass, leakKey} {
		if b := stateBytes(t, path); bytes.Contains(b, []byte(s)) {
			t.Errorf("the state holds %q in clear", s)
		}
	}

	t.Run("without the key", func(t *testing.T) {
		e := New(reg, st, Options{Logger: slog.New(slog.DiscardHandler)})
		revs, _ := st.ListRevisions(ctx)
		back, err := RevisionFromStore(revs[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := e.SetTarget(ctx, back); err == nil || !strings.Contains(err.Error(), "sealed") {
			t.Errorf("SetTarget of a sealed revision without the key: %v; want an error", err)
		}
		other, _ := secret.NewSealer(bytes.Repeat([]byte{9}, secret.KeySize))
		e = New(reg, st, Options{Logger: slog.New(slog.DiscardHandler), Sealer: other})
		if err := e.SetTarget(ctx, back); !errors.Is(err, secret.ErrWrongKey) {
			t.Errorf("SetTarget with another key: %v; want ErrWrongKey", err)
		}
	})
}
