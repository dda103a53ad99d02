package controller

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/convergehq/converge/diff"
	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/secret"
	"github.com/convergehq/converge/store"
)

// DescribeView is everything the state knows about one resource, as
// converge describe shows it: its status, its desired and last applied
// specs (sensitive values masked), why it waits, the drift it stands in,
// and its recent events.
type DescribeView struct {
	ResourceView
	Labels map[string]string `json:"labels,omitempty"`
	// Desired is whether the target revision (or the manifests given)
	// declares the resource; a recorded resource that is not desired is
	// deleted (or forgotten) by the next apply or run.
	Desired bool `json:"desired"`
	// Spec is the desired spec as written (references unresolved),
	// AppliedSpec the spec last applied (resolved); both masked.
	Spec        map[string]any `json:"spec,omitempty"`
	AppliedSpec map[string]any `json:"appliedSpec,omitempty"`
	// Deps are the resource's dependencies; WaitingFor those that are
	// not Ready yet, with their phases, and Waiting says why it waits.
	Deps       []string    `json:"deps,omitempty"`
	WaitingFor []DepStatus `json:"waitingFor,omitempty"`
	Waiting    string      `json:"waiting,omitempty"`
	// Drift is the field diff converge found last (observed -> last
	// applied, masked), while the resource stands drifted.
	Drift string `json:"drift,omitempty"`
	// Events are the resource's newest events, oldest first.
	Events []store.Event `json:"events"`
}

// DepStatus is a dependency and its phase.
type DepStatus struct {
	ID    string      `json:"id"`
	Phase store.Phase `json:"phase"`
}

// DescribeOptions say where Describe finds what the state does not hold.
type DescribeOptions struct {
	// Revision is the desired revision; nil: the state's target.
	Revision *manifest.Revision
	// Schema gives a kind's schema, so that its sensitive fields are
	// masked; nil masks only the passwords of URLs.
	Schema func(kind string) (provider.Schema, bool)
	// Events is how many of the newest events to show; 0: DescribeEvents.
	Events int
}

// DescribeEvents is how many events a DescribeView holds by default.
const DescribeEvents = 10

// ErrUnknownResource is the error of a resource converge neither desires
// nor records; it matches store.ErrNotFound too.
var ErrUnknownResource = fmt.Errorf("unknown resource: neither in the manifests nor in the state: %w", store.ErrNotFound)

// Describe reads the view of the resource id from st. An id converge
// neither desires nor records gives an error matching ErrUnknownResource.
func Describe(ctx context.Context, st store.Store, id string, opts DescribeOptions) (DescribeView, error) {
	rv := opts.Revision
	if rv == nil {
		var err error
		if rv, err = TargetRevision(ctx, st); err != nil {
			return DescribeView{}, err
		}
	}
	res, desired := rv.Get(id)
	rec, err := st.GetRecord(ctx, id)
	recorded := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return DescribeView{}, err
	}
	if !desired && !recorded {
		return DescribeView{}, fmt.Errorf("%s: %w", id, ErrUnknownResource)
	}
	v := DescribeView{Desired: desired}
	if recorded {
		v.ResourceView = Resource(rec)
		v.Outputs = maskOutputs(opts.Schema, rec.Kind, v.Outputs)
		v.AppliedSpec = maskSpec(opts.Schema, rec.Kind, rec.AppliedSpec)
		v.Deps = rec.Deps
	} else {
		v.ResourceView = ResourceView{ID: res.ID, Kind: res.Kind, Phase: store.PhasePending, Message: "not reconciled yet"}
	}
	if desired {
		v.Labels = res.Labels
		v.Spec = maskSpec(opts.Schema, res.Kind, res.Spec)
		v.Deps = res.Deps()
	}
	if v.Phase != store.PhaseReady && v.Phase != store.PhaseDrifted {
		for _, dep := range v.Deps {
			ph := store.PhasePending
			if r, err := st.GetRecord(ctx, dep); err == nil {
				ph = r.Phase
			} else if !errors.Is(err, store.ErrNotFound) {
				return DescribeView{}, err
			}
			if ph != store.PhaseReady && ph != store.PhaseDrifted {
				v.WaitingFor = append(v.WaitingFor, DepStatus{ID: dep, Phase: ph})
			}
		}
	}
	switch {
	case v.Phase == store.PhaseWaiting:
		v.Waiting = v.Message
	case len(v.WaitingFor) > 0 && v.Phase == store.PhasePending:
		deps := make([]string, len(v.WaitingFor))
		for i, d := range v.WaitingFor {
			deps[i] = d.ID + ": " + string(d.Phase)
		}
		v.Waiting = "waiting for " + strings.Join(deps, ", ")
	}
	n := opts.Events
	if n <= 0 {
		n = DescribeEvents
	}
	if v.Events, err = st.ListEvents(ctx, store.EventFilter{Resource: id, Limit: n}); err != nil {
		return DescribeView{}, err
	}
	if v.Events == nil {
		v.Events = []store.Event{}
	}
	if recorded && standsDrifted(v.ResourceView) {
		v.Drift = rec.Drift
	}
	return v, nil
}

// TargetRevision returns the state's target revision, decoded; an empty
// revision when there is none, or its resources were not kept.
func TargetRevision(ctx context.Context, st store.Store) (*manifest.Revision, error) {
	hash, err := st.Target(ctx)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if hash == "" {
		return &manifest.Revision{}, nil
	}
	r, err := st.GetRevision(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return &manifest.Revision{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the target revision: %w", err)
	}
	rv, err := engine.RevisionFromStore(r)
	if err != nil {
		return &manifest.Revision{}, nil
	}
	return rv, nil
}

// standsDrifted reports whether v's resource stands drifted: its phase, or
// its Drifted condition.
func standsDrifted(v ResourceView) bool {
	if v.Phase == store.PhaseDrifted {
		return true
	}
	for _, c := range v.Conditions {
		if c.Type == store.ConditionDrifted {
			return c.Status == store.ConditionTrue
		}
	}
	return false
}

// maskSpec returns spec with the values of kind's sensitive fields
// replaced by "(sensitive)" and the passwords in URLs redacted.
func maskSpec(schema func(string) (provider.Schema, bool), kind string, spec map[string]any) map[string]any {
	if spec == nil {
		return nil
	}
	var s provider.Schema
	if schema != nil {
		s, _ = schema(kind)
	}
	out := make(map[string]any, len(spec))
	for k, v := range spec {
		if s.Fields[k].Sensitive {
			out[k] = diff.SensitiveValue
			continue
		}
		out[k] = redactURLs(maskSealed(v))
	}
	return out
}

// maskOutputs returns outputs with the values of kind's sensitive outputs
// replaced by "(sensitive)", sealed values masked and the passwords in
// URLs redacted.
func maskOutputs(schema func(string) (provider.Schema, bool), kind string, outputs map[string]any) map[string]any {
	if outputs == nil {
		return nil
	}
	var s provider.Schema
	if schema != nil {
		s, _ = schema(kind)
	}
	out := make(map[string]any, len(outputs))
	for k, v := range outputs {
		if s.SensitiveOutput(k) {
			out[k] = diff.SensitiveValue
			continue
		}
		out[k] = redactURLs(maskSealed(v))
	}
	return out
}

// maskSealed returns v with every sealed value replaced by
// "(sensitive)": what the state holds sealed is secret (a sensitive
// field, an output or a value built from one), whatever the schema says.
func maskSealed[T any](v T) T {
	m, _ := maskSealedAny(v).(T)
	return m
}

func maskSealedAny(v any) any {
	switch x := v.(type) {
	case string:
		if secret.IsSealed(x) {
			return diff.SensitiveValue
		}
		return x
	case map[string]any:
		if x == nil {
			return x
		}
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = maskSealedAny(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = maskSealedAny(e)
		}
		return l
	}
	return v
}

// redactURLs returns v with the password of every URL it holds redacted.
func redactURLs(v any) any {
	switch x := v.(type) {
	case string:
		if !strings.Contains(x, "://") {
			return x
		}
		if u, err := url.Parse(x); err == nil && u.User != nil {
			if _, ok := u.User.Password(); ok {
				return u.Redacted()
			}
		}
		return x
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = redactURLs(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = redactURLs(e)
		}
		return s
	}
	return v
}

// Selection picks resources of a status view; its zero value picks every
// one.
type Selection struct {
	// IDs, when given, are the only resources picked, in this order.
	IDs   []string
	Kind  string
	Phase store.Phase
	// Selector picks by the manifests' labels; empty: every resource.
	Selector Selector
}

// Select keeps the resources of v that sel picks. Labels are those of rv,
// the manifests' revision (nil: the state's target revision). A resource
// sel names that v does not hold but the target desires shows as Pending;
// one converge neither desires nor records is an error matching
// ErrUnknownResource.
func Select(ctx context.Context, st store.Store, rv *manifest.Revision, v StatusView, sel Selection) (StatusView, error) {
	if rv == nil && (len(sel.IDs) > 0 || len(sel.Selector) > 0) {
		// Decoded only when needed: a large revision takes a while.
		var err error
		if rv, err = TargetRevision(ctx, st); err != nil {
			return StatusView{}, err
		}
	}
	rows := v.Resources
	if len(sel.IDs) > 0 {
		byID := make(map[string]ResourceView, len(rows))
		for _, r := range rows {
			byID[r.ID] = r
		}
		rows = make([]ResourceView, 0, len(sel.IDs))
		var unknown []string
		for _, id := range sel.IDs {
			r, ok := byID[id]
			if !ok {
				res, desired := rv.Get(id)
				if !desired {
					unknown = append(unknown, id)
					continue
				}
				r = ResourceView{ID: res.ID, Kind: res.Kind, Phase: store.PhasePending, Message: "not reconciled yet"}
			}
			if !slices.ContainsFunc(rows, func(x ResourceView) bool { return x.ID == id }) {
				rows = append(rows, r)
			}
		}
		if len(unknown) > 0 {
			return StatusView{}, fmt.Errorf("%s: %w", strings.Join(unknown, ", "), ErrUnknownResource)
		}
	}
	out := make([]ResourceView, 0, len(rows))
	for _, r := range rows {
		if sel.Kind != "" && r.Kind != sel.Kind || sel.Phase != "" && r.Phase != sel.Phase {
			continue
		}
		if len(sel.Selector) > 0 {
			res, ok := rv.Get(r.ID)
			if !ok || !sel.Selector.Matches(res.Labels) {
				continue
			}
		}
		out = append(out, r)
	}
	v.Resources = out
	return v, nil
}
