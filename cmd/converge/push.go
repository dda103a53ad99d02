package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/convergehq/converge/controller"
	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/sqlite"
)

func newPushCmd(g *globals) *cobra.Command {
	var (
		output string
		gf     guardFlags
	)
	cmd := &cobra.Command{
		Use:   "push",
		Short: "Publish the manifests as the target revision, converging nothing",
		Long: `push loads and validates the manifests, records their revision and makes it
the target, and converges nothing: the nodes running converge run on an etcd
state (--store etcd://...) converge it, or the converge run that holds a
SQLite state. It is how CI publishes a revision with no node reading files.

It prints the revision's hash and what changes at a glance, resource by
resource, against the target it replaces (-o json|yaml for scripts). A
revision that declares nothing over a managed state, or deletes more than
--max-delete of the managed resources, is refused unless --allow-empty or
--allow-delete says so.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := parseOutput(output)
			if err != nil {
				return err
			}
			guard, err := gf.guard()
			if err != nil {
				return err
			}
			reg, rv, err := g.loadManifests()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			st, nodes, err := g.openForPush(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			e, err := g.newEngine(ctx, reg, st, engineFlags{workers: 1, backoffBase: time.Second, backoffMax: time.Minute, drift: manifest.DriftCorrect}, false)
			if err != nil {
				return err
			}
			p, err := pushSummary(ctx, st, rv)
			if err != nil {
				return err
			}
			if _, err := controller.Publish(ctx, st, e, rv, guard); err != nil {
				return err
			}
			p.Nodes = nodes
			if format != outputText {
				return writeData(cmd.OutOrStdout(), format, p)
			}
			writePushText(cmd.OutOrStdout(), p, g.onEtcd())
			return nil
		},
	}
	addOutputFlag(cmd, &output)
	gf.register(cmd, true)
	return cmd
}

// openForPush opens the state for converge push, beside the converge
// processes running on it: on etcd, with the names of the live nodes; a
// SQLite state shared with the converge run that holds it.
func (g *globals) openForPush(ctx context.Context) (store.Store, []string, error) {
	if g.onEtcd() {
		st, err := g.openEtcd(ctx)
		if err != nil {
			return nil, nil, err
		}
		nodes, err := g.liveNodes(ctx, st)
		if err != nil {
			st.Close()
			return nil, nil, err
		}
		return st, nodes, nil
	}
	root, err := g.rootPath()
	if err != nil {
		return nil, nil, err
	}
	db, err := sqlite.Open(ctx, g.state, sqlite.Shared(), sqlite.HistoryLimit(g.historyLimit))
	if err != nil {
		return nil, nil, openError(g.state, err)
	}
	if err := g.checkRoot(ctx, db, root, true); err != nil {
		db.Close()
		return nil, nil, err
	}
	g.announce(db.Path(), root, "")
	return db, []string{}, nil
}

// pushed is what converge push prints: the revision and what changes
// against the target it replaces.
type pushed struct {
	Revision string `json:"revision"`
	// Previous is the target it replaces; empty when there was none.
	Previous  string   `json:"previous,omitempty"`
	Resources int      `json:"resources"`
	Added     []string `json:"added"`
	Changed   []string `json:"changed"`
	Removed   []string `json:"removed"`
	Same      int      `json:"unchanged"`
	// Nodes are the live cluster nodes that converge it (etcd only).
	Nodes []string `json:"nodes"`
}

// Unchanged reports whether the revision is the target already.
func (p pushed) Unchanged() bool { return p.Previous == p.Revision }

// pushSummary compares rv with the current target of st.
func pushSummary(ctx context.Context, st store.Store, rv *manifest.Revision) (pushed, error) {
	p := pushed{Revision: rv.Hash, Resources: len(rv.Resources), Added: []string{}, Changed: []string{}, Removed: []string{}}
	t, err := st.Target(ctx)
	var old *manifest.Revision
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return p, err
	default:
		p.Previous = t
		r, err := st.GetRevision(ctx, t)
		if err != nil {
			return p, fmt.Errorf("read the current target: %w", err)
		}
		if old, err = engine.RevisionFromStore(r); err != nil {
			return p, fmt.Errorf("read the current target: %w", err)
		}
	}
	for _, r := range rv.Resources {
		o, ok := old.Get(r.ID)
		switch {
		case !ok:
			p.Added = append(p.Added, r.ID)
		case o.Hash != r.Hash:
			p.Changed = append(p.Changed, r.ID)
		default:
			p.Same++
		}
	}
	if old != nil {
		for _, r := range old.Resources {
			if _, ok := rv.Get(r.ID); !ok {
				p.Removed = append(p.Removed, r.ID)
			}
		}
	}
	return p, nil
}

func writePushText(w io.Writer, p pushed, onEtcd bool) {
	if p.Unchanged() {
		fmt.Fprintf(w, "Revision %s is the target already (%s); nothing changes.\n", short(p.Revision), plural(p.Resources, "resource"))
		return
	}
	fmt.Fprintf(w, "Revision %s is the target: %s, %d added, %d changed, %d removed, %d unchanged.\n",
		short(p.Revision), plural(p.Resources, "resource"), len(p.Added), len(p.Changed), len(p.Removed), p.Same)
	for _, l := range []struct {
		mark string
		ids  []string
	}{{"+", p.Added}, {"~", p.Changed}, {"-", p.Removed}} {
		for _, id := range l.ids {
			fmt.Fprintf(w, "  %s %s\n", l.mark, id)
		}
	}
	switch {
	case onEtcd && len(p.Nodes) > 0:
		fmt.Fprintf(w, "The %s running on this state converge it.\n", plural(len(p.Nodes), "node"))
	case onEtcd:
		fmt.Fprintln(w, "No node runs on this state yet: converge run --store ... converges it.")
	default:
		fmt.Fprintln(w, "A converge run on this state converges it within seconds; without one, converge apply does.")
	}
}
