package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/convergehq/converge/controller"
	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/sqlite"
)

func newValidateCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check the manifests: syntax, kinds, fields, references and cycles",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := parseOutput(output)
			if err != nil {
				return err
			}
			reg, err := g.registry()
			if err != nil {
				return err
			}
			rv, err := g.load(reg)
			if format == outputText {
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s valid (revision %s).\n", pluralVerb(len(rv.Resources), "resource", "is", "are"), short(rv.Hash))
				return nil
			}
			v := validation{Valid: err == nil, Problems: []*manifest.Error{}}
			var list manifest.ErrorList
			switch {
			case err == nil:
				v.Revision, v.Resources = rv.Hash, len(rv.Resources)
			case errors.As(err, &list):
				v.Problems = list
			default:
				return err
			}
			if werr := writeData(cmd.OutOrStdout(), format, v); werr != nil {
				return werr
			}
			return err
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

// validation is what validate -o json|yaml prints.
type validation struct {
	Valid     bool              `json:"valid"`
	Revision  string            `json:"revision,omitempty"`
	Resources int               `json:"resources"`
	Problems  []*manifest.Error `json:"problems"`
}

func newPlanCmd(g *globals) *cobra.Command {
	var (
		output   string
		detailed bool
		destroy  bool
		drift    string
		gf       guardFlags
	)
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what apply would change, calling only the providers' observe",
		Long: `plan observes every resource and shows, field by field, what apply would
create, update, replace and delete. It never mutates anything.

With --detailed-exitcode: 0 no changes, 2 changes, 1 error.`,
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
			reg, err := g.registry()
			if err != nil {
				return err
			}
			var rv *manifest.Revision
			if !destroy || len(g.files) > 0 {
				if rv, err = g.load(reg); err != nil {
					return err
				}
			}
			ctx := cmd.Context()
			e, done, err := g.observer(ctx, reg, drift)
			if err != nil {
				return err
			}
			defer done()
			target := rv
			if destroy {
				target = nil
			}
			var heldNote string
			switch err := guard.Check(e.Records(), target); {
			case errors.Is(err, engine.ErrEmpty):
				return err
			case err != nil:
				heldNote = "note: apply would refuse this plan and run would hold it: " + err.Error()
			}
			p, err := e.Plan(ctx, target)
			if err != nil {
				return err
			}
			if destroy {
				p.Revision = "" // no revision is targeted
			}
			if format == outputText {
				w, flush := g.colors(cmd).planWriter(cmd.OutOrStdout())
				if destroy {
					err = p.WriteTextTitled(w, "converge plan to destroy everything converge manages here")
				} else {
					err = p.WriteText(w)
				}
				if err == nil {
					err = flush()
				}
			} else {
				err = writeFormatted(cmd.OutOrStdout(), format, p.WriteJSON)
			}
			if err != nil {
				return err
			}
			if heldNote != "" {
				fmt.Fprintln(cmd.ErrOrStderr(), heldNote)
			}
			if p.Errors() {
				fmt.Fprintln(cmd.ErrOrStderr(), "error: the plan is incomplete: some resources could not be observed")
				return exitCode(1)
			}
			if detailed && p.HasChanges() {
				return exitCode(2)
			}
			return nil
		},
	}
	addOutputFlag(cmd, &output)
	cmd.Flags().BoolVar(&detailed, "detailed-exitcode", false, "exit 0 when there are no changes, 2 when there are, 1 on error")
	cmd.Flags().BoolVar(&destroy, "destroy", false, "plan the deletion of everything converge manages here")
	cmd.Flags().StringVar(&drift, "drift", manifest.DriftCorrect, "drift policy for resources that set none: correct, alert or ignore")
	gf.register(cmd, true)
	return cmd
}

// observer returns an engine that only observes (plan, drift) over the
// state opened read-only, and the function that closes it.
func (g *globals) observer(ctx context.Context, reg *provider.Registry, drift string) (*engine.Engine, func(), error) {
	st, err := g.openStore(ctx, true)
	if err != nil {
		return nil, nil, err
	}
	// Eight observations at a time, like apply's default workers; the
	// provider's limits apply as ever.
	e, err := g.newEngine(ctx, reg, st, engineFlags{workers: 8, backoffBase: time.Second, backoffMax: time.Minute, drift: drift}, true)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return e, func() { st.Close() }, nil
}

func newApplyCmd(g *globals) *cobra.Command {
	var (
		f      engineFlags
		gf     guardFlags
		output string
		yes    bool
	)
	cmd := &cobra.Command{
		Use:   "apply",
		Short: "Converge once: exit 0 when every resource is Ready",
		Long: `apply converges every resource once, in dependency order, and exits 0 when
all are Ready. Otherwise it exits 1 with a summary of what failed and why.
Running it again right away makes no changes.

apply refuses manifests that declare no resources while the state manages
some (--allow-empty), and a revision that would delete more than
--max-delete of the managed resources (--allow-delete). When converge run
holds the state, apply --allow-delete (or --allow-empty) makes the revision
the target and the running converge converges it.

On a terminal, when the plan deletes or replaces anything, apply shows it
and asks first: only "yes" goes on (--yes does not ask). Off a terminal it
does not ask.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			guard, err := gf.guard()
			if err != nil {
				return err
			}
			format, err := parseOutput(output)
			if err != nil {
				return err
			}
			reg, rv, err := g.loadManifests()
			if err != nil {
				return err
			}
			if !yes && interactive(cmd.InOrStdin()) {
				g.beforeApply = confirmApply(cmd, g, format)
			}
			return g.converge(cmd, reg, rv, f, output, &guard)
		},
	}
	f.register(cmd, true)
	gf.register(cmd, true)
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "on a terminal, do not show the plan and ask before deleting or replacing anything")
	addOutputFlag(cmd, &output)
	return cmd
}

func newDestroyCmd(g *globals) *cobra.Command {
	var (
		f      engineFlags
		yes    bool
		output string
	)
	cmd := &cobra.Command{
		Use:   "destroy",
		Short: "Delete everything converge created here, dependents first",
		Long: `destroy deletes every object converge created and recorded in this state,
dependents first. Objects it adopted and resources with deletion policy
orphan are left in place and forgotten. It asks for confirmation on a
terminal; elsewhere pass --yes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			reg, err := g.registry()
			if err != nil {
				return err
			}
			if len(g.files) > 0 {
				// Refuse to act on manifests that do not even validate.
				if _, err := g.load(reg); err != nil {
					return err
				}
			}
			if _, err := g.requireState(); err != nil {
				return err
			}
			if err := g.precheckRoot(cmd.Context()); err != nil {
				return err // before asking: a yes must not be asked for nothing
			}
			if !yes {
				ok, err := confirm(cmd.InOrStdin(), cmd.OutOrStdout(), g.storeName())
				if err != nil {
					return err
				}
				if !ok {
					fmt.Fprintln(cmd.OutOrStdout(), "Destroy cancelled.")
					return exitCode(1)
				}
			}
			return g.converge(cmd, reg, nil, f, output, nil)
		},
	}
	f.register(cmd, true)
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	addOutputFlag(cmd, &output)
	return cmd
}

func confirm(in io.Reader, out io.Writer, state string) (bool, error) {
	if f, ok := in.(*os.File); ok {
		if !isTerminal(f) {
			return false, errors.New("destroy needs confirmation: pass --yes when not on a terminal")
		}
	}
	fmt.Fprintf(out, "Delete everything converge created and recorded in %s? Type yes: ", state)
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	return strings.TrimSpace(line) == "yes", nil
}

// converge applies rv (nil: destroy) once and prints the report. With a
// guard (apply), a revision that failed or was rolled back from is not
// targeted again until the manifests change (see controller.ChooseTarget), and one
// that deletes more than the guard allows is refused.
func (g *globals) converge(cmd *cobra.Command, reg *provider.Registry, rv *manifest.Revision, f engineFlags, output string, guard *engine.Guard) error {
	format, err := parseOutput(output)
	if err != nil {
		return err
	}
	pr, logged, err := newProgress(f.progress, g.stderr, rv == nil)
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	if pr != nil && pr.live {
		// Logs and messages are written under the live line.
		g.stderr, stderr = pr, pr
	}
	ctx, intr, stop := watchInterrupts(cmd.Context(), stderr)
	defer stop()
	st, err := g.openStore(ctx, false)
	var locked *sqlite.LockedError
	if errors.As(err, &locked) && guard != nil && rv != nil && (guard.AllowDelete || guard.AllowEmpty) {
		return g.handOver(cmd, reg, rv, f, *guard)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	e, err := g.newEngine(ctx, reg, st, f, false)
	if err != nil {
		return err
	}
	intr.engine.Store(e)
	defer g.closeAlerts()
	if log, err := g.logger(); err == nil {
		g.pruneEvents(ctx, st, f.retention, log)
	}
	if rv != nil && guard != nil {
		next, note, err := controller.ChooseTarget(ctx, st, rv, f.rollback == "auto")
		if err != nil {
			return err
		}
		if note != "" {
			fmt.Fprintln(cmd.ErrOrStderr(), "note: "+note)
		}
		rv = next
		if err := guard.Check(e.Records(), rv); err != nil {
			var held *engine.HeldError
			if errors.As(err, &held) {
				if herr := e.Hold(ctx, rv, held); herr != nil {
					return herr
				}
			}
			return err
		}
	}
	if g.beforeApply != nil {
		if err := g.beforeApply(ctx, e, rv); err != nil {
			return err
		}
	}
	actx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	if pr != nil {
		var log *slog.Logger
		if logged {
			if log, err = g.logger(); err != nil {
				return err
			}
		}
		pr.Start(e.Activity, log)
	}
	rep, err := controller.ApplyOnce(actx, e, rv, controller.ApplyOptions{Rollback: f.rollback == "auto", ProgressDeadline: f.deadline})
	pr.Stop()
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return err
	}
	switch {
	case ctx.Err() == nil && (errors.Is(actx.Err(), context.DeadlineExceeded) || deadlinePassed(actx)):
		// (the deadline may have cut a call a moment before actx's own
		// timer marks it done)
		err = fmt.Errorf("--timeout %s passed; the calls in flight were stopped, and the next run observes what they did", f.timeout)
	case intr.interrupted() || ctx.Err() != nil:
		err = errInterrupted
	}
	out := cmd.OutOrStdout()
	if format == outputText {
		printReport(out, rep, rv == nil, err, g.colors(cmd))
	} else if err := writeData(out, format, rep); err != nil {
		return err
	}
	if !rep.OK() || err != nil {
		return exitCode(1)
	}
	return nil
}

// errInterrupted is how the report of a run stopped by an interrupt ends.
var errInterrupted = errors.New("interrupted; the calls in flight were finished and recorded")

// deadlinePassed reports whether ctx has a deadline, and it passed.
func deadlinePassed(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

func printReport(w io.Writer, rep engine.Report, destroy bool, err error, c colors) {
	s := rep.Stats
	calls := fmt.Sprintf("provider calls: %s, %s, %s", plural(int(s.Creates), "create"), plural(int(s.Updates), "update"), plural(int(s.Deletes), "delete"))
	took := rep.Duration.Round(time.Millisecond)
	if destroy {
		fmt.Fprintf(w, "Destroy: %s deleted or forgotten in %s (%s).\n", plural(rep.Deleted, "resource"), took, calls)
	} else {
		fmt.Fprintf(w, "Apply: %s Ready in %s, revision %s (%s).\n", plural(rep.Ready, "resource"), took, short(rep.Revision), calls)
	}
	if err != nil {
		fmt.Fprintf(w, "Stopped before converging: %v.\n", err)
	}
	if rb := rep.RolledBack; rb != nil {
		fmt.Fprintf(w, "Revision %s failed (%s): rolled back to the last known good revision %s.\n", short(rb.From), rb.Reason, short(rb.To))
	}
	if len(rep.Drifted) > 0 {
		fmt.Fprintf(w, "%s drifted and %s left alone (drift policy alert):\n", plural(len(rep.Drifted), "resource"), pluralWord(len(rep.Drifted), "was", "were"))
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		for _, f := range rep.Drifted {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", f.ID, c.phase(f.Phase), f.Message)
		}
		tw.Flush()
	}
	failures := rep.Failures
	if errors.Is(err, errInterrupted) {
		// What the interrupt kept from starting is not stuck: its
		// waiting messages would be stale.
		failures = nil
		notReached := 0
		for _, f := range rep.Failures {
			if f.Phase == store.PhasePending || f.Phase == store.PhaseWaiting {
				notReached++
				continue
			}
			failures = append(failures, f)
		}
		if notReached > 0 {
			fmt.Fprintf(w, "%s not reached before the interrupt.\n", pluralVerb(notReached, "resource", "was", "were"))
		}
	}
	if len(failures) == 0 {
		return
	}
	fmt.Fprintf(w, "%s did not converge:\n", plural(len(failures), "resource"))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	var conflicts []string
	for _, f := range failures {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", f.ID, c.phase(f.Phase), f.Message)
		if f.Class == provider.ClassConflict {
			conflicts = append(conflicts, f.ID)
		}
	}
	tw.Flush()
	if len(conflicts) > 0 {
		fmt.Fprintf(w, "To take over %s and update %s to the manifests: converge adopt %s\n",
			pluralWord(len(conflicts), "the object in conflict", "the objects in conflict"), pluralWord(len(conflicts), "it", "them"), strings.Join(conflicts, " "))
	}
}

func newStatusCmd(g *globals) *cobra.Command {
	var (
		output string
		kind   string
		phase  string
		labels []string
	)
	cmd := &cobra.Command{
		Use:   "status [ID...]",
		Short: "Show every resource's phase, age, last reconcile and message",
		Long: `status shows every resource converge records (with -f, and those the
manifests declare that it has not recorded yet), or only the resources
named (kind/name), of a kind (--kind), in a phase (--phase) or with labels
(-l key=value, from the manifests' metadata.labels: those given with -f,
or else the target revision's).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := parseOutput(output)
			if err != nil {
				return err
			}
			sel := controller.Selection{IDs: args, Kind: kind}
			if sel.Phase, err = parsePhase(phase); err != nil {
				return err
			}
			if sel.Selector, err = parseLabels(labels); err != nil {
				return err
			}
			v, err := g.statusView(cmd, sel)
			if err != nil {
				return err
			}
			if format != outputText {
				return writeData(cmd.OutOrStdout(), format, v)
			}
			printStatus(cmd.OutOrStdout(), v, g.colors(cmd), time.Now())
			return nil
		},
	}
	addOutputFlag(cmd, &output)
	cmd.Flags().StringVar(&kind, "kind", "", "only the resources of this kind (file.File)")
	cmd.Flags().StringVar(&phase, "phase", "", "only the resources in this phase (Ready, Error, Waiting, ...)")
	cmd.Flags().StringArrayVarP(&labels, "selector", "l", nil, "only the resources with these labels: key=value (comma-separated or repeated; all must hold)")
	return cmd
}

// printStatus renders the status view as text.
func printStatus(w io.Writer, v controller.StatusView, c colors, now time.Time) {
	if v.Held != "" {
		fmt.Fprintf(w, "Held revision: %s: %s\n", short(v.Held), strings.ReplaceAll(v.HeldReason, "\n", " "))
	}
	if v.Target != "" {
		line := fmt.Sprintf("Target revision: %s (%s)", short(v.Target), v.TargetState)
		if v.TargetReason != "" {
			line += ": " + oneLine(v.TargetReason)
		}
		fmt.Fprintln(w, line)
		switch {
		case v.LastKnownGood == "":
			fmt.Fprintln(w, "Last known good: none yet")
		case v.LastKnownGood != v.Target:
			fmt.Fprintf(w, "Last known good: %s (converged %s ago)\n", short(v.LastKnownGood), ago(now, v.LastKnownGoodAt))
		}
		if v.Staying != "" {
			fmt.Fprintln(w, v.Staying)
		}
	}
	if len(v.Resources) == 0 {
		fmt.Fprintln(w, "No resources recorded yet.")
		return
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "RESOURCE\t%s\tAGE\tLAST RECONCILE\tMESSAGE\n", c.cell("PHASE"))
	for _, r := range v.Resources {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, c.phase(r.Phase), ago(now, r.Created), ago(now, r.LastReconcile), oneLine(r.Message))
	}
	tw.Flush()
}

func newEventsCmd(g *globals) *cobra.Command {
	var (
		output   string
		resource string
		since    string
		limit    int
	)
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Show what happened: creates, updates, drift, failures",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := parseOutput(output)
			if err != nil {
				return err
			}
			filter := store.EventFilter{Resource: resource, Limit: limit}
			if since != "" {
				t, err := parseSince(since, time.Now())
				if err != nil {
					return err
				}
				filter.Since = t
			}
			ctx := cmd.Context()
			st, err := g.readState(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			evs, err := st.ListEvents(ctx, filter)
			if err != nil {
				return err
			}
			if resource != "" && len(evs) == 0 {
				if err := checkKnown(ctx, st, resource); err != nil {
					return err
				}
			}
			if format != outputText {
				if evs == nil {
					evs = []store.Event{}
				}
				return writeData(cmd.OutOrStdout(), format, evs)
			}
			w := cmd.OutOrStdout()
			if len(evs) == 0 {
				fmt.Fprintln(w, "No events.")
				return nil
			}
			now := time.Now()
			tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "LAST SEEN\tTYPE\tREASON\tRESOURCE\tCOUNT\tMESSAGE")
			for _, e := range evs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", ago(now, e.LastSeen), e.Type, e.Reason, e.Resource, e.Count, oneLine(e.Message))
			}
			return tw.Flush()
		},
	}
	addOutputFlag(cmd, &output)
	cmd.Flags().StringVar(&resource, "resource", "", "only events of this resource (kind/name)")
	cmd.Flags().StringVar(&since, "since", "", "only events seen since then: a duration (1h, 30m) or an RFC 3339 time")
	cmd.Flags().IntVar(&limit, "limit", 0, "only the newest N events (0: all)")
	return cmd
}

// checkKnown fails with controller.ErrUnknownResource unless converge
// records the resource id, its target revision declares it, or some event
// was recorded about it (it may have been deleted since).
func checkKnown(ctx context.Context, st store.Store, id string) error {
	_, err := st.GetRecord(ctx, id)
	switch {
	case err == nil:
		return nil
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	rv, err := controller.TargetRevision(ctx, st)
	if err != nil {
		return err
	}
	if _, ok := rv.Get(id); ok {
		return nil
	}
	evs, err := st.ListEvents(ctx, store.EventFilter{Resource: id, Limit: 1})
	if err != nil || len(evs) > 0 {
		return err
	}
	return unknownError(fmt.Errorf("--resource %s: %w", id, controller.ErrUnknownResource))
}

func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--since %q: want a duration such as 1h or an RFC 3339 time such as 2026-01-02T15:04:05Z", s)
}

func newGraphCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "graph",
		Short: "Draw the dependency graph (dot or mermaid), cycles marked",
		Long: `graph draws the resources and their dependencies, coloured by status when a
state exists. A graph with a cycle is still drawn, the cycle marked in red,
and the command then exits 1 with the cycle explained.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "dot", "mermaid"); err != nil {
				return err
			}
			// graph draws the manifests and only borrows the state's
			// phases for colours: it does not name the state.
			g.announced = true
			reg, err := g.registry()
			if err != nil {
				return err
			}
			if len(g.files) == 0 {
				return errors.New("no manifests given: pass -f FILE_OR_DIR (repeatable)")
			}
			gr, loadErr := manifest.LoadGraph(g.files, reg)
			if gr == nil {
				return loadErr
			}
			opts := graphOptions(cmd.Context(), g)
			if output == "mermaid" {
				err = gr.WriteMermaid(cmd.OutOrStdout(), opts)
			} else {
				err = gr.WriteDot(cmd.OutOrStdout(), opts)
			}
			if err != nil {
				return err
			}
			return loadErr
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "dot", "output format: dot or mermaid")
	return cmd
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// plural writes "1 resource", "2 resources".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// pluralWord returns one when n is 1, many otherwise.
func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// pluralVerb writes "1 resource is", "2 resources are": the count, its
// noun and the verb that agrees with it.
func pluralVerb(n int, noun, one, many string) string {
	if n == 1 {
		return plural(n, noun) + " " + one
	}
	return plural(n, noun) + " " + many
}
