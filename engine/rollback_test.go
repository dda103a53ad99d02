package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/store"
)

func fileDocs(files map[string]string) string {
	var b strings.Builder
	for name, content := range files {
		fmt.Fprintf(&b, "---\nkind: file.File\nmetadata: {name: %s}\nspec: {path: %q, content: %q}\n", strings.NewReplacer(".", "-", "/", "-").Replace(name), name, content)
	}
	return b.String()
}

// converged applies manifests with a fresh engine and records the revision
// converged, as a judge does.
func (h *fileHarness) converged(manifests string) {
	h.t.Helper()
	e := h.engine()
	ctx := context.Background()
	if rep, err := e.Apply(ctx, h.load(manifests)); err != nil || !rep.OK() {
		h.t.Fatalf("apply: %v, %+v", err, rep)
	}
	if err := e.MarkConverged(ctx); err != nil {
		h.t.Fatal(err)
	}
}

// failAndRollBack applies manifests with a fresh engine and, once the
// revision failed terminally, fails it and rolls back, as a judge does.
func (h *fileHarness) failAndRollBack(manifests string) (Report, *manifest.Revision, error) {
	h.t.Helper()
	e := h.engine()
	var (
		back  *manifest.Revision
		rbErr error
	)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rep, err := e.ApplyUntil(ctx, h.load(manifests), func(ctx context.Context) error {
		for e.Progress().Failed == "" {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			time.Sleep(time.Millisecond)
		}
		reason := e.Progress().Failed
		if err := e.FailRevision(ctx, reason); err != nil {
			return err
		}
		back, rbErr = e.RollBack(ctx, reason)
		return e.WaitIdle(ctx)
	})
	if err != nil {
		h.t.Fatalf("apply: %v", err)
	}
	return rep, back, rbErr
}

// FailRevision and RollBack, after a revision that changes three
// resources and adds two, one of which fails terminally: the tree is
// exactly the previous one, the failed revision is marked failed with
// the reason, the previous one is the target and the last known good one
// again, and each step is one event.
func TestRollBackRestoresThePreviousStateExactly(t *testing.T) {
	h := newFileHarness(t)
	if err := os.Symlink(t.TempDir(), filepath.Join(h.root, "out")); err != nil {
		t.Fatal(err)
	}
	v1 := map[string]string{"a.txt": "a1", "b.txt": "b1", "c.txt": "c1", "d.txt": "d1", "e.txt": "e1"}
	h.converged(fileDocs(v1))
	before := h.tree()

	v2 := map[string]string{"a.txt": "a2", "b.txt": "b2", "c.txt": "c2", "d.txt": "d1", "e.txt": "e1",
		"new.txt": "new", "out/escape.txt": "fails: behind a symlink that leads out"}
	failed := h.load(fileDocs(v2)).Hash
	rep, back, err := h.failAndRollBack(fileDocs(v2))
	if err != nil || back == nil {
		t.Fatalf("RollBack: %v, %v; want the previous revision", back, err)
	}
	if !rep.OK() || rep.Revision != back.Hash {
		t.Errorf("report %+v; want the revision rolled back to, converged", rep)
	}
	if diff := cmp.Diff(before, h.tree()); diff != "" {
		t.Errorf("tree after rollback (-before +after):\n%s", diff)
	}
	revs, err := h.st.ListRevisions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]store.RevisionState{}
	reasons := map[string]string{}
	for _, r := range revs {
		states[r.Hash], reasons[r.Hash] = r.State, r.Reason
	}
	if states[failed] != store.RevisionFailed || !strings.Contains(reasons[failed], "out-escape-txt") {
		t.Errorf("the failed revision: %s (%s); want failed, naming the failed resource", states[failed], reasons[failed])
	}
	if lkg, _ := store.LastKnownGood(revs); lkg.Hash != back.Hash {
		t.Errorf("last known good = %s; want %s", lkg.Hash, back.Hash)
	}
	if target, _ := h.st.Target(context.Background()); target != back.Hash {
		t.Errorf("target = %s; want the rolled-back-to revision", target)
	}
	if len(h.events("RollingBack")) != 1 || len(h.events("RevisionFailed")) != 1 {
		t.Errorf("events: RollingBack %d, RevisionFailed %d; want 1 each", len(h.events("RollingBack")), len(h.events("RevisionFailed")))
	}
}

// Without a revision that converged before, RollBack records
// RollbackImpossible, returns ErrNoKnownGood and leaves the target.
func TestRollBackWithNothingToRollBackTo(t *testing.T) {
	h := newFileHarness(t)
	if err := os.Symlink(t.TempDir(), filepath.Join(h.root, "out")); err != nil {
		t.Fatal(err)
	}
	docs := fileDocs(map[string]string{"a.txt": "a", "out/b.txt": "b"})
	rep, back, err := h.failAndRollBack(docs)
	if !errors.Is(err, ErrNoKnownGood) || back != nil {
		t.Fatalf("RollBack: %v, %v; want ErrNoKnownGood", back, err)
	}
	if rep.OK() || rep.Revision != h.load(docs).Hash {
		t.Errorf("report %+v; want the failing revision, not converged", rep)
	}
	if len(h.events("RollbackImpossible")) != 1 || len(h.events("RevisionFailed")) != 1 {
		t.Errorf("events: RollbackImpossible %d, RevisionFailed %d; want 1 each", len(h.events("RollbackImpossible")), len(h.events("RevisionFailed")))
	}
}

// Apply judges nothing: a revision it converges is not recorded converged,
// and one that fails is not recorded failed.
func TestApplyJudgesNothing(t *testing.T) {
	h := newFileHarness(t)
	if err := os.Symlink(t.TempDir(), filepath.Join(h.root, "out")); err != nil {
		t.Fatal(err)
	}
	if rep, _ := h.apply(fileDocs(map[string]string{"a.txt": "a"})); !rep.OK() {
		t.Fatalf("premise: the first revision converges: %+v", rep)
	}
	if rep, _ := h.apply(fileDocs(map[string]string{"a.txt": "a", "out/b.txt": "b"})); rep.OK() {
		t.Fatalf("premise: the second revision fails: %+v", rep)
	}
	revs, err := h.st.ListRevisions(context.Background())
	if err != nil || len(revs) != 2 {
		t.Fatalf("revisions %v, %v; want 2", revs, err)
	}
	for _, r := range revs {
		if r.State != store.RevisionProgressing || !r.Converged.IsZero() {
			t.Errorf("revision %s: %s, converged %v; want progressing, never converged", r.Hash[:8], r.State, r.Converged)
		}
	}
}
