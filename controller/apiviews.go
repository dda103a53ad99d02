package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/plan"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/store"
)

// The live views are what a running controller serves to an API: the
// status and history views, with what only the daemon knows (the labels
// and specs of its target, why a resource waits, the plan of the
// manifests against the world), and the actions it takes on request.

// Errors of requests, matched with errors.Is; store.ErrNotFound is the
// third kind.
var (
	// ErrInvalid: the request cannot be served as given.
	ErrInvalid = errors.New("invalid request")
	// ErrConflict: the request is valid but the state refuses it now.
	ErrConflict = errors.New("conflict")
)

// requestError is an error of a request: its message alone, matching its
// kind (ErrInvalid or ErrConflict) and its cause, if any.
type requestError struct {
	msg         string
	kind, cause error
}

func (e *requestError) Error() string { return e.msg }
func (e *requestError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// refuse returns an error of kind with the message of format; a %w in
// format names its cause.
func refuse(kind error, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &requestError{msg: err.Error(), kind: kind, cause: errors.Unwrap(err)}
}

// Live serves the views of a running controller and takes its actions on
// request. Its methods are safe for concurrent use with Run.
type Live struct {
	c   *Controller
	reg *provider.Registry

	mu   sync.Mutex
	hash string             // of rv
	rv   *manifest.Revision // the last target decoded, kept while it is the target
}

// Live returns the live views of c. reg gives the kinds' schemas, so that
// sensitive values are masked; nil masks only URL passwords.
func (c *Controller) Live(reg *provider.Registry) *Live {
	return &Live{c: c, reg: reg}
}

// ResourceItem is a resource in a list: its status view, with its labels
// and dependencies in the target revision and whether it drifted.
type ResourceItem struct {
	ResourceView
	Labels  map[string]string `json:"labels,omitempty"`
	Deps    []string          `json:"deps,omitempty"`
	Drifted bool              `json:"drifted"`
}

// ResourceList is the status view with the resources a filter selects.
type ResourceList struct {
	StatusView
	Resources []ResourceItem `json:"resources"`
	// Total is the number of resources before the filter.
	Total int `json:"total"`
}

// ResourceFilter selects resources; zero values select everything.
type ResourceFilter struct {
	Kind     string
	Phase    store.Phase
	Selector Selector
	Drifted  *bool
}

// Selector is a label selector: every requirement must hold.
type Selector []Requirement

// Requirement is one term of a selector: key=value, key!=value, key
// (the label is set) or !key (it is not).
type Requirement struct {
	Key, Value string
	Op         SelectOp
}

// SelectOp is how a Requirement tests its label.
type SelectOp string

// The selector's operators.
const (
	OpEquals    SelectOp = "="       // key=value (key==value too)
	OpNotEquals SelectOp = "!="      // key!=value: not set, or set to another value
	OpExists    SelectOp = "exists"  // key: set, to any value
	OpNotExists SelectOp = "!exists" // !key: not set
)

// ParseSelector parses a label selector as kubectl writes it:
// "app=web,tier!=db,canary,!legacy" ("==" is "=").
func ParseSelector(s string) (Selector, error) {
	var sel Selector
	for _, term := range strings.Split(s, ",") {
		term = strings.TrimSpace(term)
		if term == "" {
			continue
		}
		var r Requirement
		switch {
		case strings.Contains(term, "!="):
			r.Key, r.Value, _ = strings.Cut(term, "!=")
			r.Op = OpNotEquals
		case strings.Contains(term, "=="):
			r.Key, r.Value, _ = strings.Cut(term, "==")
			r.Op = OpEquals
		case strings.Contains(term, "="):
			r.Key, r.Value, _ = strings.Cut(term, "=")
			r.Op = OpEquals
		case strings.HasPrefix(term, "!"):
			r.Key, r.Op = term[1:], OpNotExists
		default:
			r.Key, r.Op = term, OpExists
		}
		r.Key, r.Value = strings.TrimSpace(r.Key), strings.TrimSpace(r.Value)
		if r.Key == "" || strings.ContainsAny(r.Key, "=! ") || strings.ContainsAny(r.Value, "=! ") {
			return nil, refuse(ErrInvalid, "label selector %q: term %q: want key=value, key!=value, key or !key", s, term)
		}
		sel = append(sel, r)
	}
	return sel, nil
}

// Matches reports whether labels satisfy every requirement.
func (s Selector) Matches(labels map[string]string) bool {
	for _, r := range s {
		v, ok := labels[r.Key]
		switch r.Op {
		case OpEquals:
			if !ok || v != r.Value {
				return false
			}
		case OpNotEquals:
			if ok && v == r.Value {
				return false
			}
		case OpExists:
			if !ok {
				return false
			}
		case OpNotExists:
			if ok {
				return false
			}
		}
	}
	return true
}

// target returns the target revision, decoded once per target; nil when
// there is none.
func (l *Live) target(ctx context.Context) (*manifest.Revision, error) {
	hash := l.c.e.Progress().Revision
	if hash == "" {
		return nil, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.hash == hash {
		return l.rv, nil
	}
	r, err := l.c.st.GetRevision(ctx, hash)
	if err != nil {
		return nil, fmt.Errorf("read the target revision: %w", err)
	}
	rv, err := engine.RevisionFromStore(r)
	if err != nil {
		return nil, err
	}
	l.hash, l.rv = hash, rv
	return rv, nil
}

// Resources returns the status view with the resources f selects, sorted
// by ID. Desired resources not recorded yet are Pending.
func (l *Live) Resources(ctx context.Context, f ResourceFilter) (ResourceList, error) {
	rv, err := l.target(ctx)
	if err != nil {
		return ResourceList{}, err
	}
	// The engine's records are the state's, fresher, and far cheaper to
	// read than the state's at 10,000 resources.
	v, err := Status(ctx, engineRecords{l.c.st, l.c.e}, nil)
	if err != nil {
		return ResourceList{}, err
	}
	if rv != nil {
		v.Resources = withDesired(v.Resources, rv)
	}
	out := ResourceList{StatusView: v, Resources: make([]ResourceItem, 0, len(v.Resources)), Total: len(v.Resources)}
	var schema func(string) (provider.Schema, bool)
	if l.reg != nil {
		schema = l.reg.Schema
	}
	for _, r := range v.Resources {
		r.Outputs = maskOutputs(schema, r.Kind, r.Outputs) // the engine's records hold them in clear
		it := ResourceItem{ResourceView: r, Drifted: standsDrifted(r)}
		if res, ok := rv.Get(r.ID); ok {
			it.Labels, it.Deps = res.Labels, res.Deps()
		}
		if (f.Kind != "" && r.Kind != f.Kind) || (f.Phase != "" && r.Phase != f.Phase) ||
			(f.Drifted != nil && *f.Drifted != it.Drifted) || !f.Selector.Matches(it.Labels) {
			continue
		}
		out.Resources = append(out.Resources, it)
	}
	out.StatusView.Resources = nil
	return out, nil
}

// engineRecords is a store whose records are the engine's.
type engineRecords struct {
	store.Store
	e *engine.Engine
}

func (s engineRecords) ListRecords(context.Context) ([]store.Record, error) {
	return s.e.Records(), nil
}

// RecentEvents is how many events a resource's view holds.
const RecentEvents = 20

// Resource returns the view of the resource id that converge describe
// shows (sensitive values masked), with its RecentEvents newest events; an
// error matching store.ErrNotFound (ErrUnknownResource) when converge
// neither desires nor records it.
func (l *Live) Resource(ctx context.Context, id string) (DescribeView, error) {
	rv, err := l.target(ctx)
	if err != nil {
		return DescribeView{}, err
	}
	opts := DescribeOptions{Revision: rv, Events: RecentEvents}
	if l.reg != nil {
		opts.Schema = l.reg.Schema
	}
	return Describe(ctx, l.c.st, id, opts)
}

// Revisions returns the history view.
func (l *Live) Revisions(ctx context.Context) ([]RevisionView, error) {
	return History(ctx, l.c.st)
}

// RevisionDetail is one revision with the resources it declares.
type RevisionDetail struct {
	RevisionView
	Declares []DeclaredResource `json:"declares"`
}

// DeclaredResource is a resource a revision declares.
type DeclaredResource struct {
	ID     string            `json:"id"`
	Kind   string            `json:"kind"`
	Labels map[string]string `json:"labels,omitempty"`
	Deps   []string          `json:"deps,omitempty"`
	Hash   string            `json:"hash"`
}

// Revision returns the revision whose hash is hash, or starts with it (4
// characters at least).
func (l *Live) Revision(ctx context.Context, hash string) (RevisionDetail, error) {
	views, err := History(ctx, l.c.st)
	if err != nil {
		return RevisionDetail{}, err
	}
	v, err := pick(views, hash)
	if err != nil {
		return RevisionDetail{}, err
	}
	r, err := l.c.st.GetRevision(ctx, v.Hash)
	if err != nil {
		return RevisionDetail{}, err
	}
	d := RevisionDetail{RevisionView: v, Declares: []DeclaredResource{}}
	if rv, err := engine.RevisionFromStore(r); err == nil {
		for _, res := range rv.Resources {
			d.Declares = append(d.Declares, DeclaredResource{ID: res.ID, Kind: res.Kind, Labels: res.Labels, Deps: res.Deps(), Hash: res.Hash})
		}
	}
	return d, nil
}

func pick(views []RevisionView, hash string) (RevisionView, error) {
	var found []RevisionView
	for _, v := range views {
		if v.Hash == hash {
			return v, nil
		}
		if len(hash) >= 4 && strings.HasPrefix(v.Hash, hash) {
			found = append(found, v)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		return RevisionView{}, refuse(ErrInvalid, "revision %q is ambiguous: %d revisions start with it", hash, len(found))
	case len(hash) < 4:
		return RevisionView{}, refuse(ErrInvalid, "revision %q: give at least 4 characters of its hash", hash)
	}
	return RevisionView{}, refuse(store.ErrNotFound, "revision %q: no such revision", hash)
}

// Events returns the events f selects, oldest first, as converge events
// lists them.
func (l *Live) Events(ctx context.Context, f store.EventFilter) ([]store.Event, error) {
	evs, err := l.c.st.ListEvents(ctx, f)
	if evs == nil && err == nil {
		evs = []store.Event{}
	}
	return evs, err
}

// PlanView is a plan of the manifests as they are now against the world.
type PlanView struct {
	Plan *plan.Plan
	// Held says that apply would refuse the plan and run would hold it.
	Held string
	// Staying says converge stays off the manifests' revision (see
	// Stays): the plan is of the revision it stays on.
	Staying string
}

// Plan loads the manifests and plans them against the world, as converge
// plan does: it calls only the providers' Observe, within the running
// engine's limits, and changes nothing, neither the world nor the state
// nor the engine's target.
func (l *Live) Plan(ctx context.Context) (PlanView, error) {
	if l.c.opts.Load == nil {
		return PlanView{}, refuse(ErrConflict, "this controller has no manifests to load")
	}
	rv, err := l.c.opts.Load()
	if err != nil {
		return PlanView{}, refuse(ErrConflict, "load the manifests: %w", err)
	}
	var v PlanView
	target, note, err := ChooseTarget(ctx, l.c.st, rv, l.c.opts.Rollback)
	if err != nil {
		return PlanView{}, err
	}
	v.Staying = note
	switch err := l.c.opts.Guard.Check(l.c.e.Records(), target); {
	case errors.Is(err, engine.ErrEmpty):
		return PlanView{}, refuse(ErrConflict, "%w", err)
	case err != nil:
		v.Held = err.Error()
	}
	if v.Plan, err = l.c.e.Plan(ctx, target); err != nil {
		return PlanView{}, err
	}
	return v, nil
}

// Reconcile makes the running engine reconcile id at once; an error
// matching store.ErrNotFound when converge neither desires nor records it.
func (l *Live) Reconcile(_ context.Context, id string) error {
	if !l.c.e.Reconcile(id) {
		return fmt.Errorf("resource %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// ReconcileAll loads the manifests again and observes every resource
// again, at once: a resync on request.
func (l *Live) ReconcileAll(context.Context) error {
	l.c.Reload()
	l.c.e.ResyncAll()
	return nil
}

// RollbackView says what a rollback on request did.
type RollbackView struct {
	From string `json:"from,omitempty"`
	To   string `json:"to"`
	// Resumed says that it resumed a rollback by hand still pending (see
	// RollbackIntent) rather than deciding afresh.
	Resumed bool `json:"resumed,omitempty"`
}

// Rollback makes the revision hash (a prefix of 4 characters at least;
// empty: the last known good one other than the target) the target again,
// as converge rollback does beside a running daemon: the intent is
// recorded (see ChooseRollback: a rollback interrupted and asked again
// targets the same revision until it converges), the current target is
// marked rolled back (so converge stays off it until the manifests
// change), the target is set in the state, which the controller follows,
// if it is still the one the choice was made against, and a RolledBack
// event is recorded.
func (l *Live) Rollback(ctx context.Context, hash string) (RollbackView, error) {
	ch, err := ChooseRollback(ctx, l.c.st, hash)
	if err != nil {
		return RollbackView{}, err
	}
	to, from := ch.To, ch.From
	if _, err := engine.RevisionFromStore(to); err != nil {
		return RollbackView{}, refuse(ErrConflict, "revision %s cannot be targeted: %w", short(to.Hash), err)
	}
	now := l.c.clock.Now()
	if err := ch.Record(ctx, l.c.st, now); err != nil {
		return RollbackView{}, err
	}
	if from != "" && from != to.Hash {
		if r, err := l.c.st.GetRevision(ctx, from); err == nil && r.State != store.RevisionFailed {
			r.State, r.Reason = store.RevisionRolledBack, "rolled back by hand to revision "+short(to.Hash)
			if err := l.c.st.PutRevision(ctx, r); err != nil {
				return RollbackView{}, err
			}
		}
	}
	// Only if the target is still the one the choice was made against
	// (a *TargetMovedError, ErrConflict, otherwise).
	if err := ch.SetTarget(ctx, l.c.st); err != nil {
		return RollbackView{}, err
	}
	shown := from
	if shown == "" {
		shown = "-"
	}
	msg := fmt.Sprintf("rolled back by hand from revision %s to revision %s", short(shown), short(to.Hash))
	if _, err := l.c.st.AddEvent(ctx, store.Event{Type: store.Warning, Reason: "RolledBack", Message: msg, Count: 1, FirstSeen: now, LastSeen: now}); err != nil {
		return RollbackView{}, err
	}
	l.c.log.Warn("rollback on request", "from", short(from), "to", short(to.Hash), "resumed", ch.Resumed)
	return RollbackView{From: from, To: to.Hash, Resumed: ch.Resumed}, nil
}

// Ready says whether the controller can serve: its store answers and it
// has a revision loaded.
func (l *Live) Ready(ctx context.Context) error {
	if _, err := l.c.st.ListRevisions(ctx); err != nil {
		return fmt.Errorf("the state does not answer: %w", err)
	}
	if l.c.e.Progress().Revision == "" {
		return errors.New("no revision loaded yet")
	}
	return nil
}
