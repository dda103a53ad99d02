package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/convergehq/converge/alert"
	"github.com/convergehq/converge/controller"
	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/sqlite"
)

// gitCommit returns the commit of the git work tree holding the first
// manifest path, with "-dirty" when the manifests have uncommitted
// changes; empty outside git or without git.
func gitCommit(paths []string) string {
	if len(paths) == 0 {
		return ""
	}
	dir := paths[0]
	if fi, err := osStat(dir); err != nil || !fi.IsDir() {
		dir = filepath.Dir(dir)
	}
	if !inGitTree(dir) {
		return "" // no git to run: most manifests of a plain directory
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	commit := strings.TrimSpace(string(out))
	args := append([]string{"-C", dir, "status", "--porcelain", "--"}, absAll(paths)...)
	if st, err := exec.CommandContext(ctx, "git", args...).Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		commit += "-dirty"
	}
	return commit
}

// inGitTree reports whether dir or a directory above it holds .git (a
// directory, or the file of a worktree or submodule), as git looks for
// it; GIT_DIR set means git is told where.
func inGitTree(dir string) bool {
	if os.Getenv("GIT_DIR") != "" {
		return true
	}
	d, err := filepath.Abs(dir)
	if err != nil {
		return true // let git decide
	}
	for {
		if _, err := osStat(filepath.Join(d, ".git")); err == nil {
			return true
		}
		up := filepath.Dir(d)
		if up == d {
			return false
		}
		d = up
	}
}

func absAll(paths []string) []string {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		if a, err := filepath.Abs(p); err == nil {
			out = append(out, a)
		}
	}
	return out
}

func newHistoryCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List the revisions converge targeted, the target and the last known good one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := parseOutput(output)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			st, err := g.readState(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			rows, err := controller.History(ctx, st)
			if err != nil {
				return err
			}
			if format != outputText {
				return writeData(cmd.OutOrStdout(), format, rows)
			}
			w := cmd.OutOrStdout()
			if len(rows) == 0 {
				fmt.Fprintln(w, "No revisions yet.")
				return nil
			}
			tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REVISION\tCREATED\tSTATE\tRESOURCES\tCOMMIT\tMARKS\tREASON")
			for _, r := range rows {
				var marks []string
				if r.Target {
					marks = append(marks, "target")
				}
				if r.LastKnownGood {
					marks = append(marks, "last known good")
				}
				commit := strings.TrimSuffix(r.Commit, "-dirty")
				if len(commit) > 12 {
					commit = commit[:12]
				}
				if strings.HasSuffix(r.Commit, "-dirty") {
					commit += "-dirty"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", short(r.Hash), r.Created.Local().Format("2006-01-02 15:04:05"),
					r.State, r.Resources, dash(commit), strings.Join(marks, ", "), oneLine(r.Reason))
			}
			return tw.Flush()
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

var osStat = os.Stat

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newRollbackCmd(g *globals) *cobra.Command {
	var (
		f      engineFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "rollback [REVISION]",
		Short: "Target an earlier revision again (default: the last known good one)",
		Long: `rollback makes an earlier revision the target again: by default the last known
good one (the revision that converged last), or the one named by a prefix of
its hash (see converge history). The manifest files are left alone: converge
stays on that revision until they change.

When no daemon runs, rollback converges the revision at once, like apply.
When converge run holds the state, rollback records the new target and the
daemon converges it within seconds.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			if _, err := parseOutput(output); err != nil {
				return err
			}
			ctx := cmd.Context()
			st, shared, err := g.openForRollback(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			ch, err := pickRollback(ctx, st, args)
			if err != nil {
				return err
			}
			to, from := ch.To, ch.From
			rv, err := engine.RevisionFromStore(to)
			if err != nil {
				return err
			}
			if ch.Resumed {
				fmt.Fprintf(cmd.ErrOrStderr(), "note: resuming the interrupted rollback from revision %s to revision %s\n", dash(short(from)), short(to.Hash))
			}
			if err := ch.Record(ctx, st, time.Now()); err != nil {
				return err
			}
			if from != "" && from != to.Hash {
				cur, err := st.GetRevision(ctx, from)
				if err == nil && cur.State != store.RevisionFailed {
					cur.State, cur.Reason = store.RevisionRolledBack, "rolled back by hand to revision "+short(to.Hash)
					if err := st.PutRevision(ctx, cur); err != nil {
						return err
					}
				}
			}
			if shared {
				// Only if the target is still the one the choice was
				// made against: a daemon that loaded new manifests
				// meanwhile keeps its target.
				if err := ch.SetTarget(ctx, st); err != nil {
					var moved *controller.TargetMovedError
					if errors.As(err, &moved) {
						return fmt.Errorf("%w; run converge rollback again", err)
					}
					return err
				}
			}
			msg := fmt.Sprintf("rolled back by hand from revision %s to revision %s", dash(short(from)), short(to.Hash))
			if _, err := st.AddEvent(ctx, store.Event{Type: store.Warning, Reason: "RolledBack", Message: msg}); err != nil {
				return err
			}
			if len(f.webhooks) > 0 {
				n := alert.New(f.webhooks, alert.Options{})
				n.Notify(alert.Alert{Type: "rollback", Reason: "RolledBack", Message: msg, Revision: to.Hash})
				g.alerts = n
				if shared {
					defer g.closeAlerts()
				}
			}
			if shared {
				fmt.Fprintf(cmd.OutOrStdout(), "Revision %s is the target again; the running converge converges it within seconds.\n", short(to.Hash))
				return nil
			}
			st.Close()
			reg, err := g.registry()
			if err != nil {
				return err
			}
			return g.converge(cmd, reg, rv, f, output, nil)
		},
	}
	f.register(cmd, true)
	addOutputFlag(cmd, &output)
	return cmd
}

// openForRollback opens the state exclusively, or shared when a daemon
// holds it (shared=true).
func (g *globals) openForRollback(ctx context.Context) (store.Store, bool, error) {
	if g.onEtcd() {
		return g.openEtcdForRollback(ctx)
	}
	if _, err := g.requireState(); err != nil {
		return nil, false, err
	}
	root, err := g.rootPath()
	if err != nil {
		return nil, false, err
	}
	shared := false
	db, err := sqlite.Open(ctx, g.state)
	var locked *sqlite.LockedError
	if errors.As(err, &locked) {
		shared = true
		db, err = sqlite.Open(ctx, g.state, sqlite.Shared())
	}
	if err != nil {
		return nil, false, openError(g.state, err)
	}
	if err := g.checkRoot(ctx, db, root, true); err != nil {
		db.Close()
		return nil, false, err
	}
	g.announce(db.Path(), root, "")
	return wrapStore(db), shared, nil
}

// pickRollback chooses the revision to roll back to (args[0] as a hash
// prefix, or the last known good one), or resumes the rollback in
// progress: see controller.ChooseRollback.
func pickRollback(ctx context.Context, st store.Store, args []string) (controller.RollbackChoice, error) {
	prefix := ""
	if len(args) == 1 {
		prefix = args[0]
	}
	ch, err := controller.ChooseRollback(ctx, st, prefix)
	conflict := errors.Is(err, controller.ErrConflict)
	if (conflict && prefix == "") || errors.Is(err, controller.ErrInvalid) || errors.Is(err, store.ErrNotFound) {
		// The revisions to choose from are converge history's.
		err = fmt.Errorf("%w (see converge history)", err)
	}
	return ch, err
}
