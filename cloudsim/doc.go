// Package cloudsim is a simulated cloud API: a real HTTP/JSON server with the
// failure modes that make reconcilers hard to get right, and an audit that
// shows whether a client got them right.
//
// It serves seven kinds of object under /v1: networks, subnets,
// securitygroups, instances, loadbalancers, dnsrecords and buckets. Every
// collection answers POST (create), GET (list) and GET/PUT/PATCH/DELETE on
// collection/{id}. See docs/cloudsim.md for the wire format.
//
// Guarantees, each configurable through Config or Faults:
//
//   - Relationships are enforced: references must name live objects of the
//     right kind (422), and an object that another live object references
//     cannot be deleted (409). Immutable fields (network and subnet CIDR,
//     instance image, ...) cannot change in place (422).
//   - Instances and load balancers are "pending" for Config.ProvisionDelay
//     after creation, then "running"; other kinds are running at once.
//   - Names are not unique by default: a second create with the same name
//     makes a duplicate, as many real clouds do. Config.RejectDuplicates
//     answers 409 instead.
//   - An Idempotency-Key header on POST makes retries of one create return the
//     original object for Config.IdempotencyTTL, unless
//     Config.DisableIdempotency is set.
//   - Reads (GET by id and lists) see the state as it was Config.Lag ago;
//     writes and the audit always see the current state.
//   - A token bucket (Config.QPS, Config.Burst) guards every API request;
//     requests over it get 429 with Retry-After in whole seconds.
//   - Faults (error rate, latency, hangs, ambiguous failures, outages) are
//     drawn from a generator seeded by Config.Seed, so one sequence of
//     requests always meets the same faults.
//   - Admin endpoints under /admin are never rate limited, faulted or
//     audited.
//
// Time comes from Config.Clock, so tests drive provisioning, lag, the rate
// limiter and latency with a fake clock.
package cloudsim
