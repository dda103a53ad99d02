package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/convergehq/converge/store"
)

// A shared store (Options.Shared, Options.Fence) has other writers: other
// processes, other nodes. The engine then keeps three rules:
//
//   - Every record write is synchronous and conditional, on the version of
//     the record the engine last saw and on the fence: an intent commits
//     only if nobody wrote the record since the engine read it, so two
//     writers never both act on one object. (Deferred writes are not used:
//     they could not be conditional.)
//   - A write that lost a race re-reads the record into memory and the
//     resource is reconciled again, after a backoff, from what is stored.
//   - A write whose fence is no longer current means that the engine's
//     right to act (a lease, a shard) passed to another: it acts on nothing
//     more, and says so through Options.OnFenced.
//
// While it runs (Start), a store that is a store.Watcher feeds the
// engine's records with the other writers' changes, and the resources they
// touch are reconciled again: the engine never decides on a record that is
// older than the store's.
type sharing struct {
	asked  bool                         // Options asked for a shared store
	cond   store.ConditionalRecordStore // nil unless shared
	from   int64                        // the last change Load saw
	fenced atomic.Bool                  // a write found the fence stale
	once   sync.Once
}

// errNotShareable is the error of a shared engine over a store that has no
// conditional writes.
var errNotShareable = errors.New("the store cannot be shared: it has no conditional writes")

// shareLoad checks that a shared store can be shared and notes where its
// change feed stands, before the records are listed: no change made after
// the listing is missed.
func (e *Engine) shareLoad(ctx context.Context) error {
	if !e.shared.asked {
		return nil
	}
	if e.shared.cond == nil {
		return errNotShareable
	}
	w, ok := e.store.(store.Watcher)
	if !ok {
		return nil
	}
	seq, err := w.LastSeq(ctx)
	if err != nil {
		return fmt.Errorf("load records: %w", err)
	}
	e.shared.from = seq
	return nil
}

// versionOf is the version of id's record as the engine last saw it; 0
// when it holds none.
func (e *Engine) versionOf(id string) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r := e.records[id]; r != nil {
		return r.Version
	}
	return 0
}

func (e *Engine) putShared(ctx context.Context, r *store.Record) error {
	if e.shared.fenced.Load() {
		return fmt.Errorf("save record %s: %w", r.ID, store.ErrFenced)
	}
	// The condition is the version this write was made from (r is a copy
	// of the record the reconcile read, or a new one): a newer record in
	// memory, from another writer, makes it fail, as it should.
	v, err := e.shared.cond.PutRecordIf(context.WithoutCancel(ctx), e.stored(r), r.Version, e.opts.Fence)
	if err != nil {
		e.lost(ctx, r.ID, err)
		return fmt.Errorf("save record %s: %w", r.ID, err)
	}
	r.Version = v
	e.remember(r)
	return nil
}

func (e *Engine) deleteShared(ctx context.Context, id string) error {
	if e.shared.fenced.Load() {
		return fmt.Errorf("delete record %s: %w", id, store.ErrFenced)
	}
	v := e.versionOf(id)
	if v == 0 {
		v = store.AnyVersion
	}
	if err := e.shared.cond.DeleteRecordIf(context.WithoutCancel(ctx), id, v, e.opts.Fence); err != nil {
		e.lost(ctx, id, err)
		return fmt.Errorf("delete record %s: %w", id, err)
	}
	e.mu.Lock()
	e.deleteRecordLocked(id)
	e.mu.Unlock()
	return nil
}

// lost handles a conditional write that did not commit: a lost race
// re-reads the record, a stale fence stops the engine acting.
func (e *Engine) lost(ctx context.Context, id string, err error) {
	switch {
	case errors.Is(err, store.ErrFenced):
		e.fenceLost(err)
	case errors.Is(err, store.ErrConflict):
		atomic.AddInt64(&e.stats.Conflicts, 1)
		e.log.Info("another writer changed the record first: reading it again", "resource", id)
		e.refresh(ctx, id)
	}
}

// fenceLost makes the engine act on nothing more, and tells
// Options.OnFenced, once.
func (e *Engine) fenceLost(err error) {
	e.shared.fenced.Store(true)
	e.shared.once.Do(func() {
		e.log.Warn("the fence is held by another writer now: acting on nothing more", "fence", e.opts.Fence.Name, "err", err)
		if e.opts.OnFenced != nil {
			e.opts.OnFenced(err)
		}
	})
}

// Fenced reports whether a write found the engine's fence stale.
func (e *Engine) Fenced() bool { return e.shared.fenced.Load() }

// refresh reads id's record from the store into memory, if the store's is
// newer than the one held.
func (e *Engine) refresh(ctx context.Context, id string) {
	r, err := e.store.GetRecord(context.WithoutCancel(ctx), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		e.mu.Lock()
		e.deleteRecordLocked(id)
		e.mu.Unlock()
	case err != nil:
		e.log.Error("read record", "resource", id, "err", err)
	default:
		e.install(&r)
	}
}

// install puts a record another writer stored into memory, unless the
// engine holds that version or a newer one.
func (e *Engine) install(r *store.Record) {
	if err := e.openRecord(r); err != nil {
		e.log.Error("read record", "resource", r.ID, "err", err)
		return
	}
	e.mu.Lock()
	if old := e.records[r.ID]; old != nil && old.Version >= r.Version {
		e.mu.Unlock()
		return
	}
	e.learnRecord(r)
	e.setRecordLocked(r)
	e.mu.Unlock()
}

// follow feeds the engine's records with the store's changes from the
// last one Load saw, until ctx is done, and reconciles what they touch.
// A feed that fell behind the changes the store keeps lists the records
// again and goes on from there.
func (e *Engine) follow(ctx context.Context, w store.Watcher) {
	from := e.shared.from
	for ctx.Err() == nil {
		ch, err := w.Watch(ctx, from)
		if err == nil {
			for c := range ch {
				if c.Err != nil {
					err = c.Err
					break
				}
				e.take(c)
			}
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil && !errors.Is(err, store.ErrCompacted) {
			e.log.Error("following the store's changes stopped: other writers' changes are seen at the next resync", "err", err)
			return
		}
		// Compacted (or the feed ended): list afresh, then follow again.
		if from, err = w.LastSeq(ctx); err != nil {
			e.log.Error("following the store's changes stopped", "err", err)
			return
		}
		recs, err := e.store.ListRecords(ctx)
		if err != nil {
			e.log.Error("following the store's changes stopped", "err", err)
			return
		}
		for i := range recs {
			e.install(&recs[i])
			e.enqueue(recs[i].ID)
		}
	}
}

// take takes one change of the store into memory.
func (e *Engine) take(c store.Change) {
	switch c.Kind {
	case store.ChangePut:
		if c.Record == nil || c.Seq <= e.versionOf(c.ID) {
			return // ours, or older than what is held
		}
		r := cloneRecord(c.Record)
		e.install(r)
	case store.ChangeDelete:
		e.mu.Lock()
		old := e.records[c.ID]
		if old == nil || old.Version >= c.Seq {
			e.mu.Unlock()
			return
		}
		e.deleteRecordLocked(c.ID)
		e.mu.Unlock()
		// A dependency that waits for this dependent to go may go now.
		e.wakeOwned(old.Deps)
	default:
		return // the target is the controller's to follow
	}
	if !e.q.ShuttingDown() {
		e.enqueue(c.ID)
		// The resource may be another node's: its reconcile here does
		// nothing, so its dependents of this share, which may wait for it
		// to be Ready or use its outputs, look again themselves.
		e.mu.Lock()
		deps := append([]string(nil), e.dependents[c.ID]...)
		e.mu.Unlock()
		e.wakeOwned(deps)
	}
}

// wakeOwned enqueues the resources of ids that this engine acts on.
func (e *Engine) wakeOwned(ids []string) {
	for _, id := range ids {
		if e.owns(id) && !e.q.ShuttingDown() {
			e.enqueue(id)
		}
	}
}
