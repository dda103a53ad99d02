package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/convergehq/converge/controller"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/store"
)

func newGetCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "get ID...",
		Short: "Show one line for each resource named: phase, age, last reconcile and message",
		Long: `get shows each resource named (kind/name) on one line. A resource that
converge neither desires (in the target revision, or the manifests given
with -f) nor records is an error.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := parseOutput(output)
			if err != nil {
				return err
			}
			v, err := g.statusView(cmd, controller.Selection{IDs: args})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if format != outputText {
				if len(args) == 1 {
					return writeData(w, format, v.Resources[0])
				}
				return writeData(w, format, v.Resources)
			}
			c := g.colors(cmd)
			now := time.Now()
			for _, r := range v.Resources {
				line := fmt.Sprintf("%s: %s, created %s, last reconciled %s", r.ID, c.phase(r.Phase), agoText(now, r.Created), agoText(now, r.LastReconcile))
				if r.Message != "" {
					line += ": " + oneLine(r.Message)
				}
				fmt.Fprintln(w, line)
			}
			return nil
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

// agoText is ago for a sentence.
func agoText(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return ago(now, t) + " ago"
}

func newDescribeCmd(g *globals) *cobra.Command {
	var (
		output string
		events int
	)
	cmd := &cobra.Command{
		Use:   "describe ID",
		Short: "Show everything known about one resource: spec, outputs, conditions, errors, drift, events",
		Long: `describe shows one resource (kind/name): its phase and message, its labels,
its desired spec and the spec last applied (sensitive values masked), its
outputs and conditions, its last error and next retry, what it waits for,
the drift converge found while it stands drifted, and its recent events.
It reads the state only: the desired spec is the target revision's, or the
manifests' when -f is given.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := parseOutput(output)
			if err != nil {
				return err
			}
			if events < 0 {
				return fmt.Errorf("--events %d: must not be negative", events)
			}
			ctx := cmd.Context()
			st, err := g.readState(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			reg, err := g.registry()
			if err != nil {
				return err
			}
			opts := controller.DescribeOptions{Schema: reg.Schema, Events: events}
			if len(g.files) > 0 {
				if opts.Revision, err = g.load(reg); err != nil {
					return err
				}
			}
			v, err := controller.Describe(ctx, st, args[0], opts)
			if err != nil {
				return unknownError(err)
			}
			if format != outputText {
				return writeData(cmd.OutOrStdout(), format, v)
			}
			printDescribe(cmd.OutOrStdout(), v, g.colors(cmd), time.Now())
			return nil
		},
	}
	addOutputFlag(cmd, &output)
	cmd.Flags().IntVar(&events, "events", controller.DescribeEvents, "show the newest N events of the resource")
	return cmd
}

// unknownError says how to find the IDs converge knows when err is about
// one it does not.
func unknownError(err error) error {
	if errors.Is(err, controller.ErrUnknownResource) {
		return fmt.Errorf("%w (converge status lists the resources)", err)
	}
	return err
}

// printDescribe renders the describe view as text.
func printDescribe(w io.Writer, v controller.DescribeView, c colors, now time.Time) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", name, value)
		}
	}
	field("Resource", v.ID)
	field("Kind", v.Kind)
	field("Phase", c.phase(v.Phase))
	field("Message", oneLine(v.Message))
	if len(v.Labels) > 0 {
		var labels []string
		for _, k := range sortedKeys(v.Labels) {
			labels = append(labels, k+"="+v.Labels[k])
		}
		field("Labels", strings.Join(labels, ","))
	}
	if !v.Desired {
		field("Desired", "no: not in the manifests; the next apply or run deletes it (or forgets it)")
	}
	field("Origin", string(v.Origin))
	field("Revision", short(v.Revision))
	if !v.Created.IsZero() {
		field("Created", agoText(now, v.Created))
	}
	if !v.LastReconcile.IsZero() {
		field("Last reconcile", agoText(now, v.LastReconcile))
	}
	if v.Attempts > 0 {
		field("Attempts", fmt.Sprint(v.Attempts))
	}
	field("Last error", oneLine(v.LastError))
	if v.NextRetry != nil {
		field("Next retry", nextRetry(now, *v.NextRetry))
	}
	field("Waiting", oneLine(v.Waiting))
	field("Depends on", strings.Join(v.Deps, ", "))
	tw.Flush()
	section := func(title string, m map[string]any) {
		if len(m) == 0 {
			return
		}
		fmt.Fprintf(w, "%s:\n", title)
		for _, k := range sortedKeys(m) {
			fmt.Fprintf(w, "  %s: %s\n", k, oneLine(jsonText(m[k])))
		}
	}
	section("Spec", v.Spec)
	section("Applied spec", v.AppliedSpec)
	section("Outputs", v.Outputs)
	if len(v.Conditions) > 0 {
		fmt.Fprintln(w, "Conditions:")
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  TYPE\tSTATUS\tREASON\tSINCE\tMESSAGE")
		for _, cd := range v.Conditions {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", cd.Type, cd.Status, cd.Reason, ago(now, cd.LastTransitionTime), oneLine(cd.Message))
		}
		tw.Flush()
	}
	if v.Drift != "" {
		fmt.Fprintln(w, "Drift (observed -> last applied):")
		for _, change := range strings.Split(v.Drift, "; ") {
			fmt.Fprintf(w, "  %s\n", oneLine(change))
		}
	}
	if len(v.Events) == 0 {
		fmt.Fprintln(w, "Events: none")
		return
	}
	fmt.Fprintln(w, "Events:")
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  LAST SEEN\tTYPE\tREASON\tCOUNT\tMESSAGE")
	for _, e := range v.Events {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\n", ago(now, e.LastSeen), e.Type, e.Reason, e.Count, oneLine(e.Message))
	}
	tw.Flush()
}

// nextRetry says when the next retry is due.
func nextRetry(now, t time.Time) string {
	if !t.After(now) {
		return "due now (" + t.Local().Format("15:04:05") + ")"
	}
	return "in " + t.Sub(now).Round(time.Second).String() + " (" + t.Local().Format("15:04:05") + ")"
}

// jsonText renders a spec or output value on one line, strings quoted and
// control characters escaped.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// statusView reads the status view for status and get: with -f, the
// manifests' desired resources not recorded yet show as Pending, and the
// labels are the manifests'.
func (g *globals) statusView(cmd *cobra.Command, sel controller.Selection) (controller.StatusView, error) {
	ctx := cmd.Context()
	st, err := g.readState(ctx)
	if err != nil {
		return controller.StatusView{}, err
	}
	defer st.Close()
	var rv *manifest.Revision
	if len(g.files) > 0 {
		reg, err := g.registry()
		if err != nil {
			return controller.StatusView{}, err
		}
		if rv, err = g.load(reg); err != nil {
			return controller.StatusView{}, err
		}
	}
	v, err := controller.Status(ctx, st, rv)
	if err != nil {
		return controller.StatusView{}, err
	}
	v, err = controller.Select(ctx, st, rv, v, sel)
	if err != nil {
		return controller.StatusView{}, unknownError(err)
	}
	return v, nil
}

// phases are the phases --phase accepts.
var phases = []store.Phase{
	store.PhasePending, store.PhaseWaiting, store.PhaseCreating, store.PhaseUpdating, store.PhaseReplacing,
	store.PhaseDeleting, store.PhaseReady, store.PhaseDrifted, store.PhaseError, store.PhaseFailed,
}

// parsePhase reads --phase, in any case.
func parsePhase(s string) (store.Phase, error) {
	if s == "" {
		return "", nil
	}
	for _, p := range phases {
		if strings.EqualFold(s, string(p)) {
			return p, nil
		}
	}
	names := make([]string, len(phases))
	for i, p := range phases {
		names[i] = string(p)
	}
	return "", fmt.Errorf("--phase %q: must be one of %s", s, strings.Join(names, ", "))
}

// parseLabels reads -l: a label selector as kubectl writes it
// (app=web,tier!=db,canary,!legacy), comma-separated or repeated.
func parseLabels(terms []string) (controller.Selector, error) {
	var sel controller.Selector
	for _, t := range terms {
		s, err := controller.ParseSelector(t)
		if err != nil {
			return nil, fmt.Errorf("-l %q: want key=value, key!=value, key or !key (comma-separated or repeated: -l app=web,tier!=db)", t)
		}
		sel = append(sel, s...)
	}
	return sel, nil
}
