package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/graph"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/store"
)

func newRunCmd(g *globals) *cobra.Command {
	var (
		f        engineFlags
		gf       guardFlags
		resync   time.Duration
		debounce time.Duration
		dryRun   bool
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Keep converging: watch the manifests, resync, correct drift",
		Long: `run is the daemon. It converges, then keeps the world converged: it watches
the manifest paths and reconciles only the resources whose desired state
changed, re-observes everything every --resync (jittered) so drift is found
and corrected, and on SIGINT/SIGTERM finishes the calls in flight and exits.
SIGHUP reloads the manifests.

A new revision that declares no resources while the state manages some is
not targeted (an EmptyManifests event says so), nor is one that would delete
more than --max-delete of the managed resources (a DeletionHeld event and
converge status say what it would delete; converge apply --allow-delete
releases it).

With --dry-run it reports in its logs what it would do and writes nothing,
not even to the state.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			guard, err := gf.guard()
			if err != nil {
				return err
			}
			if resync <= 0 {
				return fmt.Errorf("--resync %s: must be positive", resync)
			}
			if debounce < 0 {
				return fmt.Errorf("--debounce %s: must not be negative", debounce)
			}
			reg, err := g.registry()
			if err != nil {
				return err
			}
			rv, err := g.load(reg)
			if err != nil {
				return err
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			st, err := g.openStore(ctx, dryRun)
			if err != nil {
				return err
			}
			defer st.Close()
			if dryRun {
				// A dry run reports through its logs; the state file is
				// never written, not even a revision's history.
				if st, err = snapshot(ctx, st); err != nil {
					return err
				}
				defer st.Close()
			}
			e, err := g.newEngine(ctx, reg, st, f, dryRun)
			if err != nil {
				return err
			}
			defer g.closeAlerts()
			watcher, err := newManifestWatcher(g.files, debounce, log)
			if err != nil {
				return err
			}
			defer watcher.Close()
			wctx, stopWatch := context.WithCancel(ctx)
			defer stopWatch()
			go watcher.Run(wctx)

			d := &daemon{g: g, e: e, st: st, log: log, guard: guard, auto: f.rollback == "auto"}
			target, err := d.first(ctx, rv)
			if err != nil {
				return err
			}
			if err := e.SetTarget(ctx, target); err != nil {
				return err
			}
			wg := e.Start(ctx)
			log.Info("converge running", "resources", len(target.Resources), "revision", short(target.Hash), "resync", resync, "dry_run", dryRun, "rollback", f.rollback, "state", g.state)

			timer := time.NewTimer(jitter(resync))
			defer timer.Stop()
			// Every second: record convergence, roll back a failing
			// revision, and follow a target set by converge rollback.
			progress := time.NewTicker(time.Second)
			defer progress.Stop()
			g.pruneEvents(ctx, st, f.retention, log)
			prune := time.NewTicker(24 * time.Hour)
			defer prune.Stop()
			watchdog := revisionWatch{e: e, st: st, log: log, auto: d.auto, deadline: f.deadline, dryRun: dryRun}

			// Manifests load outside this loop, so that a signal is served
			// at once however long a large set takes to parse.
			type loaded struct {
				rv          *manifest.Revision
				err         error
				fingerprint uint64
			}
			var (
				results     = make(chan loaded, 1)
				loading     bool
				again       bool // a change came while loading
				fingerprint = Fingerprint(g.files)
			)
			reload := func(why string) {
				if loading {
					again = true
					return
				}
				loading = true
				log.Debug("reloading the manifests", "why", why)
				go func() {
					began := time.Now()
					fp := Fingerprint(g.files)
					rv, err := g.load(reg)
					log.Debug("manifests loaded", "took", time.Since(began).Round(time.Millisecond), "valid", err == nil)
					results <- loaded{rv: rv, err: err, fingerprint: fp}
				}()
			}
			for {
				select {
				case <-progress.C:
					watchdog.tick(ctx)
				case <-prune.C:
					g.pruneEvents(ctx, st, f.retention, log)
				case <-ctx.Done():
					log.Info("shutting down: finishing calls in flight")
					e.Stop(wg)
					if dryRun {
						log.Info("stopped; dry run: the state was not written", "state", g.state)
					} else {
						log.Info("stopped; state saved", "state", g.state)
					}
					return nil
				case <-timer.C:
					e.ResyncAll()
					timer.Reset(jitter(resync))
					if !loading && Fingerprint(g.files) != fingerprint {
						reload("the manifests changed without a notification")
					}
				case <-watcher.Changes:
					reload("manifest change")
				case <-hup:
					log.Info("SIGHUP: reloading the manifests")
					reload("SIGHUP")
				case res := <-results:
					loading = false
					fingerprint = res.fingerprint
					if err := watcher.Sync(); err != nil {
						log.Warn("manifest watcher", "err", err)
					}
					if res.err == nil {
						rv = d.next(ctx, rv, res.rv)
					} else {
						d.invalid(ctx, res.err)
					}
					if again {
						again = false
						reload("manifest change while loading")
					}
				}
			}
		},
	}
	f.register(cmd, false)
	gf.register(cmd, true)
	cmd.Flags().DurationVar(&resync, "resync", 30*time.Second, "re-observe every resource this often (jittered by ±10%)")
	cmd.Flags().DurationVar(&debounce, "debounce", 300*time.Millisecond, "wait this long after a manifest change before reloading (never more than 10 times this, at least 1s, under constant changes)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "report in the logs what would be done; change nothing, the state included")
	return cmd
}

// daemon decides what the running converge targets as the manifests
// change.
type daemon struct {
	g     *globals
	e     *engine.Engine
	st    store.Store
	log   *slog.Logger
	guard engine.Guard
	auto  bool
}

// first returns the revision to target at start: the manifests' one, or
// the current target when the manifests' one would delete more than the
// guard allows (an empty set is refused).
func (d *daemon) first(ctx context.Context, rv *manifest.Revision) (*manifest.Revision, error) {
	target, note, err := chooseTarget(ctx, d.st, rv, d.auto)
	if err != nil {
		return nil, err
	}
	if note != "" {
		d.log.Warn(note)
	}
	err = d.guard.Check(d.e.Records(), target)
	var held *engine.HeldError
	switch {
	case err == nil:
		return target, nil
	case errors.As(err, &held):
		cur, cerr := d.current(ctx)
		if cerr != nil {
			return nil, fmt.Errorf("%w; and there is no current revision to stay on: %v", err, cerr)
		}
		if herr := d.e.Hold(ctx, target, held); herr != nil {
			return nil, herr
		}
		d.log.Warn("the manifests' revision is held; staying on the current one", "held", short(target.Hash), "current", short(cur.Hash), "reason", err.Error())
		return cur, nil
	default:
		return nil, err
	}
}

// current returns the target revision recorded in the state.
func (d *daemon) current(ctx context.Context) (*manifest.Revision, error) {
	t, err := d.st.Target(ctx)
	if err != nil {
		return nil, err
	}
	r, err := d.st.GetRevision(ctx, t)
	if err != nil {
		return nil, err
	}
	return engine.RevisionFromStore(r)
}

// next targets the manifests' new revision next, unless it is the same as
// loaded, declares nothing over a managed state, or deletes more than the
// guard allows. It returns the manifests' revision, targeted or not.
func (d *daemon) next(ctx context.Context, loaded, next *manifest.Revision) *manifest.Revision {
	if next.Hash == loaded.Hash {
		return loaded
	}
	bg := context.WithoutCancel(ctx)
	target, note, err := chooseTarget(ctx, d.st, next, d.auto)
	if err != nil {
		d.log.Error("choose target", "err", err)
		return loaded
	}
	if note != "" {
		d.log.Warn(note)
	}
	err = d.guard.Check(d.e.Records(), target)
	var held *engine.HeldError
	switch {
	case errors.Is(err, engine.ErrEmpty):
		msg := "the manifests changed and declare no resources: keeping the current revision. " + err.Error()
		d.log.Error(msg)
		d.warn(bg, "EmptyManifests", msg)
		return next
	case errors.As(err, &held):
		if herr := d.e.Hold(bg, target, held); herr != nil {
			d.log.Error("hold revision", "err", herr)
		}
		return next
	case err != nil:
		d.log.Error("check deletions", "err", err)
		return loaded
	}
	if err := d.e.SetTarget(ctx, target); err != nil {
		d.log.Error("set target", "err", err)
		return loaded
	}
	return next
}

// invalid reports manifests that changed but do not validate.
func (d *daemon) invalid(ctx context.Context, err error) {
	d.log.Error("manifests changed but are invalid; keeping the current revision", "err", formatError(err))
	d.warn(context.WithoutCancel(ctx), "InvalidManifests", formatError(err))
}

func (d *daemon) warn(ctx context.Context, reason, msg string) {
	now := time.Now()
	if _, err := d.st.AddEvent(ctx, store.Event{Type: store.Warning, Reason: reason, Message: msg, Count: 1, FirstSeen: now, LastSeen: now}); err != nil {
		d.log.Error("record event", "reason", reason, "err", err)
	}
}

func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}

// graphOptions colours the graph by the recorded phases, when a state exists.
func graphOptions(ctx context.Context, g *globals) graph.RenderOptions {
	opts := graph.RenderOptions{}
	st, err := g.openStore(ctx, true)
	if err != nil {
		return opts
	}
	defer st.Close()
	recs, err := st.ListRecords(ctx)
	if err != nil || len(recs) == 0 {
		return opts
	}
	opts.Status = map[string]string{}
	for _, r := range recs {
		opts.Status[r.ID] = string(r.Phase)
	}
	return opts
}

// revisionWatch follows the target revision's progress in the daemon. A
// revision is judged once, while it makes its way to convergence: once it
// converged, later trouble (drift, a conflict, a deleted file) is not a
// failure of the revision and never rolls it back.
type revisionWatch struct {
	e        *engine.Engine
	st       store.Store
	log      *slog.Logger
	auto     bool
	deadline time.Duration
	dryRun   bool

	current string // the target being watched
	settled bool   // current converged or failed: nothing more to judge
	proven  bool   // current converged at some point: never failed automatically
}

func (w *revisionWatch) tick(ctx context.Context) {
	if w.dryRun {
		return
	}
	// A target set by `converge rollback` beside us.
	if t, err := w.st.Target(ctx); err == nil && t != "" && t != w.e.Progress().Revision {
		r, err := w.st.GetRevision(ctx, t)
		if err == nil {
			if rv, err := engine.RevisionFromStore(r); err == nil {
				w.log.Warn("the target revision was changed by converge rollback", "revision", short(t))
				if err := w.e.SetTarget(ctx, rv); err != nil {
					w.log.Error("set target", "err", err)
				}
				return
			}
		}
	}
	p := w.e.Progress()
	if p.Revision != w.current {
		w.current, w.settled = p.Revision, false
		w.proven = p.Revision != "" && w.e.Proven(ctx, p.Revision)
	}
	if p.Revision == "" || w.settled {
		return
	}
	switch {
	case p.Converged:
		if err := w.e.MarkConverged(context.WithoutCancel(ctx)); err != nil {
			w.log.Error("record convergence", "err", err)
			return
		}
		w.settled = true
		w.log.Info("revision converged", "revision", short(p.Revision))
	case w.proven:
		// It converged before: a failure now is not the revision's.
	case p.Failed != "" || (w.auto && w.deadline > 0 && time.Since(p.Since) > w.deadline):
		reason := p.Failed
		if reason == "" {
			reason = fmt.Sprintf("not converged within the progress deadline (%s)", w.deadline)
		}
		w.settled = true
		back, err := w.e.FailAndRollBack(context.WithoutCancel(ctx), reason, w.auto)
		if err != nil {
			w.log.Error("roll back", "err", err)
			return
		}
		if back != nil {
			w.log.Warn("revision failed: rolled back to the last known good revision", "failed", short(p.Revision), "to", short(back.Hash), "reason", reason)
		} else {
			w.log.Warn("revision failed", "revision", short(p.Revision), "reason", reason)
		}
	}
}
