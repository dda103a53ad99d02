package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/convergehq/converge/controller"
	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/store/sqlite"
)

// guardFlags are the flags that let a run delete more than usual.
type guardFlags struct {
	allowEmpty  bool
	allowDelete bool
	maxDelete   string
}

// register adds --allow-empty, and with deletes --max-delete and
// --allow-delete.
func (f *guardFlags) register(cmd *cobra.Command, deletes bool) {
	cmd.Flags().BoolVar(&f.allowEmpty, "allow-empty", false, "converge manifests that declare no resources even though the state manages some: delete them all")
	if deletes {
		cmd.Flags().StringVar(&f.maxDelete, "max-delete", "50%", "hold a revision that would delete more than this share (50%) or number (10) of the managed resources")
		cmd.Flags().BoolVar(&f.allowDelete, "allow-delete", false, "converge the revision whatever it deletes (releases a held revision)")
	}
}

func (f *guardFlags) guard() (engine.Guard, error) {
	g := engine.Guard{AllowEmpty: f.allowEmpty, AllowDelete: f.allowDelete}
	if f.maxDelete == "" {
		g.MaxDelete = engine.DeleteLimit{Percent: 100, IsPercent: true}
		return g, nil
	}
	l, err := engine.ParseDeleteLimit(f.maxDelete)
	if err != nil {
		return g, fmt.Errorf("--max-delete %w", err)
	}
	g.MaxDelete = l
	return g, nil
}

// handOver makes rv the target of the converge run that holds the state,
// for apply --allow-delete or --allow-empty beside a daemon: the daemon
// follows a target set beside it within seconds (as after converge
// rollback). The deletion guard the daemon applies to manifest changes is
// what the person releases here.
func (g *globals) handOver(cmd *cobra.Command, reg *provider.Registry, rv *manifest.Revision, f engineFlags, guard engine.Guard) error {
	ctx := cmd.Context()
	root, err := g.rootPath()
	if err != nil {
		return err
	}
	st, err := sqlite.Open(ctx, g.state, sqlite.Shared(), sqlite.HistoryLimit(g.historyLimit))
	if err != nil {
		return openError(g.state, err)
	}
	defer st.Close()
	if err := g.checkRoot(ctx, st, root, false); err != nil {
		return err
	}
	e, err := g.newEngine(ctx, reg, st, f, false)
	if err != nil {
		return err
	}
	if _, err := controller.Publish(ctx, st, e, rv, guard); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Revision %s is the target; the running converge converges it within seconds.\n", short(rv.Hash))
	return nil
}
