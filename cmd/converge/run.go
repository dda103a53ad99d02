package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/convergehq/converge/controller"
	"github.com/convergehq/converge/graph"
	"github.com/convergehq/converge/manifest"
)

func newRunCmd(g *globals) *cobra.Command {
	var (
		f        engineFlags
		gf       guardFlags
		resync   time.Duration
		debounce time.Duration
		dryRun   bool
		sf       serveFlags
		nf       nodeFlags
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
not even to the state.

With --store etcd://HOST:PORT it is one node of a cluster sharing that state
(--node, --lease-ttl): it converges only its share of the resources, and the
target the elected leader publishes (from its manifests, or converge push);
on SIGTERM it hands its share over to the others. See converge cluster status.`,
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
			reg, rv, err := g.loadManifests()
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
			if g.onEtcd() {
				if dryRun {
					return fmt.Errorf("--dry-run with --store etcd://: a node shares the cluster's work and cannot pretend; converge plan shows what would change")
				}
				return g.runNode(ctx, nodeRun{reg: reg, rv: rv, log: log, f: f, guard: guard, resync: resync, debounce: debounce, sf: &sf, nf: nf, hup: hup})
			}
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
			c := controller.New(e, st, controller.Options{
				Load:             func() (*manifest.Revision, error) { return g.load(reg) },
				Paths:            g.files,
				Guard:            guard,
				Rollback:         f.rollback == "auto",
				ProgressDeadline: f.deadline,
				Resync:           resync,
				Debounce:         debounce,
				EventsRetention:  f.retention,
				DryRun:           dryRun,
				Logger:           log,
				LogAttrs:         []any{"state", g.state},
			})
			go func() {
				for range hup {
					log.Info("SIGHUP: reloading the manifests")
					c.Reload()
				}
			}()
			stopAPI, err := sf.serve(ctx, c, e, reg, st, g.alerts, log)
			if err != nil {
				return err
			}
			defer stopAPI()
			if err := c.Run(ctx, rv); err != nil {
				return err
			}
			if dryRun {
				log.Info("stopped; dry run: the state was not written", "state", g.state)
			} else {
				log.Info("stopped; state saved", "state", g.state)
			}
			return nil
		},
	}
	f.register(cmd, false)
	sf.register(cmd)
	nf.register(cmd)
	gf.register(cmd, true)
	cmd.Flags().DurationVar(&resync, "resync", 30*time.Second, "re-observe every resource this often (jittered by ±10%)")
	cmd.Flags().DurationVar(&debounce, "debounce", controller.DefaultDebounce, "reload the manifests once their changes have been quiet this long (never more than 10 times this, at least 1s, after the first change, under constant changes)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "report in the logs what would be done; change nothing, the state included")
	return cmd
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
