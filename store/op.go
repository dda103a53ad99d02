package store

// Op is a mutation converge records before it calls a provider.
type Op string

// The operations of Operation.Op.
const (
	OpCreate  Op = "create"
	OpUpdate  Op = "update"
	OpReplace Op = "replace"
	OpDelete  Op = "delete"
	// OpDeleteDeposed deletes the objects a replace deposed; it does not
	// make the resource itself any less Ready.
	OpDeleteDeposed Op = "delete-deposed"
)

// PhaseDeletingReplaced is the phase a dependent reports while the object
// it was replaced from is being deleted.
const PhaseDeletingReplaced Phase = "DeletingReplaced"

// InterruptedCreate reports whether r records a create that was begun and
// may have taken effect, with no object converge knows of yet.
func (r *Record) InterruptedCreate() bool {
	return r != nil && r.Origin == "" && r.Pending != nil && r.Pending.Op == OpCreate
}

// Ours reports whether an object of r is converge's to manage: converge
// created or adopted it, or intends to create it (an interrupted create
// may have made it).
func (r *Record) Ours() bool {
	return r != nil && (r.Origin != "" || r.Pending != nil)
}
