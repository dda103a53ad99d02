package controller

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"k8s.io/utils/clock"

	"github.com/convergehq/converge/manifest"
)

// manifestWatcher tells the daemon when the manifests may have changed. It
// watches every directory the loader reads (following symlinks, as the
// loader does) and the parent directory of every -f path, so that a path
// replaced as a whole (rm -rf m && mkdir m, a directory swapped for a
// symlink, git checkout, an editor's atomic rename) is seen too.
//
// Guarantees:
//   - Only manifest files (.yaml, .yml), directories and the -f paths
//     themselves trigger a reload; an editor's swap file does not.
//   - A reload waits for the changes to settle (debounce), but never more
//     than maxDelay after the first change, however constant the churn.
//   - After every reload the watches follow the directories as they are now.
//   - A change the kernel's notifications missed (a queue overflow) is
//     caught by fingerprint, which the controller compares at every resync.
type manifestWatcher struct {
	paths    []string // the -f paths, absolute
	debounce time.Duration
	maxDelay time.Duration
	clock    clock.Clock
	log      *slog.Logger

	w       *fsnotify.Watcher
	watched map[string]bool // directories watched now
	// Changes receives one value when the manifests may have changed and
	// settled.
	Changes chan struct{}
}

func newManifestWatcher(paths []string, debounce time.Duration, c clock.Clock, log *slog.Logger) (*manifestWatcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch manifests: %w", err)
	}
	mw := &manifestWatcher{
		debounce: debounce,
		maxDelay: max(10*debounce, time.Second),
		clock:    c,
		log:      log,
		w:        w,
		watched:  map[string]bool{},
		Changes:  make(chan struct{}, 1),
	}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("watch %s: %w", p, err)
		}
		mw.paths = append(mw.paths, abs)
	}
	if err := mw.Sync(); err != nil {
		w.Close()
		return nil, err
	}
	return mw, nil
}

// Close stops watching.
func (mw *manifestWatcher) Close() error { return mw.w.Close() }

// Sync makes the watches follow the directories as they are now: it adds
// new ones and drops those that are gone.
func (mw *manifestWatcher) Sync() error {
	dirs, _ := manifest.WatchPaths(mw.paths) // problems are the loader's to report
	want := map[string]bool{}
	for _, d := range dirs {
		want[d] = true
	}
	for d := range mw.watched {
		if !want[d] {
			_ = mw.w.Remove(d) // gone already, most often
			delete(mw.watched, d)
		}
	}
	var firstErr error
	for d := range want {
		if mw.watched[d] {
			continue
		}
		if err := mw.w.Add(d); err != nil {
			if firstErr == nil && !errors.Is(err, fs.ErrNotExist) {
				firstErr = fmt.Errorf("watch %s: %w", d, err)
			}
			continue
		}
		mw.watched[d] = true
	}
	return firstErr
}

// Run turns file events into settled change notifications on Changes until
// ctx is done.
func (mw *manifestWatcher) Run(ctx context.Context) {
	var (
		timer clock.Timer
		fire  <-chan time.Time
		first time.Time // of the changes not yet reported
	)
	stopTimer := func() {
		if timer != nil {
			timer.Stop()
		}
	}
	defer stopTimer()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-mw.w.Events:
			if !ok {
				return
			}
			if !mw.relevant(ev) {
				continue
			}
			now := mw.clock.Now()
			if first.IsZero() {
				first = now
			}
			wait := min(mw.debounce, first.Add(mw.maxDelay).Sub(now))
			stopTimer()
			timer = mw.clock.NewTimer(max(wait, 0))
			fire = timer.C()
		case err, ok := <-mw.w.Errors:
			if !ok {
				return
			}
			mw.log.Warn("manifest watcher", "err", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				mw.notify() // some events were lost: look again
			}
		case <-fire:
			fire, first = nil, time.Time{}
			mw.notify()
		}
	}
}

func (mw *manifestWatcher) notify() {
	select {
	case mw.Changes <- struct{}{}:
	default: // one is pending already
	}
}

// relevant reports whether ev may change what the loader reads.
func (mw *manifestWatcher) relevant(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	name := ev.Name
	for _, p := range mw.paths {
		if name == p || strings.HasPrefix(p, name+string(filepath.Separator)) {
			return true // a -f path, or a directory on the way to it
		}
	}
	if strings.HasPrefix(filepath.Base(name), ".") {
		return false // hidden, as the loader skips them
	}
	if isManifestName(name) || mw.watched[name] {
		return true
	}
	if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Rename) {
		// A new directory (or link to one) may hold manifests already.
		if fi, err := os.Stat(name); err == nil && fi.IsDir() {
			return true
		}
	}
	return false
}

func isManifestName(name string) bool {
	ext := filepath.Ext(name)
	return ext == ".yaml" || ext == ".yml"
}

// fingerprint is a hash of what the loader would read at paths: every
// watched directory's manifest files and subdirectories, by name, size,
// modification time and inode. When it changes, the manifests may have.
func fingerprint(paths []string) uint64 {
	dirs, err := manifest.WatchPaths(paths)
	h := fnv.New64a()
	if err != nil {
		h.Write([]byte(err.Error()))
	}
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			fmt.Fprintf(h, "%s: %v\n", d, err)
			continue
		}
		for _, ent := range ents {
			if strings.HasPrefix(ent.Name(), ".") {
				continue
			}
			p := filepath.Join(d, ent.Name())
			fi, err := os.Stat(p) // follows links
			if err != nil {
				fmt.Fprintf(h, "%s: %v\n", p, err)
				continue
			}
			if !fi.IsDir() && !isManifestName(p) {
				continue
			}
			ino := uint64(0)
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				ino = st.Ino
			}
			fmt.Fprintf(h, "%s %t %d %d %d\n", p, fi.IsDir(), fi.Size(), fi.ModTime().UnixNano(), ino)
		}
	}
	return h.Sum64()
}
