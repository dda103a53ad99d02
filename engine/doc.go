// Package engine converges the world to a target revision.
//
// The flow of one reconcile, for one resource ID taken from the queue:
//
//  1. snapshot: read the desired resource, its record and its
//     dependencies' readiness from memory, once, under the lock;
//  2. observe: ask the provider what exists (under the provider's limiter
//     and timeout), unless the decision cannot depend on it;
//  3. Decide: a pure function of (desired, observed, record, dependencies)
//     that returns one plan.Action: wait, create, update, replace, delete,
//     adopt, forget, conflict, drift, blocked or nothing;
//  4. act: record the intent, call the provider, record the outcome and an
//     event; and one switch decides what happens to the key next (done,
//     retry after its backoff, pause for a rate limit, look again soon).
//
// Guarantees:
//   - A key is reconciled by one worker at a time (the queue's guarantee).
//   - Every mutation is preceded by a durable record of its intent, with an
//     idempotency key that stays the same across retries, crashes included;
//     the next attempt observes first, so nothing is created twice and an
//     object whose create was interrupted stays converge's.
//   - A resource starts as soon as its own dependencies are Ready; one that
//     fails blocks only its dependents. Deletions run dependents first.
//   - converge deletes only what it created: adopted objects and those with
//     deletion policy orphan are forgotten, never deleted.
//   - Drift (the object differs from what was last applied while the
//     desired spec did not change) is corrected, reported or ignored per
//     policy; a revision that converged is never rolled back for it.
//   - Terminal errors are not retried until the desired spec changes;
//     retryable ones back off exponentially with full jitter; a rate limit
//     pauses the whole provider and lowers its rate.
//   - Nothing the engine writes (events, records' messages and conditions,
//     alerts, logs at every level, plans) holds a secret it knows: the
//     values of sensitive fields, of the ${env:NAME} of Env fields, and URL
//     passwords, in any form package secret recognizes; and every message
//     is printable (no terminal escape a server sent survives).
//   - With Options.Sealer, the store holds no sensitive value in clear:
//     sensitive fields, and strings holding a known secret, are sealed in
//     records and revisions and opened when read back.
//   - A plan never changes a live engine: not its limiters, its target nor
//     its records.
//
// # Using it
//
//	e := engine.New(reg, st, engine.Options{Guard: &engine.Guard{...}})
//	rep, err := e.Apply(ctx, rv) // converge once
//	if err != nil || !rep.OK() { ... } // check both: failures are in the report
//
// Apply converges once and stops the engine's workers: make a new Engine
// (over the same store) for the next Apply. It judges nothing (no revision
// is recorded converged or failed); controller.ApplyOnce converges once and
// judges, as converge apply does. A timeout (ctx's deadline) is
// an error only when nothing else failed; otherwise it shows in the
// report. Options.Guard makes Apply refuse a set that declares nothing
// over a managed state, or deletes too much.
//
// For a daemon, package controller runs an engine: Start, SetTarget and
// ResyncAll, with a provider that is a provider.Notifier making the engine
// reconcile a resource as soon as it may have changed. Plan and Drift only
// observe.
package engine
