package engine

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/alert"
	"github.com/convergehq/converge/store"
)

type alertSink struct {
	mu  sync.Mutex
	got []alert.Alert
}

func (s *alertSink) notify(a alert.Alert) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, a)
}

func (s *alertSink) reasons() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, a := range s.got {
		out = append(out, a.Reason+" "+a.Resource)
	}
	return out
}

func TestAlertsForDriftAndFailures(t *testing.T) {
	h := newFileHarness(t)
	sink := &alertSink{}
	h.opts.Alert = sink.notify
	m := `
kind: file.File
metadata: {name: fixed}
spec: {path: fixed.txt, content: v1}
---
kind: file.File
metadata: {name: watched}
policy: {drift: alert}
spec: {path: watched.txt, content: v1}
`
	h.mustConverge(m)
	for _, n := range []string{"fixed.txt", "watched.txt"} {
		if err := os.WriteFile(filepath.Join(h.root, n), []byte("hand edit"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h.apply(m)
	h.apply(m) // the alert-only drift lasts: reported by events, not alerted again
	want := []string{"DriftDetected file.File/fixed", "DriftDetected file.File/watched"}
	if diff := cmp.Diff(want, sortedCopy(sink.reasons())); diff != "" {
		t.Errorf("alerts (-want +got):\n%s", diff)
	}
	for _, a := range sink.got {
		if a.Type != "drift" || len(a.Diff) != 1 || a.Diff[0].Path != "content" || a.Revision == "" {
			t.Errorf("alert %+v; want a drift alert with the content diff and the revision", a)
		}
	}
	if n := len(h.events("DriftDetected")); n != 2 {
		t.Errorf("DriftDetected events = %d rows; want 2 (aggregated)", n)
	}
}

// A webhook that is down never delays convergence.
func TestAlertWebhookDownDoesNotDelayConvergence(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	n := alert.New([]string{dead}, alert.Options{MaxAttempts: 50, BackoffBase: time.Second, Logger: quiet()})
	h := newFileHarness(t)
	h.opts.Alert = n.Notify
	// Half the resources fail terminally (they are behind a symlink that
	// leads out of the root), so each alerts; the others converge.
	if err := os.Symlink(t.TempDir(), filepath.Join(h.root, "out")); err != nil {
		t.Fatal(err)
	}
	var m string
	for i := 0; i < 40; i++ {
		dir := "."
		if i%2 == 0 {
			dir = "out"
		}
		m += fmt.Sprintf("---\nkind: file.File\nmetadata: {name: f%d}\nspec: {path: %s/f%d.txt, content: x}\n", i, dir, i)
	}
	start := time.Now()
	rep, _ := h.apply(m)
	took := time.Since(start)
	if rep.Ready != 20 || len(rep.Failures) != 20 {
		t.Errorf("ready %d, failures %d; want 20 and 20", rep.Ready, len(rep.Failures))
	}
	if took > 5*time.Second {
		t.Errorf("apply with a dead webhook took %s", took)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	n.Close(ctx)
	if s := n.Stats(); s.Sent != 0 || s.Undeliverable+s.Dropped != 20 {
		t.Errorf("alert stats %+v; want the 20 failure alerts counted undeliverable", s)
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// An alert-only resource is left untouched across many resyncs: the event
// counts each observation (the file provider's notification of the edit,
// then every resync), one alert is sent, and a DriftResolved event follows
// when the drift goes away.
func TestAlertOnlyDriftAcrossResyncs(t *testing.T) {
	h := newFileHarness(t)
	sink := &alertSink{}
	h.opts.Alert = sink.notify
	m := `
kind: file.File
metadata: {name: watched}
policy: {drift: alert}
spec: {path: watched.txt, content: v1}
`
	e := h.engine()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	wg := e.Start(ctx)
	defer e.Stop(wg)
	if err := e.SetTarget(ctx, h.load(m)); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	// The provider notifies what the engine wrote too, a few milliseconds
	// later: those observes come first.
	time.Sleep(200 * time.Millisecond)
	if err := e.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(h.root, "watched.txt")
	// Edited whole, as an editor saves (a rename): no half-written file
	// to observe.
	if err := os.WriteFile(path+".new", []byte("hand edit"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "the notified edit observed", func() bool {
		r, _ := recordOf(e, "file.File/watched")
		return r.Phase == store.PhaseDrifted
	})
	if err := e.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	const resyncs = 6
	for i := 0; i < resyncs; i++ {
		e.ResyncAll()
		if err := e.WaitIdle(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "hand edit" {
		t.Errorf("watched.txt = %q; an alert-only resource was touched", b)
	}
	evs := h.events("DriftDetected")
	if len(evs) != 1 || evs[0].Count != 1+resyncs {
		t.Errorf("DriftDetected events = %+v; want one row counted %d times", evs, 1+resyncs)
	}
	if got := sink.reasons(); len(got) != 1 {
		t.Errorf("alerts = %v; want exactly one for the whole incident", got)
	}
	// Put it back by hand: the drift is resolved.
	if err := os.WriteFile(path, []byte("v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.ResyncAll()
	if err := e.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(h.events("DriftResolved")); n != 1 {
		t.Errorf("DriftResolved events = %d; want 1", n)
	}
	if got := sink.reasons(); len(got) != 2 || got[1] != "DriftResolved file.File/watched" {
		t.Errorf("alerts = %v; want DriftDetected then DriftResolved", got)
	}
	if r, _ := recordOf(e, "file.File/watched"); r.Phase != "Ready" {
		t.Errorf("phase after the drift went away = %s; want Ready", r.Phase)
	}
}
