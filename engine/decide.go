package engine

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/convergehq/converge/diff"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/plan"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/store"
)

// Dep is a dependency (or dependent) that is not where it should be, and
// the phase it is in.
type Dep struct {
	ID    string
	Phase store.Phase
}

func (d Dep) String() string { return d.ID + ": " + string(d.Phase) }

// Input is everything Decide looks at. It is a snapshot: Decide does no I/O.
type Input struct {
	ID, Kind, Name string
	// Desired is the resource in the target revision; nil when the resource
	// left the manifests (or is being destroyed).
	Desired *manifest.Resource
	// Spec is Desired's spec with references resolved, defaults applied and
	// values normalized; values not known yet are provider.Unknown.
	Spec   map[string]any
	Schema provider.Schema
	// Record is what the store holds; nil when converge never saw the resource.
	Record *store.Record
	// Observed is what the provider saw; nil when it was not observed.
	Observed *provider.Observation
	// Planned is the provider's own plan for the observed object, when the
	// provider is a provider.Planner; nil otherwise.
	Planned *provider.Planned
	// WaitFor are the dependencies of Desired that are not Ready on the
	// target revision.
	WaitFor []Dep
	// Dependents are, for a resource to delete, the recorded objects that
	// still depend on it; for a resource with deposed objects, the desired
	// dependents that have not moved to the new object yet.
	Dependents []Dep
	// DefaultDrift is the drift policy for resources that set none.
	DefaultDrift string
	// Revision is the hash of the target revision ("" when destroying).
	Revision string
	// Destroy says that nothing is desired: everything goes (converge
	// destroy), not only what left the manifests.
	Destroy bool
	// Now is the time of the decision; zero in plans (no waiting on time).
	Now time.Time
}

// Decide returns the one action that moves the resource towards its desired
// state. It is pure: the same input always gives the same action.
//
// It asks, in order: is the resource still desired (decideRemoved); may it
// act at all (its dependencies, a spec that failed terminally, an
// interrupted create the provider cannot look for); does the object exist
// (decideAbsent); is it converge's (decideForeign); and does it differ
// from the spec (decideMatching, decideChange).
func Decide(in Input) plan.Action {
	a := plan.Action{ID: in.ID, Kind: in.Kind, Name: in.Name}
	rec := in.Record
	ours := rec.Ours()

	if in.Desired == nil {
		return decideRemoved(a, in, ours)
	}
	if held, ok := decideHeld(a, in); ok {
		return held
	}
	obs := in.Observed
	if obs == nil || !obs.Exists {
		return decideAbsent(a, in, ours)
	}
	d := diff.Compute(in.Schema, in.Spec, obs.State)
	if !ours {
		return decideForeign(a, in, d)
	}
	if in.Planned != nil {
		d = plannedDiff(d, *in.Planned)
	}
	if d.Empty() {
		return decideMatching(a, in)
	}
	return decideChange(a, in, d)
}

// decideHeld returns the action of a desired resource that may not act
// yet, and whether it is one: it waits for its dependencies, its spec
// failed terminally, or converge stopped during its create and the
// provider cannot look for what that made.
func decideHeld(a plan.Action, in Input) (plan.Action, bool) {
	rec := in.Record
	if len(in.WaitFor) > 0 {
		a.Type = plan.Wait
		a.WaitFor = depIDs(in.WaitFor)
		a.Reason = "waiting for " + joinDeps(in.WaitFor)
		return a, true
	}
	if rec != nil && rec.FailedHash != "" && rec.FailedHash == in.Desired.Hash && rec.ErrorClass == provider.ClassTerminal {
		a.Type = plan.Blocked
		a.Reason = "failed on this spec, not retried until it changes: " + rec.LastError
		return a, true
	}
	obs := in.Observed
	if obs != nil && !obs.Exists && in.Schema.Unfindable && rec.InterruptedCreate() && rec.Pending.Attempted.IsZero() {
		// Converge stopped during the create, and the provider cannot look
		// for what it made: creating again might make a second object.
		a.Type = plan.Conflict
		if in.Desired.ImportID != "" {
			a.Reason = fmt.Sprintf("importId %s: no such object; the create of %s was interrupted before its outcome was recorded, so it may exist under another ID: give that one, or run converge state forget %s if it does not exist", in.Desired.ImportID, in.ID, in.ID)
			return a, true
		}
		a.Reason = fmt.Sprintf("the create of %s was interrupted before its outcome was recorded (converge stopped during the call), and this provider can find an object only through what its create returned: the object may exist. Not creating it again, which could make a second one. If it exists, set importId: ID beside spec to take it over; if it does not, run converge state forget %s, then apply", in.ID, in.ID)
		return a, true
	}
	return a, false
}

// decideAbsent decides for a desired resource whose object was not found
// (or not observed): create it, unless a create that may have taken effect
// has not had the time to show, or it was converge's and is gone (drift).
func decideAbsent(a plan.Action, in Input, ours bool) plan.Action {
	rec := in.Record
	if p := pendingAmbiguousCreate(in); p != nil {
		// The last create may have taken effect and the API may not show
		// the object yet: look again before creating a second one.
		a.Type = plan.Wait
		a.Reason = "the last create may have taken effect; looking for the object before creating again"
		return a
	}
	a.Type = plan.Create
	a.Diff = diff.Compute(in.Schema, in.Spec, nil)
	a.Reason = "not found"
	if ours && rec.Origin != "" && rec.Pending == nil {
		// We had it, and it is gone: deleted out of band.
		a.Drift, a.Gone = true, true
		a.Reason = "deleted out of band"
		switch driftPolicy(in) {
		case manifest.DriftAlert:
			a.Type = plan.Drift
		case manifest.DriftIgnore:
			a.Type = plan.None
			a.Diff = nil
			a.Reason = "deleted out of band; drift policy ignore"
		}
	}
	return a
}

// decideForeign decides for an object that exists and is not converge's:
// it is adopted when it matches the manifests or an importId names it,
// and is a conflict, left alone, otherwise.
func decideForeign(a plan.Action, in Input, d diff.Diff) plan.Action {
	if d.Empty() {
		a.Type = plan.Adopt
		a.Reason = "exists and matches the manifests"
		return a
	}
	if in.Desired.ImportID != "" {
		// Named by importId: the user says it is to be taken over.
		a.Type = plan.Adopt
		a.Diff = d
		a.Reason = fmt.Sprintf("imported (importId %s); then updated to the manifests (%s)", in.Desired.ImportID, strings.Join(d.Paths(), ", "))
		return a
	}
	a.Type = plan.Conflict
	a.Diff = d
	a.Reason = fmt.Sprintf("exists, was not created by converge, and differs (%s): not overwriting it", strings.Join(d.Paths(), ", "))
	return a
}

// decideMatching decides for converge's object that matches the spec: an
// interrupted create's object is taken as converge's, a replaced object
// is deleted once its dependents moved, and otherwise there is nothing to
// do.
func decideMatching(a plan.Action, in Input) plan.Action {
	rec := in.Record
	if rec.Origin == "" {
		// Our create went through before a crash: take it as ours.
		a.Type = plan.Adopt
		a.Reason = "found the object of an interrupted create"
		return a
	}
	if len(rec.Deposed) > 0 {
		if len(in.Dependents) > 0 {
			a.Type = plan.Wait
			a.Deposed = true
			a.WaitFor = depIDs(in.Dependents)
			a.Reason = "replaced object waits for dependents to move: " + joinDeps(in.Dependents)
			return a
		}
		a.Type = plan.Delete
		a.Deposed = true
		a.Reason = "delete the replaced object"
		return a
	}
	a.Type = plan.None
	return a
}

// decideChange decides for converge's object that differs from the spec
// by d: drift (the manifests did not change, the object did) goes by the
// drift policy; a change is an update, or a replace when a field that
// cannot change in place changed.
func decideChange(a plan.Action, in Input, d diff.Diff) plan.Action {
	rec := in.Record
	a.Diff = d
	// Drift: the desired spec is what converge last applied, and the object
	// differs from it. (A plan may not know every referenced value yet: then
	// an unchanged manifest is enough, and the drift is measured against
	// the applied spec.)
	var drift diff.Diff
	if rec.Origin != "" && rec.Pending == nil && rec.AppliedSpec != nil {
		if provider.IsUnknown(in.Spec) {
			if rec.AppliedHash == in.Desired.Hash {
				drift = diff.Compute(in.Schema, rec.AppliedSpec, in.Observed.State)
			}
		} else if diff.Compute(in.Schema, in.Spec, rec.AppliedSpec).Empty() && !addsFields(in.Spec, rec.AppliedSpec) {
			drift = d
		}
	}
	drifted := !drift.Empty()
	if drifted {
		a.Drift = true
		switch driftPolicy(in) {
		case manifest.DriftAlert:
			a.Type = plan.Drift
			a.Diff = drift
			a.Reason = "drifted: " + strings.Join(drift.Paths(), ", ")
			return a
		case manifest.DriftIgnore:
			a.Type = plan.None
			a.Reason = "drifted; drift policy ignore"
			return a
		}
	}
	switch {
	case d.ForceNew():
		a.Type = plan.Replace
		a.Reason = "a field that cannot change in place changed"
	case drifted:
		a.Type = plan.Update
		a.Reason = "correct drift"
	default:
		a.Type = plan.Update
		a.Reason = "spec changed"
	}
	if drifted && d.ForceNew() {
		a.Reason = "correct drift; " + a.Reason
	}
	return a
}

func decideRemoved(a plan.Action, in Input, ours bool) plan.Action {
	rec := in.Record
	switch {
	case rec == nil:
		a.Type = plan.None
		return a
	case !ours:
		a.Type = plan.Forget
		a.Reason = "never created"
		return a
	case in.Revision != "" && rec.FailedHash == removedHash(in.Revision) &&
		rec.ErrorClass.Blocks():
		a.Type = plan.Blocked
		a.Reason = "deleting it failed, not retried until the manifests change: " + rec.LastError
		return a
	case len(in.Dependents) > 0:
		a.Type = plan.Wait
		a.WaitFor = depIDs(in.Dependents)
		a.Reason = "waiting for dependents to be deleted first: " + joinDeps(in.Dependents)
		return a
	case rec.DeletionPolicy == manifest.DeletionOrphan:
		a.Type = plan.Forget
		a.Reason = "deletion policy orphan: left in place"
		return a
	case rec.Origin == store.OriginAdopted && len(rec.Deposed) == 0:
		a.Type = plan.Forget
		a.Reason = "adopted, not created by converge: left in place"
		return a
	case in.Observed != nil && !in.Observed.Exists && len(rec.Deposed) == 0:
		if pendingAmbiguousCreate(in) != nil {
			// It may exist without showing yet: forgetting it could leak it.
			a.Type = plan.Wait
			a.Reason = "the last create may have taken effect; looking for the object before forgetting it"
			return a
		}
		if rec.InterruptedCreate() {
			// An interrupted create may have left a part behind (a
			// temporary file): the provider's idempotent delete clears it.
			a.Type = plan.Delete
			a.Reason = "removed from manifests; its create was interrupted"
			return a
		}
		a.Type = plan.Forget
		a.Reason = "already gone"
		return a
	}
	a.Type = plan.Delete
	a.Reason = "removed from manifests"
	if in.Destroy {
		a.Reason = "destroy"
	}
	return a
}

func driftPolicy(in Input) string {
	if in.Desired != nil && in.Desired.Policy.Drift != "" {
		return in.Desired.Policy.Drift
	}
	if in.DefaultDrift != "" {
		return in.DefaultDrift
	}
	return manifest.DriftCorrect
}

func depIDs(ds []Dep) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func joinDeps(ds []Dep) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.String()
	}
	return strings.Join(parts, ", ")
}

// addsFields reports whether spec sets a field the applied spec does not
// hold: a change of the manifest (diff.Compute skips the fields absent
// from what it compares with, as an observation omits what a provider
// cannot read).
func addsFields(spec, applied map[string]any) bool {
	for k, v := range spec {
		if _, ok := applied[k]; !ok && v != nil {
			return true
		}
	}
	return false
}

// pendingAmbiguousCreate returns the pending create of in's record when it
// failed ambiguously less than the kind's ReadAfterWriteGrace ago.
// A create with no recorded outcome at all was interrupted (a crash): it is
// as ambiguous as any, from when it started.
func pendingAmbiguousCreate(in Input) *store.Operation {
	r := in.Record
	grace := in.Schema.ReadAfterWriteGrace
	if !r.InterruptedCreate() || grace <= 0 || in.Now.IsZero() {
		return nil
	}
	since, ambiguous := r.Pending.Attempted, r.Pending.Ambiguous
	if since.IsZero() {
		since, ambiguous = r.Pending.Started, true
	}
	if !ambiguous || in.Now.Sub(since) >= grace {
		return nil
	}
	return r.Pending
}

// plannedDiff shapes the engine's diff d by a provider's plan, which has the
// last word: no change when it plans none; for an update or a replace, the
// changes under the paths it names (a named path the spec does not show
// becomes a change of its own, an unknown value), forcing a replacement
// exactly where it says. Decide then goes on as for its own diff.
func plannedDiff(d diff.Diff, p provider.Planned) diff.Diff {
	if p.Action == provider.PlanNoop {
		return nil
	}
	under := func(path string, roots []string) bool {
		for _, r := range roots {
			if path == r || strings.HasPrefix(path, r+".") || strings.HasPrefix(path, r+"[") {
				return true
			}
		}
		return false
	}
	var out diff.Diff
	for _, c := range d {
		if len(p.Paths) > 0 && !under(c.Path, p.Paths) && !under(c.Path, p.ReplacePaths) {
			continue
		}
		c.ForceNew = p.Action == provider.PlanReplace && (len(p.ReplacePaths) == 0 || under(c.Path, p.ReplacePaths))
		out = append(out, c)
	}
	seen := func(path string) bool {
		for _, c := range out {
			if under(c.Path, []string{path}) {
				return true
			}
		}
		return false
	}
	for _, path := range append(slices.Clone(p.Paths), p.ReplacePaths...) {
		if !seen(path) {
			out = append(out, diff.Change{Path: path, Unknown: true, ForceNew: p.Action == provider.PlanReplace && (len(p.ReplacePaths) == 0 || under(path, p.ReplacePaths))})
		}
	}
	if len(out) == 0 {
		// A change the provider plans but names no field of.
		out = diff.Diff{{Path: "(planned by the provider)", Unknown: true, ForceNew: p.Action == provider.PlanReplace}}
	}
	return out
}
