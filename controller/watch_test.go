package controller

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
)

// watchTree makes a manifest tree and returns its real root:
//
//	root/m/              -f path: a directory
//	root/m/app.yaml
//	root/m/sub/          a watched subdirectory
//	root/m/.git/         hidden: never read, never watched
//	root/m/newdir/       made after the watcher started (a new directory)
//	root/releases/v1/web.yaml
//	root/current -> releases/v1   -f path: a symlink to a directory
//	root/notes.txt
func watchTree(t *testing.T) string {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"m/sub", "m/.git/objects", "releases/v1"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"m/app.yaml", "m/sub/db.yaml", "m/.git/index", "releases/v1/web.yaml", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(root, f), []byte("# x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("releases/v1", filepath.Join(root, "current")); err != nil {
		t.Fatal(err)
	}
	return root
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Only manifest files (.yaml, .yml), directories and the -f paths
// themselves (and the directories on the way to them) trigger a reload;
// an editor's swap and backup files, hidden files, .git internals, other
// extensions and a mere chmod do not.
func TestWatchRelevance(t *testing.T) {
	root := watchTree(t)
	m, current := filepath.Join(root, "m"), filepath.Join(root, "current")
	mw, err := newManifestWatcher([]string{m, current}, 100*time.Millisecond, clock.RealClock{}, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer mw.Close()
	// The premise: the watcher watches the tree the loader reads, the
	// parent of each -f path, and nothing hidden.
	for _, d := range []string{root, m, filepath.Join(m, "sub"), filepath.Join(root, "releases/v1")} {
		if !mw.watched[d] {
			t.Errorf("%s is not watched; watched: %v", d, mw.watched)
		}
	}
	for d := range mw.watched {
		if filepath.Base(d) == ".git" || filepath.Base(filepath.Dir(d)) == ".git" {
			t.Errorf("%s is watched: .git internals must not be", d)
		}
	}
	// A directory made after the watcher started.
	if err := os.Mkdir(filepath.Join(m, "newdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A link to a directory made next to a -f path (ln -s v2 current.new
	// before mv current.new current).
	if err := os.Symlink("releases/v1", filepath.Join(root, "current.new")); err != nil {
		t.Fatal(err)
	}
	in := func(rel string) string { return filepath.Join(root, rel) }
	cases := []struct {
		name string
		ev   fsnotify.Event
		want bool
	}{
		{"a manifest written", fsnotify.Event{Name: in("m/app.yaml"), Op: fsnotify.Write}, true},
		{"a .yml manifest made", fsnotify.Event{Name: in("m/db.yml"), Op: fsnotify.Create}, true},
		{"a manifest removed", fsnotify.Event{Name: in("m/sub/db.yaml"), Op: fsnotify.Remove}, true},
		{"a manifest renamed over (atomic save)", fsnotify.Event{Name: in("m/app.yaml"), Op: fsnotify.Create}, true},
		{"a manifest in the linked release", fsnotify.Event{Name: in("releases/v1/web.yaml"), Op: fsnotify.Write}, true},
		{"a manifest written and chmodded", fsnotify.Event{Name: in("m/app.yaml"), Op: fsnotify.Write | fsnotify.Chmod}, true},
		{"a new directory", fsnotify.Event{Name: in("m/newdir"), Op: fsnotify.Create}, true},
		{"a watched directory removed", fsnotify.Event{Name: in("m/sub"), Op: fsnotify.Remove}, true},
		{"a new link to a directory", fsnotify.Event{Name: in("current.new"), Op: fsnotify.Create}, true},
		{"the -f directory removed", fsnotify.Event{Name: m, Op: fsnotify.Remove}, true},
		{"the -f directory made again", fsnotify.Event{Name: m, Op: fsnotify.Create}, true},
		{"the -f link renamed over", fsnotify.Event{Name: current, Op: fsnotify.Create}, true},
		{"the -f link removed", fsnotify.Event{Name: current, Op: fsnotify.Remove}, true},
		{"a directory on the way to a -f path", fsnotify.Event{Name: root, Op: fsnotify.Rename}, true},

		{"a chmod of a manifest", fsnotify.Event{Name: in("m/app.yaml"), Op: fsnotify.Chmod}, false},
		{"a chmod of the -f directory", fsnotify.Event{Name: m, Op: fsnotify.Chmod}, false},
		{"vim's swap file", fsnotify.Event{Name: in("m/.app.yaml.swp"), Op: fsnotify.Write}, false},
		{"vim's second swap file", fsnotify.Event{Name: in("m/.app.yaml.swx"), Op: fsnotify.Create}, false},
		{"vim's write probe 4913", fsnotify.Event{Name: in("m/4913"), Op: fsnotify.Create}, false},
		{"vim's write probe removed", fsnotify.Event{Name: in("m/4913"), Op: fsnotify.Remove}, false},
		{"a backup file~", fsnotify.Event{Name: in("m/app.yaml~"), Op: fsnotify.Create}, false},
		{"emacs's autosave", fsnotify.Event{Name: in("m/#app.yaml#"), Op: fsnotify.Write}, false},
		{"emacs's lock link", fsnotify.Event{Name: in("m/.#app.yaml"), Op: fsnotify.Create}, false},
		{"an editor's temporary file", fsnotify.Event{Name: in("m/app.yaml.tmp"), Op: fsnotify.Write}, false},
		{"a non-visible swap file without a dot", fsnotify.Event{Name: in("m/app.yaml.swp"), Op: fsnotify.Write}, false},
		{"a hidden manifest", fsnotify.Event{Name: in("m/.draft.yaml"), Op: fsnotify.Write}, false},
		{"the .git directory", fsnotify.Event{Name: in("m/.git"), Op: fsnotify.Create}, false},
		{"the .git directory removed", fsnotify.Event{Name: in("m/.git"), Op: fsnotify.Remove}, false},
		{"a JSON file", fsnotify.Event{Name: in("m/values.json"), Op: fsnotify.Write}, false},
		{"a text file next to a -f path", fsnotify.Event{Name: in("notes.txt"), Op: fsnotify.Write}, false},
		{"a file named like a directory that is gone", fsnotify.Event{Name: in("m/gone"), Op: fsnotify.Remove}, false},
		{"a new regular file without extension", fsnotify.Event{Name: in("m/sub/README"), Op: fsnotify.Create}, false},
	}
	if err := os.WriteFile(in("m/sub/README"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := mw.relevant(c.ev); got != c.want {
				t.Errorf("relevant(%s %s) = %t; want %t", c.ev.Op, c.ev.Name, got, c.want)
			}
		})
	}
}

// fakeEvents replaces mw's kernel notifications by a channel the test
// writes, and returns it.
func fakeEvents(t *testing.T, mw *manifestWatcher) chan fsnotify.Event {
	t.Helper()
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	events := make(chan fsnotify.Event) // unbuffered: a send returns once Run took it
	mw.w = &fsnotify.Watcher{Events: events, Errors: make(chan error)}
	return events
}

// A reload waits for the changes to settle, but under constant churn it
// starts at most max(10×debounce, 1 s) after the first change: a file
// rewritten every debounce/5 cannot hold it back.
func TestWatchDelayIsBoundedUnderChurn(t *testing.T) {
	cases := []struct {
		debounce, maxDelay time.Duration
	}{
		{300 * time.Millisecond, 3 * time.Second}, // 10×debounce
		{50 * time.Millisecond, time.Second},      // at least 1 s
	}
	for _, c := range cases {
		t.Run(c.debounce.String(), func(t *testing.T) {
			root := watchTree(t)
			m := filepath.Join(root, "m")
			fc := clocktesting.NewFakeClock(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC))
			mw, err := newManifestWatcher([]string{m}, c.debounce, fc, discard())
			if err != nil {
				t.Fatal(err)
			}
			events := fakeEvents(t, mw)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); mw.Run(ctx) }()
			defer func() { cancel(); <-done }()

			manifest := fsnotify.Event{Name: filepath.Join(m, "app.yaml"), Op: fsnotify.Write}
			// A chmod is not relevant: once Run took it, it has handled the
			// event sent before it (and armed its timer).
			barrier := func() { events <- fsnotify.Event{Name: filepath.Join(m, "app.yaml"), Op: fsnotify.Chmod} }
			pending := func() bool { return fc.Waiters() > 0 }

			// Settling: one change alone is reported one debounce later.
			events <- manifest
			barrier()
			fc.Step(c.debounce - time.Millisecond)
			if !pending() {
				t.Fatalf("reported %s after a single change; want %s", c.debounce-time.Millisecond, c.debounce)
			}
			fc.Step(time.Millisecond)
			if pending() {
				t.Fatalf("not reported %s after a single change", c.debounce)
			}
			waitChange(t, mw)

			// Churn: a change every debounce/5, for ever (it divides the bound,
			// so the step that crosses it lands on it).
			churn := c.debounce / 5
			start := fc.Now()
			var fired time.Duration
			for fc.Since(start) < 10*c.maxDelay {
				events <- manifest
				barrier()
				if !pending() {
					t.Fatalf("no reload armed after a change at %s", fc.Since(start))
				}
				fc.Step(churn)
				if !pending() {
					fired = fc.Since(start)
					break
				}
			}
			if fired == 0 {
				t.Fatalf("no reload after %s of churn; want one within %s", fc.Since(start), c.maxDelay)
			}
			if fired > c.maxDelay || fired <= c.maxDelay-churn {
				t.Errorf("the reload started %s after the first change; want %s (the bound, not sooner: the changes never settled)", fired, c.maxDelay)
			}
			waitChange(t, mw)
			if len(mw.Changes) != 0 {
				t.Errorf("%d more changes pending; want one report", len(mw.Changes))
			}
		})
	}
}

// waitChange waits for the report of a timer that has fired already:
// only Run's goroutine stands between the two.
func waitChange(t *testing.T, mw *manifestWatcher) {
	t.Helper()
	select {
	case <-mw.Changes:
	case <-time.After(10 * time.Second):
		t.Fatal("the timer fired but no change was reported")
	}
}
