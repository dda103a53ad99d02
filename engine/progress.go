package engine

import (
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
	// Slowest is the mutating call in flight for the longest time; nil
	// when there is none.
	Slowest *Call `json:"slowest,omitempty"`
}

// Call is a mutating provider call in flight.
type Call struct {
	ID string   `json:"id"`
	Op store.Op `json:"op"`
	// Since is when the call started: its intent was recorded, or its last
	// attempt failed (a retry started after that).
	Since time.Time `json:"since"`
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
		since := r.Pending.Started
		if r.Pending.Attempted.After(since) {
			since = r.Pending.Attempted
		}
		if a.Slowest == nil || since.Before(a.Slowest.Since) || (since.Equal(a.Slowest.Since) && id < a.Slowest.ID) {
			a.Slowest = &Call{ID: id, Op: r.Pending.Op, Since: since}
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
	return a
}
