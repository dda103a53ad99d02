package store

import (
	"context"
	"time"
)

// Event types.
const (
	Normal  = "Normal"
	Warning = "Warning"
)

// Event is something that happened to a resource, Kubernetes-style.
type Event struct {
	ID        int64     `json:"id"`
	Type      string    `json:"type"` // Normal or Warning
	Reason    string    `json:"reason"`
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
