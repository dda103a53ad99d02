package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/store"
)

// A controller with Options.Cluster is one node of several that share one
// store (etcd). The nodes divide the resources (the engine's Options.Owns)
// and follow one target, the published one:
//
//   - Only the leader publishes: when it becomes the leader, its
//     manifests' revision if the store never had it (or no target is
//     set); afterwards, whenever its manifests change. A target set
//     beside it (converge push, converge rollback) stands until the
//     manifests change again: no node fights over it.
//   - Every node, the leader included, converges its share of the
//     published target, and follows each new one at once (the store's
//     watch).
//   - A node whose manifests differ from the published target says so
//     (a log line and a ManifestsDiffer event, once per pair) and goes on
//     converging the published one.
//   - Only the leader judges the target (converged, failed, rolled back)
//     and prunes old events.
//
// The node's engine must write through NodeStore, so that a node that
// does not lead never writes the target, and the leader's writes of it
// are fenced by its term. One incarnation of the node (its share changes,
// its deadline, its leaving) is a Member's (member.go).

// Cluster is the controller's node in a cluster (a *cluster.Node).
type Cluster interface {
	// IsLeader reports whether the node leads now.
	IsLeader() bool
	// LeaderChanges receives a value whenever IsLeader may have changed.
	LeaderChanges() <-chan struct{}
}

// ReasonManifestsDiffer is the reason of the event a cluster node records
// when its manifests are not at the published target.
const ReasonManifestsDiffer store.Reason = "ManifestsDiffer"

// ErrNotLeader is matched by the error of a target write made by a node
// that does not lead: the target is the leader's to publish.
var ErrNotLeader = errors.New("this node does not lead: the target is the leader's to publish")

// SharedStore is a store that several nodes share (store/etcd's): every
// ability the engine and the controller of a node use.
type SharedStore interface {
	store.Store
	store.Meta
	store.RevisionPruner
	store.ConditionalRecordStore
	store.ConditionalTargetStore
	store.Fencer
	store.Watcher
}

// NodeStore returns the store of one node's engine over st. leader
// returns the fence of the node's leadership and whether it leads (a
// cluster.Node's LeaderFence). Target writes are the leader's:
//
//   - SetTarget writes under the leader's fence (SetTargetIf) when the
//     node leads; otherwise it writes nothing, and succeeds only when the
//     hash is the published target already (the node follows it).
//   - ClearTarget is the leader's alone.
//   - PutRevision of a revision the store holds is the leader's alone; a
//     node that does not lead leaves it as stored (its state is the
//     leader's to judge).
//
// Everything else goes to st as it is.
func NodeStore(st SharedStore, leader func() (store.Fence, bool)) SharedStore {
	return &nodeStore{SharedStore: st, leader: leader}
}

type nodeStore struct {
	SharedStore
	leader func() (store.Fence, bool)
}

func (s *nodeStore) SetTarget(ctx context.Context, hash string) error {
	return s.SetTargetFrom(ctx, store.AnyTarget, hash, store.Fence{})
}

// SetTargetFrom writes, when the node leads, under the leader's fence
// whatever fence is given, and only if the target is still from;
// otherwise as SetTarget does.
func (s *nodeStore) SetTargetFrom(ctx context.Context, from, hash string, _ store.Fence) error {
	if fence, ok := s.leader(); ok {
		return s.SharedStore.SetTargetFrom(ctx, from, hash, fence)
	}
	cur, err := s.Target(ctx)
	if err == nil && cur == hash {
		return nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return fmt.Errorf("set target %s: %w", short(hash), ErrNotLeader)
}

func (s *nodeStore) ClearTarget(ctx context.Context) error {
	if _, ok := s.leader(); ok {
		return s.SharedStore.ClearTarget(ctx)
	}
	return fmt.Errorf("clear target: %w", ErrNotLeader)
}

func (s *nodeStore) PutRevision(ctx context.Context, r store.Revision) error {
	if _, ok := s.leader(); !ok {
		if _, err := s.GetRevision(ctx, r.Hash); err == nil {
			return nil
		}
	}
	return s.SharedStore.PutRevision(ctx, r)
}

// leads reports whether the controller may publish and judge: it runs
// alone, or its node leads.
func (c *Controller) leads() bool {
	return c.opts.Cluster == nil || c.opts.Cluster.IsLeader()
}

// leaderChanges is the node's LeaderChanges; nil alone.
func (c *Controller) leaderChanges() <-chan struct{} {
	if c.opts.Cluster == nil {
		return nil
	}
	return c.opts.Cluster.LeaderChanges()
}

// firstShared returns the revision a node targets at start: the published
// target; the manifests' revision rv when the node leads and rv is new to
// the store (or none is published). A node that does not lead waits for a
// target to be published, or to lead.
func (c *Controller) firstShared(ctx context.Context, rv *manifest.Revision) (*manifest.Revision, error) {
	waiting := false
	for {
		if c.leads() {
			if pub, err := c.publish(ctx, rv, true); err != nil || pub != nil {
				return pub, err
			}
		}
		cur, err := c.current(ctx)
		switch {
		case err == nil:
			c.compare(ctx, rv, cur.Hash)
			return cur, nil
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
		if !waiting {
			c.log.Info("no target is published yet: waiting for the leader, or to lead")
			waiting = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.leaderChanges():
		case <-c.clock.After(200 * time.Millisecond):
		}
	}
}

// publish makes rv the target when the node leads and rv is new to the
// store, or no target is set; it returns nil when it published nothing.
// atStart reports it in the first revision's way: an empty set is an
// error, a held one stays held.
func (c *Controller) publish(ctx context.Context, rv *manifest.Revision, atStart bool) (*manifest.Revision, error) {
	if rv == nil {
		return nil, nil
	}
	_, err := c.st.GetRevision(ctx, rv.Hash)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	_, terr := c.st.Target(ctx)
	if terr != nil && !errors.Is(terr, store.ErrNotFound) {
		return nil, terr
	}
	if known && terr == nil {
		return nil, nil // published before: the current target stands
	}
	// At start Run targets what this returns; afterwards it is published
	// here.
	if atStart {
		err = c.opts.Guard.Check(c.e.Records(), rv)
	} else {
		_, err = Publish(ctx, c.st, c.e, rv, c.opts.Guard)
	}
	var (
		held  *engine.HeldError
		empty *engine.EmptyError
	)
	switch {
	case err == nil:
	case errors.As(err, &held):
		if herr := c.e.Hold(context.WithoutCancel(ctx), rv, held); herr != nil {
			c.log.Error("hold revision", "err", herr)
		}
		c.log.Warn("the manifests' revision is held: not publishing it", "held", short(rv.Hash), "reason", err.Error())
		return nil, nil
	case atStart && terr != nil:
		return nil, err
	case atStart || errors.As(err, &empty):
		c.log.Error("not publishing the manifests' revision", "revision", short(rv.Hash), "err", err.Error())
		return nil, nil
	default:
		return nil, fmt.Errorf("publish revision %s: %w", short(rv.Hash), err)
	}
	c.log.Info("publishing the manifests' revision as the target", "revision", short(rv.Hash))
	return rv, nil
}

// becameLeader publishes the manifests' revision when the node just came
// to lead and the store never had it.
func (c *Controller) becameLeader(ctx context.Context, manifests *manifest.Revision) {
	if !c.leads() {
		return
	}
	c.log.Info("this node leads: it publishes the target and judges it")
	if _, err := c.publish(ctx, manifests, false); err != nil {
		c.log.Error("publish the target", "err", err)
	}
}

// nextShared takes the node's reloaded manifests: the leader publishes
// them as single-node converge would target them; another node only
// compares them with the published target.
func (c *Controller) nextShared(ctx context.Context, loaded, next *manifest.Revision) *manifest.Revision {
	if c.leads() {
		return c.next(ctx, loaded, next)
	}
	if t, err := c.st.Target(ctx); err == nil {
		c.compare(ctx, next, t)
	}
	return next
}

// compare says, once per pair, when the node's manifests are not at the
// published target.
func (c *Controller) compare(ctx context.Context, manifests *manifest.Revision, target string) {
	if c.opts.Cluster == nil || manifests == nil || target == "" || manifests.Hash == target {
		return
	}
	key := manifests.Hash + " " + target
	if c.differ == key {
		return
	}
	c.differ = key
	msg := fmt.Sprintf("this node's manifests are at revision %s, and the published target is revision %s: converging the published one (the leader publishes manifests when they change; converge push and rollback publish too)",
		short(manifests.Hash), short(target))
	c.log.Warn(msg, "manifests", short(manifests.Hash), "target", short(target))
	c.warn(context.WithoutCancel(ctx), ReasonManifestsDiffer, msg)
}
