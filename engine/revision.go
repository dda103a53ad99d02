package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/store"
)

// Progress is where the target revision stands.
type Progress struct {
	Revision  string
	Converged bool
	// Failed names the reason the revision cannot converge without a change
	// of the manifests: a resource failed terminally, or was refused as a
	// conflict. Empty otherwise.
	Failed string
	// Since is when the revision became the target.
	Since time.Time
}

// TargetSince returns the target revision's hash ("" for none) and when it
// became the target: what Progress says of them, without its pass over
// every resource.
func (e *Engine) TargetSince() (string, time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return rvHash(e.target), e.targetSince
}

// Progress reports how far the target revision got. It reads memory only.
func (e *Engine) Progress() Progress {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := Progress{Revision: rvHash(e.target), Since: e.targetSince}
	if e.target == nil {
		return p
	}
	var failed []string
	converged := true
	for _, r := range e.target.Resources {
		rec := e.records[r.ID]
		if _, ok := e.readyLocked(r.ID); !ok {
			converged = false
		}
		if rec != nil && rec.Phase == store.PhaseFailed && rec.FailedHash == r.Hash &&
			rec.ErrorClass.Blocks() {
			failed = append(failed, r.ID+": "+summarize(rec.LastError))
		}
	}
	if converged {
		for id := range e.records {
			if _, ok := e.target.Get(id); !ok {
				converged = false // a removed resource is not deleted yet
				break
			}
		}
	}
	p.Converged = converged && len(failed) == 0
	if len(failed) > 0 {
		sort.Strings(failed)
		more := ""
		if len(failed) > 3 {
			more = fmt.Sprintf(" (and %d more)", len(failed)-3)
			failed = failed[:3]
		}
		p.Failed = strings.Join(failed, "; ") + more
	}
	return p
}

// MarkConverged records that the target revision converged now: it becomes
// the last known good one.
func (e *Engine) MarkConverged(ctx context.Context) error {
	hash := e.targetHash()
	if hash == "" || e.opts.DryRun {
		return nil
	}
	r, err := e.store.GetRevision(ctx, hash)
	if err != nil {
		return fmt.Errorf("mark revision converged: %w", err)
	}
	if r.State == store.RevisionConverged && !r.Converged.IsZero() {
		return nil
	}
	r.State, r.Reason, r.Converged = store.RevisionConverged, "", e.opts.Clock.Now()
	if err := e.store.PutRevision(ctx, r); err != nil {
		return fmt.Errorf("mark revision converged: %w", err)
	}
	e.event(ctx, "", store.Normal, store.ReasonRevisionConverged, "revision "+short(hash)+" converged; it is the last known good revision")
	return nil
}

// Proven reports whether the revision converged at some point. A proven
// revision is never failed or rolled back automatically: trouble after it
// converged (drift, a conflict) is not a failure of the revision.
func (e *Engine) Proven(ctx context.Context, hash string) bool {
	r, err := e.store.GetRevision(ctx, hash)
	return err == nil && !r.Converged.IsZero()
}

// ErrNoKnownGood is returned by Rollback when no earlier revision converged.
var ErrNoKnownGood = errors.New("no earlier revision converged: nothing to roll back to")

// KnownGood returns the last known good revision other than the target,
// decoded.
func (e *Engine) KnownGood(ctx context.Context) (*manifest.Revision, store.Revision, error) {
	revs, err := e.store.ListRevisions(ctx)
	if err != nil {
		return nil, store.Revision{}, err
	}
	cur := e.targetHash()
	var candidates []store.Revision
	for _, r := range revs {
		if r.Hash != cur {
			candidates = append(candidates, r)
		}
	}
	lkg, ok := store.LastKnownGood(candidates)
	if !ok {
		return nil, store.Revision{}, ErrNoKnownGood
	}
	rv, err := RevisionFromStore(lkg)
	if err != nil {
		return nil, store.Revision{}, err
	}
	return rv, lkg, nil
}

// RevisionFromStore decodes a stored revision's resources.
func RevisionFromStore(r store.Revision) (*manifest.Revision, error) {
	if len(r.Resources) == 0 {
		return nil, fmt.Errorf("revision %s: its resources were not kept", short(r.Hash))
	}
	rv, err := manifest.Unmarshal(r.Resources)
	if err != nil {
		return nil, fmt.Errorf("revision %s: %w", short(r.Hash), err)
	}
	return rv, nil
}

// FailAndRollBack marks the target revision failed with reason and, when
// there is a last known good revision, targets it again: resources only
// the failed revision added are deleted, changed ones return to their
// previous spec, removed ones come back. It returns the revision now
// targeted (nil when there was nothing to roll back to).
func (e *Engine) FailAndRollBack(ctx context.Context, reason string, rollback bool) (*manifest.Revision, error) {
	failed := e.targetHash()
	if failed == "" {
		return nil, nil
	}
	if err := e.setRevisionState(ctx, failed, store.RevisionFailed, reason); err != nil {
		return nil, err
	}
	e.event(ctx, "", store.Warning, store.ReasonRevisionFailed, "revision "+short(failed)+" failed: "+reason)
	e.alert("failure", store.ReasonRevisionFailed, "", "", "revision "+short(failed)+" failed: "+reason, nil)
	if !rollback {
		return nil, nil
	}
	rv, lkg, err := e.KnownGood(ctx)
	if errors.Is(err, ErrNoKnownGood) {
		e.event(ctx, "", store.Warning, store.ReasonRollbackImpossible, "revision "+short(failed)+" failed and no earlier revision converged: nothing to roll back to")
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	msg := fmt.Sprintf("rolling back from revision %s to the last known good revision %s: %s", short(failed), short(lkg.Hash), reason)
	e.event(ctx, "", store.Warning, store.ReasonRollingBack, msg)
	e.alert("rollback", store.ReasonRollingBack, "", "", msg, nil)
	if err := e.SetTarget(ctx, rv); err != nil {
		return nil, err
	}
	return rv, nil
}

func (e *Engine) setRevisionState(ctx context.Context, hash string, state store.RevisionState, reason string) error {
	r, err := e.store.GetRevision(ctx, hash)
	if err != nil {
		return fmt.Errorf("mark revision %s: %w", short(hash), err)
	}
	r.State, r.Reason = state, reason
	if err := e.store.PutRevision(ctx, r); err != nil {
		return fmt.Errorf("mark revision %s: %w", short(hash), err)
	}
	return nil
}

// Outcome is how a converge with a deadline ended.
type Outcome int

// Outcomes of WaitConverged.
const (
	OutcomeConverged Outcome = iota // everything Ready
	OutcomeFailed                   // a resource failed terminally
	OutcomeDeadline                 // not converged by the deadline
	OutcomeIdle                     // nothing left to do, but not converged (retries given up, waits)
	OutcomeStopped                  // ctx done
)

// WaitConverged blocks until the target converged, failed terminally, or
// the deadline passed (zero: no deadline), or ctx is done. Workers must be
// running.
func (e *Engine) WaitConverged(ctx context.Context, deadline time.Time) (Outcome, Progress) {
	for {
		p := e.Progress()
		switch {
		case p.Converged:
			return OutcomeConverged, p
		case p.Failed != "":
			return OutcomeFailed, p
		case !deadline.IsZero() && !e.opts.Clock.Now().Before(deadline):
			return OutcomeDeadline, p
		}
		wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		err := e.WaitIdle(wctx)
		cancel()
		if ctx.Err() != nil {
			return OutcomeStopped, e.Progress()
		}
		if err == nil {
			if p := e.Progress(); p.Converged {
				return OutcomeConverged, p
			} else if p.Failed != "" {
				return OutcomeFailed, p
			}
			return OutcomeIdle, e.Progress()
		}
	}
}
