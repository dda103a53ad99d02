package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/convergehq/converge/plan"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/store"
)

// call runs one provider call under the provider's limits and timeout.
// Waiting for limits stops when ctx is done; a call that started is not
// cancelled by ctx (a shutdown lets it finish) but by its timeout, by
// ctx's deadline when it has one (apply --timeout bounds the calls in
// flight too), or by the node's deadline (Options.CallDeadline). Once the
// limits let it go, a mutating call starts only if the engine still owns
// the resource and the node's deadline has not passed; otherwise it
// returns errNotOwned, having called nothing.
//
// call reads the real clock, not Options.Clock, on purpose: the deadlines
// it is bound by (the contexts', the node's lease) are real time, a fake
// clock must never stretch a lease, and the metrics it reports measure
// how long a call really took. What the engine records and schedules
// (LastReconcile, NextRetry, resync, backoff) follows Options.Clock.
func (e *Engine) call(ctx context.Context, s snapshot, fn func(context.Context) error, counter *int64) (err error) {
	began := time.Now()
	release, err := s.limiter.Acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	if !e.mayCall(s.in.ID, e.opOf(counter) != OpObserve) {
		return fmt.Errorf("%s %s: %w", e.opOf(counter), s.in.ID, errNotOwned)
	}
	called := time.Now()
	defer func() { e.measureCall(s, counter, began, called, err) }()
	e.callStarted(s.in.ID, e.opOf(counter), called)
	defer e.callEnded(s.in.ID)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	if dl, ok := ctx.Deadline(); ok {
		var cancelDeadline context.CancelFunc
		cctx, cancelDeadline = context.WithDeadline(cctx, dl)
		defer cancelDeadline()
	}
	cctx, stopLease := e.withinDeadline(cctx)
	defer stopLease()
	atomic.AddInt64(counter, 1)
	err = fn(cctx)
	if err == nil && !e.opts.FixedRate {
		s.limiter.Recover()
	}
	if err != nil && errors.Is(context.Cause(cctx), errLeaseDeadline) {
		return fmt.Errorf("%w (%w)", err, errLeaseDeadline)
	}
	if err != nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
		switch {
		case ctx.Err() != nil || deadlinePassed(ctx):
			// The call's own context may be done a moment before ctx,
			// when both end at ctx's deadline.
			err = fmt.Errorf("%w (%w)", err, errRunDeadline)
		case !errors.Is(err, context.DeadlineExceeded):
			err = fmt.Errorf("%w (timed out after %s)", err, s.timeout)
		}
	}
	return err
}

// deadlinePassed reports whether ctx has a deadline, and it passed.
func deadlinePassed(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// errRunDeadline marks a call stopped by the deadline of the whole run
// (apply --timeout), not by its own timeout.
var errRunDeadline = errors.New("stopped: the run's deadline passed")

// intend records op as pending before the provider is called, so that a
// crash at any later point is followed by a retry of the same logical
// operation with the same idempotency key.
func (e *Engine) intend(ctx context.Context, s snapshot, op store.Op, phase store.Phase) (*store.Record, error) {
	r := e.base(s.in)
	hash := ""
	if s.in.Desired != nil {
		hash = s.in.Desired.Hash
	}
	if r.InterruptedCreate() && op != store.OpCreate {
		// An interrupted create left an object behind: it is converge's.
		// Its outcome was never recorded, so what identifies it (the remote
		// ID) is what the observation found, not the record's nothing.
		r.Origin = store.OriginCreated
		if obs := s.in.Observed; len(r.Private) == 0 && obs != nil && obs.Exists {
			r.Private, r.Outputs = obs.Private, obs.Outputs
			if r.AppliedSpec == nil {
				r.AppliedSpec = provider.CanonicalMap(obs.State)
			}
		}
	}
	if r.Pending == nil || r.Pending.Op != op || r.Pending.SpecHash != hash {
		spec := s.in.Spec // never modified in place: shared
		if spec == nil && r.Pending != nil {
			spec = r.Pending.Spec // a delete of an interrupted create
		}
		r.Pending = &store.Operation{Op: op, Key: newKey(), SpecHash: hash, Spec: spec, Started: e.opts.Clock.Now()}
	}
	r.Phase = phase
	r.Message = ""
	if err := e.putRecordSync(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

func (e *Engine) request(s snapshot, r *store.Record) provider.Request {
	req := provider.Request{ID: s.in.ID, Kind: s.in.Kind, Name: s.in.Name, Spec: s.in.Spec, Outputs: r.Outputs, Private: r.Private, Planned: s.in.Planned}
	if r.Pending != nil {
		req.IdempotencyKey = r.Pending.Key
	}
	return req
}

// createObject asks the provider for a new object with the desired spec
// and the intent's idempotency key.
func (e *Engine) createObject(ctx context.Context, s snapshot, r *store.Record) (provider.Result, error) {
	req := e.request(s, r)
	req.Outputs, req.Private = nil, nil
	var res provider.Result
	err := e.call(ctx, s, func(ctx context.Context) error {
		var err error
		res, err = s.provider.Create(ctx, req)
		return err
	}, &e.stats.Creates)
	return res, err
}

// partial records the object a failed create made in part (res.Private
// names it), durably, before the failure is recorded: the object is
// converge's, and the retry observes it through Private and updates or
// deletes it rather than creating another. The create stays pending, so
// its spec is what a delete gets.
func (e *Engine) partial(ctx context.Context, r *store.Record, res provider.Result) {
	r.Origin = store.OriginCreated
	r.Private, r.Outputs = res.Private, res.Outputs
	if err := e.putRecordSync(ctx, r); err != nil {
		e.log.Error("save the object a failed create made", "resource", r.ID, "err", err)
	}
}

func (e *Engine) create(ctx context.Context, s snapshot, a plan.Action) result {
	r, err := e.intend(ctx, s, store.OpCreate, store.PhaseCreating)
	if err != nil {
		return e.fail(ctx, s, err, stepCreate)
	}
	res, err := e.createObject(ctx, s, r)
	if err != nil {
		if len(res.Private) > 0 {
			e.partial(ctx, r, res)
		}
		return e.fail(ctx, s, err, stepCreate)
	}
	r.Origin = store.OriginCreated
	e.applied(r, s, res.Outputs, res.Private)
	if res.NotReady != "" {
		r.Phase = store.PhaseCreating
		r.Message = "not ready: " + res.NotReady
	}
	if err := e.putRecord(ctx, r); err != nil {
		return e.fail(ctx, s, err, stepCreate)
	}
	switch {
	case res.NotReady != "":
		// Made, not usable yet: "created" is said once it is ready.
		e.event(ctx, s.in.ID, store.Normal, store.ReasonAccepted, "accepted, provisioning: "+res.NotReady)
	case a.Drift:
		e.event(ctx, s.in.ID, store.Normal, store.ReasonDriftCorrected, "recreated after it was deleted out of band")
	default:
		e.event(ctx, s.in.ID, store.Normal, store.ReasonCreated, "created")
	}
	return e.becameReady(s, res.NotReady, r)
}

func (e *Engine) update(ctx context.Context, s snapshot, a plan.Action) result {
	r, err := e.intend(ctx, s, store.OpUpdate, store.PhaseUpdating)
	if err != nil {
		return e.fail(ctx, s, err, stepUpdate)
	}
	req := e.request(s, r)
	var res provider.Result
	if err := e.call(ctx, s, func(ctx context.Context) error {
		var err error
		res, err = s.provider.Update(ctx, req)
		return err
	}, &e.stats.Updates); err != nil {
		if len(res.Private) > 0 {
			// Changed in part, perhaps into another object: the retry
			// finds it where the provider says it is now.
			r.Private = res.Private
			if res.Outputs != nil {
				r.Outputs = res.Outputs
			}
			if err := e.putRecordSync(ctx, r); err != nil {
				e.log.Error("save the object a failed update changed", "resource", r.ID, "err", err)
			}
		}
		return e.fail(ctx, s, err, stepUpdate)
	}
	e.applied(r, s, res.Outputs, res.Private)
	if res.NotReady != "" {
		r.Phase = store.PhaseUpdating
		r.Message = "not ready: " + res.NotReady
	}
	if err := e.putRecord(ctx, r); err != nil {
		return e.fail(ctx, s, err, stepUpdate)
	}
	if a.Drift {
		e.event(ctx, s.in.ID, store.Normal, store.ReasonDriftCorrected, "corrected: "+formatDiff(a.Diff))
	} else {
		e.event(ctx, s.in.ID, store.Normal, store.ReasonUpdated, "updated: "+formatDiff(a.Diff))
	}
	return e.becameReady(s, res.NotReady, r)
}

// replace swaps the object for a new one. By default the old object is
// deleted first; kinds that declare CreateBeforeDestroy get the new object
// first and the old one is deleted once the dependents moved to the new one.
func (e *Engine) replace(ctx context.Context, s snapshot, a plan.Action) result {
	r, err := e.intend(ctx, s, store.OpReplace, store.PhaseReplacing)
	if err != nil {
		return e.fail(ctx, s, err, stepReplace)
	}
	old := store.Instance{Spec: r.AppliedSpec, Outputs: r.Outputs, Private: r.Private}
	// Create first when the kind says so, always or when other resources
	// depend on this one (they must move to the new object before the old
	// one can go: an API refuses to delete what is still referenced).
	// Otherwise delete first, so that no two objects ever share a name.
	createFirst := s.in.Schema.CreateBeforeDestroy || (s.in.Schema.CreateBeforeDestroyIfDepended && len(s.dependents) > 0)
	if !createFirst && r.AppliedSpec != nil {
		del := provider.Request{ID: s.in.ID, Kind: s.in.Kind, Name: s.in.Name, Spec: old.Spec, Outputs: old.Outputs, Private: old.Private, IdempotencyKey: r.Pending.Key}
		if err := e.call(ctx, s, func(ctx context.Context) error { return s.provider.Delete(ctx, del) }, &e.stats.Deletes); err != nil {
			return e.fail(ctx, s, err, stepReplaceDeleteOld)
		}
		// The old object is gone: from now on a crash must lead to a create.
		r.AppliedSpec, r.Outputs, r.Private = nil, nil, nil
		if err := e.putRecordSync(ctx, r); err != nil {
			return e.fail(ctx, s, err, stepReplace)
		}
	}
	res, err := e.createObject(ctx, s, r)
	if err != nil {
		if len(res.Private) > 0 {
			// The new object was made in part. With the old one still
			// there, that one is kept to be deleted as a replaced object;
			// the retry updates the new one rather than making another.
			if createFirst && old.Spec != nil && !sameObject(old.Private, res.Private) {
				r.Deposed = append(r.Deposed, old)
			}
			r.AppliedSpec = nil
			e.partial(ctx, r, res)
		}
		return e.fail(ctx, s, err, stepReplaceCreateNew)
	}
	if createFirst && old.Spec != nil && !sameObject(old.Private, res.Private) {
		r.Deposed = append(r.Deposed, old)
	}
	r.Origin = store.OriginCreated
	e.applied(r, s, res.Outputs, res.Private)
	if res.NotReady != "" {
		r.Phase = store.PhaseReplacing
		r.Message = "not ready: " + res.NotReady
	}
	if err := e.putRecord(ctx, r); err != nil {
		return e.fail(ctx, s, err, stepReplace)
	}
	e.event(ctx, s.in.ID, store.Normal, store.ReasonReplaced, "replaced: "+formatDiff(a.Diff))
	return e.becameReady(s, res.NotReady, r)
}

// delete removes the resource's object (and any replaced ones), or only the
// replaced ones when a.Deposed.
func (e *Engine) delete(ctx context.Context, s snapshot, a plan.Action) result {
	op, phase := store.OpDelete, store.PhaseDeleting
	if a.Deposed {
		// Only the replaced object goes: the resource stays as it is.
		op, phase = store.OpDeleteDeposed, store.PhaseReady
		if s.in.Record != nil {
			phase = s.in.Record.Phase
		}
	}
	r, err := e.intend(ctx, s, op, phase)
	if err != nil {
		return e.fail(ctx, s, err, stepDelete)
	}
	for len(r.Deposed) > 0 {
		d := r.Deposed[0]
		if sameObject(d.Private, r.Private) {
			// The provider handed back the very object (it adopted it by
			// name): it is not an old one to delete.
			r.Deposed = r.Deposed[1:]
			continue
		}
		req := provider.Request{ID: s.in.ID, Kind: s.in.Kind, Name: s.in.Name, Spec: d.Spec, Outputs: d.Outputs, Private: d.Private, IdempotencyKey: r.Pending.Key}
		if err := e.call(ctx, s, func(ctx context.Context) error { return s.provider.Delete(ctx, req) }, &e.stats.Deletes); err != nil {
			return e.fail(ctx, s, err, stepDeleteReplaced)
		}
		r.Deposed = r.Deposed[1:]
		if err := e.putRecord(ctx, r); err != nil {
			return e.fail(ctx, s, err, stepDelete)
		}
	}
	if a.Deposed {
		r.Pending = nil
		r.Phase = store.PhaseReady
		if err := e.putRecord(ctx, r); err != nil {
			return e.fail(ctx, s, err, stepDelete)
		}
		e.event(ctx, s.in.ID, store.Normal, store.ReasonDeletedReplaced, "deleted the object it replaced")
		return e.becameReady(s, "", r)
	}
	if s.in.Observed == nil || s.in.Observed.Exists {
		req := provider.Request{ID: s.in.ID, Kind: s.in.Kind, Name: s.in.Name, Spec: r.AppliedSpec, Outputs: r.Outputs, Private: r.Private, IdempotencyKey: r.Pending.Key}
		if req.Spec == nil {
			req.Spec = r.Pending.Spec
		}
		if err := e.call(ctx, s, func(ctx context.Context) error { return s.provider.Delete(ctx, req) }, &e.stats.Deletes); err != nil {
			return e.fail(ctx, s, err, stepDelete)
		}
	}
	if err := e.deleteRecord(ctx, s.in.ID); err != nil {
		return e.fail(ctx, s, err, stepDelete)
	}
	msg := "deleted: " + a.Reason
	if s.in.Destroy {
		msg = "deleted (destroy)"
	}
	e.event(ctx, s.in.ID, store.Normal, store.ReasonDeleted, msg)
	e.wakeDeps(r)
	return result{}
}

// fail records err on the resource, per its class, and reports it to the
// worker, which decides when to retry ([Engine.next]).
func (e *Engine) fail(ctx context.Context, s snapshot, err error, op step) result {
	id := s.in.ID
	class, _ := provider.Classify(err)
	switch {
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		// Shutting down while waiting for limits: nothing happened.
		return result{}
	case errors.Is(err, store.ErrFenced):
		return result{} // nothing can be written, nor should be done
	case errors.Is(err, errNotOwned):
		// Nothing was called, and the resource may be another node's
		// now: nothing to record ([Engine.next] looks again later).
		return failed(err, s)
	case errors.Is(err, store.ErrConflict):
		// Another writer changed the record first; it was read again, and
		// the retry starts from it. There is no failure to record.
		return failed(err, s)
	}
	// Read the freshest record: the failing step may have written one.
	e.mu.Lock()
	cur := cloneRecord(e.records[id])
	e.mu.Unlock()
	in := s.in
	in.Record = cur
	r := e.base(in)
	r.Attempts++
	if r.Pending != nil && r.Pending.Op == store.OpCreate && op != stepAdopt {
		// Whether this create may have taken effect decides how soon the
		// next one may go (see pendingAmbiguousCreate). (A refusal to
		// adopt, or to create again after an interrupted create, made no
		// call: the create's outcome stays unknown.)
		r.Pending.Ambiguous = provider.IsAmbiguous(err) || errors.Is(err, errLeaseDeadline)
		r.Pending.Attempted = e.opts.Clock.Now()
	}
	if errors.Is(err, errRunDeadline) {
		// The run ended with the call in flight: it may have taken
		// effect, and the next run observes first. What the resource
		// last failed with, if anything, stays the news.
		if r.Pending != nil && r.Pending.Op == store.OpCreate {
			r.Pending.Ambiguous = true
		}
		if r.LastError == "" {
			r.LastError = string(op) + ": " + errRunDeadline.Error()
		}
		r.Message = r.LastError    // the intent cleared it
		r.Phase = store.PhaseError // not in progress any more
		r.LastReconcile = e.opts.Clock.Now()
		if err := e.putRecord(ctx, r); err != nil {
			e.log.Error("save", "resource", id, "err", err)
		}
		return result{}
	}
	r.LastError = e.clean(err.Error())
	if !provider.Named(err) {
		r.LastError = string(op) + ": " + r.LastError
	}
	r.ErrorClass = class
	r.LastReconcile = e.opts.Clock.Now()
	r.NextRetry = time.Time{} // the worker writes it when it schedules the retry
	reason := store.ReasonFailed
	switch class {
	case provider.ClassTerminal, provider.ClassConflict:
		r.Phase = store.PhaseFailed
		if s.in.Desired != nil {
			r.FailedHash = s.in.Desired.Hash
		} else {
			r.FailedHash = removedHash(s.revision)
		}
		if class == provider.ClassConflict {
			reason = store.ReasonConflict
		}
	case provider.ClassRateLimited:
		r.Phase = store.PhaseError
		reason = store.ReasonRateLimited
	default:
		r.Phase = store.PhaseError
		reason = store.ReasonRetrying
	}
	r.Message = r.LastError
	r.SetCondition(store.Condition{Type: store.ConditionReady, Status: store.ConditionFalse, Reason: reason, Message: r.LastError, LastTransitionTime: r.LastReconcile})
	e.event(ctx, id, store.Warning, reason, r.LastError)
	if r.Phase == store.PhaseFailed && (cur == nil || cur.Phase != store.PhaseFailed || cur.LastError != r.LastError) {
		e.alert("failure", reason, id, s.in.Kind, r.LastError, nil)
	}
	if perr := e.putRecord(ctx, r); perr != nil {
		e.log.Error("save failure", "resource", id, "err", perr)
		return failed(perr, s)
	}
	if cur == nil || cur.Phase != r.Phase {
		// Dependents say what they wait for: let them say it again.
		for _, d := range s.dependents {
			e.enqueue(d)
		}
	}
	return failed(err, s)
}

// summarize is used by reports: the first line of a long error.
func summarize(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// removedHash is the FailedHash of a resource that failed terminally while
// leaving the manifests: it is retried when the desired set changes.
func removedHash(revision string) string { return "removed:" + revision }

// sameObject reports whether two private states name one remote object.
func sameObject(a, b map[string]string) bool {
	return len(a) > 0 && a["id"] != "" && a["id"] == b["id"]
}
