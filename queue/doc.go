// Package queue provides the work queue that drives reconciliation and the
// per-provider limiter that paces calls to providers.
//
// A [Queue] holds keys (resource IDs), never events: a worker that takes a key
// reads the world afresh. It is modelled on client-go's util/workqueue, generic
// over the key type. Its guarantees:
//
//   - Stingy: a key that is queued and not yet taken is queued once, however
//     often it is added.
//   - Exclusive: a key is never handed to two workers at once. A key added
//     while a worker holds it is marked dirty and queued again when the worker
//     calls [Queue.Done].
//   - Fair: keys are handed out in the order they became ready (FIFO).
//   - Delayed keys: [Queue.AddAfter] keeps one deadline per key; an earlier
//     deadline replaces a later one, a later one is ignored, and adding after
//     a delay a key that is already queued (or dirty) is a no-op. A delayed
//     key that becomes ready sooner (an Add, or Done of a dirty key) loses
//     its deadline: it is processed once, not once more at the deadline.
//   - Backoff: [Queue.AddRateLimited] waits rand * min(max, base * 2^failures)
//     (full jitter) where failures counts the calls since the last
//     [Queue.Forget] of that key. Defaults: base 1s, max 60s.
//   - Shutdown: after [Queue.ShutDown] adds are ignored and [Queue.Get] returns
//     shutdown=true at once; queued and delayed keys are dropped.
//     [Queue.ShutDownWithDrain] also ignores adds and drops delayed keys, but
//     lets workers take the keys already queued and returns once the queue
//     is empty and every taken key is Done.
//
// New starts one goroutine that moves delayed keys into the queue when they
// are due; ShutDown (or ShutDownWithDrain) stops it. Time comes from an
// injected clock (k8s.io/utils/clock), so tests drive the queue with a fake
// clock and never sleep.
//
// A [Limiter] guards the calls to one provider:
//
//   - [Limiter.Acquire] waits, in this order, for a provider-wide pause to end,
//     for a free in-flight slot (at most MaxInFlight calls at once), then for a
//     token from a token bucket (QPS, Burst). Waiters are served first come,
//     first served.
//   - [Limiter.Pause] makes every Acquire wait until now+d, typically for a
//     provider's Retry-After. A later pause extends the current one; an
//     earlier one never shortens it.
//   - A cancelled context makes Acquire return ctx.Err() and give back what it
//     took (slot and token).
//   - [Limiter.SetLimits] changes the limits live: callers waiting keep their
//     place, those waiting for a token take it again at the new rate, and no
//     slot is granted beyond the new MaxInFlight (calls in flight run on).
//     [LimiterConfig.Share] is one node's part of a cluster's limits.
//
// QPS 0 and MaxInFlight 0 mean unlimited.
package queue
