package engine

import (
	"context"
	"sync"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/store"
)

// The engine's side of the providers' optional abilities Watcher, Notifier
// and Closer (package provider):
//   - every record the engine installs is handed to the Watcher of its
//     kind, and every record it drops is unwatched, so a provider watches
//     exactly what converge manages (setRecordLocked, deleteRecordLocked);
//   - Start runs each Notifier's Notify once, until Stop; a notification
//     enqueues the resource at once, in the foreground lane, and the
//     reconcile observes it afresh (level-triggered: the queue holds IDs,
//     so a storm of notifications of one ID is one reconcile);
//   - Stop ends the notifications before it drains the queue, and closes
//     every Closer last, once.
//
// Apply starts no notifier: it converges once and returns, and what
// changes after it is the next run's business.

// notifiers is the state of the providers' notifications. Its fields are
// guarded by Engine.mu, but for wg.
type notifiers struct {
	started bool
	cancel  context.CancelFunc // ends the Notify calls; nil before Start
	wg      sync.WaitGroup     // the Notify calls running
	closed  sync.Once
}

// providers returns every registered provider once, in the order of their
// first kind.
func (e *Engine) providers() []provider.Provider {
	var out []provider.Provider
	seen := map[string]bool{}
	for _, kind := range e.reg.Kinds() {
		name := provider.ProviderName(kind)
		if seen[name] {
			continue
		}
		seen[name] = true
		if p, ok := e.reg.For(kind); ok {
			out = append(out, p)
		}
	}
	return out
}

// watchLocked hands r to the Watcher managing its kind: the object it
// names is the one its last applied spec describes, or its create's when
// none was applied yet (as Delete would be told). e.mu must be held.
func (e *Engine) watchLocked(r *store.Record) {
	p, ok := e.reg.For(r.Kind)
	if !ok {
		return
	}
	w, ok := p.(provider.Watcher)
	if !ok {
		return
	}
	spec := r.AppliedSpec
	if spec == nil && r.Pending != nil {
		spec = r.Pending.Spec
	}
	w.Watch(provider.Request{ID: r.ID, Kind: r.Kind, Name: r.Name, Spec: spec, Outputs: r.Outputs, Private: r.Private})
}

// unwatchLocked tells the Watcher managing r's kind that r is gone. e.mu
// must be held.
func (e *Engine) unwatchLocked(r *store.Record) {
	if p, ok := e.reg.For(r.Kind); ok {
		if w, ok := p.(provider.Watcher); ok {
			w.Unwatch(r.ID)
		}
	}
}

// startNotifiers runs the Notify of every provider that is a Notifier, the
// first time it is called, until stopNotifiers.
func (e *Engine) startNotifiers(ctx context.Context) {
	e.mu.Lock()
	if e.notify.started {
		e.mu.Unlock()
		return
	}
	e.notify.started = true
	ctx, cancel := context.WithCancel(ctx)
	e.notify.cancel = cancel
	e.mu.Unlock()
	if w, ok := e.store.(store.Watcher); ok && e.shared.cond != nil {
		e.notify.wg.Add(1)
		go func() {
			defer e.notify.wg.Done()
			e.follow(ctx, w)
		}()
	}
	for _, p := range e.providers() {
		n, ok := p.(provider.Notifier)
		if !ok {
			continue
		}
		e.notify.wg.Add(1)
		go func() {
			defer e.notify.wg.Done()
			err := n.Notify(ctx, e.changed)
			switch {
			case ctx.Err() != nil && err == nil:
			case err != nil:
				e.log.Error("provider notifications stopped: changes are found at the next resync", "provider", p.Name(), "err", err)
			default:
				e.log.Warn("provider notifications ended: changes are found at the next resync", "provider", p.Name())
			}
		}()
	}
}

// changed is what a Notifier calls: id is reconciled again at once, unless
// the engine is stopping. An ID the engine neither desires nor records
// ends its reconcile at the snapshot, without a provider call.
func (e *Engine) changed(id string) {
	if e.q.ShuttingDown() {
		return
	}
	e.enqueue(id)
}

// stopNotifiers cancels the Notify calls and waits until they returned.
func (e *Engine) stopNotifiers() {
	e.mu.Lock()
	cancel := e.notify.cancel
	e.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	e.notify.wg.Wait()
}

// closeProviders closes every provider that is a Closer, the first time it
// is called.
func (e *Engine) closeProviders() {
	e.notify.closed.Do(func() {
		for _, p := range e.providers() {
			if c, ok := p.(provider.Closer); ok {
				if err := c.Close(); err != nil {
					e.log.Error("close provider", "provider", p.Name(), "err", err)
				}
			}
		}
	})
}
