// Package controller runs an engine as a daemon: it owns what makes
// converge keep converging, and the lifecycle of the revisions it targets.
//
// # Running as a daemon
//
//	e := engine.New(reg, st, engine.Options{...})
//	c := controller.New(e, st, controller.Options{Load: load, Paths: paths})
//	rv, err := load() // report invalid manifests before starting
//	...
//	err = c.Run(ctx, rv) // until ctx is done
//
// Triggers:
//   - The manifests: every directory the loader reads is watched (symlinks
//     followed, paths replaced as a whole seen); a settled change reloads
//     them, outside the loop, so a shutdown is served at once.
//   - Reload, for requests from outside (SIGHUP, an API).
//   - The resync: every Resync (jittered) every resource is observed again,
//     and the manifests are reloaded if their fingerprint changed unseen.
//   - Another process's target (converge rollback, apply --allow-delete):
//     followed as soon as the store's Watch reports it (within a second,
//     by polling, for a store that cannot be watched).
//   - Provider notifications: a provider that is a provider.Notifier (the
//     file provider watches the files it manages) says a resource may have
//     changed, and the engine the controller started reconciles it at once
//     (a hand edit is healed without waiting for the resync). The engine
//     serves them, from Run's start to its end.
//   - Other writers' records, for an engine that shares its store
//     (engine.Options.Shared, a cluster): the store's Watch feeds the
//     engine, which reconciles what they touched.
//
// The revision lifecycle:
//   - ChooseTarget picks the revision to converge for the manifests' one:
//     converge stays off a revision rolled back from, and off a failed one
//     with automatic rollback (Stays), until the manifests change.
//   - engine.Guard refuses a set that declares nothing over a managed state
//     (the daemon keeps its revision: an EmptyManifests event) and holds a
//     revision that deletes too much (a DeletionHeld event).
//   - Every second the target is judged: converged (the new last known good
//     revision) when every resource is Ready; failed on a terminal error or,
//     with Rollback, past ProgressDeadline, and then rolled back to the last
//     known good revision. A revision is judged once: once it converged,
//     later trouble is not its failure.
//
// A cluster node (on an etcd state) runs as a Member: one incarnation of a
// node, on the controller's clock: its share as it changes (what to take
// over, what to hand back), its keepalive deadline (past it, it acts on
// nothing and joins again), and leaving on SIGTERM (member.go). Publish
// checks the deletion guard, then makes a revision the target: push, a
// hand-over to a running daemon and the cluster's leader all use it.
//
// The controller's Clock must be the engine's.
package controller
