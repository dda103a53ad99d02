// Package provider defines what converge needs from a provider: the schema of
// each kind it manages, and four idempotent operations (Observe, Create,
// Update, Delete) on one resource at a time.
//
// Guarantees a provider must keep:
//   - Every method is idempotent: calling it twice with the same request leaves
//     the world as calling it once does.
//   - Observe never mutates.
//   - Errors are classified with the helpers in this package (Retryable,
//     RateLimited, Terminal, Conflict). An unclassified error is retryable.
//
// The engine decides what to do; providers only observe and act.
//
// # Lifecycle
//
// A provider's methods are called in this order. The optional abilities
// (Validator, Configurer, Notifier, Watcher, Planner, Closer) are one-method
// interfaces the engine finds by type assertion; a provider implements only
// those it needs.
//
//  1. Schemas is called once, when the provider is registered (NewRegistry,
//     Register).
//  2. ValidateSpec (Validator) runs when manifests are loaded, concurrently
//     for different documents, with unresolved references left as they are.
//  3. Configure (Configurer) is called when a revision's ProviderConfig
//     documents are applied: each time the engine's target is set to a
//     revision (a destroy keeps the settings) and when a plan is made, with
//     the zero Settings when no ProviderConfig names the provider. It may
//     come while other calls run.
//  4. Watch (Watcher) is told of every record the engine holds, from the
//     moment it loads them and whenever one changes, and Unwatch of every
//     record that goes.
//  5. Notify (Notifier) is started once per run, when the engine starts its
//     workers, and runs until the engine stops; each changed(id) makes the
//     engine reconcile id at once. Apply (one convergence) starts none.
//  6. Observe comes first in every pass over a resource: the engine decides
//     on what it observed, never on what it remembers. When the object
//     exists, is converge's and stays desired, PlanChange (Planner) comes
//     next, and its plan decides between no change, an update and a
//     replace; it is called by plan previews too, so it changes nothing.
//  7. Create may be called again with the same IdempotencyKey after a crash
//     or an ambiguous failure; the object it made then must be found (by
//     Observe) or made once.
//  8. Update changes an object Observe found; Delete receives the last
//     applied spec, or the spec of an interrupted create (whose object may
//     exist), with the Private the last operation returned.
//  9. There are never two calls for one resource ID at once; calls for
//     different IDs run concurrently.
//  10. Close (Closer) ends a run: the engine's Stop calls it (Apply stops
//     its engine when it returns), once per engine, after every other call
//     of that engine has returned, Notify included. Plan and Drift close
//     nothing.
//
// A run is not the provider's life. A provider is registered once, in a
// Registry that outlives runs (each converge command, each Apply of an
// embedding program, a rollback followed by a converge, makes an engine
// of its own over it): after Close, the next run configures it again
// (3) and calls it as before. Close must release what the run held and
// leave the provider able to work again: the next Configure, or the next
// call, opens anew what Close released.
package provider
