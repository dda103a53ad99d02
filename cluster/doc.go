// Package cluster gives a converge node its place among several that
// share one etcd: its membership, its share of the resources, and a
// chance to lead. It uses etcd's client and its concurrency package; no
// consensus of its own.
//
// A node joins (Join) under a lease it keeps alive itself, one keepalive
// at a time every third of the TTL, so that it knows when each was sent.
// The live members are the keys <prefix>cluster/members/<name> held by
// their leases. Resources are divided among them by rendezvous hashing
// of the resource ID over the members' names (Owner): every node that
// sees the same members computes the same owners, a node leaving moves
// only its own resources, and a node joining takes only about one in N+1.
// One member, elected with concurrency.Election, leads: it runs
// Config.Lead (load the manifests, publish the target revision).
//
// Guarantees:
//   - A node acts (Owns, IsLeader) only before its deadline: the send
//     time of its last acknowledged keepalive plus the granted TTL, less
//     a margin. etcd expires the lease no earlier than TTL after it
//     received that keepalive, which is after it was sent, so a node that
//     is cut off or paused stops before any other node can take over.
//     concurrency.Session.Done is not trusted: it fired up to half a
//     second after a standby won in partition tests.
//   - No two nodes act on one resource: see the protocol below.
//   - A node whose lease expired cannot write: each node holds a fence
//     (Node.Fence) that the store checks on every conditional write, and
//     the fence is cleared before anyone takes its share over.
//   - A deposed leader cannot write under the leader's fence (LeaderFence):
//     each new leader sets it to its own term before it leads.
//   - A node that leaves (Close) hands its share over at once: it resigns,
//     clears its fences and revokes its lease.
//   - A node that joins makes its first call only after every member
//     rebalanced to the new count (step 2 comes before the acknowledgement
//     that the joiner waits for): the parts of a provider's limits add up
//     to the limits, bar the calls already in flight at the old parts. A
//     node that leaves or dies leaves its part unused until the others
//     adopt the view without it (at once for Close, at its lease's expiry
//     for a death).
//
// The protocol. A view is a set of live members (name and lease, View.ID
// hashes both). Each node follows the members with a watch and, on every
// new view:
//
//  1. adopts it: Owns turns false at once for what the view moved away;
//  2. runs Config.Rebalance with its place in the view (a node divides
//     each provider's limits by it), then Config.Drain, which returns once
//     nothing the node no longer owns is being acted on;
//  3. reaps: for every registered node incarnation (<prefix>cluster/nodes/)
//     that is not in the view and whose lease etcd no longer has, clears
//     its fence (Fencer.SetFence(name, "")) and deletes its entry;
//  4. acknowledges the view (<prefix>cluster/acks/<name> = view ID, under
//     its lease);
//  5. owns the resources the view gives it once every member of the view
//     acknowledged it, as read at or after its own acknowledgement.
//     Until then it keeps acting only on what every view it adopted since
//     the last such one left it.
//
// Who sets which fence when: a node sets its own fence
// (cluster/node/<name>/<lease>) once, when it joins, before its member key
// exists; it clears it when it closes; any node clears the fence of an
// incarnation whose lease is gone, in step 3, before acknowledging. No one
// sets a fence again once cleared, and a fence's name holds the lease, so
// a node that comes back has another. The leader's fence is set by each
// leader after it won and before it leads, and cleared by it on resign.
//
// Why no two nodes act on one resource: a node that gains a resource from a
// live member waits until that member acknowledged the view, which it does
// only after it stopped acting on it (steps 1, 2); a member's
// acknowledgement of a later view comes only after it adopted that view,
// so two nodes never both pass views that give them one resource. A
// resource of a member whose lease expired is taken only after that
// member's deadline passed (it stopped acting by its own clock) and its
// fence was cleared (anything it still sends is refused by the store).
// What is outside the store (a provider's API) is safe as long as the
// member's calls end by its deadline: bound them by Node.Deadline.
//
// A node whose lease expired is lost for good (Done, ErrLost): Close it
// and join again, as a new incarnation.
//
// Keys, under Config.Prefix (the store's, "/converge/" by default):
//
//	cluster/members/<name>          the member, under its lease
//	cluster/acks/<name>             the view it adopted, under its lease
//	cluster/nodes/<name>/<lease>    its registry entry, reaped when the lease is gone
//	cluster/election/<lease>        the leader election
package cluster
