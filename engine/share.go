package engine

import (
	"context"
	"errors"
	"sync"
	"time"
)

// A cluster divides the resources among its nodes; each node's engine acts
// on its share only (Options.Owns). Handing a resource from one node to
// another takes three steps: the old owner stops taking it (Owns says no),
// waits until no reconcile of it is still running (Drain), and only then
// does the new owner start (its Owns says yes, then ResyncAll). Together
// with the fence that every write carries, no two engines ever act on one
// resource at once.
//
// What is outside the store, the provider's API, is kept out of reach of a
// node that may no longer act: a mutating call asks Owns again right
// before it starts (after it waited for the provider's limits), and every
// call ends by the node's deadline (Options.CallDeadline), so that none
// lands once another node may have taken the resource over. The nodes
// divide each provider's limits among them (ShareLimits).

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

// ShareLimits makes this engine keep to the part of every provider's limits
// (qps, burst, maxInFlight) that falls to the node at index of count
// (queue.LimiterConfig.Share): the nodes of a cluster together keep
// within the limits each ProviderConfig sets. It applies at once, to the
// calls waiting too (queue.Limiter.SetLimits), and to the limits of every
// revision targeted later. A count of 0 or 1 gives the whole limits back.
func (e *Engine) ShareLimits(index, count int) {
	e.mu.Lock()
	e.limitShare = [2]int{index, count}
	e.mu.Unlock()
	e.reshare()
}

// reshare sets every provider's limiter to this engine's part of its
// limits.
func (e *Engine) reshare() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for name, l := range e.limiters {
		l.SetLimits(e.limitCfgs[name].Share(e.limitShare[0], e.limitShare[1]))
	}
}

// errNotOwned is the error of a mutating call skipped because this engine
// may not act on the resource any more (Options.Owns said no, or the
// deadline of Options.CallDeadline passed) by the time the call was to
// start: the worker looks again later ([Engine.next]).
var errNotOwned = errors.New("not acted on: this node may not act on it now")

// errLeaseDeadline is the cause of a provider call's context cut short at
// the deadline of Options.CallDeadline.
var errLeaseDeadline = errors.New("stopped: the node's lease deadline passed")

// mayCall reports whether a call to the provider for id may start now: a
// mutating one only while the engine owns id, and any only before the
// deadline.
func (e *Engine) mayCall(id string, mutating bool) bool {
	if e.opts.CallDeadline != nil {
		if dl, ok := e.opts.CallDeadline(); ok && !time.Now().Before(dl) {
			return false
		}
	}
	return !mutating || e.owns(id)
}

// withinDeadline returns ctx cut short once the deadline of
// Options.CallDeadline has passed, read again each time the one read last
// comes: a deadline that moved on (a keepalive answered) lets the call
// run on. The cause of a cut is errLeaseDeadline. Call stop once the
// call returned.
func (e *Engine) withinDeadline(ctx context.Context) (_ context.Context, stop func()) {
	if e.opts.CallDeadline == nil {
		return ctx, func() {}
	}
	cctx, cancel := context.WithCancelCause(ctx)
	var (
		mu      sync.Mutex
		timer   *time.Timer
		stopped bool
	)
	var arm func()
	arm = func() {
		dl, ok := e.opts.CallDeadline()
		if !ok {
			return
		}
		d := time.Until(dl)
		if d <= 0 {
			cancel(errLeaseDeadline)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			timer = time.AfterFunc(d, arm)
		}
	}
	arm()
	return cctx, func() {
		mu.Lock()
		stopped = true
		if timer != nil {
			timer.Stop()
		}
		mu.Unlock()
		cancel(nil)
	}
}
