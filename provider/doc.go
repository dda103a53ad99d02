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
package provider
