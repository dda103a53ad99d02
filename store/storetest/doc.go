// Package storetest is the conformance suite every store.Store
// implementation runs, so that the engine can rely on one behaviour whatever
// the backend:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return memory.New() })
//	}
//
// It checks records (put, get, whole replace, list order, delete, the round
// trip of every field in provider.Canonical form, no aliasing), events
// (aggregation, filters, limits), revisions and the target, the pruning of
// old revisions (store.RevisionPruner), large values read back exactly,
// the state-wide settings of store.Meta, cancelled
// contexts, and concurrent use from many goroutines (run it with -race).
// It checks record versions and conditional writes
// (store.ConditionalRecordStore, store.Fencer): lost races and stale
// fences, what version 0 means, counters incremented concurrently with
// none lost, and their order among deferred writes (when the store is a
// store.Deferrer). It checks conditional target writes
// (store.ConditionalTargetStore): a write from the target read commits,
// one from a target that changed is a *store.TargetConflictError, a stale
// fence is refused first, and concurrent writers that retry form one
// chain with no write lost. It checks store.Watcher: puts, deletes and
// target changes delivered in order, from a given change, collapsed at
// most to each record's latest, beside concurrent writers, deferred
// writes in their order once committed, ErrCompacted once changes are
// forgotten, and channels closed by a cancelled context or Close.
// BenchmarkPutRecordParallel measures write throughput the same way for
// every backend.
package storetest
