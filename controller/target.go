package controller

import (
	"context"
	"errors"
	"fmt"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/store"
)

// Stays reports whether converge stays off a revision in state prev
// (rather than target it again) while the manifests are at it: one rolled
// back from, always; one that failed, only with automatic rollback (with
// rollback off, converging the manifests again retries it). It is the one
// rule ChooseTarget, the daemon and status follow.
func Stays(prev store.Revision, rollbackAuto bool) bool {
	return prev.State == store.RevisionRolledBack || (rollbackAuto && prev.State == store.RevisionFailed)
}

// ChooseTarget decides which revision to converge given the manifests'
// revision rv: rv itself, unless Stays says converge stays off it; then
// the stored target stays until the manifests change. note says why, for
// people.
func ChooseTarget(ctx context.Context, st store.Store, rv *manifest.Revision, rollbackAuto bool) (*manifest.Revision, string, error) {
	prev, err := st.GetRevision(ctx, rv.Hash)
	if errors.Is(err, store.ErrNotFound) {
		return rv, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	if !Stays(prev, rollbackAuto) {
		return rv, "", nil
	}
	target, err := st.Target(ctx)
	if err != nil || target == rv.Hash {
		return rv, "", nil
	}
	tr, err := st.GetRevision(ctx, target)
	if err != nil {
		return nil, "", err
	}
	back, err := engine.RevisionFromStore(tr)
	if err != nil {
		return nil, "", err
	}
	note := fmt.Sprintf("the manifests are at revision %s, which was %s (%s); staying on revision %s until the manifests change",
		short(rv.Hash), prev.State, prev.Reason, short(target))
	return back, note, nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
