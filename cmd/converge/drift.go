package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/convergehq/converge/diff"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/plan"
)

func newDriftCmd(g *globals) *cobra.Command {
	var (
		output string
		drift  string
	)
	cmd := &cobra.Command{
		Use:   "drift",
		Short: "Check once for drift: exit 2 when anything drifted, 0 when nothing did",
		Long: `drift observes every resource and lists those whose observed state differs
from what converge last applied while the manifests did not change, including
objects deleted by hand, with the field-level difference. It never mutates
anything: use it from CI or cron.

Exit codes: 0 no drift, 2 drift found, 1 error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := parseOutput(output)
			if err != nil {
				return err
			}
			reg, rv, err := g.loadManifests()
			if err != nil {
				return err
			}
			// Without a state nothing was applied, and nothing can drift:
			// a wrong --state must not read as "no drift".
			if _, err := g.requireState(); err != nil {
				return err
			}
			ctx := cmd.Context()
			e, done, err := g.observer(ctx, reg, drift)
			if err != nil {
				return err
			}
			defer done()
			drifted, err := e.Drift(ctx, rv)
			if err != nil {
				return err
			}
			if format == outputText {
				writeDriftText(cmd.OutOrStdout(), rv, drifted, drift)
			} else {
				err = writeDriftData(cmd.OutOrStdout(), format, rv, drifted, drift)
			}
			if err != nil {
				return err
			}
			for _, a := range drifted {
				if a.Type == plan.Error {
					fmt.Fprintln(cmd.ErrOrStderr(), "error: some resources could not be observed: drift unknown there")
					return exitCode(1)
				}
			}
			if len(drifted) > 0 {
				return exitCode(2)
			}
			return nil
		},
	}
	addOutputFlag(cmd, &output)
	cmd.Flags().StringVar(&drift, "drift", manifest.DriftCorrect, "drift policy for resources that set none: correct, alert or ignore")
	return cmd
}

type driftItem struct {
	ID     string    `json:"id"`
	Kind   string    `json:"kind"`
	Name   string    `json:"name"`
	Policy string    `json:"policy"`
	Reason string    `json:"reason"`
	Diff   diff.Diff `json:"diff,omitempty"`
}

func driftItems(rv *manifest.Revision, drifted []plan.Action, def string) []driftItem {
	items := make([]driftItem, 0, len(drifted))
	for _, a := range drifted {
		policy := def
		if r, ok := rv.Get(a.ID); ok && r.Policy.Drift != "" {
			policy = r.Policy.Drift
		}
		it := driftItem{ID: a.ID, Kind: a.Kind, Name: a.Name, Policy: policy, Reason: "drifted", Diff: a.Diff.Masked()}
		switch {
		case a.Type == plan.Error:
			it.Reason = "could not observe: " + a.Reason
		case a.Type == plan.Create || a.Gone:
			it.Reason, it.Diff = "deleted out of band", nil
		}
		items = append(items, it)
	}
	return items
}

func writeDriftData(w io.Writer, format outputFormat, rv *manifest.Revision, drifted []plan.Action, def string) error {
	return writeData(w, format, struct {
		Revision string      `json:"revision"`
		Drifted  []driftItem `json:"drifted"`
		Count    int         `json:"count"`
	}{rv.Hash, driftItems(rv, drifted, def), len(drifted)})
}

func writeDriftText(w io.Writer, rv *manifest.Revision, drifted []plan.Action, def string) {
	if len(drifted) == 0 {
		fmt.Fprintln(w, "No drift: every resource matches what converge last applied.")
		return
	}
	unobserved := 0
	for _, a := range drifted {
		if a.Type == plan.Error {
			unobserved++
		}
	}
	n := len(drifted) - unobserved
	switch {
	case unobserved == 0:
		fmt.Fprintf(w, "Drift: %s from what converge last applied.\n\n", pluralVerb(n, "resource", "differs", "differ"))
	case n == 0:
		fmt.Fprintf(w, "Drift unknown: %s could not be observed.\n\n", plural(unobserved, "resource"))
	default:
		fmt.Fprintf(w, "Drift: %s from what converge last applied; %d could not be observed.\n\n", pluralVerb(n, "resource", "differs", "differ"), unobserved)
	}
	for i, it := range driftItems(rv, drifted, def) {
		next := "the next apply or run corrects it"
		switch {
		case drifted[i].Type == plan.Error: // one item per action, in order
			next = "drift unknown"
		case it.Policy == manifest.DriftAlert:
			next = "reported only (policy alert)"
		}
		fmt.Fprintf(w, "  %s: %s; %s\n", it.ID, it.Reason, next)
		for _, c := range it.Diff {
			fmt.Fprintf(w, "      %s\n", c.String())
		}
	}
}
