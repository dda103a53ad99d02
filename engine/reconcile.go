package engine

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/convergehq/converge/diff"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/plan"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/queue"
	"github.com/convergehq/converge/store"
)

// snapshot is what one reconcile reads from memory, under the lock, once.
type snapshot struct {
	in       Input
	provider provider.Provider
	limiter  *queue.Limiter
	timeout  time.Duration
	revision string
	// dependents of the resource in the target revision, to enqueue when it
	// becomes Ready.
	dependents []string
	// unresolved names references that could not be resolved although every
	// dependency is Ready.
	unresolved []string
	specErr    error
}

// movedLocked reports whether the desired resource id was applied with
// the spec it resolves to now, against its dependencies' current outputs:
// that it moved to a replaced dependency's new object. Unknown or
// unresolvable counts as not moved.
func (e *Engine) movedLocked(id string) bool {
	desired, ok := e.target.Get(id)
	r := e.records[id]
	if !ok || r == nil || r.AppliedSpec == nil {
		return false
	}
	schema, ok := e.reg.Schema(desired.Kind)
	if !ok {
		return false
	}
	spec, unresolved := manifest.Resolve(desired, schema, func(dep string) (map[string]any, bool) {
		if d := e.records[dep]; d != nil {
			return d.Outputs, true
		}
		return nil, false
	})
	if len(unresolved) > 0 {
		return false
	}
	spec, err := schema.Apply(spec)
	if err != nil || provider.IsUnknown(spec) {
		return false
	}
	return diff.Compute(schema, spec, r.AppliedSpec).Empty()
}

func (e *Engine) snapshot(id string) (snapshot, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var s snapshot
	desired, _ := e.target.Get(id)
	rec := cloneRecord(e.records[id])
	if desired == nil && rec == nil {
		return s, false
	}
	s.revision = rvHash(e.target)
	in := Input{ID: id, Desired: desired, Record: rec, DefaultDrift: e.opts.DefaultDrift, Revision: s.revision, Destroy: e.target == nil, Now: e.opts.Clock.Now()}
	if desired != nil {
		in.Kind, in.Name = desired.Kind, desired.Name
	} else {
		in.Kind, in.Name = rec.Kind, rec.Name
	}
	if desired != nil {
		for _, d := range desired.Deps() {
			if ph, ok := e.readyLocked(d); !ok {
				in.WaitFor = append(in.WaitFor, Dep{ID: d, Phase: ph})
			}
		}
		s.dependents = e.dependents[id]
		if rec != nil && len(rec.Deposed) > 0 {
			// The replaced object goes once every dependent moved to the
			// new one and let go of its own replaced object.
			for _, d := range e.dependents[id] {
				if ph, ok := e.readyLocked(d); !ok {
					in.Dependents = append(in.Dependents, Dep{ID: d, Phase: ph})
				} else if dr := e.records[d]; dr != nil && len(dr.Deposed) > 0 {
					in.Dependents = append(in.Dependents, Dep{ID: d, Phase: store.PhaseDeletingReplaced})
				} else if !e.movedLocked(d) {
					// Ready, but on what it resolved against the replaced
					// object's outputs: its manifest did not change, so its
					// hash says Ready before it looked again.
					in.Dependents = append(in.Dependents, Dep{ID: d, Phase: store.PhasePending})
				}
			}
		}
	} else {
		for d := range e.recDeps[id] {
			r := e.records[d]
			if r.Ours() {
				in.Dependents = append(in.Dependents, Dep{ID: d, Phase: r.Phase})
			}
		}
		sort.Slice(in.Dependents, func(i, j int) bool { return in.Dependents[i].ID < in.Dependents[j].ID })
	}
	if p, ok := e.reg.For(in.Kind); ok {
		s.provider = p
		in.Schema, _ = e.reg.Schema(in.Kind)
		name := p.Name()
		s.limiter = e.limiterLocked(name)
		if g, ok := e.graces[name]; ok {
			in.Schema.ReadAfterWriteGrace = g
		}
		s.timeout = e.timeouts[name]
	}
	if s.timeout == 0 {
		s.timeout = e.opts.CallTimeout
	}
	if desired != nil && len(in.WaitFor) == 0 {
		spec, unresolved := manifest.Resolve(desired, in.Schema, func(dep string) (map[string]any, bool) {
			r := e.records[dep]
			if r == nil {
				return nil, false
			}
			return r.Outputs, true
		})
		s.unresolved = unresolved
		if s.provider != nil {
			in.Spec, s.specErr = in.Schema.Apply(spec)
			e.learn(in.Kind, in.Spec)
		}
	}
	s.in = in
	return s, true
}

// readyLocked reports whether id is Ready on the target revision, and its phase.
func (e *Engine) readyLocked(id string) (store.Phase, bool) {
	r := e.records[id]
	if r == nil {
		return store.PhasePending, false
	}
	want, ok := e.target.Get(id)
	if !ok {
		return r.Phase, false
	}
	// A drifted resource whose policy says only report it still stands:
	// its dependents go on.
	if (r.Phase == store.PhaseReady || r.Phase == store.PhaseDrifted) && r.AppliedHash == want.Hash && (r.Pending == nil || r.Pending.Op == store.OpDeleteDeposed) {
		return r.Phase, true
	}
	if r.Phase == store.PhaseReady {
		return store.PhasePending, false
	}
	return r.Phase, false
}

// reconcile brings one resource one step closer to its desired state.
func (e *Engine) reconcile(ctx context.Context, id string) result {
	if e.shared.fenced.Load() {
		return result{} // another writer holds the right to act now
	}
	if !e.owns(id) {
		return result{} // another node's share
	}
	s, ok := e.snapshot(id)
	if !ok {
		return result{}
	}
	in := s.in
	rid := newKey()[:8]
	ctx = context.WithValue(ctx, reconcileKey{}, rid) // on every line this pass logs
	log := e.log.With("resource", id, "reconcile", rid)
	now := e.opts.Clock.Now()
	rec := in.Record

	if s.provider == nil {
		return e.fail(ctx, s, provider.Terminal(fmt.Errorf("kind %s: %w", in.Kind, errNoProvider)), stepReconcile)
	}
	if s.specErr != nil {
		return e.fail(ctx, s, provider.Terminal(s.specErr), stepResolve)
	}
	if len(in.WaitFor) == 0 && len(s.unresolved) > 0 {
		return e.fail(ctx, s, provider.Terminalf("references not resolvable although %s are Ready: an output is missing", strings.Join(s.unresolved, ", ")), stepResolve)
	}

	// Observe, unless the decision does not depend on it.
	needObserve := len(in.WaitFor) == 0 && !(in.Desired == nil && !rec.Ours())
	if needObserve {
		req := e.observeRequest(in)
		var obs provider.Observation
		err := e.call(ctx, s, func(ctx context.Context) error {
			var err error
			obs, err = s.provider.Observe(ctx, req)
			return err
		}, &e.stats.Observes)
		if err != nil {
			return e.fail(ctx, s, err, stepObserve)
		}
		s.in.Observed = &obs
		if pl, ok := s.provider.(provider.Planner); ok && wantsPlan(s.in) {
			var planned provider.Planned
			err := e.call(ctx, s, func(ctx context.Context) error {
				var err error
				planned, err = pl.PlanChange(ctx, planRequest(s.in))
				return err
			}, &e.stats.Plans)
			if err != nil {
				return e.fail(ctx, s, err, stepPlan)
			}
			s.in.Planned = &planned
		}
		in = s.in
	}

	a := Decide(in)
	log.Debug("decided", "action", a.Type, "reason", a.Reason)
	if e.opts.DryRun && (a.Type.Mutating() || a.Type == plan.Adopt || a.Type == plan.Forget) {
		return e.dryRun(ctx, s, a)
	}

	switch a.Type {
	case plan.None:
		return e.settle(ctx, s, a, now)
	case plan.Wait:
		r := e.base(in)
		if a.Deposed {
			// The resource itself is Ready; only its old object waits.
			return e.settle(ctx, s, a, now)
		}
		r.Phase = store.PhaseWaiting
		r.Message = a.Reason
		// Waiting on time, not on dependencies: look again soon.
		res := result{}
		if len(a.WaitFor) == 0 {
			res.after = e.opts.ReadyPoll
		}
		if rec != nil && rec.Phase == r.Phase && rec.Message == r.Message {
			return res
		}
		if err := e.putRecord(ctx, r); err != nil {
			log.Error("save", "err", err)
			return failed(err, s)
		}
		// A dependency that became Ready since the snapshot saw this
		// resource's old record, Ready, and did not wake it: look again.
		if in.Desired != nil && len(a.WaitFor) > 0 && e.depsReady(in.Desired) {
			res.again = true
		}
		return res
	case plan.Blocked:
		return result{}
	case plan.Adopt:
		r := e.base(in)
		if rec != nil && rec.Pending != nil && rec.Pending.Op == store.OpCreate {
			r.Origin = store.OriginCreated
		} else {
			r.Origin = store.OriginAdopted
		}
		e.applied(r, s, in.Observed.Outputs, in.Observed.Private)
		if !a.Diff.Empty() {
			// Imported as it is: recorded with its observed state as the
			// spec last applied, then updated to the manifests at once.
			r.AppliedSpec = provider.CanonicalMap(in.Observed.State)
			r.AppliedHash = ""
			r.Phase, r.Message = store.PhasePending, "imported; updating to the manifests"
			if err := e.putRecordSync(ctx, r); err != nil {
				return e.fail(ctx, s, err, stepImport)
			}
			e.event(ctx, id, store.Normal, store.ReasonAdopted, a.Reason+": now managed by converge")
			return result{again: true}
		}
		if err := e.putRecord(ctx, r); err != nil {
			return e.fail(ctx, s, err, stepAdopt)
		}
		e.event(ctx, id, store.Normal, store.ReasonAdopted, a.Reason+": now managed by converge")
		return e.becameReady(s, in.Observed.NotReady, r)
	case plan.Forget:
		if err := e.deleteRecord(ctx, id); err != nil {
			return failed(err, s)
		}
		if rec.Ours() {
			e.event(ctx, id, store.Normal, store.ReasonForgotten, "no longer managed: "+a.Reason)
		}
		e.wakeDeps(rec)
		return result{}
	case plan.Conflict:
		return e.fail(ctx, s, provider.Conflictf("%s", a.Reason), stepAdopt)
	case plan.Drift:
		r := e.base(in)
		r.Phase = store.PhaseDrifted
		r.Message = a.Reason
		r.LastReconcile = now
		r.SetCondition(store.Condition{Type: store.ConditionDrifted, Status: store.ConditionTrue, Reason: store.ReasonDriftDetected, Message: a.Reason, LastTransitionTime: now})
		r.Drift = ""
		if !a.Gone {
			r.Drift = formatDiff(a.Diff)
		}
		e.driftDetected(ctx, in, a)
		if err := e.putRecord(ctx, r); err != nil {
			return failed(err, s)
		}
		return result{}
	case plan.Create, plan.Update, plan.Replace:
		if a.Drift { // corrected now: said once, before the call
			e.driftDetected(ctx, in, a)
		}
		switch a.Type {
		case plan.Create:
			return e.create(ctx, s, a)
		case plan.Update:
			return e.update(ctx, s, a)
		}
		return e.replace(ctx, s, a)
	case plan.Delete:
		return e.delete(ctx, s, a)
	}
	return result{}
}

func driftMessage(a plan.Action) string {
	if a.Gone {
		return "deleted out of band"
	}
	return "observed state differs from the last applied spec: " + formatDiff(a.Diff)
}

func formatDiff(d diff.Diff) string {
	parts := make([]string, 0, len(d))
	for _, c := range d.Masked() {
		parts = append(parts, c.String())
	}
	return strings.Join(parts, "; ")
}

// observeRequest targets the object converge manages when there is one,
// and the desired object otherwise (to find one to adopt).
func (e *Engine) observeRequest(in Input) provider.Request {
	req := provider.Request{ID: in.ID, Kind: in.Kind, Name: in.Name, Spec: in.Spec}
	if in.Desired != nil && (in.Record == nil || in.Record.Origin == "") {
		req.ImportID = in.Desired.ImportID // no object yet, or an interrupted create's
	}
	if r := in.Record; r != nil {
		req.Outputs, req.Private = r.Outputs, r.Private
		if r.Origin != "" && r.AppliedSpec != nil {
			req.Spec = r.AppliedSpec
		} else if req.Spec == nil && r.Pending != nil {
			req.Spec = r.Pending.Spec
		}
		if r.Pending != nil {
			req.IdempotencyKey = r.Pending.Key
		}
	}
	return req
}

// base returns the record to write for in: a copy of the current one, or a
// new one.
func (e *Engine) base(in Input) *store.Record {
	if in.Record != nil {
		return cloneRecord(in.Record)
	}
	return &store.Record{ID: in.ID, Kind: in.Kind, Name: in.Name, Phase: store.PhasePending}
}

// applied marks r as holding the desired spec of s.
func (e *Engine) applied(r *store.Record, s snapshot, outputs map[string]any, private map[string]string) {
	in := s.in
	r.AppliedSpec = in.Spec // built for this reconcile, never modified in place
	r.AppliedHash = in.Desired.Hash
	r.Deps = in.Desired.Deps()
	r.DeletionPolicy = in.Desired.Policy.Deletion
	r.Revision = s.revision
	r.Outputs = provider.CanonicalMap(outputs)
	e.learnOutputs(r.Kind, r.Outputs)
	r.Private = private
	r.Pending = nil
	r.Phase = store.PhaseReady
	r.Message = ""
	r.Attempts = 0
	r.LastError, r.ErrorClass, r.FailedHash = "", provider.ClassRetryable, ""
	r.NextRetry = time.Time{}
	r.LastReconcile = e.opts.Clock.Now()
	r.SetCondition(store.Condition{Type: store.ConditionReady, Status: store.ConditionTrue, Reason: store.ReasonConverged, LastTransitionTime: r.LastReconcile})
	if c, ok := r.Condition(store.ConditionDrifted); ok && c.Status == store.ConditionTrue {
		r.SetCondition(store.Condition{Type: store.ConditionDrifted, Status: store.ConditionFalse, Reason: store.ReasonDriftResolved, LastTransitionTime: r.LastReconcile})
	}
	r.Drift = ""
}

// settle handles "nothing to do": the record is brought up to date without
// a write when nothing changed, so a resync of a converged resource costs one
// observe and nothing else.
func (e *Engine) settle(ctx context.Context, s snapshot, a plan.Action, now time.Time) result {
	in := s.in
	rec := in.Record
	if in.Desired == nil {
		return result{}
	}
	r := e.base(in)
	e.applied(r, s, in.Observed.Outputs, in.Observed.Private)
	if in.Observed.NotReady != "" {
		r.Phase = store.PhaseCreating
		r.Message = "not ready: " + in.Observed.NotReady
	}
	if a.Drift || a.Type == plan.Wait {
		// Drift with policy ignore, or a replaced object waiting: say so.
		r.Message = a.Reason
	}
	if rec != nil && rec.Phase == store.PhaseCreating && rec.Pending == nil && r.Phase != store.PhaseCreating {
		// What a create accepted is ready now.
		e.event(ctx, in.ID, store.Normal, store.ReasonCreated, "created (ready after provisioning)")
	}
	if rec != nil {
		r.LastReconcile = rec.LastReconcile
		r.Conditions = rec.Conditions
		if sameRecord(rec, r) {
			return e.settled(s, a, rec)
		}
		r.LastReconcile = now
		if c, ok := rec.Condition(store.ConditionDrifted); ok && c.Status == store.ConditionTrue && !a.Drift {
			r.SetCondition(store.Condition{Type: store.ConditionDrifted, Status: store.ConditionFalse, Reason: store.ReasonDriftResolved, Message: "observed state matches again", LastTransitionTime: now})
			r.Drift = ""
			e.event(ctx, in.ID, store.Normal, store.ReasonDriftResolved, "observed state matches the applied spec again")
			e.alert("drift", store.ReasonDriftResolved, in.ID, in.Kind, "observed state matches the applied spec again", nil)
		}
		r.SetCondition(store.Condition{Type: store.ConditionReady, Status: store.ConditionTrue, Reason: store.ReasonConverged, LastTransitionTime: now})
	}
	if err := e.putRecord(ctx, r); err != nil {
		return failed(err, s)
	}
	return e.settled(s, a, r)
}

func (e *Engine) settled(s snapshot, a plan.Action, r *store.Record) result {
	res := e.becameReady(s, s.in.Observed.NotReady, r)
	if a.Type == plan.Wait {
		// The replaced object is deleted when the dependents are Ready.
		res.again = false
	}
	return res
}

// sameRecord reports whether writing b over a would change what matters.
func sameRecord(a, b *store.Record) bool {
	return a.Phase == b.Phase && a.Message == b.Message && a.AppliedHash == b.AppliedHash &&
		a.Revision == b.Revision && a.DeletionPolicy == b.DeletionPolicy && a.LastError == b.LastError &&
		a.Pending == nil && b.Pending == nil && a.Attempts == b.Attempts &&
		reflect.DeepEqual(a.Deps, b.Deps) && reflect.DeepEqual(a.AppliedSpec, b.AppliedSpec) &&
		reflect.DeepEqual(a.Outputs, b.Outputs) && reflect.DeepEqual(a.Private, b.Private) &&
		len(a.Deposed) == len(b.Deposed)
}

// becameReady enqueues what may proceed now that r is Ready, or schedules
// another look when the provider says it is not ready yet.
func (e *Engine) becameReady(s snapshot, notReady string, r *store.Record) result {
	if notReady != "" {
		return result{after: e.opts.ReadyPoll}
	}
	// Dependents that wait go on now; when the outputs changed, every
	// dependent looks again, since its resolved spec may have changed.
	outputsChanged := s.in.Record == nil || !reflect.DeepEqual(s.in.Record.Outputs, r.Outputs)
	for _, d := range s.dependents {
		e.mu.Lock()
		_, ready := e.readyLocked(d)
		e.mu.Unlock()
		if !ready || outputsChanged {
			e.enqueue(d)
		}
	}
	// Dependencies holding a replaced object wait for us to move.
	for _, d := range r.Deps {
		e.mu.Lock()
		dr := e.records[d]
		has := dr != nil && len(dr.Deposed) > 0
		e.mu.Unlock()
		if has {
			e.enqueue(d)
		}
	}
	if len(r.Deposed) > 0 {
		return result{again: true}
	}
	return result{}
}

// wakeDeps enqueues the dependencies of a record that went away: a removed
// dependency may have been waiting for it.
func (e *Engine) wakeDeps(r *store.Record) {
	if r == nil {
		return
	}
	for _, d := range r.Deps {
		e.mu.Lock()
		_, has := e.records[d]
		e.mu.Unlock()
		if has {
			e.enqueue(d)
		}
	}
}

func (e *Engine) dryRun(ctx context.Context, s snapshot, a plan.Action) result {
	msg := fmt.Sprintf("dry run: would %s (%s)", a.Type, a.Reason)
	if len(a.Diff) > 0 && a.Type != plan.Create {
		msg += ": " + formatDiff(a.Diff)
	}
	e.event(ctx, s.in.ID, store.Normal, store.ReasonDryRun, msg)
	r := e.base(s.in)
	if r.Message != msg {
		r.Message = msg
		if err := e.putRecord(ctx, r); err != nil {
			return failed(err, s)
		}
	}
	return result{}
}

func (e *Engine) driftDetected(ctx context.Context, in Input, a plan.Action) {
	msg := driftMessage(a)
	e.driftMeasured(in.Kind)
	e.event(ctx, in.ID, store.Warning, store.ReasonDriftDetected, msg)
	if r := in.Record; r != nil && r.Phase == store.PhaseDrifted && r.Message == a.Reason {
		return // still the same drift, already alerted; the event counts it
	}
	e.alert("drift", store.ReasonDriftDetected, in.ID, in.Kind, msg, a.Diff)
}

// reconcileKey carries the ID of one reconcile pass in its context, so
// that every log line of the pass names it.
type reconcileKey struct{}

// wantsPlan reports whether a Planner provider is asked to plan in's
// change: for an object that exists, is converge's, and stays desired.
func wantsPlan(in Input) bool {
	return in.Desired != nil && in.Observed != nil && in.Observed.Exists && in.Record.Ours() && in.Record.Origin != ""
}

func planRequest(in Input) provider.PlanRequest {
	req := provider.PlanRequest{ID: in.ID, Kind: in.Kind, Name: in.Name, Spec: in.Spec, Observed: *in.Observed}
	if r := in.Record; r != nil {
		req.Applied, req.Private = r.AppliedSpec, r.Private
	}
	return req
}

// depsReady reports whether every dependency of res is Ready now.
func (e *Engine) depsReady(res *manifest.Resource) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, d := range res.Deps() {
		if _, ok := e.readyLocked(d); !ok {
			return false
		}
	}
	return true
}
