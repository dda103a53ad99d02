package controller

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/store"
)

// The views are what status and history show, as data: the CLI renders
// them as tables or JSON, and an API can serve the same values.

// ResourceView is one resource's status.
type ResourceView struct {
	ID            string            `json:"id"`
	Kind          string            `json:"kind"`
	Phase         store.Phase       `json:"phase"`
	Message       string            `json:"message,omitempty"`
	Origin        store.Origin      `json:"origin,omitempty"`
	Revision      string            `json:"revision,omitempty"`
	Attempts      int               `json:"attempts,omitempty"`
	LastError     string            `json:"lastError,omitempty"`
	NextRetry     *time.Time        `json:"nextRetry,omitempty"`
	Conditions    []store.Condition `json:"conditions,omitempty"`
	Outputs       map[string]any    `json:"outputs,omitempty"`
	Created       time.Time         `json:"created,omitempty"`
	LastReconcile time.Time         `json:"lastReconcile,omitempty"`
}

// Resource is the view of one record.
func Resource(r store.Record) ResourceView {
	v := ResourceView{
		ID: r.ID, Kind: r.Kind, Phase: r.Phase, Message: r.Message, Origin: r.Origin, Revision: r.Revision,
		Attempts: r.Attempts, LastError: r.LastError, Conditions: r.Conditions, Outputs: maskSealed(r.Outputs),
		Created: r.Created, LastReconcile: r.LastReconcile,
	}
	if !r.NextRetry.IsZero() {
		t := r.NextRetry
		v.NextRetry = &t
	}
	return v
}

// StatusView is where the state stands: the target revision, the last
// known good one, what the manifests are at, and every resource.
type StatusView struct {
	Target        string              `json:"targetRevision,omitempty"`
	TargetState   store.RevisionState `json:"targetState,omitempty"`
	TargetReason  string              `json:"targetReason,omitempty"`
	LastKnownGood string              `json:"lastKnownGood,omitempty"`
	// LastKnownGoodAt is when the last known good revision converged.
	LastKnownGoodAt time.Time `json:"-"`
	// Staying says why converge stays off the manifests' revision.
	Staying string `json:"staying,omitempty"`
	// Held and HeldReason name the newest revision when it is held.
	Held       string         `json:"heldRevision,omitempty"`
	HeldReason string         `json:"heldReason,omitempty"`
	Resources  []ResourceView `json:"resources"`
}

// Status reads the status view from st. With the manifests' revision rv
// (nil: none given), desired resources converge has not recorded yet show
// as Pending, and the view says when converge stays off rv.
func Status(ctx context.Context, st store.Store, rv *manifest.Revision) (StatusView, error) {
	recs, err := st.ListRecords(ctx)
	if err != nil {
		return StatusView{}, err
	}
	v := StatusView{Resources: make([]ResourceView, 0, len(recs))}
	for _, r := range recs {
		v.Resources = append(v.Resources, Resource(r))
	}
	v.Target, _ = st.Target(ctx)
	if rv != nil {
		// The rule is Stays; status does not know the daemon's rollback
		// mode, so a failed revision says both.
		prev, err := st.GetRevision(ctx, rv.Hash)
		switch {
		case err == nil && rv.Hash != v.Target && Stays(prev, false):
			v.Staying = fmt.Sprintf("The manifests are at revision %s, which was %s (%s); converge stays on revision %s until they change.",
				short(rv.Hash), prev.State, oneLine(prev.Reason), short(v.Target))
		case err == nil && rv.Hash != v.Target && Stays(prev, true):
			v.Staying = fmt.Sprintf("The manifests are at revision %s, which failed (%s); with --rollback auto converge stays on revision %s until they change, with --rollback off the next apply or run targets it again.",
				short(rv.Hash), oneLine(prev.Reason), short(v.Target))
		default:
			v.Resources = withDesired(v.Resources, rv)
		}
	}
	revs, err := st.ListRevisions(ctx)
	if err != nil {
		return StatusView{}, err
	}
	lkg, _ := store.LastKnownGood(revs)
	v.LastKnownGood, v.LastKnownGoodAt = lkg.Hash, lkg.Converged
	var newest *store.Revision
	for i, r := range revs {
		if r.Hash == v.Target {
			v.TargetState, v.TargetReason = r.State, r.Reason
		}
		if newest == nil || !r.Created.Before(newest.Created) {
			newest = &revs[i]
		}
	}
	if newest != nil && newest.State == store.RevisionHeld {
		v.Held, v.HeldReason = newest.Hash, newest.Reason
	}
	return v, nil
}

// withDesired adds the desired resources converge has not recorded yet, as
// Pending.
func withDesired(rows []ResourceView, rv *manifest.Revision) []ResourceView {
	have := map[string]bool{}
	for _, r := range rows {
		have[r.ID] = true
	}
	for _, res := range rv.Resources {
		if !have[res.ID] {
			rows = append(rows, ResourceView{ID: res.ID, Kind: res.Kind, Phase: store.PhasePending, Message: "not reconciled yet"})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].ID < rows[j].ID })
	return rows
}

// RevisionView is one revision of the history.
type RevisionView struct {
	Hash          string              `json:"hash"`
	Created       time.Time           `json:"created"`
	Sources       []string            `json:"sources"`
	State         store.RevisionState `json:"state"`
	Reason        string              `json:"reason,omitempty"`
	Commit        string              `json:"commit,omitempty"`
	Converged     *time.Time          `json:"converged,omitempty"`
	Resources     int                 `json:"resources"`
	Target        bool                `json:"target"`
	LastKnownGood bool                `json:"lastKnownGood"`
}

// History lists the revisions in st, oldest first, marking the target and
// the last known good one.
func History(ctx context.Context, st store.Store) ([]RevisionView, error) {
	revs, err := st.ListRevisions(ctx)
	if err != nil {
		return nil, err
	}
	target, _ := st.Target(ctx)
	lkg, _ := store.LastKnownGood(revs)
	rows := make([]RevisionView, 0, len(revs))
	for _, r := range revs {
		n := 0
		if rv, err := engine.RevisionFromStore(r); err == nil {
			n = len(rv.Resources)
		}
		x := RevisionView{Hash: r.Hash, Created: r.Created, Sources: r.Sources, State: r.State, Reason: r.Reason, Commit: r.Commit,
			Resources: n, Target: r.Hash == target, LastKnownGood: r.Hash == lkg.Hash}
		if !r.Converged.IsZero() {
			c := r.Converged
			x.Converged = &c
		}
		rows = append(rows, x)
	}
	return rows, nil
}

// oneLine puts s on one line, at most 160 bytes.
func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}
