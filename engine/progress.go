package engine

import (
	"sort"
	"time"

	"github.com/convergehq/converge/store"
)

// Activity is what the engine is doing now, counted over the resources of
// the target revision and the records that left it (to delete), for a
// progress line. Each resource counts once, by its phase.
type Activity struct {
	// Total is the number of resources to converge: those the target
	// declares, and the recorded ones it does not (to delete or forget).
	Total int `json:"total"`
	// Ready are the target's resources that are Ready on it.
	Ready int `json:"ready"`
	// Creating, Updating (replacements included) and Deleting have a
	// mutating call in flight, or about to be made.
	Creating int `json:"creating"`
	Updating int `json:"updating"`
	Deleting int `json:"deleting"`
	// Provisioning were accepted by their provider (the create or update
	// returned) and are not ready yet: they are observed again until they
	// are.
	Provisioning int `json:"provisioning"`
	// Waiting wait for dependencies, or for time.
	Waiting int `json:"waiting"`
	// Failed failed, and are retried (Error) or not (Failed).
	Failed int `json:"failed"`
	// InFlight is the number of provider calls in flight now, observes
	// included.
	InFlight int `json:"inFlight"`
	// Slowest is the mutating provider call in flight for the longest
	// time; nil when there is none.
	Slowest *Call `json:"slowest,omitempty"`
}

// OpObserve is the Op of a Call that observes.
const OpObserve store.Op = "observe"

// Call is a provider call in flight.
type Call struct {
	ID string `json:"id"`
	// Op is the provider method: store.OpCreate, OpUpdate, OpDelete or
	// OpObserve.
	Op store.Op `json:"op"`
	// Since is when the provider was called (after the provider's rate
	// limit let the call through).
	Since time.Time `json:"since"`
}

func (e *Engine) callStarted(id string, op store.Op, at time.Time) {
	e.callsMu.Lock()
	e.inflight[id] = Call{ID: id, Op: op, Since: at}
	e.callsMu.Unlock()
}

func (e *Engine) callEnded(id string) {
	e.callsMu.Lock()
	delete(e.inflight, id)
	e.callsMu.Unlock()
}

// InFlight returns the provider calls in flight now, oldest first.
func (e *Engine) InFlight() []Call {
	e.callsMu.Lock()
	out := make([]Call, 0, len(e.inflight))
	for _, c := range e.inflight {
		out = append(out, c)
	}
	e.callsMu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Since.Equal(out[j].Since) {
			return out[i].Since.Before(out[j].Since)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Activity reports what the engine is doing. It reads memory only, and
// takes the engine's lock once, briefly: it may be called often.
func (e *Engine) Activity() Activity {
	e.mu.Lock()
	defer e.mu.Unlock()
	var a Activity
	count := func(id string, r *store.Record) {
		if r == nil {
			return
		}
		switch r.Phase {
		case store.PhaseWaiting, store.PhasePending:
			a.Waiting++
			return
		case store.PhaseError, store.PhaseFailed:
			a.Failed++
			return
		}
		if r.Pending == nil {
			switch r.Phase {
			case store.PhaseCreating, store.PhaseUpdating, store.PhaseReplacing:
				a.Provisioning++
			}
			return
		}
		switch r.Pending.Op {
		case store.OpCreate:
			a.Creating++
		case store.OpUpdate, store.OpReplace:
			a.Updating++
		case store.OpDelete, store.OpDeleteDeposed:
			a.Deleting++
		}
	}
	if e.target != nil {
		for _, res := range e.target.Resources {
			a.Total++
			if _, ok := e.readyLocked(res.ID); ok {
				a.Ready++
				if r := e.records[res.ID]; r != nil && r.Pending != nil {
					count(res.ID, r) // its replaced object is being deleted
				}
				continue
			}
			count(res.ID, e.records[res.ID])
		}
	}
	for id, r := range e.records {
		if _, ok := e.target.Get(id); ok {
			continue
		}
		a.Total++
		count(id, r)
	}
	calls := e.InFlight()
	a.InFlight = len(calls)
	for _, c := range calls {
		if c.Op != OpObserve {
			a.Slowest = &c
			break
		}
	}
	return a
}
