package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"k8s.io/utils/clock"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/store"
)

// Options configure a Controller.
type Options struct {
	// Load reads the manifests into a validated revision. It is called at
	// every reload, outside the controller's loop.
	Load func() (*manifest.Revision, error)
	// Paths are the manifest paths to watch; none: reload only on Reload
	// and when the resync finds them changed (never, without paths).
	Paths []string
	// Guard is how much one new revision may delete (see engine.Guard).
	Guard engine.Guard
	// Rollback: a new revision that fails terminally, or misses
	// ProgressDeadline (when positive), is marked failed and the last known
	// good revision is converged again.
	Rollback         bool
	ProgressDeadline time.Duration
	// Resync is how often every resource is observed again (jittered by
	// ±10%); default 30s.
	Resync time.Duration
	// Debounce is how long manifest changes must be quiet before a
	// reload; DefaultDebounce when zero.
	Debounce time.Duration
	// EventsRetention deletes events older than this, at start and daily;
	// 0 keeps them all.
	EventsRetention time.Duration
	// DryRun judges nothing: no revision is marked converged or failed.
	DryRun bool
	// Clock defaults to the real clock.
	Clock clock.WithTicker
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// LogAttrs are added to the "converge running" line.
	LogAttrs []any
	// Cluster, when set, makes the controller one node of several sharing
	// the store: it converges the published target, and publishes and
	// judges it only while the node leads (see cluster.go). Its engine
	// writes through NodeStore.
	Cluster Cluster
}

// DefaultDebounce is how long manifest changes must be quiet before the
// daemon reloads them. The writes of a git checkout or an editor's save
// come microseconds apart, so they make one reload; an edit of one
// resource among 1,000 is converged in about 50 ms (300 ms debounced it
// to 330 ms; see docs/performance.md).
const DefaultDebounce = 25 * time.Millisecond

// Controller runs one engine as a daemon.
type Controller struct {
	e      *engine.Engine
	st     store.Store
	opts   Options
	log    *slog.Logger
	clock  clock.WithTicker
	reload chan struct{}
	differ string // the manifests and target last reported to differ (cluster.go)
}

// New returns a controller of e over st.
func New(e *engine.Engine, st store.Store, opts Options) *Controller {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Resync <= 0 {
		opts.Resync = 30 * time.Second
	}
	if opts.Debounce < 0 {
		opts.Debounce = 0
	} else if opts.Debounce == 0 && len(opts.Paths) > 0 {
		opts.Debounce = DefaultDebounce
	}
	return &Controller{e: e, st: st, opts: opts, log: opts.Logger, clock: opts.Clock, reload: make(chan struct{}, 1)}
}

// Reload asks the running controller to load the manifests again (a
// SIGHUP, an API call). It never blocks; requests made while one is
// pending collapse into it.
func (c *Controller) Reload() {
	select {
	case c.reload <- struct{}{}:
	default:
	}
}

// Run targets rv (the manifests' revision, loaded by the caller so that it
// can report invalid manifests before anything starts), or the current
// target when rv is held, and keeps converging until ctx is done: it
// reloads on manifest changes and Reload, observes everything every
// Resync, judges the target revision every second and follows a target
// set by another process. It refuses to start on a set that declares
// nothing over a managed state (engine.ErrEmpty). On ctx done it lets the
// calls in flight finish, saves the state and returns nil.
func (c *Controller) Run(ctx context.Context, rv *manifest.Revision) error {
	var watcher *manifestWatcher
	if len(c.opts.Paths) > 0 {
		var err error
		if watcher, err = newManifestWatcher(c.opts.Paths, c.opts.Debounce, c.clock, c.log); err != nil {
			return err
		}
		defer watcher.Close()
		wctx, stopWatch := context.WithCancel(ctx)
		defer stopWatch()
		go watcher.Run(wctx)
	}

	first := c.first
	var targets <-chan string
	if c.opts.Cluster != nil {
		// Watched before the published target is read: one published
		// meanwhile is followed.
		first, targets = c.firstShared, c.watchTargets(ctx)
	}
	target, err := first(ctx, rv)
	if err != nil {
		return err
	}
	if err := c.e.SetTarget(ctx, target); err != nil {
		return err
	}
	wg := c.e.Start(ctx)
	attrs := append([]any{"resources", len(target.Resources), "revision", short(target.Hash), "resync", c.opts.Resync, "dry_run", c.opts.DryRun, "rollback", c.opts.Rollback}, c.opts.LogAttrs...)
	c.log.Info("converge running", attrs...)

	resync := c.clock.NewTimer(jitter(c.opts.Resync))
	defer resync.Stop()
	progress := c.clock.NewTicker(time.Second)
	defer progress.Stop()
	c.pruneEvents(ctx)
	prune := c.clock.NewTicker(24 * time.Hour)
	defer prune.Stop()
	if c.opts.Cluster == nil {
		targets = c.watchTargets(ctx)
	}
	judge := revisionWatch{c: c, watched: targets != nil}

	// Manifests load outside this loop, so that a shutdown is served at
	// once however long a large set takes to parse.
	type loaded struct {
		rv          *manifest.Revision
		err         error
		fingerprint uint64
	}
	var (
		results = make(chan loaded, 1)
		loading bool
		again   bool // a change came while loading
		fp      = fingerprint(c.opts.Paths)
	)
	reload := func(why string) {
		if c.opts.Load == nil {
			return
		}
		if loading {
			again = true
			return
		}
		loading = true
		c.log.Debug("reloading the manifests", "why", why)
		go func() {
			began := c.clock.Now()
			f := fingerprint(c.opts.Paths)
			rv, err := c.opts.Load()
			c.log.Debug("manifests loaded", "took", c.clock.Since(began).Round(time.Millisecond), "valid", err == nil)
			results <- loaded{rv: rv, err: err, fingerprint: f}
		}()
	}
	var changes <-chan struct{}
	if watcher != nil {
		changes = watcher.Changes
	}
	manifests := rv // the manifests' revision, targeted or not
	for {
		select {
		case <-progress.C():
			if c.opts.Cluster != nil {
				// A node never stays on another target than the
				// published one, even if a watch missed it.
				if t, err := c.st.Target(ctx); err == nil {
					judge.follow(ctx, t)
					c.compare(ctx, manifests, t)
				}
			}
			if c.leads() {
				judge.tick(ctx)
			}
		case t := <-targets:
			judge.follow(ctx, t)
			c.compare(ctx, manifests, t)
		case <-c.leaderChanges():
			c.becameLeader(ctx, manifests)
		case <-prune.C():
			if c.leads() {
				c.pruneEvents(ctx)
			}
		case <-ctx.Done():
			c.log.Info("shutting down: finishing calls in flight")
			c.e.Stop(wg)
			return nil
		case <-resync.C():
			c.e.ResyncAll()
			resync.Reset(jitter(c.opts.Resync))
			if !loading && len(c.opts.Paths) > 0 && fingerprint(c.opts.Paths) != fp {
				reload("the manifests changed without a notification")
			}
		case <-changes:
			reload("manifest change")
		case <-c.reload:
			c.log.Info("reloading the manifests on request")
			reload("request")
		case res := <-results:
			loading = false
			fp = res.fingerprint
			if watcher != nil {
				if err := watcher.Sync(); err != nil {
					c.log.Warn("manifest watcher", "err", err)
				}
			}
			switch {
			case res.err == nil && c.opts.Cluster != nil:
				manifests = c.nextShared(ctx, manifests, res.rv)
			case res.err == nil:
				manifests = c.next(ctx, manifests, res.rv)
			default:
				c.invalid(ctx, res.err)
			}
			if again {
				again = false
				reload("manifest change while loading")
			}
		}
	}
}

func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}

// first returns the revision to target at start: the manifests' one, or
// the current target when the manifests' one would delete more than the
// guard allows (an empty set is refused).
func (c *Controller) first(ctx context.Context, rv *manifest.Revision) (*manifest.Revision, error) {
	target, note, err := ChooseTarget(ctx, c.st, rv, c.opts.Rollback)
	if err != nil {
		return nil, err
	}
	if note != "" {
		c.log.Warn(note)
	}
	err = c.opts.Guard.Check(c.e.Records(), target)
	var held *engine.HeldError
	switch {
	case err == nil:
		return target, nil
	case errors.As(err, &held):
		cur, cerr := c.current(ctx)
		if cerr != nil {
			return nil, fmt.Errorf("%w; and there is no current revision to stay on: %v", err, cerr)
		}
		if herr := c.e.Hold(ctx, target, held); herr != nil {
			return nil, herr
		}
		c.log.Warn("the manifests' revision is held; staying on the current one", "held", short(target.Hash), "current", short(cur.Hash), "reason", err.Error())
		return cur, nil
	default:
		return nil, err
	}
}

// current returns the target revision recorded in the state.
func (c *Controller) current(ctx context.Context) (*manifest.Revision, error) {
	t, err := c.st.Target(ctx)
	if err != nil {
		return nil, err
	}
	r, err := c.st.GetRevision(ctx, t)
	if err != nil {
		return nil, err
	}
	return engine.RevisionFromStore(r)
}

// next targets the manifests' new revision next, unless it is the same as
// loaded, declares nothing over a managed state, or deletes more than the
// guard allows. It returns the manifests' revision, targeted or not.
func (c *Controller) next(ctx context.Context, loaded, next *manifest.Revision) *manifest.Revision {
	if loaded != nil && next.Hash == loaded.Hash {
		return loaded
	}
	bg := context.WithoutCancel(ctx)
	target, note, err := ChooseTarget(ctx, c.st, next, c.opts.Rollback)
	if err != nil {
		c.log.Error("choose target", "err", err)
		return loaded
	}
	if note != "" {
		c.log.Warn(note)
	}
	err = c.opts.Guard.Check(c.e.Records(), target)
	var held *engine.HeldError
	switch {
	case errors.Is(err, engine.ErrEmpty):
		msg := "the manifests changed and declare no resources: keeping the current revision. " + err.Error()
		c.log.Error(msg)
		c.warn(bg, store.ReasonEmptyManifests, msg)
		return next
	case errors.As(err, &held):
		if herr := c.e.Hold(bg, target, held); herr != nil {
			c.log.Error("hold revision", "err", herr)
		}
		return next
	case err != nil:
		c.log.Error("check deletions", "err", err)
		return loaded
	}
	if err := c.e.SetTarget(ctx, target); err != nil {
		c.log.Error("set target", "err", err)
		return loaded
	}
	return next
}

// invalid reports manifests that changed but do not validate.
func (c *Controller) invalid(ctx context.Context, err error) {
	msg := err.Error()
	var list manifest.ErrorList
	if errors.As(err, &list) {
		msg = fmt.Sprintf("the manifests have %s; nothing was applied:", manifest.Problems(len(list)))
		for _, e := range list {
			msg += "\n  " + e.Error()
		}
	}
	c.log.Error("manifests changed but are invalid; keeping the current revision", "err", msg)
	c.warn(context.WithoutCancel(ctx), store.ReasonInvalidManifests, msg)
}

func (c *Controller) warn(ctx context.Context, reason store.Reason, msg string) {
	now := c.clock.Now()
	if _, err := c.st.AddEvent(ctx, store.Event{Type: store.Warning, Reason: reason, Message: msg, Count: 1, FirstSeen: now, LastSeen: now}); err != nil {
		c.log.Error("record event", "reason", reason, "err", err)
	}
}

// pruneEvents deletes the events older than the retention (0: none).
func (c *Controller) pruneEvents(ctx context.Context) {
	if c.opts.EventsRetention <= 0 {
		return
	}
	n, err := c.st.PruneEvents(ctx, c.clock.Now().Add(-c.opts.EventsRetention))
	switch {
	case err != nil:
		c.log.Warn("prune old events", "err", err)
	case n > 0:
		c.log.Info("pruned old events", "deleted", n, "older_than", c.opts.EventsRetention)
	}
}

// follow targets t when another process made it the target: it reports
// whether it did.
func (w *revisionWatch) follow(ctx context.Context, t string) bool {
	c := w.c
	if t == "" || t == c.e.Progress().Revision {
		return false
	}
	// A change watched may be stale (this process targeted another since):
	// follow only what the store holds now.
	if cur, err := c.st.Target(ctx); err != nil || cur != t {
		return false
	}
	r, err := c.st.GetRevision(ctx, t)
	if err != nil {
		return false
	}
	rv, err := engine.RevisionFromStore(r)
	if err != nil {
		return false
	}
	c.log.Warn("the target revision was changed by another converge", "revision", short(t))
	if err := c.e.SetTarget(ctx, rv); err != nil {
		c.log.Error("set target", "err", err)
	}
	return true
}

// watchTargets sends the targets the store reports set, by this process
// or another, for as long as ctx lasts; nil when the store cannot be
// watched. A watch that falls behind starts again from the latest change.
func (c *Controller) watchTargets(ctx context.Context) <-chan string {
	sw, ok := c.st.(store.Watcher)
	if !ok {
		return nil
	}
	out := make(chan string, 1)
	// The first watch starts from the change that is the latest now, read
	// before this returns: a target set after the caller read it is not
	// missed.
	first, firstErr := sw.LastSeq(ctx)
	go func() {
		for ctx.Err() == nil {
			seq, err := first, firstErr
			if first < 0 {
				seq, err = sw.LastSeq(ctx)
			}
			first = -1
			var ch <-chan store.Change
			if err == nil {
				ch, err = sw.Watch(ctx, seq)
			}
			if err != nil {
				if ctx.Err() == nil {
					c.log.Warn("watch the state", "err", err)
				}
				select {
				case <-ctx.Done():
				case <-c.clock.After(time.Second):
				}
				continue
			}
			for ch := range ch {
				if ch.Err != nil {
					break // compacted: watch again from the latest
				}
				if ch.Kind != store.ChangeTarget || ch.Target == "" {
					continue
				}
				select { // the latest target wins
				case <-out:
				default:
				}
				out <- ch.Target
			}
		}
	}()
	return out
}

// revisionWatch follows the target revision's progress. A revision is
// judged once, while it makes its way to convergence: once it converged,
// later trouble (drift, a conflict, a deleted file) is not a failure of the
// revision and never rolls it back.
type revisionWatch struct {
	c       *Controller
	watched bool // the store's Watch reports target changes: no polling

	current string    // the target being watched
	since   time.Time // when current became the engine's target: A, B, A again between two ticks is a new A
	settled bool      // current converged or failed: nothing more to judge
	proven  bool      // current converged at some point: never failed automatically
}

// tick judges the target revision (Judge, ModeDaemon) and does what the
// verdict says, once per revision targeted.
func (w *revisionWatch) tick(ctx context.Context) {
	c := w.c
	if c.opts.DryRun {
		return
	}
	// A target set beside us (converge rollback, apply --allow-delete),
	// polled when the store cannot be watched.
	if !w.watched {
		if t, err := c.st.Target(ctx); err == nil && w.follow(ctx, t) {
			return
		}
	}
	if h, since := c.e.TargetSince(); w.settled && h == w.current && since.Equal(w.since) {
		return // judged already: no pass over every resource each second
	}
	p := c.e.Progress()
	if p.Revision != w.current || !p.Since.Equal(w.since) {
		w.current, w.since, w.settled = p.Revision, p.Since, false
		w.proven = p.Revision != "" && c.e.Proven(ctx, p.Revision)
	}
	if p.Revision == "" || w.settled {
		return
	}
	v := Judge(p, w.proven, c.clock.Now(), JudgeOptions{Mode: ModeDaemon, Rollback: c.opts.Rollback, ProgressDeadline: c.opts.ProgressDeadline})
	switch v.Kind {
	case VerdictConverged:
		if _, err := enact(context.WithoutCancel(ctx), c.e, v); err != nil {
			c.log.Error("record convergence", "err", err)
			return
		}
		w.settled = true
		c.log.Info("revision converged", "revision", short(p.Revision))
	case VerdictFailed, VerdictRollBack:
		w.settled = true
		back, err := enact(context.WithoutCancel(ctx), c.e, v)
		if err != nil {
			c.log.Error("roll back", "err", err)
			return
		}
		if back != nil {
			c.log.Warn("revision failed: rolled back to the last known good revision", "failed", short(p.Revision), "to", short(back.Hash), "reason", v.Reason)
		} else {
			c.log.Warn("revision failed", "revision", short(p.Revision), "reason", v.Reason)
		}
	}
}
