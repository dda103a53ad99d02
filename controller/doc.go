// Package controller runs an engine as a daemon, or once: it owns what
// makes converge keep converging, and the lifecycle of the revisions it
// targets.
//
// # Converging once
//
//	e := engine.New(reg, st, engine.Options{...})
//	rep, err := controller.ApplyOnce(ctx, e, rv, controller.ApplyOptions{Rollback: true, ProgressDeadline: 5 * time.Minute})
//
// ApplyOnce is converge apply: engine.Apply, which judges nothing, and the
// judge of the revision around it.
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
//   - Judge is the one judge of a revision, for converge run (Run judges
//     the target every second) and converge apply (ApplyOnce judges while
//     the engine converges once, and when it stops). It is pure; what it
//     decides is done in one place (MarkConverged, FailRevision, RollBack).
//
// The rules of Judge, for apply and run alike:
//   - Converged when every resource is Ready: the new last known good
//     revision.
//   - A revision that converged once (proven) is never failed nor rolled
//     back: later trouble (drift, a conflict, a deleted file) is not its
//     failure. A revision is judged once.
//   - A terminal failure (or a conflict) fails it: with Rollback it is
//     rolled back to the last known good revision; without, it is marked
//     failed (a RevisionFailed event and alert) and stays the target.
//   - Only with Rollback: past ProgressDeadline it is failed and rolled
//     back ("not converged within the progress deadline"). The deadline
//     is reached at origin+deadline exactly.
//
// Where apply and run differ, and why:
//   - The deadline's origin. For apply, the start of the command
//     (ApplyOnce's start), whenever the revision became the target; for
//     run, when the revision became the target (engine.Progress.Since), as
//     docs/cli.md says.
//   - Idle. An apply whose engine has nothing left to do (failures
//     terminal, removals refused, resources left waiting) and whose
//     revision did not converge has stopped converging: with Rollback it
//     is failed and rolled back ("stopped converging: ..." naming what is
//     stuck) before the deadline; without, it is reported, not failed. A
//     daemon has no idle rule: its engine is idle between resyncs, and the
//     resync, provider notifications and other writers may still move a
//     revision, so only a terminal failure or the deadline fails it.
//   - When apply stops (a timeout, an interrupt) the revision is judged
//     once more without rollback: converged, or failed on a terminal
//     failure; a rollback is never started by a command that is stopping.
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
