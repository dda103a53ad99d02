package provider

import (
	"context"
	"fmt"
)

// Planner is implemented by providers that plan a change themselves, as
// Terraform providers do (PlanResourceChange): given the desired spec and
// the observed object, the provider says whether it changes in place, must
// be replaced (and which fields force that), or already matches. It is
// optional; without it the engine compares the desired spec with the
// observed state, field by field, using the schema's ForceNew.
//
// The engine asks only about an object that exists and that it manages;
// creates and deletes need no plan. PlanChange must not change anything: it
// runs in plan previews too. An error is classified like any other (see
// [Classify]).
type Planner interface {
	PlanChange(ctx context.Context, req PlanRequest) (Planned, error)
}

// PlanRequest is what a plan is made from.
type PlanRequest struct {
	ID, Kind, Name string
	// Spec is the desired spec, resolved and normalized. In a plan preview,
	// values that come from resources not created yet are [Unknown].
	Spec map[string]any
	// Applied is the spec converge last applied to the object (Terraform's
	// prior configuration); nil for an object converge did not apply.
	Applied map[string]any
	// Observed is what Observe just returned; Exists is true.
	Observed Observation
	// Private is the record's provider state.
	Private map[string]string
}

// PlanAction is what a planned change does to the object.
type PlanAction int

// Plan actions.
const (
	PlanNoop    PlanAction = iota // the object already matches
	PlanUpdate                    // it changes in place
	PlanReplace                   // it is deleted and created again
)

func (a PlanAction) String() string {
	switch a {
	case PlanNoop:
		return "no-op"
	case PlanUpdate:
		return "update"
	case PlanReplace:
		return "replace"
	}
	return fmt.Sprintf("PlanAction(%d)", int(a))
}

// Planned is a provider's plan for one object.
type Planned struct {
	Action PlanAction
	// Paths are the spec fields the change touches, in the engine's path
	// syntax ("content", "tags.env", "ports[1]"); a path names its whole
	// subtree. It may be empty, or name fields the spec does not hold, for
	// a change only the provider sees (a computed attribute).
	Paths []string
	// ReplacePaths are the fields that force the replacement (Terraform's
	// RequiresReplace), with PlanReplace.
	ReplacePaths []string
	// Outputs are the outputs the object will have after the change, with
	// [Unknown] for values known only after apply; nil: not predicted (a
	// dependent's values from them are known after apply).
	Outputs map[string]any
	// Private is provider state for the Update or Create that carries the
	// plan out (Terraform's PlannedPrivate); it reaches it as
	// [Request.Planned].
	Private map[string]string
}
