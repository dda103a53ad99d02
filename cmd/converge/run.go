package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/spf13/cobra"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/graph"
	"github.com/convergehq/converge/store"
)

func newRunCmd(g *globals) *cobra.Command {
	var (
		f        engineFlags
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
With --dry-run it reports what it would do (status, events) and mutates
nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			if resync <= 0 {
				return fmt.Errorf("--resync %s: must be positive", resync)
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
			watcher, err := watch(g.files)
			if err != nil {
				return err
			}
			defer watcher.Close()

			auto := f.rollback == "auto"
			target, note, err := chooseTarget(ctx, st, rv, auto)
			if err != nil {
				return err
			}
			if note != "" {
				log.Warn(note)
			}
			if err := e.SetTarget(ctx, target); err != nil {
				return err
			}
			wg := e.Start(ctx)
			log.Info("converge running", "resources", len(target.Resources), "revision", short(target.Hash), "resync", resync, "dry_run", dryRun, "rollback", f.rollback)

			timer := time.NewTimer(jitter(resync))
			defer timer.Stop()
			// Every second: record convergence, roll back a failing
			// revision, and follow a target set by converge rollback.
			progress := time.NewTicker(time.Second)
			defer progress.Stop()
			g.pruneEvents(ctx, st, f.retention, log)
			prune := time.NewTicker(24 * time.Hour)
			defer prune.Stop()
			watchdog := revisionWatch{e: e, st: st, log: log, auto: auto, deadline: f.deadline, dryRun: dryRun}
			var reload <-chan time.Time
			for {
				select {
				case <-progress.C:
					watchdog.tick(ctx)
				case <-prune.C:
					g.pruneEvents(ctx, st, f.retention, log)
				case <-ctx.Done():
					log.Info("shutting down: finishing calls in flight")
					e.Stop(wg)
					log.Info("stopped; state saved", "state", g.state)
					return nil
				case <-timer.C:
					e.ResyncAll()
					timer.Reset(jitter(resync))
				case ev, ok := <-watcher.Events:
					if !ok {
						return fmt.Errorf("manifest watcher stopped")
					}
					if ev.Has(fsnotify.Create) {
						addDirs(watcher, ev.Name)
					}
					reload = time.After(debounce)
				case err, ok := <-watcher.Errors:
					if ok {
						log.Warn("manifest watcher", "err", err)
					}
				case <-reload:
					reload = nil
					next, err := g.load(reg)
					if err != nil {
						log.Error("manifests changed but are invalid; keeping the current revision", "err", formatError(err))
						_, _ = st.AddEvent(context.WithoutCancel(ctx), store.Event{Type: store.Warning, Reason: "InvalidManifests", Message: formatError(err), Count: 1, FirstSeen: time.Now(), LastSeen: time.Now()})
						continue
					}
					if next.Hash == rv.Hash {
						continue
					}
					rv = next
					target, note, err := chooseTarget(ctx, st, rv, auto)
					if err != nil {
						log.Error("choose target", "err", err)
						continue
					}
					if note != "" {
						log.Warn(note)
					}
					if err := e.SetTarget(ctx, target); err != nil {
						log.Error("set target", "err", err)
						continue
					}
				}
			}
		},
	}
	f.register(cmd, false)
	cmd.Flags().DurationVar(&resync, "resync", 30*time.Second, "re-observe every resource this often (jittered by ±10%)")
	cmd.Flags().DurationVar(&debounce, "debounce", 300*time.Millisecond, "wait this long after a manifest change before reloading")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "report what would be done; mutate nothing")
	return cmd
}

func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}

// watch watches every manifest path: directories recursively, and files
// through their parent directory (editors replace files by renaming).
func watch(paths []string) (*fsnotify.Watcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch manifests: %w", err)
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("watch %s: %w", p, err)
		}
		if fi.IsDir() {
			addDirs(w, p)
		} else if err := w.Add(filepath.Dir(p)); err != nil {
			w.Close()
			return nil, fmt.Errorf("watch %s: %w", p, err)
		}
	}
	return w, nil
}

func addDirs(w *fsnotify.Watcher, root string) {
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if p != root && len(d.Name()) > 0 && d.Name()[0] == '.' {
			return filepath.SkipDir
		}
		_ = w.Add(p)
		return nil
	})
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
