package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/plan"
)

func newAdoptCmd(g *globals) *cobra.Command {
	var (
		yes    bool
		output string
	)
	cmd := &cobra.Command{
		Use:   "adopt ID...",
		Short: "Take over existing objects that converge did not create, even where they differ from the manifests",
		Long: `adopt takes over the objects of the resources named (kind/name) that exist
but that converge did not create: apply reports those that differ from the
manifests as conflicts and does not overwrite them. adopt shows how each
differs (sensitive values masked), asks (on a terminal; elsewhere pass
--yes), and records them as adopted, with what it observed as the spec
last applied. The next apply or run updates them to the manifests. It takes
the state's lock: stop a running converge run first. Adopted objects are never deleted: a
resource that leaves the manifests, or converge destroy, leaves its object
in place.

A resource that converge already manages, that has no object yet, or that
the manifests do not declare is not adopted, and adopt says why and exits 1.`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeIDs(g, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := parseOutput(output)
			if err != nil {
				return err
			}
			reg, rv, err := g.loadManifests()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			obs, done, err := g.observer(ctx, reg, manifest.DriftCorrect)
			if err != nil {
				return err
			}
			found, err := obs.Adoptable(ctx, rv, args)
			done()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			// The questions go where the report does not, with -o json|yaml.
			talk := out
			if format != outputText {
				talk = cmd.ErrOrStderr()
			}
			var ids []string
			for _, a := range found {
				if a.OK() {
					ids = append(ids, a.ID)
				}
			}
			if len(ids) == 0 {
				if format != outputText {
					if err := writeData(out, format, found); err != nil {
						return err
					}
				} else {
					printNotAdopted(out, found)
				}
				return exitCode(1)
			}
			if format == outputText || !yes {
				if err := writeAdoptPlan(talk, rv.Hash, found, g.colors(cmd)); err != nil {
					return err
				}
			}
			if !yes {
				if !interactive(cmd.InOrStdin()) {
					return errors.New("adopt needs confirmation: pass --yes when not on a terminal")
				}
				ok, err := ask(cmd.InOrStdin(), talk, fmt.Sprintf("Adopt %s?", plural(len(ids), "object")), answerShort)
				if err != nil {
					return err
				}
				if !ok {
					fmt.Fprintln(talk, "Adopt cancelled: nothing was recorded.")
					return exitCode(1)
				}
			}
			st, err := g.openStore(ctx, false)
			if err != nil {
				return err
			}
			defer st.Close()
			e, err := g.newEngine(ctx, reg, st, engineFlags{workers: 8, backoffBase: time.Second, backoffMax: time.Minute, drift: manifest.DriftCorrect}, false)
			if err != nil {
				return err
			}
			// Only what was shown, observed again: what is recorded is what
			// is there now.
			did, err := e.Adopt(ctx, rv, ids)
			if err != nil {
				return err
			}
			if format != outputText {
				if err := writeData(out, format, merge(found, did)); err != nil {
					return err
				}
			} else {
				printAdopted(out, did)
			}
			for _, a := range merge(found, did) {
				if !a.OK() {
					return exitCode(1)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	addOutputFlag(cmd, &output)
	return cmd
}

// writeAdoptPlan shows what adopting the adoptable resources of found
// leads to, as the plan of the next apply: an update (or a replacement)
// for each object that differs, nothing for one that matches.
func writeAdoptPlan(w io.Writer, revision string, found []engine.Adoption, c colors) error {
	p := &plan.Plan{Revision: revision}
	for _, a := range found {
		if !a.OK() {
			continue
		}
		act := plan.Action{ID: a.ID, Kind: a.Kind, Type: plan.Adopt, Reason: a.Reason, Diff: a.Diff}
		switch {
		case a.Diff.ForceNew():
			act.Type = plan.Replace
		case len(a.Diff) > 0:
			act.Type = plan.Update
		}
		p.Actions = append(p.Actions, act)
	}
	fmt.Fprintln(w, "Once adopted, the next apply does this (observed -> manifests):")
	pw, flush := c.planWriter(w)
	if err := p.WriteTextTitled(pw, ""); err != nil { // the line above says what it is
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	printNotAdopted(w, found)
	return nil
}

// printNotAdopted says why each resource of found that cannot be adopted
// is not.
func printNotAdopted(w io.Writer, found []engine.Adoption) {
	for _, a := range found {
		if !a.OK() {
			fmt.Fprintf(w, "%s: not adopted: %s\n", a.ID, a.Reason)
		}
	}
}

// merge returns found, each resource that Adopt did something about as did
// says.
func merge(found, did []engine.Adoption) []engine.Adoption {
	out := slices.Clone(found)
	for i, a := range out {
		for _, d := range did {
			if d.ID == a.ID {
				out[i] = d
			}
		}
	}
	return out
}

// printAdopted reports what Adopt did. The resources it did not adopt had
// changed since they were shown as adoptable.
func printAdopted(w io.Writer, did []engine.Adoption) {
	var done []string
	for _, a := range did {
		if a.Outcome == engine.AdoptDone {
			done = append(done, a.ID)
		} else {
			fmt.Fprintf(w, "%s: not adopted: %s\n", a.ID, a.Reason)
		}
	}
	if len(done) > 0 {
		fmt.Fprintf(w, "Adopted %s: %s. The next apply or run updates %s to the manifests.\n",
			plural(len(done), "object"), strings.Join(done, ", "), pluralWord(len(done), "it", "them"))
	}
}
