package main

import (
	"context"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/convergehq/converge/controller"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/store/sqlite"
)

// Shell completion: cobra's own completion command (converge completion
// bash|zsh|fish|powershell) writes the script; the functions here give it
// the resource IDs and revision hashes to offer, read from the state
// opened read-only (no lock, nothing written, nothing printed) and from
// the manifests when -f is given. Completion never fails: what cannot be
// read offers nothing.

// addCompletions installs the completions of the commands that take
// resource IDs or a revision.
func addCompletions(root *cobra.Command, g *globals) {
	for _, c := range root.Commands() {
		switch c.Name() {
		case "get", "status":
			c.ValidArgsFunction = completeIDs(g, false)
		case "describe":
			c.ValidArgsFunction = completeOneID(g)
		case "rollback":
			c.ValidArgsFunction = completeRevisions(g)
		case "events":
			_ = c.RegisterFlagCompletionFunc("resource", func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
				return matching(g.knownIDs(cmd.Context(), false), nil, toComplete), cobra.ShellCompDirectiveNoFileComp
			})
		}
	}
}

// completeIDs offers the resource IDs converge records or desires, less
// those already given. With manifests (adopt), the IDs the manifests given
// with -f declare come first.
func completeIDs(g *globals, manifests bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return matching(g.knownIDs(cmd.Context(), manifests), args, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeOneID is completeIDs for a command that takes one ID.
func completeOneID(g *globals) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return matching(g.knownIDs(cmd.Context(), false), nil, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeRevisions offers the short hashes of the stored revisions,
// newest first, each described by its state.
func completeRevisions(g *globals) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		db := g.completionState(cmd.Context())
		if db == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer db.Close()
		revs, err := db.ListRevisions(cmd.Context())
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for i := len(revs) - 1; i >= 0; i-- {
			h := short(revs[i].Hash)
			if strings.HasPrefix(h, toComplete) {
				out = append(out, h+"\t"+string(revs[i].State)+", "+revs[i].Created.Format("2006-01-02 15:04:05"))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
	}
}

// completionState opens the state read-only, or returns nil when there is
// none or it cannot be read.
func (g *globals) completionState(ctx context.Context) *sqlite.DB {
	if _, exists, err := g.statePath(); err != nil || !exists {
		return nil
	}
	db, err := sqlite.Open(ctx, g.state, sqlite.ReadOnly())
	if err != nil {
		return nil
	}
	return db
}

// knownIDs returns the IDs of the resources the manifests given with -f
// declare (when manifests is set, or -f is given), then those the state
// records or its target revision declares, without repeats.
func (g *globals) knownIDs(ctx context.Context, manifests bool) []string {
	var ids []string
	if manifests || len(g.files) > 0 {
		if reg, err := g.registry(); err == nil && len(g.files) > 0 {
			if rv, err := manifest.Load(g.files, reg); err == nil {
				for _, r := range rv.Resources {
					ids = append(ids, r.ID)
				}
			}
		}
	}
	if db := g.completionState(ctx); db != nil {
		defer db.Close()
		if recs, err := db.ListRecords(ctx); err == nil {
			for _, r := range recs {
				ids = append(ids, r.ID)
			}
		}
		if rv, err := controller.TargetRevision(ctx, db); err == nil && rv != nil {
			for _, r := range rv.Resources {
				ids = append(ids, r.ID)
			}
		}
	}
	return ids
}

// matching returns the candidates that start with prefix and are not
// given yet, once each, in order.
func matching(candidates, given []string, prefix string) []string {
	var out []string
	for _, c := range candidates {
		if strings.HasPrefix(c, prefix) && !slices.Contains(given, c) && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}
