// Package store defines where converge keeps what it knows: revisions (the
// desired sets it targeted), one record per managed resource, and events.
//
// Guarantees every implementation keeps (checked by storetest):
//   - A write that returned nil is durable: it survives a crash of the process.
//   - Writes of one record replace it whole; a reader never sees half of one.
//   - Events with the same resource, type, reason and message are aggregated:
//     the count grows and LastSeen moves, no second row appears.
//   - Methods are safe for concurrent use.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when a record or revision does not exist.
var ErrNotFound = errors.New("not found")

// Phase is where a resource stands.
type Phase string

// Phases.
const (
	PhasePending   Phase = "Pending"   // known, not reconciled yet
	PhaseWaiting   Phase = "Waiting"   // waiting for dependencies
	PhaseCreating  Phase = "Creating"  // create in progress
	PhaseUpdating  Phase = "Updating"  // update in progress
	PhaseReplacing Phase = "Replacing" // replace in progress
	PhaseDeleting  Phase = "Deleting"  // delete in progress
	PhaseReady     Phase = "Ready"     // observed state matches the desired spec
	PhaseDrifted   Phase = "Drifted"   // differs from the applied spec; policy says only report
	PhaseError     Phase = "Error"     // the last attempt failed; it will be retried
	PhaseFailed    Phase = "Failed"    // terminal or conflict: not retried until the spec changes
)

// Origin says how converge came to manage an object.
const (
	OriginCreated = "created" // converge created it (or recorded the intent to)
	OriginAdopted = "adopted" // it existed, matching the desired spec, and converge took it over
)

// Condition is one aspect of a resource's status, Kubernetes-style.
type Condition struct {
	Type               string    `json:"type"`   // Ready, Drifted, Blocked, ...
	Status             string    `json:"status"` // True, False, Unknown
	Reason             string    `json:"reason"`
	Message            string    `json:"message,omitempty"`
	LastTransitionTime time.Time `json:"lastTransitionTime"`
}

// Operation is a mutation converge intends to make or is making. It is
// written before the provider is called, so that after a crash the next
// attempt knows what may have happened.
type Operation struct {
	Op       string `json:"op"`  // create, update, replace, delete
	Key      string `json:"key"` // idempotency key, stable across retries
	SpecHash string `json:"specHash,omitempty"`
	// Spec is the resolved spec the operation applies, so that an
	// interrupted create can still be found and deleted.
	Spec    map[string]any `json:"spec,omitempty"`
	Started time.Time      `json:"started"`
	// Ambiguous says the last attempt failed in a way that may have taken
	// effect anyway, at Attempted.
	Ambiguous bool      `json:"ambiguous,omitempty"`
	Attempted time.Time `json:"attempted,omitzero"`
}

// Instance is one object in the world that converge manages.
type Instance struct {
	Spec    map[string]any    `json:"spec,omitempty"`
	Outputs map[string]any    `json:"outputs,omitempty"`
	Private map[string]string `json:"private,omitempty"`
}

// Record is what converge knows about one resource.
type Record struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	Name string `json:"name"`

	Phase   Phase  `json:"phase"`
	Message string `json:"message,omitempty"`
	// Origin is OriginCreated or OriginAdopted once an object exists, empty
	// before.
	Origin string `json:"origin,omitempty"`

	// AppliedSpec is the resolved spec last applied successfully, and
	// AppliedHash the hash of the desired resource it came from.
	AppliedSpec map[string]any    `json:"appliedSpec,omitempty"`
	AppliedHash string            `json:"appliedHash,omitempty"`
	Outputs     map[string]any    `json:"outputs,omitempty"`
	Private     map[string]string `json:"private,omitempty"`
	// Deps are the resource's dependencies when it was last applied, so that
	// a resource removed from the manifests is still deleted dependents-first.
	Deps []string `json:"deps,omitempty"`
	// DeletionPolicy is the policy.deletion last applied: delete or orphan.
	DeletionPolicy string `json:"deletionPolicy,omitempty"`
	// Revision is the hash of the revision last applied.
	Revision string `json:"revision,omitempty"`

	Conditions []Condition `json:"conditions,omitempty"`
	Attempts   int         `json:"attempts,omitempty"`
	LastError  string      `json:"lastError,omitempty"`
	ErrorClass string      `json:"errorClass,omitempty"`
	// FailedHash is the desired hash a terminal error happened on; the
	// resource is not retried until its desired hash differs.
	FailedHash string    `json:"failedHash,omitempty"`
	NextRetry  time.Time `json:"nextRetry,omitempty"`

	// Pending is the mutation in flight, if any.
	Pending *Operation `json:"pending,omitempty"`
	// Deposed are objects replaced by a new one and not yet deleted.
	Deposed []Instance `json:"deposed,omitempty"`

	Created       time.Time `json:"created,omitempty"`
	Updated       time.Time `json:"updated,omitempty"`
	LastReconcile time.Time `json:"lastReconcile,omitempty"`
}

// Condition returns the condition of type t, if present.
func (r *Record) Condition(t string) (Condition, bool) {
	for _, c := range r.Conditions {
		if c.Type == t {
			return c, true
		}
	}
	return Condition{}, false
}

// SetCondition sets c, keeping LastTransitionTime when the status did not
// change, so conditions never flap.
func (r *Record) SetCondition(c Condition) {
	for i, old := range r.Conditions {
		if old.Type == c.Type {
			if old.Status == c.Status {
				c.LastTransitionTime = old.LastTransitionTime
			}
			r.Conditions[i] = c
			return
		}
	}
	r.Conditions = append(r.Conditions, c)
}

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

// Revision states.
const (
	RevisionProgressing = "progressing"
	RevisionConverged   = "converged"
	RevisionFailed      = "failed"
	RevisionRolledBack  = "rolled-back"
	// RevisionHeld is a revision that was not targeted because it would
	// delete more than the deletion limit allows; Reason says what.
	RevisionHeld = "held"
)

// Revision is a desired set converge targeted.
type Revision struct {
	Hash    string    `json:"hash"`
	Created time.Time `json:"created"`
	Sources []string  `json:"sources"`
	State   string    `json:"state"`
	Reason  string    `json:"reason,omitempty"`
	// Commit is the git commit of the manifests' work tree, with "-dirty"
	// when they had uncommitted changes; empty outside git.
	Commit string `json:"commit,omitempty"`
	// Converged is when the revision last converged; the revision that
	// converged last is the last known good one.
	Converged time.Time `json:"converged,omitempty"`
	// Resources is the revision's resources, serialized by the manifest
	// package, so an earlier revision can be targeted again.
	Resources []byte `json:"-"`
}

// Store keeps records, events and revisions.
type Store interface {
	GetRecord(ctx context.Context, id string) (Record, error)
	ListRecords(ctx context.Context) ([]Record, error) // sorted by ID
	PutRecord(ctx context.Context, r Record) error
	DeleteRecord(ctx context.Context, id string) error // deleting a missing record is not an error

	// AddEvent records e, aggregating it into an existing event with the same
	// resource, type, reason and message. It returns the stored event.
	AddEvent(ctx context.Context, e Event) (Event, error)
	ListEvents(ctx context.Context, f EventFilter) ([]Event, error) // oldest first
	// PruneEvents deletes the events last seen before the given time and
	// returns how many it deleted.
	PruneEvents(ctx context.Context, before time.Time) (int, error)

	// PutRevision inserts or updates (by hash) a revision.
	PutRevision(ctx context.Context, r Revision) error
	GetRevision(ctx context.Context, hash string) (Revision, error)
	ListRevisions(ctx context.Context) ([]Revision, error) // oldest first
	SetTarget(ctx context.Context, hash string) error
	Target(ctx context.Context) (string, error) // ErrNotFound when none
	// ClearTarget forgets the target: nothing is desired (after a destroy).
	ClearTarget(ctx context.Context) error

	Close() error
}

// Deferrer is implemented by stores that can take writes without waiting
// for them to commit, so that callers that need no acknowledgement do not
// pay for one. Deferred writes commit in order with every other write: once
// a later synchronous write (or Flush) returns, every write deferred before
// it is durable too. An error of a deferred write is returned by the next
// Flush.
type Deferrer interface {
	PutRecordDeferred(r Record)
	DeleteRecordDeferred(id string)
	AddEventDeferred(e Event)
	// Flush waits until every write deferred so far committed, and returns
	// the first error of those writes since the last Flush.
	Flush(ctx context.Context) error
}

// LastKnownGood returns the revision among revs that converged last,
// leaving out those that failed or that someone rolled back from.
func LastKnownGood(revs []Revision) (Revision, bool) {
	var best Revision
	for _, r := range revs {
		if r.State == RevisionFailed || r.State == RevisionRolledBack {
			continue
		}
		if !r.Converged.IsZero() && r.Converged.After(best.Converged) {
			best = r
		}
	}
	return best, best.Hash != ""
}

// Meta is implemented by stores that keep state-wide settings: a few
// named strings, such as the root directory the state belongs to.
type Meta interface {
	// GetMeta returns the value of key, or an error wrapping ErrNotFound
	// when it is not set.
	GetMeta(ctx context.Context, key string) (string, error)
	// SetMeta sets key to value; an empty value deletes the key. It
	// returns once the write is durable.
	SetMeta(ctx context.Context, key, value string) error
}

// RevisionPruner is implemented by stores that can forget old revisions.
type RevisionPruner interface {
	// PruneRevisions deletes the revisions older than the newest keep,
	// except the target and the last known good revision (see
	// LastKnownGood), which are never deleted. It returns how many it
	// deleted. keep <= 0 keeps them all.
	PruneRevisions(ctx context.Context, keep int) (int, error)
}
