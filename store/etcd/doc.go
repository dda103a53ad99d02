// Package etcd is a store.Store kept in etcd, so that several converge
// processes, on several machines, share one state.
//
// Everything lives under one key prefix (Config.Prefix, "/converge/" by
// default), so that several installations share one etcd cluster without
// seeing each other:
//
//	<prefix>state/records/<id>  a record, JSON
//	<prefix>state/target        the target revision's hash
//	<prefix>lastchange          rewritten by every record or target change
//	<prefix>revisions/<hash>    a revision: JSON, a newline, its resources as they are
//	<prefix>events/<sha256>     an event, JSON, keyed by what aggregates it
//	<prefix>fences/<name>       a fence's current token
//	<prefix>meta/<key>          a state-wide setting
//
// Guarantees, beyond those of package store:
//   - Versions and change numbers are etcd revisions: one sequence for the
//     whole etcd cluster, so they grow with every change but skip numbers
//     (the revisions of other writes, and of other installations).
//   - Every write is one etcd transaction. A conditional write compares the
//     record's ModRevision and the fence's token in the transaction that
//     writes, so a writer whose token was replaced cannot write, however
//     late its request arrives (the fencing etcd's documentation
//     recommends).
//   - A write that returned nil was committed by a quorum of the cluster.
//   - Watch is an etcd watch of <prefix>state/: it delivers every change,
//     none collapsed, in revision order, while etcd keeps the history.
//   - Event IDs are the revisions that created the events: unique and
//     increasing. Events of this process are aggregated one at a time;
//     those of several processes by retried compare-and-swap.
//   - A value larger than one etcd request takes (Config.MaxRequestBytes)
//     is refused with an error matching ErrTooLarge; nothing is split.
//
// CompactChanges compacts etcd's history, which is the whole cluster's:
// it ends the history of every installation sharing the cluster, and of
// any other user of it. etcd's own auto-compaction (its
// --auto-compaction-retention flag) bounds the history too.
//
// Deferred writes (store.Deferrer) are not implemented: every write waits
// for its commit.
package etcd
