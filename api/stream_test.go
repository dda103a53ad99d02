package api

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/sqlite"
)

// feedServer serves the stream of a real SQLite state, with no daemon
// writing to it: the test writes every change itself.
func feedServer(t *testing.T, cfg Config, opts ...sqlite.Option) (*sqlite.DB, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "state.db"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Feed, cfg.Logger = st, quiet()
	srv, err := Listen(New(cfg), ServerConfig{Addr: "127.0.0.1:0", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		st.Close()
	})
	return st, srv.URL()
}

// writer makes changes to a state, in turn: a record put, a new event,
// and a repeat of an event made in an earlier round (its count grows).
type writer struct {
	t      *testing.T
	st     store.Store
	i      int
	old    []string // events of earlier rounds, to repeat
	recent []string // events of this round
}

// round starts a round: the events made so far may be repeated.
func (w *writer) round() {
	w.old = append(w.old, w.recent...)
	w.recent = nil
}

func (w *writer) event(msg string) int {
	w.t.Helper()
	e, err := w.st.AddEvent(context.Background(), store.Event{Type: store.Normal, Reason: "Created", Resource: "mem.Object/x", Message: msg})
	if err != nil {
		w.t.Fatal(err)
	}
	return e.Count
}

// next makes the next change and names it as describe names its message.
func (w *writer) next() string {
	w.t.Helper()
	i := w.i
	w.i++
	switch {
	case i%3 == 0:
		id := fmt.Sprintf("mem.Object/o%d", i)
		if err := w.st.PutRecord(context.Background(), store.Record{ID: id, Kind: "mem.Object", Name: fmt.Sprintf("o%d", i), Phase: store.PhaseReady}); err != nil {
			w.t.Fatal(err)
		}
		return "resource " + id
	case i%3 == 2 && len(w.old) > 0:
		msg := w.old[0]
		w.old = w.old[1:]
		w.recent = append(w.recent, msg)
		return fmt.Sprintf("event %s x%d", msg, w.event(msg))
	default:
		msg := fmt.Sprintf("event %d", i)
		w.recent = append(w.recent, msg)
		return fmt.Sprintf("event %s x%d", msg, w.event(msg))
	}
}

func write(t *testing.T, st store.Store, i int) string {
	t.Helper()
	w := &writer{t: t, st: st, i: i}
	return w.next()
}

// describe names a message the way write does.
func describe(t *testing.T, m sseMessage) string {
	t.Helper()
	switch m.Event {
	case "resource":
		var c changeMsg
		if err := json.Unmarshal([]byte(m.Data), &c); err != nil {
			t.Fatal(err)
		}
		if c.Resource == nil || c.Resource.ID != c.ID {
			t.Errorf("a resource message without its resource: %s", m.Data)
		}
		return "resource " + c.ID
	case "event":
		e := m.event(t)
		return fmt.Sprintf("event %s x%d", e.Message, e.Count)
	}
	return m.Event + " " + m.Data
}

// TestStreamResumes: a client that loses its stream and reconnects with
// the last id it got receives every change it missed, once, in order,
// however the drops fall.
func TestStreamResumes(t *testing.T) {
	st, url := feedServer(t, Config{EventPoll: 20 * time.Millisecond})
	const total = 90
	var want, got []string
	last := ""
	w := &writer{t: t, st: st}
	for conn := 0; w.i < total; conn++ {
		w.round()
		if conn > 0 {
			// Written while the client was away.
			for k := 0; k < 4 && w.i < total; k++ {
				want = append(want, w.next())
			}
		}
		c := openStream(t, url, "", last)
		// Then some while it listens; the connection drops after
		// conn%5+1 of them (a forced drop: the client closes it).
		live := conn%5 + 1
		for k := 0; k < live && w.i < total; k++ {
			want = append(want, w.next())
		}
		for len(got) < len(want) {
			m := c.nextWithin(t, 5*time.Second)
			if m.ID == "" {
				t.Fatalf("a message without an id: %+v", m)
			}
			got = append(got, describe(t, m))
			last = m.ID
		}
		c.resp.Body.Close()
	}
	// Records come as the watch pushes them, events as the log is read:
	// the two are not ordered with each other.
	slices.Sort(got)
	slices.Sort(want)
	if w.i != total || len(want) != total || !slices.ContainsFunc(want, func(s string) bool { return strings.HasSuffix(s, " x2") }) {
		t.Fatalf("premise: %d changes written, %d expected, repeats among them; want %d", w.i, len(want), total)
	}
	if len(got) != len(want) || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("received (%d):\n%s\nwant (%d):\n%s", len(got), strings.Join(got, "\n"), len(want), strings.Join(want, "\n"))
	}
	// Nothing more comes: no message was sent twice.
	c := openStream(t, url, "", last)
	if _, err := st.AddEvent(context.Background(), store.Event{Type: store.Normal, Reason: "Created", Message: "sentinel"}); err != nil {
		t.Fatal(err)
	}
	if m := c.nextWithin(t, 5*time.Second); describe(t, m) != "event sentinel x1" {
		t.Errorf("after resuming at the end: %s; want the sentinel only", describe(t, m))
	}
}

// TestStreamFromNow: a stream opened without Last-Event-ID starts from
// now: what was written before is not sent.
func TestStreamFromNow(t *testing.T) {
	st, url := feedServer(t, Config{EventPoll: 20 * time.Millisecond})
	for i := range 6 {
		write(t, st, i)
	}
	c := openStream(t, url, "", "")
	want := write(t, st, 6)
	if m := c.nextWithin(t, 5*time.Second); describe(t, m) != want {
		t.Errorf("first message %s; want %s", describe(t, m), want)
	}
	if err := st.PutRevision(context.Background(), store.Revision{Hash: "abc123", Created: time.Now(), State: store.RevisionProgressing, Resources: []byte(`{"hash":"abc123","paths":[],"resources":[]}`)}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetTarget(context.Background(), "abc123"); err != nil {
		t.Fatal(err)
	}
	if m := c.nextWithin(t, 5*time.Second); m.Event != "target" || !strings.Contains(m.Data, `"target":"abc123"`) {
		t.Errorf("target change: %+v", m)
	}
}

// TestStreamTooOld: a client whose Last-Event-ID is older than the
// changes the store keeps is told to list again, and follows from there.
func TestStreamTooOld(t *testing.T) {
	st, url := feedServer(t, Config{EventPoll: 20 * time.Millisecond})
	var seq int64
	for i := 0; i < 9; i += 3 {
		write(t, st, i)
	}
	seq, err := st.LastSeq(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CompactChanges(context.Background(), seq); err != nil {
		t.Fatal(err)
	}
	c := openStream(t, url, "", "1-0-0")
	if m := c.nextWithin(t, 5*time.Second); m.Event != "reset" {
		t.Fatalf("first message %+v; want a reset", m)
	}
	want := write(t, st, 9)
	if m := c.nextWithin(t, 5*time.Second); describe(t, m) != want {
		t.Errorf("after the reset: %s; want %s", describe(t, m), want)
	}
}

func TestStreamHeartbeat(t *testing.T) {
	_, url := feedServer(t, Config{Heartbeat: 20 * time.Millisecond})
	c := openStream(t, url, "", "")
	done := make(chan []string, 1)
	go func() {
		var all []string
		for len(all) < 4 {
			line, err := c.r.ReadString('\n')
			if err != nil {
				break
			}
			if strings.HasPrefix(line, ": heartbeat") {
				all = append(all, line)
			}
		}
		done <- all
	}()
	select {
	case beats := <-done:
		if len(beats) < 4 {
			t.Errorf("heartbeats: %q", beats)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no heartbeats within 5s")
	}
}

// TestStreamEndsOnShutdown: a server that stops ends its streams, so that
// stopping does not wait for them.
func TestStreamEndsOnShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := Listen(New(Config{Feed: st, Logger: quiet()}), ServerConfig{Addr: "127.0.0.1:0", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	c := openStream(t, srv.URL(), "", "")
	began := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("the server did not stop with a stream open")
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("stopping took %s", took)
	}
	if _, _, err := c.next(); err == nil {
		t.Error("the stream goes on after the server stopped")
	}
}

// countingFeed counts the reads of the event log.
type countingFeed struct {
	Feed
	reads int
}

func (f *countingFeed) ListEvents(ctx context.Context, ef store.EventFilter) ([]store.Event, error) {
	f.reads++
	return f.Feed.ListEvents(ctx, ef)
}

// TestStreamsShareReads: streams that poll use the latest read of the
// event log when it began after the one they used before; one that needs
// what was just committed reads anew.
func TestStreamsShareReads(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	feed := &countingFeed{Feed: st}
	h := New(Config{Feed: feed, Logger: quiet()})
	ctx := context.Background()
	since := time.Now().Add(-time.Hour)
	before := time.Now()
	_, first, err := h.eventsSince(ctx, since, before)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		since     time.Time
		notBefore time.Time // zero: now
		reads     int
	}{
		{"another stream's poll", since.Add(time.Minute), before, 1},
		{"a wider filter", since.Add(-time.Minute), before, 2},
		{"after a change", since, time.Time{}, 3},
		{"the same stream's next poll", since, first, 3},
	}
	for _, tc := range tests {
		if tc.notBefore.IsZero() {
			tc.notBefore = time.Now()
		}
		if _, _, err := h.eventsSince(ctx, tc.since, tc.notBefore); err != nil {
			t.Fatal(err)
		}
		if feed.reads != tc.reads {
			t.Errorf("%s: %d reads in all; want %d", tc.name, feed.reads, tc.reads)
		}
	}
}

// TestStreamFollowsTheDaemon: what the engine does shows in the stream: a
// drift found on request comes as the resource's new phase and as its
// DriftDetected event.
func TestStreamFollowsTheDaemon(t *testing.T) {
	d := startDaemon(t, shop("v1"), daemonOptions{cfg: func(c *Config) { c.EventPoll = 20 * time.Millisecond }})
	c := openStream(t, d.url, "", "")
	d.mem.Set("mem.Object/db", map[string]any{"value": "by hand"})
	if code := call(t, "POST", d.url+"/api/v1/resources/mem.Object/db/reconcile", "", "", nil); code != 202 {
		t.Fatalf("reconcile: %d", code)
	}
	var phase, event bool
	for !phase || !event {
		m := c.nextWithin(t, 10*time.Second)
		switch m.Event {
		case "resource":
			var ch changeMsg
			if err := json.Unmarshal([]byte(m.Data), &ch); err != nil {
				t.Fatal(err)
			}
			phase = phase || (ch.ID == "mem.Object/db" && ch.Resource != nil && ch.Resource.Phase == store.PhaseDrifted)
		case "event":
			e := m.event(t)
			event = event || (e.Resource == "mem.Object/db" && string(e.Reason) == "DriftDetected")
		}
	}
}
