package store

import (
	"context"
	"time"
)

// EventType says whether an event is news (Normal) or needs attention
// (Warning).
type EventType string

// Event types.
const (
	Normal  EventType = "Normal"
	Warning EventType = "Warning"
)

// Reason says why an event happened, in one CamelCase word. Reasons are a
// contract: scripts and alerts match them.
type Reason string

// The reasons converge records.
const (
	ReasonCreated         Reason = "Created"
	ReasonAccepted        Reason = "Accepted" // made, and still provisioning: Created follows when it is ready
	ReasonUpdated         Reason = "Updated"
	ReasonReplaced        Reason = "Replaced"
	ReasonDeleted         Reason = "Deleted"
	ReasonDeletedReplaced Reason = "DeletedReplaced" // the object a replace superseded is gone
	ReasonAdopted         Reason = "Adopted"
	ReasonForgotten       Reason = "Forgotten"
	ReasonDriftDetected   Reason = "DriftDetected"
	ReasonDriftCorrected  Reason = "DriftCorrected"
	ReasonDriftResolved   Reason = "DriftResolved"
	ReasonDryRun          Reason = "DryRun"
	ReasonRetrying        Reason = "Retrying"    // a failure that is retried after a backoff
	ReasonRateLimited     Reason = "RateLimited" // the provider asked to slow down
	ReasonFailed          Reason = "Failed"      // a failure that is not retried until the spec changes
	ReasonConflict        Reason = "Conflict"    // an object converge did not create is in the way
	ReasonConverged       Reason = "Converged"   // the Ready condition's reason when it holds

	ReasonRevisionConverged  Reason = "RevisionConverged"
	ReasonRevisionFailed     Reason = "RevisionFailed"
	ReasonRollingBack        Reason = "RollingBack"
	ReasonRolledBack         Reason = "RolledBack"
	ReasonRollbackImpossible Reason = "RollbackImpossible"
	ReasonDeletionHeld       Reason = "DeletionHeld"
	ReasonEmptyManifests     Reason = "EmptyManifests"
	ReasonInvalidManifests   Reason = "InvalidManifests"
)

// Event is something that happened to a resource, Kubernetes-style.
type Event struct {
	ID        int64     `json:"id"`
	Type      EventType `json:"type"`
	Reason    Reason    `json:"reason"`
	Message   string    `json:"message"`
	Resource  string    `json:"resource"` // involved resource ID; empty for the whole run
	Revision  string    `json:"revision,omitempty"`
	Count     int       `json:"count"`
	FirstSeen time.Time `json:"firstSeen"`
	LastSeen  time.Time `json:"lastSeen"`
}

// EventFilter selects events. Zero values select everything.
type EventFilter struct {
	Resource string
	Since    time.Time // LastSeen at or after
	Limit    int       // newest Limit events; 0 means all
}

// EventLog keeps events, aggregated.
type EventLog interface {
	// AddEvent records e, aggregating it into an existing event with the same
	// resource, type, reason and message. It returns the stored event.
	AddEvent(ctx context.Context, e Event) (Event, error)
	ListEvents(ctx context.Context, f EventFilter) ([]Event, error) // oldest first
	// PruneEvents deletes the events last seen before the given time and
	// returns how many it deleted.
	PruneEvents(ctx context.Context, before time.Time) (int, error)
}
