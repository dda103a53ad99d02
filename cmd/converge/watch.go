package main

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
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
//     caught by Fingerprint, which the daemon compares at every resync.
type manifestWatcher struct {
	paths    []string // the -f paths, absolute
	debounce time.Duration
	maxDelay time.Duration
	log      *slog.Logger

	w       *fsnotify.Watcher
	watched map[string]bool // directories watched now
	mdirs   map[string]bool // the manifest directories among them
	// Changes receives one value when the manifests may have changed and
	// settled.
	Changes chan struct{}
}

func newManifestWatcher(paths []string, debounce time.Duration, log *slog.Logger) (*manifestWatcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch manifests: %w", err)
	}
	mw := &manifestWatcher{
		debounce: debounce,
		maxDelay: max(10*debounce, time.Second),
		log:      log,
		w:        w,
		watched:  map[string]bool{},
		mdirs:    map[string]bool{},
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
	want := map[string]bool{}
	for _, p := range mw.paths {
		want[filepath.Dir(p)] = true
	}
	dirs, _ := scanManifests(mw.paths)
	mw.mdirs = map[string]bool{}
	for _, d := range dirs {
		want[d] = true
		mw.mdirs[d] = true
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
		timer *time.Timer
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
			now := time.Now()
			if first.IsZero() {
				first = now
			}
			wait := min(mw.debounce, first.Add(mw.maxDelay).Sub(now))
			stopTimer()
			timer = time.NewTimer(max(wait, 0))
			fire = timer.C
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
	if !mw.mdirs[filepath.Dir(name)] {
		return false // another entry beside a -f path
	}
	if isManifestName(name) || mw.mdirs[name] {
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

// scanManifests lists the real directories the loader reads below paths
// (symlinks followed, hidden entries skipped, each directory once) and a
// stamp of every manifest file in them.
func scanManifests(paths []string) (dirs []string, files []string) {
	seen := map[string]bool{}
	var walk func(dir string, depth int)
	walk = func(dir string, depth int) {
		real, err := filepath.EvalSymlinks(dir)
		if err != nil || seen[real] || depth > 64 {
			return
		}
		seen[real] = true
		dirs = append(dirs, real) // watched by its real path, once
		ents, err := os.ReadDir(real)
		if err != nil {
			return
		}
		for _, ent := range ents {
			if strings.HasPrefix(ent.Name(), ".") {
				continue
			}
			p := filepath.Join(real, ent.Name())
			fi, err := os.Stat(p) // follows links
			if err != nil {
				files = append(files, p+" broken")
				continue
			}
			switch {
			case fi.IsDir():
				walk(p, depth+1)
			case isManifestName(p):
				files = append(files, stamp(p, fi))
			}
		}
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		switch {
		case err != nil:
			files = append(files, p+" missing")
		case fi.IsDir():
			walk(p, 0)
		default:
			files = append(files, stamp(p, fi))
		}
	}
	sort.Strings(dirs)
	sort.Strings(files)
	return dirs, files
}

func stamp(p string, fi fs.FileInfo) string {
	ino := uint64(0)
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	return fmt.Sprintf("%s %d %d %d", p, fi.Size(), fi.ModTime().UnixNano(), ino)
}

// Fingerprint is a hash of every manifest file's path, size, modification
// time and inode: when it changes, the manifests may have changed.
func Fingerprint(paths []string) uint64 {
	_, files := scanManifests(paths)
	h := fnv.New64a()
	for _, f := range files {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	return h.Sum64()
}
