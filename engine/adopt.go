package engine

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/convergehq/converge/diff"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/plan"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/store"
)

// AdoptOutcome says where one resource stands for converge adopt.
type AdoptOutcome string

// The outcomes of Adoptable and Adopt. Only AdoptAdoptable and AdoptDone
// are successes: every other one names why the resource was not adopted.
const (
	// AdoptAdoptable: an object exists that converge did not create; Adopt
	// takes it over. Its Diff says how it differs from the manifests
	// (empty: it matches them already).
	AdoptAdoptable AdoptOutcome = "adoptable"
	// AdoptDone: Adopt recorded the object as adopted.
	AdoptDone AdoptOutcome = "adopted"
	// AdoptManaged: converge already manages the resource's object.
	AdoptManaged AdoptOutcome = "managed"
	// AdoptNotFound: there is no object to adopt; apply creates it.
	AdoptNotFound AdoptOutcome = "not found"
	// AdoptNotDeclared: the manifests do not declare the resource.
	AdoptNotDeclared AdoptOutcome = "not in the manifests"
	// AdoptUnresolved: the resource's spec uses outputs of resources that
	// are not Ready yet, so what it should be is not known.
	AdoptUnresolved AdoptOutcome = "unresolved"
	// AdoptNotObserved: the provider could not be asked.
	AdoptNotObserved AdoptOutcome = "not observed"
)

// Adoption is what Adoptable found, or Adopt did, for one resource ID.
type Adoption struct {
	ID      string       `json:"id"`
	Kind    string       `json:"kind,omitempty"`
	Outcome AdoptOutcome `json:"outcome"`
	// Reason says why, for people.
	Reason string `json:"reason"`
	// Diff is how the object differs from the manifests (observed ->
	// desired), sensitive values masked: what the next apply changes.
	Diff diff.Diff `json:"diff,omitempty"`
}

// OK reports whether the resource is adopted, or can be.
func (a Adoption) OK() bool { return a.Outcome == AdoptAdoptable || a.Outcome == AdoptDone }

// Adoptable observes the resources ids of rv, dependencies first, and
// says, for each, whether
// converge adopt can take its object over: an object that exists and that
// converge did not create, whether or not it matches the manifests (one
// that differs is what apply reports as a conflict and refuses to
// overwrite). It writes nothing and calls only the providers' Observe.
func (e *Engine) Adoptable(ctx context.Context, rv *manifest.Revision, ids []string) ([]Adoption, error) {
	return e.adopt(ctx, rv, ids, false)
}

// Adopt observes the resources ids of rv again and records every object
// that can be adopted (see Adoptable) as converge's (store.OriginAdopted),
// with its observed state as the spec converge last applied: the next
// apply or reconcile then updates it to the manifests, as for any change
// of spec, and a later removal from the manifests forgets it rather than
// deleting it. Each is recorded durably, with an Adopted event. The
// others are returned with the outcome that says why they were not
// adopted; Adopt never calls a mutating provider method.
func (e *Engine) Adopt(ctx context.Context, rv *manifest.Revision, ids []string) ([]Adoption, error) {
	if e.opts.DryRun {
		return nil, fmt.Errorf("adopt: the engine is a dry run: it records nothing")
	}
	out, err := e.adopt(ctx, rv, ids, true)
	if ferr := e.Flush(ctx); err == nil {
		err = ferr
	}
	return out, err
}

func (e *Engine) adopt(ctx context.Context, rv *manifest.Revision, ids []string, record bool) ([]Adoption, error) {
	if rv == nil {
		return nil, fmt.Errorf("adopt: no manifests")
	}
	rv, err := e.openRevision(rv)
	if err != nil {
		return nil, err
	}
	e.learnRevision(rv)
	if err := e.ensureLoaded(ctx); err != nil {
		return nil, err
	}
	lim := e.planLimits(rv)
	recs := map[string]*store.Record{}
	for _, r := range e.Records() {
		r := r
		recs[r.ID] = &r
	}
	order, err := adoptOrder(rv, ids)
	if err != nil {
		return nil, err
	}
	out := make([]Adoption, 0, len(order))
	for _, id := range order {
		a, in := e.examine(ctx, lim, rv, id, recs)
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		if a.Outcome == AdoptAdoptable {
			// Its outputs resolve the specs of the resources named after
			// it that use them.
			r := &store.Record{ID: id, Kind: in.Kind, Name: in.Name, Outputs: provider.CanonicalMap(in.Observed.Outputs)}
			if record {
				if r, err = e.recordAdopted(ctx, in, a); err != nil {
					return out, err
				}
				a.Outcome = AdoptDone
			}
			recs[id] = r
		}
		out = append(out, a)
	}
	return out, nil
}

// adoptOrder returns ids once each, dependencies first (so that one
// adopted resource's outputs resolve the specs that use them), then those
// rv does not declare, as given.
func adoptOrder(rv *manifest.Revision, ids []string) ([]string, error) {
	asked := map[string]bool{}
	var undeclared []string
	for _, id := range ids {
		if asked[id] {
			continue
		}
		asked[id] = true
		if _, ok := rv.Get(id); !ok {
			undeclared = append(undeclared, id)
		}
	}
	all, err := manifest.BuildGraph(rv).Order()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, id := range all {
		if asked[id] {
			out = append(out, id)
		}
	}
	return append(out, undeclared...), nil
}

// examine observes one resource and decides, as Decide would for apply,
// whether its object can be adopted. The Input it returns holds the
// observation of an adoptable one.
func (e *Engine) examine(ctx context.Context, lim planLimits, rv *manifest.Revision, id string, recs map[string]*store.Record) (Adoption, Input) {
	a := Adoption{ID: id}
	res, ok := rv.Get(id)
	if !ok {
		a.Outcome = AdoptNotDeclared
		a.Reason = "not declared in the manifests: only what they declare can be adopted"
		if rec := recs[id]; rec.Ours() {
			a.Reason = "not declared in the manifests (converge manages it, and the next apply deletes it)"
		}
		return a, Input{}
	}
	a.Kind = res.Kind
	in := Input{ID: id, Kind: res.Kind, Name: res.Name, Desired: res, Record: recs[id], DefaultDrift: e.opts.DefaultDrift, Revision: rv.Hash}
	if in.Record.Ours() {
		a.Outcome = AdoptManaged
		a.Reason = "already managed by converge (" + origin(in.Record) + "): apply converges it"
		return a, in
	}
	p, ok := e.reg.For(in.Kind)
	if !ok {
		a.Outcome = AdoptNotObserved
		a.Reason = fmt.Sprintf("kind %s: %s", in.Kind, errNoProvider)
		return a, in
	}
	in.Schema, _ = e.reg.Schema(in.Kind)
	spec, unresolved := manifest.Resolve(res, in.Schema, func(dep string) (map[string]any, bool) {
		r := recs[dep]
		if r == nil || r.Outputs == nil {
			return nil, false
		}
		return r.Outputs, true
	})
	var err error
	if in.Spec, err = in.Schema.Apply(spec); err != nil {
		a.Outcome = AdoptNotObserved
		a.Reason = e.clean(err.Error())
		return a, in
	}
	e.learn(in.Kind, in.Spec)
	if len(unresolved) > 0 || provider.IsUnknown(in.Spec) {
		a.Outcome = AdoptUnresolved
		a.Reason = "its spec uses outputs of resources that are not applied yet (" + strings.Join(res.Deps(), ", ") + "): apply them, then adopt it"
		return a, in
	}
	release, err := lim.limiter(p.Name()).Acquire(ctx)
	if err != nil {
		a.Outcome, a.Reason = AdoptNotObserved, err.Error()
		return a, in
	}
	cctx, cancel := context.WithTimeout(ctx, lim.timeout(p.Name()))
	obs, err := p.Observe(cctx, e.observeRequest(in))
	cancel()
	release()
	atomic.AddInt64(&e.stats.Observes, 1)
	if err != nil {
		a.Outcome = AdoptNotObserved
		a.Reason = e.clean("observe: " + err.Error())
		return a, in
	}
	in.Observed = &obs
	d := Decide(in)
	switch d.Type {
	case plan.Conflict:
		a.Outcome = AdoptAdoptable
		a.Diff = e.cleanDiff(d.Diff)
		a.Reason = "exists, was not created by converge, and differs (" + strings.Join(d.Diff.Paths(), ", ") + ")"
	case plan.Adopt:
		a.Outcome = AdoptAdoptable
		a.Reason = "exists, was not created by converge, and matches the manifests"
	case plan.Create:
		a.Outcome = AdoptNotFound
		a.Reason = "no object exists: apply creates it"
	default:
		a.Outcome = AdoptNotObserved
		a.Reason = e.clean(string(d.Type) + ": " + d.Reason)
	}
	return a, in
}

func origin(r *store.Record) string {
	if r.Origin == "" {
		return "its create is in progress"
	}
	return string(r.Origin)
}

// recordAdopted writes the record of an adopted object: converge's, with
// the observed state as its applied spec and no applied hash, so that it
// is not Ready on any revision until the next reconcile updates it (or,
// when it matches, finds nothing to change).
func (e *Engine) recordAdopted(ctx context.Context, in Input, a Adoption) (*store.Record, error) {
	obs := in.Observed
	r := e.base(in)
	r.Origin = store.OriginAdopted
	r.AppliedSpec = provider.CanonicalMap(obs.State)
	r.AppliedHash = ""
	r.Outputs = provider.CanonicalMap(obs.Outputs)
	r.Private = obs.Private
	r.Deps = in.Desired.Deps()
	r.DeletionPolicy = in.Desired.Policy.Deletion
	r.Pending = nil
	r.Phase = store.PhasePending
	r.Attempts = 0
	r.LastError, r.ErrorClass, r.FailedHash = "", provider.ClassRetryable, ""
	r.NextRetry = time.Time{}
	now := e.opts.Clock.Now()
	r.LastReconcile = now
	msg := "adopted: the next apply updates it to the manifests"
	if len(a.Diff) == 0 {
		msg = "adopted: it matches the manifests"
	}
	r.Message = msg
	r.SetCondition(store.Condition{Type: store.ConditionReady, Status: store.ConditionFalse, Reason: store.ReasonAdopted, Message: msg, LastTransitionTime: now})
	if err := e.putRecordSync(ctx, r); err != nil {
		return nil, fmt.Errorf("adopt %s: %w", in.ID, err)
	}
	ev := "adopted by converge adopt"
	if len(a.Diff) > 0 {
		ev += "; it differs from the manifests (" + strings.Join(a.Diff.Paths(), ", ") + "), which the next apply applies"
	}
	e.event(ctx, in.ID, store.Normal, store.ReasonAdopted, ev)
	return cloneRecord(r), nil
}
