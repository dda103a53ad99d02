package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/convergehq/converge/controller"
	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/metrics"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/sqlite"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// daemon is a running controller over a memory provider and a real
// SQLite state, served on a loopback port.
type daemon struct {
	t    *testing.T
	mem  *providertest.Memory
	reg  *provider.Registry
	st   *sqlite.DB
	e    *engine.Engine
	c    *controller.Controller
	h    *Handler
	url  string
	mu   sync.Mutex
	docs string // the manifests
}

type daemonOptions struct {
	token string
	cfg   func(*Config)
	fault providertest.Fault
	// unsettled: do not wait for the first revision to converge.
	unsettled bool
	// backoff is the first retry's delay; default 1ms.
	backoff time.Duration
}

// startDaemon converges docs and serves the API; everything stops at the
// test's cleanup.
func startDaemon(t *testing.T, docs string, o daemonOptions) *daemon {
	t.Helper()
	d := &daemon{t: t, mem: providertest.NewMemory(), docs: docs}
	var p provider.Provider = d.mem
	if o.fault != nil {
		p = providertest.NewFaulty(d.mem, o.fault)
	}
	reg, err := provider.NewRegistry(p)
	if err != nil {
		t.Fatal(err)
	}
	d.reg = reg
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	d.st = st
	backoff := o.backoff
	if backoff == 0 {
		backoff = time.Millisecond
	}
	d.e = engine.New(reg, st, engine.Options{Workers: 2, Logger: quiet(), BackoffBase: backoff, BackoffMax: 10 * backoff, ReadyPoll: 10 * time.Millisecond, Rand: func() float64 { return 1 }})
	d.c = controller.New(d.e, st, controller.Options{Load: d.load, Resync: time.Hour, Logger: quiet()})
	rv, err := d.load()
	if err != nil {
		t.Fatal(err)
	}
	// As converge run wires it: the engine reports to the metrics, which
	// follow the state.
	m := metrics.New()
	d.e.Instrument(m)
	followed := make(chan struct{})
	go func() { m.Follow(ctx, st, quiet(), nil); close(followed) }()
	runDone := make(chan error, 1)
	go func() { runDone <- d.c.Run(ctx, rv) }()

	live := d.c.Live(reg)
	cfg := Config{Views: live, Actions: live, Readiness: live, Feed: st, Metrics: m.Handler(quiet()), Token: o.token, Logger: quiet()}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	d.h = New(cfg)
	d.url = serveTest(t, ctx, cancel, d.h, o.token, func() {
		if err := <-runDone; err != nil {
			t.Errorf("run: %v", err)
		}
		<-followed
		st.Close()
	})
	if !o.unsettled {
		d.waitState(func() bool { return d.e.Progress().Converged }, "the first revision converges")
	}
	return d
}

func (d *daemon) load() (*manifest.Revision, error) {
	d.mu.Lock()
	docs := d.docs
	d.mu.Unlock()
	return manifest.LoadBytes(map[string][]byte{"m.yaml": []byte(docs)}, d.reg)
}

func (d *daemon) setDocs(docs string) {
	d.mu.Lock()
	d.docs = docs
	d.mu.Unlock()
}

// waitState waits until cond holds, checking it at every change of the
// state (and every 50ms, for what changes in memory alone), for 10s at
// most.
func (d *daemon) waitState(cond func() bool, what string) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch, err := d.st.Watch(ctx, 0)
	if err != nil {
		d.t.Fatal(err)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			d.t.Fatalf("timed out waiting until %s", what)
		case <-ch:
		case <-tick.C:
		}
	}
}

// call sends a request and decodes the JSON answer into out (when not
// nil); it returns the status.
func call(t *testing.T, method, url, token, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || out != nil {
		if !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(url[strings.LastIndex(url, "/"):], "/metrics") {
			t.Errorf("%s %s: Content-Type %q; want JSON (body %s)", method, url, ct, b)
		}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, url, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

// apiError is the body of every failure.
type apiError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// sseMessage is one message of a stream.
type sseMessage struct {
	ID, Event, Data string
}

// sseClient reads a stream.
type sseClient struct {
	resp *http.Response
	r    *bufio.Reader
}

func openStream(t *testing.T, url, token, lastID string) *sseClient {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url+"/api/v1/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("stream: %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	c := &sseClient{resp: resp, r: bufio.NewReader(resp.Body)}
	t.Cleanup(func() { resp.Body.Close() })
	return c
}

// next returns the next message, and the comments read before it.
func (c *sseClient) next() (sseMessage, []string, error) {
	var m sseMessage
	var comments []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return m, comments, err
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if m.Event != "" || m.Data != "" {
				return m, comments, nil
			}
		case strings.HasPrefix(line, ":"):
			comments = append(comments, strings.TrimSpace(line[1:]))
		case strings.HasPrefix(line, "id: "):
			m.ID = line[4:]
		case strings.HasPrefix(line, "event: "):
			m.Event = line[7:]
		case strings.HasPrefix(line, "data: "):
			m.Data = line[6:]
		case strings.HasPrefix(line, "retry: "):
		default:
			return m, comments, fmt.Errorf("unexpected line %q", line)
		}
	}
}

// nextWithin is next, failing the test when nothing comes within d.
func (c *sseClient) nextWithin(t *testing.T, d time.Duration) sseMessage {
	t.Helper()
	type got struct {
		m   sseMessage
		err error
	}
	ch := make(chan got, 1)
	go func() {
		m, _, err := c.next()
		ch <- got{m, err}
	}()
	select {
	case g := <-ch:
		if g.err != nil {
			t.Fatalf("stream: %v", g.err)
		}
		return g.m
	case <-time.After(d):
		c.resp.Body.Close()
		<-ch
		t.Fatalf("stream: nothing within %s", d)
	}
	return sseMessage{}
}

// event decodes the data of an event message.
func (m sseMessage) event(t *testing.T) store.Event {
	t.Helper()
	var e store.Event
	if err := json.Unmarshal([]byte(m.Data), &e); err != nil {
		t.Fatalf("event %q: %v", m.Data, err)
	}
	return e
}

func readDoc() (string, error) {
	b, err := os.ReadFile("../docs/api.md")
	return string(b), err
}

// serveTest serves h on a loopback port until the test ends, and returns
// its URL. At cleanup it cancels ctx, waits for the server, then calls
// after (for what else ran under ctx).
func serveTest(t *testing.T, ctx context.Context, cancel context.CancelFunc, h *Handler, token string, after func()) string {
	t.Helper()
	srv, err := Listen(h, ServerConfig{Addr: "127.0.0.1:0", Token: token, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		after()
	})
	return srv.URL()
}
