package plan

import "github.com/convergehq/converge/diff"

// Type is the kind of an action.
type Type string

// Action types.
const (
	None     Type = "none"     // observed state matches; nothing to do
	Wait     Type = "wait"     // dependencies are not Ready
	Create   Type = "create"   // +
	Update   Type = "update"   // ~
	Replace  Type = "replace"  // -/+
	Delete   Type = "delete"   // -
	Adopt    Type = "adopt"    // exists, matches, not recorded: take it over without a call
	Forget   Type = "forget"   // removed with policy orphan: drop the record, leave the object
	Conflict Type = "conflict" // exists, differs, not converge's: refuse to overwrite
	Drift    Type = "drift"    // drifted, policy alert: report only
	Blocked  Type = "blocked"  // failed terminally on this spec; not retried until it changes
	Error    Type = "error"    // could not be observed (the reason says why): unknown what apply would do
)

// Mutating reports whether t calls a provider mutation.
func (t Type) Mutating() bool {
	return t == Create || t == Update || t == Replace || t == Delete
}

// Action is what converge will do to one resource.
type Action struct {
	Type Type   `json:"action"`
	ID   string `json:"id"`
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Diff is the field-level change, for update, replace, drift and conflict.
	Diff diff.Diff `json:"diff,omitempty"`
	// Reason says why, in a few words: "not found", "spec changed",
	// "drift corrected", "removed from manifests", "waiting for file.Directory/www: Creating".
	Reason string `json:"reason,omitempty"`
	// WaitFor names the dependencies that are not Ready, for wait.
	WaitFor []string `json:"waitFor,omitempty"`
	// Drift is true when the action corrects or reports drift.
	Drift bool `json:"drift,omitempty"`
	// Gone is true when the drift is that the object was deleted out of
	// band (with Drift).
	Gone bool `json:"gone,omitempty"`
	// Deposed is true for a delete of an object that a replace superseded
	// (the resource itself stays).
	Deposed bool `json:"deposed,omitempty"`
}

// Plan is every action for one revision, in dependency order: creates and
// updates dependencies-first, deletes dependents-first.
type Plan struct {
	Revision string   `json:"revision"`
	Actions  []Action `json:"actions"`
}
