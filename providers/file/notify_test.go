package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convergehq/converge/provider"
)

// notifyBound bounds every wait for a notification: a missing one fails,
// never hangs.
const notifyBound = 5 * time.Second

// quietFor is how long no notification must come for "nothing notified".
const quietFor = 150 * time.Millisecond

// watching is a provider whose Notify runs, with the engine's side played
// by the test: it creates objects, tells Watch of them as the engine does
// of its records, and collects what Notify reports.
type watching struct {
	t    *testing.T
	p    *Provider
	root string
	got  chan string
	stop func() error // ends Notify and returns its error
	// hold, while set, holds every changed call until it is closed.
	hold atomic.Pointer[chan struct{}]
}

func newWatching(t *testing.T) *watching {
	t.Helper()
	p, root, _ := newTestProvider(t)
	return &watching{t: t, p: p, root: root, got: make(chan string, 1<<16)}
}

// start runs Notify until the test ends.
func (w *watching) start() {
	w.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- w.p.Notify(ctx, func(id string) {
			if c := w.hold.Load(); c != nil {
				<-*c
			}
			w.got <- id
		})
	}()
	stopped := false
	w.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(notifyBound):
			return fmt.Errorf("Notify did not return within %s of its context's end", notifyBound)
		}
	}
	w.t.Cleanup(func() {
		if err := w.stop(); err != nil {
			w.t.Errorf("Notify: %v", err)
		}
	})
}

// make creates an object through the provider and watches it as the
// engine would its record.
func (w *watching) make(kind, name string, spec map[string]any) provider.Request {
	w.t.Helper()
	req := request(kind, name, spec)
	res, err := w.p.Create(context.Background(), req)
	if err != nil {
		w.t.Fatalf("create %s: %v", req.ID, err)
	}
	req.Private = res.Private
	w.p.Watch(req)
	return req
}

// quiet waits until nothing has been notified for quietFor, and returns
// what was.
func (w *watching) quiet() []string {
	w.t.Helper()
	seen := map[string]bool{}
	deadline := time.After(notifyBound)
	for {
		select {
		case id := <-w.got:
			seen[id] = true
		case <-time.After(quietFor):
			return sorted(seen)
		case <-deadline:
			w.t.Fatalf("notifications never stopped: %v", sorted(seen))
		}
	}
}

// expect waits until every id in want was notified, and fails if one of
// them is not within notifyBound.
func (w *watching) expect(what string, want ...string) {
	w.t.Helper()
	missing := map[string]bool{}
	for _, id := range want {
		missing[id] = true
	}
	deadline := time.After(notifyBound)
	for len(missing) > 0 {
		select {
		case id := <-w.got:
			delete(missing, id)
		case <-deadline:
			w.t.Fatalf("%s: %v not notified within %s", what, sorted(missing), notifyBound)
		}
	}
}

// expectNone fails if anything in ids is notified within quietFor.
func (w *watching) expectNone(what string, ids ...string) {
	w.t.Helper()
	for _, got := range w.quiet() {
		for _, id := range ids {
			if got == id {
				w.t.Errorf("%s: %s notified; want nothing", what, id)
			}
		}
	}
}

func (w *watching) path(rel string) string { return filepath.Join(w.root, filepath.FromSlash(rel)) }

func (w *watching) do(what string, err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatalf("%s: %v", what, err)
	}
}

func sorted(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

const (
	siteID  = KindDirectory + "/site"
	indexID = KindFile + "/index"
	topID   = KindFile + "/top"
	linkID  = KindSymlink + "/current"
)

// tree makes a directory site holding index.html, a file top.txt and a
// symlink current -> site, and watches them; half before Notify starts
// (records loaded at start), half after.
func (w *watching) tree() {
	w.t.Helper()
	w.make(KindDirectory, "site", map[string]any{"path": "site", "mode": "0755"})
	w.make(KindFile, "index", map[string]any{"path": "site/index.html", "content": "hello\n", "mode": "0644"})
	w.start()
	w.make(KindFile, "top", map[string]any{"path": "top.txt", "content": "top\n", "mode": "0644"})
	w.make(KindSymlink, "current", map[string]any{"path": "current", "target": "site"})
	// Every resource is notified once as its watches are set up.
	w.expect("watches set up", siteID, indexID, topID, linkID)
	w.quiet()
}

// TestNotifyNamesWhatChanged: every way a managed object is changed by
// hand notifies its resource, and only the resources it concerns.
func TestNotifyNamesWhatChanged(t *testing.T) {
	cases := map[string]struct {
		change func(w *watching)
		want   []string // notified
		not    []string // not notified
	}{
		"content written": {
			change: func(w *watching) { w.do("write", os.WriteFile(w.path("site/index.html"), []byte("edited\n"), 0o644)) },
			want:   []string{indexID}, not: []string{siteID, topID, linkID},
		},
		"appended to": {
			change: func(w *watching) {
				f, err := os.OpenFile(w.path("top.txt"), os.O_APPEND|os.O_WRONLY, 0)
				w.do("open", err)
				_, err = f.WriteString("more\n")
				w.do("append", err)
				w.do("close", f.Close())
			},
			want: []string{topID}, not: []string{indexID},
		},
		"chmod": {
			change: func(w *watching) { w.do("chmod", os.Chmod(w.path("top.txt"), 0o600)) },
			want:   []string{topID}, not: []string{indexID, siteID},
		},
		"replaced by a rename": {
			change: func(w *watching) {
				w.do("write", os.WriteFile(w.path("site/.index.html.swp"), []byte("vim\n"), 0o644))
				w.do("rename", os.Rename(w.path("site/.index.html.swp"), w.path("site/index.html")))
			},
			want: []string{indexID}, not: []string{topID},
		},
		"deleted": {
			change: func(w *watching) { w.do("remove", os.Remove(w.path("top.txt"))) },
			want:   []string{topID}, not: []string{indexID},
		},
		"symlink retargeted": {
			change: func(w *watching) {
				w.do("mkdir", os.Mkdir(w.path("other"), 0o755))
				w.do("symlink", os.Symlink("other", w.path(".current.new")))
				w.do("rename", os.Rename(w.path(".current.new"), w.path("current")))
			},
			want: []string{linkID}, not: []string{indexID},
		},
		"directory chmod": {
			change: func(w *watching) { w.do("chmod", os.Chmod(w.path("site"), 0o700)) },
			want:   []string{siteID}, not: []string{topID},
		},
		"directory removed": {
			change: func(w *watching) { w.do("remove", os.RemoveAll(w.path("site"))) },
			want:   []string{siteID, indexID}, not: []string{topID, linkID},
		},
		"directory renamed away": {
			change: func(w *watching) { w.do("rename", os.Rename(w.path("site"), w.path("site.old"))) },
			want:   []string{siteID, indexID}, not: []string{topID},
		},
		"an unmanaged file beside them": {
			change: func(w *watching) {
				for i := range 100 {
					w.do("write", os.WriteFile(w.path(fmt.Sprintf("site/other-%d", i)), []byte("x"), 0o644))
				}
			},
			not: []string{siteID, indexID, topID, linkID},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			w := newWatching(t)
			w.tree()
			tc.change(w)
			if len(tc.want) > 0 {
				w.expect(name, tc.want...)
			}
			w.expectNone(name, tc.not...)
		})
	}
}

// TestNotifyFollowsTheTree: watches follow directories removed and made
// again by hand, and a parent reached through a symbolic link that is
// retargeted.
func TestNotifyFollowsTheTree(t *testing.T) {
	t.Run("directory made again", func(t *testing.T) {
		w := newWatching(t)
		w.tree()
		w.do("remove", os.RemoveAll(w.path("site")))
		w.expect("removed", siteID, indexID)
		w.quiet()
		w.do("mkdir", os.Mkdir(w.path("site"), 0o755))
		w.expect("made again", siteID, indexID)
		w.quiet()
		// The new directory is watched: a file made in it is seen.
		w.do("write", os.WriteFile(w.path("site/index.html"), []byte("by hand\n"), 0o644))
		w.expect("written in the new directory", indexID)
		w.quiet()
		w.do("write", os.WriteFile(w.path("site/index.html"), []byte("again\n"), 0o644))
		w.expect("written again", indexID)
	})
	t.Run("directory swapped while notifications wait", func(t *testing.T) {
		w := newWatching(t)
		w.tree()
		// Held in changed: the swap is over when its events are read, and
		// the keys computed then are the ones before it.
		hold := make(chan struct{})
		w.hold.Store(&hold)
		w.do("write", os.WriteFile(w.path("top.txt"), []byte("edited\n"), 0o644))
		time.Sleep(50 * time.Millisecond)
		w.do("rename", os.Rename(w.path("site"), w.path("site.old")))
		w.do("mkdir", os.Mkdir(w.path("site"), 0o755))
		w.do("write", os.WriteFile(w.path("site/index.html"), []byte("new\n"), 0o644))
		w.hold.Store(nil)
		close(hold)
		w.expect("swapped", siteID, indexID)
		w.quiet()
		w.do("write", os.WriteFile(w.path("site/index.html"), []byte("again\n"), 0o644))
		w.expect("written in the new directory", indexID)
	})
	t.Run("deep directories made at once", func(t *testing.T) {
		w := newWatching(t)
		w.start()
		const deepID = KindFile + "/deep"
		// Watched while its parents are missing, as a record of a create
		// that failed for a missing parent.
		w.p.Watch(provider.Request{ID: deepID, Kind: KindFile, Name: "deep", Spec: map[string]any{"path": "a/b/c/deep.txt"}})
		w.expect("watched", deepID)
		w.quiet()
		w.do("mkdir", os.MkdirAll(w.path("a/b/c"), 0o755))
		w.expect("parents made", deepID)
		w.quiet()
		w.do("write", os.WriteFile(w.path("a/b/c/deep.txt"), []byte("x"), 0o644))
		w.expect("written", deepID)
	})
	t.Run("linked parent retargeted", func(t *testing.T) {
		w := newWatching(t)
		mkdirs(t, w.root, "v1", "v2")
		w.do("symlink", os.Symlink("v1", w.path("live")))
		const confID = KindFile + "/conf"
		req := w.make(KindFile, "conf", map[string]any{"path": "live/app.conf", "content": "port = 80\n", "mode": "0644"})
		if got := req.Private[privateID]; got != "v1/app.conf" {
			t.Fatalf("private id %q; want v1/app.conf", got)
		}
		w.start()
		w.expect("watched", confID)
		w.quiet()
		w.do("write", os.WriteFile(w.path("v1/app.conf"), []byte("port = 81\n"), 0o644))
		w.expect("written where it is", confID)
		w.quiet()
		w.do("symlink", os.Symlink("v2", w.path(".live.new")))
		w.do("rename", os.Rename(w.path(".live.new"), w.path("live")))
		w.expect("its parent retargeted", confID)
		w.quiet()
		// Both places stay watched while the record names both.
		w.do("write", os.WriteFile(w.path("v2/app.conf"), []byte("port = 82\n"), 0o644))
		w.expect("written where the path now leads", confID)
		w.quiet()
		w.do("write", os.WriteFile(w.path("v1/app.conf"), []byte("port = 83\n"), 0o644))
		w.expect("written where converge made it", confID)
	})
}

// TestNotifyUnwatch: a resource unwatched is no longer notified, and a
// watch with no object yet (a nil spec) is none.
func TestNotifyUnwatch(t *testing.T) {
	w := newWatching(t)
	w.tree()
	w.p.Unwatch(indexID)
	w.p.Watch(provider.Request{ID: topID, Kind: KindFile, Name: "top"})
	w.quiet()
	w.do("write", os.WriteFile(w.path("site/index.html"), []byte("edited\n"), 0o644))
	w.do("write", os.WriteFile(w.path("top.txt"), []byte("edited\n"), 0o644))
	w.expectNone("unwatched", indexID, topID)
	w.do("chmod", os.Chmod(w.path("site"), 0o700))
	w.expect("still watched", siteID)
}

// TestNotifyOverflow: when the kernel's queue overflows (the consumer
// stalled), events are lost, so every watched resource is notified.
func TestNotifyOverflow(t *testing.T) {
	max, err := os.ReadFile("/proc/sys/fs/inotify/max_queued_events")
	if err != nil {
		t.Skip("no inotify queue limit to overflow:", err)
	}
	var limit int
	fmt.Sscan(string(max), &limit)
	if limit <= 0 || limit > 1<<16 {
		t.Skipf("max_queued_events %d: too many events to overflow in a test", limit)
	}
	w := newWatching(t)
	w.tree()
	for _, name := range []string{"site/a", "site/b"} {
		w.do("write", os.WriteFile(w.path(name), nil, 0o644))
	}
	w.quiet()
	hold := make(chan struct{})
	w.hold.Store(&hold)
	w.do("write", os.WriteFile(w.path("site/index.html"), []byte("edited\n"), 0o644)) // held in changed
	time.Sleep(50 * time.Millisecond)
	// Unmanaged files, in turn: the kernel merges an event identical to
	// the one before it. Twice the limit: fsnotify reads some ahead.
	for i := 0; i <= 2*limit; i++ {
		w.do("chmod", os.Chmod(w.path([]string{"site/a", "site/b"}[i%2]), os.FileMode(0o600|i%4/2*0o44)))
	}
	w.hold.Store(nil)
	close(hold)
	w.expect("after the overflow", siteID, indexID, topID, linkID)
}

// TestNotifyRunsOnce: a second Notify while one runs is an error, and one
// may run again after the first returned.
func TestNotifyRunsOnce(t *testing.T) {
	w := newWatching(t)
	w.tree()
	if err := w.p.Notify(context.Background(), func(string) {}); err == nil {
		t.Fatal("a second Notify while one runs: got nil; want an error")
	}
	if err := w.stop(); err != nil {
		t.Fatalf("first Notify: %v", err)
	}
	w.start()
	w.expect("watches set up again", siteID, indexID, topID, linkID)
	w.quiet()
	w.do("write", os.WriteFile(w.path("top.txt"), []byte("edited\n"), 0o644))
	w.expect("second run", topID)
}

// BenchmarkNotifyLatency measures the time from a hand write of a managed
// file to the notification of its resource: the provider's share of
// healing it.
func BenchmarkNotifyLatency(b *testing.B) {
	p, err := New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"site", "site/other"} {
		if err := os.Mkdir(filepath.Join(p.Root(), name), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	// Many watched files beside it, so that the lookup is not trivial.
	for i := range 1000 {
		req := request(KindFile, fmt.Sprint("f", i), map[string]any{"path": fmt.Sprintf("site/other/f%d", i), "content": "x"})
		req.Private = map[string]string{privateID: fmt.Sprintf("site/other/f%d", i)}
		p.Watch(req)
	}
	p.Watch(provider.Request{ID: indexID, Kind: KindFile, Spec: map[string]any{"path": "site/index.html"}, Private: map[string]string{privateID: "site/index.html"}})
	got := make(chan string, 1<<12)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = p.Notify(ctx, func(id string) { got <- id }) }()
	path := filepath.Join(p.Root(), "site", "index.html")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	for id := range got { // the watches are set up
		if id == indexID {
			break
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := os.WriteFile(path, []byte(fmt.Sprint(i)), 0o644); err != nil {
			b.Fatal(err)
		}
		for id := <-got; id != indexID; id = <-got {
		}
		// Drain what the write's later events bring.
		b.StopTimer()
		time.Sleep(time.Millisecond)
		for len(got) > 0 {
			<-got
		}
		b.StartTimer()
	}
}
