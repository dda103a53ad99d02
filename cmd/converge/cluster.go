package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/convergehq/converge/api"
	"github.com/convergehq/converge/cluster"
	"github.com/convergehq/converge/controller"
	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/metrics"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/etcd"
)

// nodeFlags are converge run's flags of a cluster node (--store etcd://).
type nodeFlags struct {
	name     string
	leaseTTL time.Duration
}

func (f *nodeFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.name, "node", "", "with --store etcd://: this node's name, unique among the live nodes (default: the host name and the process ID)")
	cmd.Flags().DurationVar(&f.leaseTTL, "lease-ttl", cluster.DefaultLeaseTTL, "with --store etcd://: how long the node's lease outlives its last keepalive (whole seconds): a node that dies is taken over about this long after")
}

// nodeRun is what converge run parsed, for a node of a cluster.
type nodeRun struct {
	reg      *provider.Registry
	rv       *manifest.Revision
	log      *slog.Logger
	f        engineFlags
	guard    engine.Guard
	resync   time.Duration
	debounce time.Duration
	sf       *serveFlags
	nf       nodeFlags
	hup      <-chan os.Signal
}

// runNode runs converge as one node of the cluster on the etcd state: it
// joins, converges its share of the published target until ctx is done,
// and joins again whenever it loses its place. On ctx done it finishes
// the reconciles in flight and hands its share over (cluster.Node.Close).
func (g *globals) runNode(ctx context.Context, d nodeRun) error {
	if d.nf.leaseTTL < time.Second {
		return fmt.Errorf("--lease-ttl %s: must be at least 1s", d.nf.leaseTTL)
	}
	st, err := g.openEtcd(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	defer g.closeAlerts() // one notifier for every incarnation
	everJoined := false
	for {
		joined, err := g.runIncarnation(ctx, st, d)
		everJoined = everJoined || joined
		if ctx.Err() != nil {
			d.log.Info("stopped; the node's share was handed over", "state", g.storeName())
			return nil
		}
		switch {
		case errors.Is(err, controller.ErrLostPlace):
			d.log.Warn("joining the cluster again, as a new incarnation", "why", err)
		case !joined && everJoined:
			// etcd may be out of reach for a while: a node that ran
			// keeps trying; only the first join fails the command.
			d.log.Warn("joining the cluster again failed: trying again", "err", err)
		default:
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// runIncarnation joins the cluster once and converges the node's share
// (controller.Member) until ctx is done (nil) or the node loses its place
// (controller.ErrLostPlace). joined says whether it joined.
func (g *globals) runIncarnation(ctx context.Context, st *etcd.Store, d nodeRun) (joined bool, err error) {
	// Each provider's limits are the cluster's: the node keeps to its
	// part of them, as the members change; resources the view moved away
	// are handed over once no reconcile of them runs.
	var ne controller.NodeEngine
	node, err := cluster.Join(ctx, st.Client(), cluster.Config{
		Prefix:    st.Prefix(),
		Node:      d.nf.name,
		LeaseTTL:  d.nf.leaseTTL,
		Fencer:    st,
		Rebalance: ne.Rebalance,
		Drain:     ne.Drain,
		Logger:    d.log,
	})
	if err != nil {
		return false, fmt.Errorf("--store %s: %w", g.storeName(), err)
	}
	defer func() {
		if err := node.Close(); err != nil && !errors.Is(err, cluster.ErrLost) {
			d.log.Warn("leave the cluster", "err", err)
		}
	}()
	log := d.log.With("node", node.Name())
	ns := controller.NodeStore(st, node.LeaderFence)
	m := controller.NewMember(node, ns)
	e, err := g.newEngine(ctx, d.reg, ns, d.f, false, func(o *engine.Options) {
		o.Logger = log
		m.Configure(o)
	})
	if err != nil {
		return true, err
	}
	ne.Attach(e)
	if err := node.SetManifests(ctx, d.rv.Hash); err != nil {
		log.Warn("record the manifests' revision", "err", err)
	}
	c := controller.New(e, ns, controller.Options{
		Load: func() (*manifest.Revision, error) {
			rv, err := g.load(d.reg)
			if err == nil {
				if err := node.SetManifests(ctx, rv.Hash); err != nil {
					log.Warn("record the manifests' revision", "err", err)
				}
			}
			return rv, err
		},
		Paths:            g.files,
		Guard:            d.guard,
		Rollback:         d.f.rollback == "auto",
		ProgressDeadline: d.f.deadline,
		Resync:           d.resync,
		Debounce:         d.debounce,
		EventsRetention:  d.f.retention,
		Logger:           log,
		LogAttrs:         []any{"state", g.storeName(), "lease_ttl", d.nf.leaseTTL},
		Cluster:          node,
	})
	d.sf.cluster = clusterSource{g: g, st: st, node: node.Name()}
	d.sf.clusterStats = func() metrics.ClusterStats {
		v, _ := node.View()
		lctx, lcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer lcancel()
		return metrics.ClusterStats{Leader: node.IsLeader(), Members: len(v.Members), LeaseDeadline: node.Deadline(), Share: m.Share(lctx)}
	}
	return true, m.Run(ctx, c, func(ctx context.Context) error {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-d.hup:
					log.Info("SIGHUP: reloading the manifests")
					c.Reload()
				}
			}
		}()
		stopAPI, err := d.sf.serve(ctx, c, e, d.reg, ns, g.alerts, log)
		if err != nil {
			return err
		}
		defer stopAPI()
		return c.Run(ctx, d.rv)
	})
}

// clusterSource is the API's view of the cluster a node runs in.
type clusterSource struct {
	g    *globals
	st   *etcd.Store
	node string
}

func (s clusterSource) Cluster(ctx context.Context) (api.ClusterView, error) {
	v, err := readCluster(ctx, s.st, false)
	v.Node = s.node
	return v, err
}

// readCluster reads the cluster on the etcd state st: the shares are
// counted over the published target's resources and the recorded ones.
func readCluster(ctx context.Context, st *etcd.Store, byNode bool) (api.ClusterView, error) {
	v := api.ClusterView{Enabled: true}
	seen := map[string]bool{}
	var ids []string
	if t, err := st.Target(ctx); err == nil {
		v.Target = t
		res, err := controller.RevisionResources(ctx, st, t)
		if err != nil {
			return v, fmt.Errorf("read the target revision: %w", err)
		}
		for id := range res {
			seen[id] = true
			ids = append(ids, id)
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return v, err
	}
	recs, err := st.ListRecords(ctx)
	if err != nil {
		return v, err
	}
	for _, r := range recs {
		if !seen[r.ID] {
			seen[r.ID] = true
			ids = append(ids, r.ID)
		}
	}
	sort.Strings(ids)
	status, err := cluster.ReadStatus(ctx, st.Client(), st.Prefix(), ids)
	if err != nil {
		return v, err
	}
	v.Status = status
	if byNode {
		names := make([]string, len(status.Nodes))
		v.ResourcesByNode = map[string][]string{}
		for i, n := range status.Nodes {
			names[i] = n.Name
			v.ResourcesByNode[n.Name] = []string{}
		}
		for _, id := range ids {
			if o := cluster.Owner(id, names); o != "" {
				v.ResourcesByNode[o] = append(v.ResourcesByNode[o], id)
			}
		}
	}
	return v, nil
}

func newClusterCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "See the nodes that share an etcd state",
		Args:  cobra.NoArgs,
	}
	// The flag of its subcommands.
	var resources bool
	cmd.PersistentFlags().BoolVar(&resources, "resources", false, "list the resources of each node's share too")
	cmd.AddCommand(newClusterStatusCmd(g, &resources))
	return cmd
}

func newClusterStatusCmd(g *globals, resources *bool) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the live nodes, the leader, each node's share and lease",
		Long: `cluster status reads the cluster from etcd (--store etcd://HOST:PORT): the
live nodes, which one leads, each node's share of the resources (counted
over the published target's resources and the recorded ones) and when its
lease expires unless kept alive, and whether each node's own manifests are
at the published target. It needs no running node here: any machine that
reaches etcd can ask.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := parseOutput(output)
			if err != nil {
				return err
			}
			if !g.onEtcd() {
				return fmt.Errorf("converge cluster status needs the state on etcd (--store etcd://HOST:PORT, or $%s): the state %s is SQLite, and a converge on it runs alone", storeEnv, g.state)
			}
			ctx := cmd.Context()
			st, err := g.openEtcd(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			v, err := readCluster(ctx, st, *resources)
			if err != nil {
				return err
			}
			if format != outputText {
				return writeData(cmd.OutOrStdout(), format, v)
			}
			return writeClusterText(cmd.OutOrStdout(), g.storeName(), v)
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func writeClusterText(w io.Writer, where string, v api.ClusterView) error {
	leader := v.Leader
	if leader == "" {
		leader = "none"
	}
	target := "none published"
	if v.Target != "" {
		target = short(v.Target)
	}
	fmt.Fprintf(w, "Cluster on %s: %s, leader %s, target %s, %s.\n", where, plural(len(v.Nodes), "node"), leader, target, plural(v.Resources, "resource"))
	if len(v.Nodes) == 0 {
		fmt.Fprintln(w, "No node runs: start converge run --store ... on each machine.")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tLEADER\tSHARE\tLEASE EXPIRES\tSETTLED\tMANIFESTS")
	for _, n := range v.Nodes {
		lead, settled := "", "no"
		if n.Leader {
			lead = "yes"
		}
		if n.Settled {
			settled = "yes"
		}
		man := "-"
		if n.Manifests != "" {
			man = short(n.Manifests)
			if v.Target != "" && n.Manifests != v.Target {
				man += " (differs from the target)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\tin %ds\t%s\t%s\n", n.Name, lead, n.Share, n.LeaseRemainingSeconds, settled, man)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if v.ResourcesByNode != nil {
		for _, n := range v.Nodes {
			fmt.Fprintf(w, "\n%s:\n", n.Name)
			for _, id := range v.ResourcesByNode[n.Name] {
				fmt.Fprintf(w, "  %s\n", id)
			}
		}
	}
	var differ []string
	for _, n := range v.Nodes {
		if n.Manifests != "" && v.Target != "" && n.Manifests != v.Target {
			differ = append(differ, n.Name)
		}
	}
	if len(differ) > 0 {
		fmt.Fprintf(w, "note: the manifests of %s differ from the published target; every node converges the published target.\n", strings.Join(differ, ", "))
	}
	return nil
}
