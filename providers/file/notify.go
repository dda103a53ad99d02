package file

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/convergehq/converge/provider"
)

// Change notifications. The engine tells the provider of every record
// (Watch, Unwatch); Notify watches, with fsnotify (inotify on Linux), every
// directory on the way from the root to each managed object, and maps an
// event back to the resources it may concern:
//
//   - An object's keys are the names events about it come under: relative
//     to the root, with the parent's symbolic links resolved, as locate
//     names them. They are the names of its path as written (spec.path) and
//     of where converge made it (Private["id"]), and the names of every
//     prefix of both ("site", "site/www" for "site/www/index.html").
//   - Any event on an object's own name (written to, chmod, replaced by a
//     rename, deleted) notifies it. An event that changes what a prefix
//     leads to (created, deleted, renamed: a directory removed, a linked
//     parent retargeted) notifies every object below it, and their keys
//     are computed again, so watches follow the tree as it changes.
//   - The watched directories are the real parents of every key: real
//     directories, never the links leading to them, so one directory is
//     watched once, under one name. Nothing outside the root is watched.
//   - A resource whose watches are new or changed is notified once: what
//     happened before its watch was in place is observed too. A directory
//     whose watch was just added is looked into again at once, for what was
//     made in it meanwhile.
//   - Events are taken in batches, which end when the events pause
//     (settle, maxWait, maxBatch): each resource is notified once per
//     batch, whatever the number of events. A kernel queue overflow
//     notifies every watched resource and computes every key again.

// A batch of events ends when none came for settle, or after maxWait, or
// at maxBatch events; the resources they concern are notified then. One
// change is often several events a few microseconds apart (a truncate then
// a write; converge's own write: a temporary file made, written, chmod,
// renamed over), and waiting for the last of them spares an observe of a
// file half written. Under a constant storm, each resource is notified
// once per maxWait at most.
const (
	settle   = 2 * time.Millisecond
	maxWait  = 20 * time.Millisecond
	maxBatch = 4096
)

// maxRounds bounds how often one resource's keys are computed again in a
// row because a directory on its path was watched anew (and something may
// have been made in it before): once per directory on the path, at most.
const maxRounds = 64

// target is what to watch of one resource: its path as written and where
// converge made it.
type target struct {
	path string // spec.path
	id   string // Private["id"]
}

// watches is what the engine told the provider to watch. Watch and Unwatch
// only note it, under mu; Notify's goroutine does the work.
type watches struct {
	mu      sync.Mutex
	want    map[string]target // resource ID -> what to watch
	dirty   map[string]bool   // IDs whose keys must be computed again
	wake    chan struct{}     // cap 1: dirty holds IDs
	running bool              // a Notify runs
}

func (w *watches) initLocked() {
	if w.want == nil {
		w.want, w.dirty, w.wake = map[string]target{}, map[string]bool{}, make(chan struct{}, 1)
	}
}

func (w *watches) markLocked(id string) {
	w.dirty[id] = true
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Watch notes the object of the resource req describes (its last applied
// spec's path and Private["id"]) for Notify to watch. It returns at once.
func (p *Provider) Watch(req provider.Request) {
	var t target
	if known(req.Kind) {
		t.path, _ = req.Spec["path"].(string)
		t.id = req.Private[privateID]
	}
	w := &p.watches
	w.mu.Lock()
	defer w.mu.Unlock()
	w.initLocked()
	old, had := w.want[req.ID]
	switch {
	case t == target{} && !had, had && old == t:
		return
	case t == target{}:
		delete(w.want, req.ID)
	default:
		w.want[req.ID] = t
	}
	w.markLocked(req.ID)
}

// Unwatch forgets the resource id. It returns at once.
func (p *Provider) Unwatch(id string) {
	w := &p.watches
	w.mu.Lock()
	defer w.mu.Unlock()
	w.initLocked()
	if _, ok := w.want[id]; ok {
		delete(w.want, id)
		w.markLocked(id)
	}
}

// Notify calls changed with the ID of every watched resource whose object
// may have changed, until ctx is done (then it returns nil). It returns an
// error when it cannot watch: no inotify instance to be had, the watch limit
// reached (fs.inotify.max_user_watches), or another Notify running.
func (p *Provider) Notify(ctx context.Context, changed func(id string)) error {
	w := &p.watches
	w.mu.Lock()
	w.initLocked()
	if w.running {
		w.mu.Unlock()
		return errors.New("file provider: Notify is running already")
	}
	w.running = true
	for id := range w.want {
		w.dirty[id] = true // a new watch: every key is computed afresh
	}
	wake := w.wake
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.running = false
		w.mu.Unlock()
	}()
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", p.root, err)
	}
	defer fw.Close()

	n := &notifier{p: p, fw: fw, changed: changed, of: map[string]*keys{}, exact: map[string]map[string]bool{}, under: map[string]map[string]bool{}, dirs: map[string]*dirWatch{}}
	for {
		w.mu.Lock()
		dirty := w.dirty
		w.dirty = map[string]bool{}
		w.mu.Unlock()
		if err := n.index(dirty); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case ev, ok := <-fw.Events:
			if !ok {
				return errors.New("file provider: the watch ended")
			}
			n.events(ev)
		case _, ok := <-fw.Errors:
			if !ok {
				return errors.New("file provider: the watch ended")
			}
			// An overflow (fsnotify.ErrEventOverflow) lost events; any
			// other error may have too.
			n.all()
		}
	}
}

// notifier is the state of one Notify call, owned by its goroutine.
type notifier struct {
	p       *Provider
	fw      *fsnotify.Watcher
	changed func(id string)
	of      map[string]*keys           // resource ID -> its keys
	exact   map[string]map[string]bool // key -> IDs whose object it names
	under   map[string]map[string]bool // key -> IDs whose object lies below it
	dirs    map[string]*dirWatch       // watched directory, relative to the root
}

// keys are the names events about one object come under, and the
// directories to watch for them, all relative to the root.
type keys struct {
	t     target
	exact []string // the object's own names
	under []string // its prefixes' names
	dirs  []string // the real directories holding all of them
}

func (k *keys) same(o *keys) bool {
	return slices.Equal(k.exact, o.exact) && slices.Equal(k.under, o.under) && slices.Equal(k.dirs, o.dirs)
}

type dirWatch struct {
	refs int  // keys of watched objects in it
	live bool // watched now: false until added, and once its watch is lost
}

// events handles ev and the events that follow it closely: until none
// came for settle, for maxWait at most, maxBatch events at most. Each
// resource they concern is then notified once, and those whose prefixes
// changed get their keys computed again.
func (n *notifier) events(ev fsnotify.Event) {
	hit, moved := map[string]bool{}, map[string]bool{}
	n.event(ev, hit, moved)
	quiet := time.NewTimer(settle)
	defer quiet.Stop()
	deadline := time.Now().Add(maxWait)
batch:
	for i := 1; i < maxBatch && time.Now().Before(deadline); i++ {
		select {
		case ev, ok := <-n.fw.Events:
			if !ok {
				break batch
			}
			n.event(ev, hit, moved)
			quiet.Reset(settle)
		case <-quiet.C:
			break batch
		}
	}
	for id := range hit {
		n.changed(id)
	}
	if len(moved) > 0 {
		w := &n.p.watches
		w.mu.Lock()
		for id := range moved {
			w.dirty[id] = true
		}
		w.mu.Unlock()
	}
}

func (n *notifier) event(ev fsnotify.Event, hit, moved map[string]bool) {
	rel, ok := n.rel(ev.Name)
	if !ok {
		return
	}
	for id := range n.exact[rel] {
		hit[id] = true
	}
	if !ev.Has(fsnotify.Create) && !ev.Has(fsnotify.Remove) && !ev.Has(fsnotify.Rename) {
		return // written or chmod: only the object itself changed
	}
	if d, ok := n.dirs[rel]; ok {
		d.live = false // gone, or another directory now: watch it again
	}
	for id := range n.under[rel] {
		hit[id], moved[id] = true, true
	}
	for id := range n.exact[rel] {
		moved[id] = true
	}
}

// rel returns an event's path relative to the root.
func (n *notifier) rel(name string) (string, bool) {
	if name == n.p.root {
		return ".", true
	}
	return strings.CutPrefix(name, n.p.root+string(filepath.Separator))
}

// all notifies every watched resource and computes their keys again: events
// were lost.
func (n *notifier) all() {
	w := &n.p.watches
	w.mu.Lock()
	for id := range n.of {
		w.dirty[id] = true
	}
	w.mu.Unlock()
	for id := range n.of {
		n.changed(id)
	}
	for _, d := range n.dirs {
		d.live = false
	}
}

// index computes the keys of the resources ids again, watches the
// directories they need and stops watching those nobody needs, and
// notifies the resources whose watches are new or changed.
func (n *notifier) index(ids map[string]bool) error {
	if len(ids) == 0 {
		return nil
	}
	cache := map[string]locResult{}
	for id := range ids {
		n.p.watches.mu.Lock()
		t, ok := n.p.watches.want[id]
		n.p.watches.mu.Unlock()
		old := n.of[id]
		if !ok {
			if old != nil {
				n.set(id, nil)
			}
			continue
		}
		notify := false
		for range maxRounds {
			k := n.p.keysOf(t, cache)
			if old != nil && old.t == t && old.same(k) && !n.lost(k) {
				break
			}
			notify = true
			added, err := n.set(id, k)
			if err != nil {
				return err
			}
			old = k
			if !added {
				break
			}
			// A directory watched from now on: what was made in it
			// before is looked up afresh.
			clear(cache)
		}
		if notify {
			n.changed(id)
		}
	}
	return nil
}

// lost reports whether a directory k needs is not watched now.
func (n *notifier) lost(k *keys) bool {
	for _, d := range k.dirs {
		if w := n.dirs[d]; w == nil || !w.live {
			return true
		}
	}
	return false
}

// set replaces the keys of id with k (nil: none), and reports whether a
// directory was watched anew for it. The only error is the watch limit.
func (n *notifier) set(id string, k *keys) (added bool, err error) {
	old := n.of[id]
	if old != nil {
		for _, key := range old.exact {
			remove(n.exact, key, id)
		}
		for _, key := range old.under {
			remove(n.under, key, id)
		}
	}
	delete(n.of, id)
	if k != nil {
		n.of[id] = k
		for _, key := range k.exact {
			add(n.exact, key, id)
		}
		for _, key := range k.under {
			add(n.under, key, id)
		}
		// The new directories are counted before the old ones are let go,
		// so one both need stays watched.
		for _, d := range k.dirs {
			w := n.dirs[d]
			if w == nil {
				w = &dirWatch{}
				n.dirs[d] = w
			}
			w.refs++
			if w.live {
				continue
			}
			switch err := n.fw.Add(filepath.Join(n.p.root, d)); {
			case err == nil:
				w.live, added = true, true
			case errors.Is(err, syscall.ENOSPC):
				return added, fmt.Errorf("watch %s: the inotify watch limit is reached (fs.inotify.max_user_watches); changes are found at resyncs only: %w", filepath.Join(n.p.root, d), err)
			}
			// Gone, or not readable: its parent's events say when it
			// changes again.
		}
	}
	if old != nil {
		for _, d := range old.dirs {
			if w := n.dirs[d]; w != nil {
				if w.refs--; w.refs == 0 {
					if w.live {
						_ = n.fw.Remove(filepath.Join(n.p.root, d))
					}
					delete(n.dirs, d)
				}
			}
		}
	}
	return added, nil
}

func add(m map[string]map[string]bool, key, id string) {
	s := m[key]
	if s == nil {
		s = map[string]bool{}
		m[key] = s
	}
	s[id] = true
}

func remove(m map[string]map[string]bool, key, id string) {
	if s := m[key]; s != nil {
		delete(s, id)
		if len(s) == 0 {
			delete(m, key)
		}
	}
}

// locResult is a prefix located, or why not.
type locResult struct {
	loc location
	err error
}

// keysOf locates every prefix of t's paths, as operations would, and
// returns the keys. A prefix that cannot be located (a missing or escaping
// parent) ends its path's keys: its parent's events tell when it changes.
// cache holds the prefixes located already.
func (p *Provider) keysOf(t target, cache map[string]locResult) *keys {
	k := &keys{t: t}
	seen := map[string]bool{}
	for _, path := range []string{t.path, filepath.FromSlash(t.id)} {
		rel, err := p.clean(path)
		if err != nil || seen[rel] {
			continue
		}
		seen[rel] = true
		parts := components(rel)
		prefix := ""
		for i, c := range parts {
			prefix = filepath.Join(prefix, c)
			r, ok := cache[prefix]
			if !ok {
				r.loc, r.err = p.locate(prefix)
				cache[prefix] = r
			}
			if r.err != nil {
				break
			}
			k.dirs = append(k.dirs, r.loc.dir)
			if i == len(parts)-1 {
				k.exact = append(k.exact, r.loc.name)
			} else {
				k.under = append(k.under, r.loc.name)
			}
		}
	}
	for _, s := range []*[]string{&k.exact, &k.under, &k.dirs} {
		slices.Sort(*s)
		*s = slices.Compact(*s)
	}
	return k
}

// Interface guards.
var (
	_ provider.Notifier = (*Provider)(nil)
	_ provider.Watcher  = (*Provider)(nil)
)
