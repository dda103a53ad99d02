package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/sqlite"
)

func newStateCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Change the state file's settings, or what it records of a resource",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newSetRootCmd(g), newForgetCmd(g))
	return cmd
}

func newForgetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "forget ID...",
		Short: "Stop managing resources: drop their records, leaving their objects as they are",
		Long: `forget drops what the state records of each resource named (kind/name):
converge no longer manages its object, which is left as it is, not deleted.
If the manifests still declare the resource, the next apply or run creates it
again (or takes over an object it finds, or the one importId names).

Use it when converge refuses to create a resource again after a create was
interrupted (converge stopped during the call) and you checked that no object
was made: a provider that can find objects only through what their create
returned (Terraform's) cannot tell. It takes the state's lock, so stop a
running converge first (on etcd, nodes pick the change up at once).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := g.requireState(); err != nil {
				return err
			}
			ctx := cmd.Context()
			st, err := g.openStore(ctx, false)
			if err != nil {
				return err
			}
			defer st.Close()
			var recs []store.Record
			for _, id := range args {
				r, err := st.GetRecord(ctx, id)
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("%s: the state records no such resource (see converge status); nothing was forgotten", id)
				}
				if err != nil {
					return err
				}
				recs = append(recs, r)
			}
			w := cmd.OutOrStdout()
			for _, r := range recs {
				if err := st.DeleteRecord(ctx, r.ID); err != nil {
					return fmt.Errorf("forget %s: %w", r.ID, err)
				}
				switch {
				case r.Origin == "" && r.Pending != nil:
					fmt.Fprintf(w, "Forgot %s: its interrupted %s made nothing converge knows of; the next apply creates it if the manifests declare it.\n", r.ID, r.Pending.Op)
				case r.Origin == "":
					fmt.Fprintf(w, "Forgot %s (no object was recorded).\n", r.ID)
				default:
					fmt.Fprintf(w, "Forgot %s: converge no longer manages its object, which is left as it is.\n", r.ID)
				}
			}
			return st.Close()
		},
	}
}

func newSetRootCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "set-root DIR",
		Short: "Make DIR the root the state belongs to, after the managed files moved there",
		Long: `set-root records DIR (made absolute, its symbolic links evaluated) as the
root the state file belongs to. Every command that acts on the root refuses
a state recorded with another root; run set-root after moving the managed
files, then give converge --root DIR. It takes the state's lock, so stop a
running converge first.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.onEtcd() {
				return errors.New("an etcd state records no root: each node manages its own --root")
			}
			if _, err := g.requireState(); err != nil {
				return err
			}
			g.root = args[0]
			root, err := g.rootPath()
			if err != nil {
				return err
			}
			if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
				return fmt.Errorf("%s is not a directory", args[0])
			}
			ctx := cmd.Context()
			db, err := sqlite.Open(ctx, g.state)
			if err != nil {
				return openError(g.state, err)
			}
			defer db.Close()
			old, err := db.GetMeta(ctx, metaRoot)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			g.announce(db.Path(), old, "")
			if err := db.SetMeta(ctx, metaRoot, root); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			switch old {
			case root:
				fmt.Fprintf(w, "The state %s already belongs to root %s.\n", db.Path(), root)
			case "":
				fmt.Fprintf(w, "The state %s belongs to root %s.\n", db.Path(), root)
			default:
				fmt.Fprintf(w, "The state %s moved from %s to %s.\n", db.Path(), old, root)
			}
			return db.Close()
		},
	}
}
