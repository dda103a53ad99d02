package engine

import "context"

// A cluster divides the resources among its nodes; each node's engine acts
// on its share only (Options.Owns). Handing a resource from one node to
// another takes three steps: the old owner stops taking it (Owns says no),
// waits until no reconcile of it is still running (Drain), and only then
// does the new owner start (its Owns says yes, then ResyncAll). Together
// with the fence that every write carries, no two engines ever act on one
// resource at once.

// owns reports whether this engine acts on id.
func (e *Engine) owns(id string) bool {
	return e.opts.Owns == nil || e.opts.Owns(id)
}

// working marks id as being reconciled, or done.
func (e *Engine) working(id string, on bool) {
	e.mu.Lock()
	if on {
		e.inFlight[id] = true
	} else {
		delete(e.inFlight, id)
		e.drained.Broadcast()
	}
	e.mu.Unlock()
}

// Drain waits until no reconcile of a resource that Options.Owns no longer
// gives this engine is running, or ctx is done: once it returns nil,
// another node may take those resources over. New reconciles of them do
// not start (Owns is asked first).
func (e *Engine) Drain(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		e.mu.Lock()
		e.drained.Broadcast()
		e.mu.Unlock()
	})
	defer stop()
	e.mu.Lock()
	defer e.mu.Unlock()
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		busy := false
		for id := range e.inFlight {
			if !e.owns(id) {
				busy = true
				break
			}
		}
		if !busy {
			return nil
		}
		e.drained.Wait()
	}
}
