package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/store"
)

func TestProgressLine(t *testing.T) {
	now := time.Now()
	tests := map[string]struct {
		destroy bool
		seen    int // the most resources seen before
		a       engine.Activity
		want    string
	}{
		"starting": {a: engine.Activity{}, want: "starting, 12s"},
		"in flight": {
			a: engine.Activity{Total: 10, Ready: 3, Creating: 2, Updating: 1, Failed: 1,
				Slowest: &engine.Call{ID: "cloud.Instance/db", Op: store.OpCreate, Since: now.Add(-8 * time.Second)}},
			want: "3/10 ready, 2 creating, 1 updating, 0 deleting, 1 failed, 12s; slowest: cloud.Instance/db create 8s",
		},
		"accepted, provisioning": {
			a:    engine.Activity{Total: 2, Ready: 1, Provisioning: 1},
			want: "1/2 ready, 0 creating, 0 updating, 0 deleting, 1 accepted, provisioning, 0 failed, 12s",
		},
		"destroy counts what was deleted": {
			destroy: true, seen: 7,
			a:    engine.Activity{Total: 4, Deleting: 2},
			want: "3/7 deleted, 0 creating, 0 updating, 2 deleting, 0 failed, 12s",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := &progress{destroy: tc.destroy, total: tc.seen}
			if got := p.render(tc.a, 12*time.Second); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestProgressWritesUnderTheLine: what is written while the live line is
// drawn comes before it, and the line is drawn again after.
func TestProgressWritesUnderTheLine(t *testing.T) {
	var b bytes.Buffer
	p := &progress{w: &b, live: true}
	p.draw(engine.Activity{Total: 2, Ready: 1})
	p.Write([]byte("a log line\n"))
	p.clear()
	want := "\r\x1b[K1/2 ready, 0 creating, 0 updating, 0 deleting, 0 failed, 0s" +
		"\r\x1b[Ka log line\n" + "1/2 ready, 0 creating, 0 updating, 0 deleting, 0 failed, 0s" + "\r\x1b[K"
	// The elapsed time is the only thing that may differ.
	if got := b.String(); strings.Count(got, "1/2 ready") != 2 || !strings.Contains(got, "\r\x1b[Ka log line\n1/2 ready") || !strings.HasSuffix(got, "\r\x1b[K") {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// TestApplyProgress: --progress always draws the live line, with the slow
// create in flight; auto off a terminal logs a progress line every
// progressEvery; never shows nothing.
func TestApplyProgress(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			time.Sleep(800 * time.Millisecond)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{"id": "w1", "name": "slow"}`))
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	old := progressEvery
	progressEvery = 100 * time.Millisecond
	defer func() { progressEvery = old }()

	tests := map[string]struct {
		mode   string
		want   []string
		unwant []string
	}{
		"always":               {mode: "always", want: []string{"\r\x1b[K", "0/1 ready, 1 creating", "slowest: http.Resource/slow create"}, unwant: []string{"msg=progress"}},
		"auto, not a terminal": {mode: "auto", want: []string{"msg=progress ready=0 total=1 creating=1", "slowest=http.Resource/slow slowest_op=create"}, unwant: []string{"\x1b[K"}},
		"never":                {mode: "never", unwant: []string{"\x1b[K", "msg=progress"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.write(map[string]string{"slow.yaml": `kind: http.Resource
metadata:
  name: slow
spec:
  url: ` + srv.URL + `/v1/widgets
  body: {name: slow}
`})
			r := e.run("apply", "--progress", tc.mode)
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q\n%q", w, r.stderr)
				}
			}
			for _, w := range tc.unwant {
				if strings.Contains(r.stderr, w) {
					t.Errorf("stderr has %q\n%q", w, r.stderr)
				}
			}
		})
	}
}
