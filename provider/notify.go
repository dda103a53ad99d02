package provider

import "context"

// Optional abilities a provider may have besides Provider, each one
// interface the engine discovers by type assertion (as Validator and
// Configurer are). A provider implements only those it needs.

// Closer is implemented by providers that hold something to release (a
// connection pool, a supervised process, a watch). Close ends a run: the
// engine calls it once, when it stops, after its last call to the
// provider has returned (Notify included). It does not end the provider:
// another engine over the same registry (the next run) may configure it
// and call it again, so what Close released is opened again when needed
// (see the package documentation's Lifecycle).
type Closer interface {
	Close() error
}

// Notifier is implemented by providers that can tell when a resource may
// have changed outside converge (a file edited by hand, a process that
// exited), so that the engine need not wait for its next resync.
//
// The engine calls Notify once per run, when it starts its workers, in a
// goroutine of its own, and cancels ctx when it stops; Notify returns
// then, with nil. It calls changed(id) with the ID of a resource that may
// have changed, as often as it likes: a notification carries no event,
// only the ID, and the engine reconciles the resource (observing it
// afresh) as soon as a worker is free. Repeated notifications of one ID
// collapse into one reconcile while it waits, so a provider need not
// deduplicate, only keep its own work bounded. Spurious notifications cost
// one Observe each; IDs the engine does not know are ignored. changed
// never blocks for long, and may be called from any goroutine until
// Notify returns.
//
// Notify returns an error when it cannot notify at all (or no longer): the
// engine logs it and goes on, finding changes at its resyncs only.
type Notifier interface {
	Notify(ctx context.Context, changed func(id string)) error
}

// Watcher is implemented by Notifiers that must be told which resources
// to watch. The engine calls Watch with a resource's record whenever the
// record changes (Load included, so before Notify runs), and Unwatch when
// the record goes: the watched set is exactly the set of resources
// converge manages. The Request carries ID, Kind, Name, Spec (the last
// applied spec, or the spec of a create in flight or interrupted: the
// object that may exist), Outputs and Private, as Delete would receive
// them; a record with no object yet has a nil Spec. Calls for one ID come
// in order.
//
// Watch and Unwatch are called with the engine's state locked: they must
// return at once (note the request and do the work elsewhere, in Notify's
// goroutine), and never wait for a changed call to return.
type Watcher interface {
	Watch(req Request)
	Unwatch(id string)
}
