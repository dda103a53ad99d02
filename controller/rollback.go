package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/convergehq/converge/store"
)

// A rollback by hand (converge rollback, the API's POST rollback) makes
// several writes: the intent, the revision it rolls back from marked
// rolled back, an event, the target. It records its intent first, in the
// state's settings (store.Meta), so that one interrupted between them (a
// crash, an interrupt, a timeout, a dropped connection) and repeated
// resumes with the same revision, rather than deciding afresh: the target
// may already be the revision it chose, and the last known good one other
// than the target would then be the revision before it.

// metaRollback is the state's setting that holds the rollback by hand in
// progress, a RollbackIntent in JSON.
const metaRollback = "rollback"

// RollbackIntent is a rollback by hand from the target From (empty: none)
// to the revision To, decided at At.
type RollbackIntent struct {
	From string    `json:"from,omitempty"`
	To   string    `json:"to"`
	At   time.Time `json:"at"`
}

// Pending says whether the rollback is still to finish, the recorded
// revisions being revs and the target cur: nothing else was targeted
// since (cur is From or To) and To has not converged since At. It returns
// To's revision when pending.
func (in RollbackIntent) Pending(revs []store.Revision, cur string) (store.Revision, bool) {
	if in.To == "" || (cur != in.From && cur != in.To) {
		return store.Revision{}, false
	}
	i := slices.IndexFunc(revs, func(r store.Revision) bool { return r.Hash == in.To })
	if i < 0 || revs[i].Converged.After(in.At) {
		return store.Revision{}, false
	}
	return revs[i], true
}

// RecordRollback records in as the rollback in progress in m; the write
// is durable when it returns. Record it before the rollback's first other
// write.
func RecordRollback(ctx context.Context, m store.Meta, in RollbackIntent) error {
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("record the rollback: %w", err)
	}
	if err := m.SetMeta(ctx, metaRollback, string(b)); err != nil {
		return fmt.Errorf("record the rollback: %w", err)
	}
	return nil
}

// PendingRollback returns the rollback recorded in m when it is still
// pending (see RollbackIntent.Pending), with its revision. None recorded,
// or one that does not parse, is not pending; a state that does not
// answer is an error.
func PendingRollback(ctx context.Context, m store.Meta, revs []store.Revision, cur string) (RollbackIntent, store.Revision, bool, error) {
	v, err := m.GetMeta(ctx, metaRollback)
	if errors.Is(err, store.ErrNotFound) {
		return RollbackIntent{}, store.Revision{}, false, nil
	}
	if err != nil {
		return RollbackIntent{}, store.Revision{}, false, fmt.Errorf("read the rollback in progress: %w", err)
	}
	var in RollbackIntent
	if json.Unmarshal([]byte(v), &in) != nil {
		return RollbackIntent{}, store.Revision{}, false, nil
	}
	r, ok := in.Pending(revs, cur)
	if !ok {
		return RollbackIntent{}, store.Revision{}, false, nil
	}
	return in, r, true, nil
}

// RollbackChoice is the revision a rollback by hand targets.
type RollbackChoice struct {
	// To is the revision to target.
	To store.Revision
	// From is the target it rolls back from; empty when there was none.
	From string
	// Resumed says that it is a recorded rollback still pending (see
	// RollbackIntent), resumed rather than decided afresh.
	Resumed bool
	// Target is the target the choice was made against (empty: none):
	// SetTarget writes only while it still is.
	Target string
}

// ChooseRollback chooses the revision a rollback by hand targets, prefix
// naming it (a hash prefix of 4 characters at least; empty: the last
// known good one other than the target): the pending rollback recorded in
// st, when there is one and prefix names no other revision; else the one
// RollbackTarget chooses. converge rollback and the API's POST rollback
// both choose with it, then call Record before any other write.
func ChooseRollback(ctx context.Context, st store.Store, prefix string) (RollbackChoice, error) {
	revs, err := st.ListRevisions(ctx)
	if err != nil {
		return RollbackChoice{}, err
	}
	cur, err := st.Target(ctx)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return RollbackChoice{}, err
	}
	if m, ok := st.(store.Meta); ok {
		in, r, pending, err := PendingRollback(ctx, m, revs, cur)
		if err != nil {
			return RollbackChoice{}, err
		}
		if pending && (prefix == "" || (len(prefix) >= 4 && strings.HasPrefix(in.To, prefix))) {
			return RollbackChoice{To: r, From: in.From, Resumed: true, Target: cur}, nil
		}
	}
	to, err := RollbackTarget(revs, cur, prefix)
	if err != nil {
		return RollbackChoice{}, err
	}
	return RollbackChoice{To: to, From: cur, Target: cur}, nil
}

// Record records the rollback c in st, decided at now, unless it is
// resumed (recorded already) or st keeps no settings.
func (c RollbackChoice) Record(ctx context.Context, st store.Store, now time.Time) error {
	m, ok := st.(store.Meta)
	if c.Resumed || !ok {
		return nil
	}
	return RecordRollback(ctx, m, RollbackIntent{From: c.From, To: c.To.Hash, At: now})
}

// SetTarget makes c.To the target of st if the target is still c.Target,
// the one the choice was made against, checked and written in one step
// (store.ConditionalTargetStore; a store without that ability is written
// unconditionally). When another writer moved the target meanwhile (a
// daemon that loaded new manifests, another rollback), nothing is written
// and the error is a *TargetMovedError, matching ErrConflict: the choice
// is stale, and a rollback asked again chooses against the new target.
func (c RollbackChoice) SetTarget(ctx context.Context, st store.Store) error {
	cs, ok := st.(store.ConditionalTargetStore)
	if !ok {
		return st.SetTarget(ctx, c.To.Hash)
	}
	err := cs.SetTargetFrom(ctx, c.Target, c.To.Hash, store.Fence{})
	var ce *store.TargetConflictError
	if errors.As(err, &ce) {
		return &TargetMovedError{To: c.To.Hash, Was: c.Target, Now: ce.Got}
	}
	return err
}

// TargetMovedError is the error of a rollback by hand whose target write
// lost a race: the target moved from Was to Now after the rollback chose
// To against Was. It matches ErrConflict and store.ErrConflict.
type TargetMovedError struct {
	To, Was, Now string // revision hashes; empty: no target
}

func (e *TargetMovedError) Error() string {
	name := func(h string) string {
		if h == "" {
			return "none"
		}
		return "revision " + short(h)
	}
	return fmt.Sprintf("roll back to revision %s: the target changed from %s to %s meanwhile, and was left there", short(e.To), name(e.Was), name(e.Now))
}

// Unwrap makes the error match ErrConflict and store.ErrConflict.
func (e *TargetMovedError) Unwrap() []error { return []error{ErrConflict, store.ErrConflict} }

// RollbackTarget chooses the revision a rollback targets, among the
// recorded revs, the current target being cur: the one whose hash starts
// with prefix (4 characters at least), or, when prefix is empty, the last
// known good revision other than cur. Errors match ErrInvalid (a prefix
// too short or ambiguous), store.ErrNotFound (no such revision) or
// ErrConflict (already the target; nothing converged to roll back to).
// It decides afresh: ChooseRollback resumes a rollback in progress first.
func RollbackTarget(revs []store.Revision, cur, prefix string) (store.Revision, error) {
	if prefix == "" {
		others := slices.DeleteFunc(slices.Clone(revs), func(r store.Revision) bool { return r.Hash == cur })
		lkg, ok := store.LastKnownGood(others)
		if !ok {
			return store.Revision{}, refuse(ErrConflict, "no earlier revision converged: nothing to roll back to")
		}
		return lkg, nil
	}
	views := make([]RevisionView, len(revs))
	for i, r := range revs {
		views[i] = RevisionView{Hash: r.Hash}
	}
	v, err := pick(views, prefix)
	if err != nil {
		return store.Revision{}, err
	}
	if v.Hash == cur {
		return store.Revision{}, refuse(ErrConflict, "revision %s is already the target", short(cur))
	}
	for _, r := range revs {
		if r.Hash == v.Hash {
			return r, nil
		}
	}
	return store.Revision{}, refuse(store.ErrNotFound, "revision %q: no such revision", prefix)
}
