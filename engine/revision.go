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

// Progress is where the target revision stands: the facts a judge of the
// revision reads (controller.Judge). It decides nothing.
type Progress struct {
	Revision  string
	Converged bool
	// Failed names the reason the revision cannot converge without a change
	// of the manifests: a resource failed terminally, or was refused as a
	// conflict. Empty otherwise.
	Failed string
	// Since is when the revision became the target.
	Since time.Time
	// Idle: nothing is queued, scheduled for a retry or in progress, so
	// the engine does nothing more until something changes (a resync, a
	// notification, a new target). A daemon's engine is idle between
	// resyncs; a converge once that is idle has nothing left to do.
	Idle bool
	// Stuck names, when Idle and not Converged, up to three resources
	// that are not Ready (or that left the manifests and are not deleted),
	// and why.
	Stuck string
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
	p := Progress{Revision: rvHash(e.target), Since: e.targetSince, Idle: len(e.outstanding) == 0}
	if e.target == nil {
		return p
	}
	var failed, stuck []string
	nstuck := 0 // stuck holds the first three only: a daemon idle short of convergence reads this every second
	converged := true
	for _, r := range e.target.Resources {
		rec := e.records[r.ID]
		if _, ok := e.readyLocked(r.ID); !ok {
			converged = false
			if p.Idle {
				if nstuck++; nstuck <= 3 {
					stuck = append(stuck, r.ID+": "+notReadyMessage(rec))
				}
			}
		}
		if rec != nil && rec.Phase == store.PhaseFailed && rec.FailedHash == r.Hash &&
			rec.ErrorClass.Blocks() {
			failed = append(failed, r.ID+": "+summarize(rec.LastError))
		}
	}
	var removed []string
	if converged || p.Idle {
		for id := range e.records {
			if _, ok := e.target.Get(id); !ok {
				converged = false // a removed resource is not deleted yet
				if !p.Idle {
					break
				}
				removed = append(removed, id)
			}
		}
	}
	sort.Strings(removed)
	for _, id := range removed {
		if nstuck++; nstuck <= 3 {
			stuck = append(stuck, id+": not deleted: "+notReadyMessage(e.records[id]))
		}
	}
	p.Converged = converged && len(failed) == 0
	if len(failed) > 0 {
		sort.Strings(failed)
		p.Failed = firstThree(failed)
	}
	if p.Idle && !p.Converged {
		p.Stuck = strings.Join(stuck, "; ")
		if nstuck > 3 {
			p.Stuck += fmt.Sprintf(" (and %d more)", nstuck-3)
		}
	}
	return p
}

// notReadyMessage is why the resource of r is not Ready, as a report
// says it.
func notReadyMessage(r *store.Record) string {
	if r == nil {
		return "not reconciled"
	}
	msg := r.Message
	if msg == "" {
		msg = r.LastError
	}
	if msg == "" {
		msg = string(r.Phase)
	}
	return summarize(msg)
}

// firstThree joins the first three of parts, and says how many more.
func firstThree(parts []string) string {
	more := ""
	if len(parts) > 3 {
		more = fmt.Sprintf(" (and %d more)", len(parts)-3)
		parts = parts[:3]
	}
	return strings.Join(parts, "; ") + more
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

// FailRevision marks the target revision failed with reason, and records
// and alerts it (RevisionFailed). It leaves the target as it is: RollBack
// targets the last known good revision instead. In a dry run it records
// nothing.
func (e *Engine) FailRevision(ctx context.Context, reason string) error {
	failed := e.targetHash()
	if failed == "" || e.opts.DryRun {
		return nil
	}
	if err := e.setRevisionState(ctx, failed, store.RevisionFailed, reason); err != nil {
		return err
	}
	e.event(ctx, "", store.Warning, store.ReasonRevisionFailed, "revision "+short(failed)+" failed: "+reason)
	e.alert("failure", store.ReasonRevisionFailed, "", "", "revision "+short(failed)+" failed: "+reason, nil)
	return nil
}

// RollBack targets the last known good revision other than the target
// again, because of reason (the target's failure): resources only the
// target added are deleted, changed ones return to their previous spec,
// removed ones come back. It records and alerts it (RollingBack) and
// returns the revision now targeted. When no earlier revision converged it
// records RollbackImpossible, leaves the target as it is and returns
// ErrNoKnownGood.
func (e *Engine) RollBack(ctx context.Context, reason string) (*manifest.Revision, error) {
	from := e.targetHash()
	rv, lkg, err := e.KnownGood(ctx)
	if errors.Is(err, ErrNoKnownGood) {
		e.event(ctx, "", store.Warning, store.ReasonRollbackImpossible, "revision "+short(from)+" failed and no earlier revision converged: nothing to roll back to")
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	msg := fmt.Sprintf("rolling back from revision %s to the last known good revision %s: %s", short(from), short(lkg.Hash), reason)
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
