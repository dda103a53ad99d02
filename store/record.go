package store

import (
	"context"
	"github.com/convergehq/converge/provider"
	"time"
)

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
type Origin string

// Origins. The empty Origin: converge manages no object yet.
const (
	OriginCreated Origin = "created" // converge created it (or recorded the intent to)
	OriginAdopted Origin = "adopted" // it existed and converge took it over (it matched, or converge adopt was asked): never deleted
)

// Condition is one aspect of a resource's status, Kubernetes-style.
type Condition struct {
	Type               ConditionType   `json:"type"`
	Status             ConditionStatus `json:"status"`
	Reason             Reason          `json:"reason"`
	Message            string          `json:"message,omitempty"`
	LastTransitionTime time.Time       `json:"lastTransitionTime"`
}

// ConditionType names an aspect of a resource's state.
type ConditionType string

// The condition types converge sets.
const (
	ConditionReady   ConditionType = "Ready"   // the object matches its applied spec
	ConditionDrifted ConditionType = "Drifted" // the object was changed outside converge
)

// ConditionStatus says whether a condition holds.
type ConditionStatus string

// Condition statuses, as in Kubernetes.
const (
	ConditionTrue    ConditionStatus = "True"
	ConditionFalse   ConditionStatus = "False"
	ConditionUnknown ConditionStatus = "Unknown"
)

// Operation is a mutation converge intends to make or is making. It is
// written before the provider is called, so that after a crash the next
// attempt knows what may have happened.
type Operation struct {
	Op       Op     `json:"op"`  // see the Op constants
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

	// Version is set by the store on every write of the record and read
	// back with it; writers leave it alone (PutRecord ignores it). It is
	// the sequence number of the change that wrote the record (see
	// Change.Seq), from one sequence for the whole store, so it only
	// grows: a record deleted and put again has a higher version than it
	// ever had. 0 means not stored. Conditional writes compare it (see
	// ConditionalRecordStore).
	Version int64 `json:"version,omitempty"`

	Phase   Phase  `json:"phase"`
	Message string `json:"message,omitempty"`
	// Origin is OriginCreated or OriginAdopted once an object exists, empty
	// before.
	Origin Origin `json:"origin,omitempty"`

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
	// Drift is the field diff the last drift detection found (observed ->
	// last applied, sensitive values masked), while the Drifted condition
	// holds; empty otherwise, and for an object deleted out of band.
	Drift      string         `json:"drift,omitempty"`
	Attempts   int            `json:"attempts,omitempty"`
	LastError  string         `json:"lastError,omitempty"`
	ErrorClass provider.Class `json:"errorClass,omitempty"` // its text form, "terminal"; empty is retryable
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
func (r *Record) Condition(t ConditionType) (Condition, bool) {
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

// RecordStore keeps one record per managed resource.
type RecordStore interface {
	GetRecord(ctx context.Context, id string) (Record, error)
	ListRecords(ctx context.Context) ([]Record, error) // sorted by ID
	// PutRecord stores r, replacing any record with its ID whole,
	// whatever its version.
	PutRecord(ctx context.Context, r Record) error
	DeleteRecord(ctx context.Context, id string) error // deleting a missing record is not an error
}
