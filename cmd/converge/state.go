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
		Short: "Change the state file's settings",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newSetRootCmd(g))
	return cmd
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
