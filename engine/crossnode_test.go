package engine

import (
	"testing"

	"github.com/convergehq/converge/store"
)

// TestSharedWakesDependentsOfAnotherNodesResource: a resource of this
// engine's share that waits for one of another engine's share goes on as
// soon as the other engine's record of it says Ready, not at the next
// resync. (Before, the other writer's change enqueued only the changed
// resource, which this engine does not own and so skipped: its dependents
// kept waiting.) And the other way round: when a dependent of the other
// share is deleted, a dependency of ours that waits for it goes.
func TestSharedWakesDependentsOfAnotherNodesResource(t *testing.T) {
	for name, open := range sharedStores {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			h := newMemHarness(t, Options{})
			rv := h.load(memDoc("a", "one"), memDoc("b", "two", memID("a")))
			owner := func(want string) func(string) bool { return func(id string) bool { return id == memID(want) } }

			optsB := h.opts
			optsB.Shared, optsB.Owns = true, owner("b")
			eb := h.engineOn(st, optsB)
			h.start(eb)
			h.setTarget(eb, rv)
			pollUntil(t, "b to wait for a, which no engine converges yet", func() bool {
				r, ok := recordOf(eb, memID("b"))
				return ok && r.Phase == store.PhaseWaiting
			})

			optsA := h.opts
			optsA.Shared, optsA.Owns = true, owner("a")
			ea := h.engineOn(st, optsA)
			h.start(ea)
			h.setTarget(ea, rv)
			pollUntil(t, "b to be Ready once the other engine made a (no resync runs here)", func() bool {
				r, ok := recordOf(eb, memID("b"))
				return ok && r.Phase == store.PhaseReady
			})

			// Removal: b (ours) is deleted first, then a (theirs) may go.
			empty := h.load()
			h.setTarget(ea, empty)
			h.setTarget(eb, empty)
			pollUntil(t, "both deleted, dependents first, each by its owner", func() bool {
				return len(h.mem.IDs()) == 0
			})
			if v := h.mem.Violations(); len(v) > 0 {
				t.Errorf("violations: %v", v)
			}
		})
	}
}
