// Package api serves what a running converge knows over HTTP: a JSON API
// under /api/v1/ (the views converge status, history, events and plan
// show, from the same code, and the actions reconcile and rollback), a
// stream of server-sent events at /api/v1/stream, and /healthz, /readyz
// and /metrics.
//
// The handler is built from small interfaces defined here (Views,
// Actions, Readiness, Feed) that the controller's live views satisfy.
//
// Guarantees:
//   - Every failure answers with the right status and a JSON body
//     {"error": "...", "code": "..."}; an internal error says only
//     "internal error" (the cause goes to the log).
//   - With a token, every /api/ request needs "Authorization: Bearer
//     TOKEN", compared in constant time; /healthz, /readyz and /metrics
//     need none. Without one, only requests that name a loopback host are
//     served (a page on another site cannot reach the API through DNS
//     rebinding), and Server refuses to listen anywhere but on loopback.
//   - A request from a page of another origin (its Origin header names
//     another host) is refused.
//   - Every request but the stream has a timeout, and request bodies a
//     size limit.
//   - The stream gives every message an id; a client that reconnects with
//     Last-Event-ID gets the messages it missed, none twice (see
//     stream.go).
package api
