package provider

import "context"

// Provider manages the resources of some kinds.
type Provider interface {
	// Name is the kind prefix: "file" for "file.File".
	Name() string
	// Schemas describes every kind the provider manages.
	Schemas() []Schema
	// Observe reads the current state of one resource. It never mutates. A
	// resource that does not exist is Observation{Exists: false} and a nil
	// error.
	Observe(ctx context.Context, req Request) (Observation, error)
	// Create makes the resource described by req.Spec. It is idempotent:
	// req.IdempotencyKey is the same for every retry of one logical create.
	// A create that made the object but failed after (a tag not set, a
	// setting refused) returns the error together with a Result whose
	// Private names the object made in part: the engine records it, and
	// the retry observes that object and updates (or deletes) it instead
	// of creating a second one.
	Create(ctx context.Context, req Request) (Result, error)
	// Update changes the resource in place to req.Spec. Idempotent. An
	// update that changed the object in part returns the error together
	// with a Result whose Private says where the object is now (an API
	// that recreates on update gives it a new ID): the retry goes on from
	// there.
	Update(ctx context.Context, req Request) (Result, error)
	// Delete removes the resource. Deleting what is already gone succeeds.
	Delete(ctx context.Context, req Request) error
}

// Request identifies one resource and carries what the engine knows of it.
// Its maps are shared with the engine's records: a provider must not
// modify them.
type Request struct {
	ID   string // "file.File/index"
	Kind string // "file.File"
	Name string // "index"
	// Spec is the desired spec with references resolved, defaults applied and
	// fields normalized, for Create and Update. For Observe of an object
	// converge already has (created or adopted) it is the spec last
	// applied, so that the object is found where it was made even when a
	// force-new field changed; for Observe of an interrupted create, the
	// spec of that create; otherwise the desired spec. For Delete it is the
	// last applied spec (or the interrupted create's). Values that came
	// from references are not checked against the schema's Validate (that
	// runs at load, on what the manifest wrote): a provider re-checks what
	// it relies on.
	Spec map[string]any
	// Outputs and Private are what the last successful operation returned.
	Outputs map[string]any
	Private map[string]string
	// IdempotencyKey is stable across every retry of one logical operation,
	// including retries after a crash.
	IdempotencyKey string
	// Planned is the provider's own plan, for an Update or for the Create
	// of a replace, when the provider is a [Planner]; nil otherwise.
	Planned *Planned
	// ImportID, for Observe of a resource converge manages no object of
	// yet, is the manifest's importId: the remote ID of an existing object
	// to take over. A provider that finds objects by such an ID (a
	// Terraform provider's ImportResourceState) observes that object; the
	// engine then adopts it whether or not it matches the spec, and
	// updates it to the spec. Empty otherwise.
	ImportID string
}

// Observation is what exists.
type Observation struct {
	Exists bool
	// State holds the observed values of the spec fields, in the spec's shape,
	// so the engine can diff it against the desired spec. Fields the provider
	// cannot read are absent.
	State map[string]any
	// Outputs are the values other resources may reference.
	Outputs map[string]any
	// Private is provider state to keep in the record (an object's remote ID).
	Private map[string]string
	// NotReady, when non-empty, says the resource exists but is not ready yet
	// (provisioning); the engine observes it again later.
	NotReady string
}

// Result is what a successful Create or Update returns.
type Result struct {
	Outputs map[string]any
	Private map[string]string
	// NotReady, when non-empty, says the object was accepted but is not
	// ready yet (provisioning); the engine observes it again later.
	NotReady string
}

// Validator is implemented by providers that check a whole resolved spec
// beyond its schema (for example a path that escapes the root). It is called
// at validation time with unresolved references left as they are.
type Validator interface {
	ValidateSpec(kind string, spec map[string]any) []FieldError
}
