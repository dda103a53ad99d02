package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/store"
)

func fileDocs(files map[string]string) string {
	var b strings.Builder
	for name, content := range files {
		fmt.Fprintf(&b, "---\nkind: file.File\nmetadata: {name: %s}\nspec: {path: %q, content: %q}\n", strings.NewReplacer(".", "-", "/", "-").Replace(name), name, content)
	}
	return b.String()
}

// A revision that changes three resources and adds two, one of which fails
// terminally, rolls back to exactly the previous state; the failed revision
// is marked failed with the reason, and the previous one is the last known
// good again.
func TestRollbackRestoresThePreviousStateExactly(t *testing.T) {
	h := newFileHarness(t)
	if err := os.Symlink(t.TempDir(), filepath.Join(h.root, "out")); err != nil {
		t.Fatal(err)
	}
	v1 := map[string]string{"a.txt": "a1", "b.txt": "b1", "c.txt": "c1", "d.txt": "d1", "e.txt": "e1"}
	h.mustConverge(fileDocs(v1))
	before := h.tree()

	v2 := map[string]string{"a.txt": "a2", "b.txt": "b2", "c.txt": "c2", "d.txt": "d1", "e.txt": "e1",
		"new.txt": "new", "out/escape.txt": "fails: behind a symlink that leads out"}
	h.opts.Rollback = true
	h.opts.ProgressDeadline = time.Minute
	rep, _ := h.apply(fileDocs(v2))
	if rep.RolledBack == nil || !strings.Contains(rep.RolledBack.Reason, "out-escape-txt") {
		t.Fatalf("report %+v; want a rollback naming the failed resource", rep)
	}
	if diff := cmp.Diff(before, h.tree()); diff != "" {
		t.Errorf("tree after rollback (-before +after):\n%s", diff)
	}
	revs, err := h.st.ListRevisions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]store.RevisionState{}
	for _, r := range revs {
		states[r.Hash] = r.State
	}
	if states[rep.RolledBack.From] != store.RevisionFailed || states[rep.RolledBack.To] != store.RevisionConverged {
		t.Errorf("states %v; want the new revision failed and the old one converged", states)
	}
	if lkg, _ := store.LastKnownGood(revs); lkg.Hash != rep.RolledBack.To {
		t.Errorf("last known good = %s; want %s", lkg.Hash, rep.RolledBack.To)
	}
	if target, _ := h.st.Target(context.Background()); target != rep.RolledBack.To {
		t.Errorf("target = %s; want the rolled-back-to revision", target)
	}
	if len(h.events("RollingBack")) != 1 || len(h.events("RevisionFailed")) != 1 {
		t.Errorf("events: RollingBack %d, RevisionFailed %d; want 1 each", len(h.events("RollingBack")), len(h.events("RevisionFailed")))
	}
}

// A revision that does not converge within its progress deadline is
// rolled back too.
func TestRollbackOnProgressDeadline(t *testing.T) {
	h := newFileHarness(t)
	h.mustConverge(fileDocs(map[string]string{"a.txt": "a1"}))
	before := h.tree()
	h.opts.Rollback = true
	h.opts.ProgressDeadline = 200 * time.Millisecond
	// Its parent directory never appears: retryable errors, forever.
	rep, _ := h.apply(fileDocs(map[string]string{"a.txt": "a2", "nodir/b.txt": "b"}))
	if rep.RolledBack == nil || !strings.Contains(rep.RolledBack.Reason, "progress deadline") {
		t.Fatalf("report %+v; want a rollback for the deadline", rep)
	}
	if diff := cmp.Diff(before, h.tree()); diff != "" {
		t.Errorf("tree after rollback (-before +after):\n%s", diff)
	}
}

// Without a revision that converged before, a failing revision is marked
// failed and stays the target.
func TestRollbackWithNothingToRollBackTo(t *testing.T) {
	h := newFileHarness(t)
	if err := os.Symlink(t.TempDir(), filepath.Join(h.root, "out")); err != nil {
		t.Fatal(err)
	}
	h.opts.Rollback = true
	rep, _ := h.apply(fileDocs(map[string]string{"a.txt": "a", "out/b.txt": "b"}))
	if rep.RolledBack != nil || rep.OK() {
		t.Fatalf("report %+v; want a failure and no rollback", rep)
	}
	if len(h.events("RollbackImpossible")) != 1 {
		t.Errorf("want a RollbackImpossible event")
	}
}

// A revision that converged before is never rolled back for trouble that
// came after (here a conflict: someone put a directory where a file was).
func TestProvenRevisionIsNotRolledBack(t *testing.T) {
	h := newFileHarness(t)
	h.mustConverge(fileDocs(map[string]string{"a.txt": "a1"}))
	v2 := fileDocs(map[string]string{"a.txt": "a2", "b.txt": "b2"})
	h.mustConverge(v2)
	if err := os.Remove(filepath.Join(h.root, "b.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(h.root, "b.txt"), 0o755); err != nil {
		t.Fatal(err)
	}
	h.opts.Rollback = true
	h.opts.ProgressDeadline = time.Minute
	rep, _ := h.apply(v2)
	if rep.RolledBack != nil || rep.OK() {
		t.Fatalf("report %+v; want a failure reported and no rollback", rep)
	}
	revs, _ := h.st.ListRevisions(context.Background())
	for _, r := range revs {
		if r.State == store.RevisionFailed || r.State == store.RevisionRolledBack {
			t.Errorf("revision %s is %s; want neither failed nor rolled back", r.Hash[:8], r.State)
		}
	}
	if lkg, _ := store.LastKnownGood(revs); lkg.Hash != revs[len(revs)-1].Hash {
		t.Errorf("last known good = %s; want the proven v2", lkg.Hash[:8])
	}
	if h.tree()["a.txt"] != "a2" {
		t.Errorf("a.txt = %q; want a2 (no rollback)", h.tree()["a.txt"])
	}
}
