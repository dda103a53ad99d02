package engine

// step is what a reconcile was doing when it failed; LastError begins
// with it ("replace (delete old): ...").
type step string

// The steps a reconcile fails at.
const (
	stepReconcile        step = "reconcile"
	stepResolve          step = "resolve"
	stepObserve          step = "observe"
	stepPlan             step = "plan"
	stepImport           step = "import"
	stepAdopt            step = "adopt"
	stepCreate           step = "create"
	stepUpdate           step = "update"
	stepReplace          step = "replace"
	stepReplaceDeleteOld step = "replace (delete old)"
	stepReplaceCreateNew step = "replace (create new)"
	stepDelete           step = "delete"
	stepDeleteReplaced   step = "delete replaced object"
)
