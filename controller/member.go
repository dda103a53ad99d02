package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/store"
)

// Node is what a controller needs of its node in a cluster (a
// *cluster.Node) to converge the node's share of the resources.
type Node interface {
	Cluster
	// Owns reports whether the node may act on the resource id now.
	Owns(id string) bool
	// Fence is the node's fence, for every record write made under its
	// share.
	Fence() store.Fence
	// Deadline is until when the node may act without hearing from the
	// store again.
	Deadline() time.Time
	// Changes receives a value whenever what Owns says may have changed.
	Changes() <-chan struct{}
	// Done is closed once the node can act no more; Err then says why
	// (nil: the node was closed).
	Done() <-chan struct{}
	Err() error
}

// ErrLostPlace is matched by the error of a Member's Run when the node
// lost its right to act: its lease expired, a write found its fence
// taken, or its deadline passed with no keepalive acknowledged. The node
// joins again, as a new incarnation.
var ErrLostPlace = errors.New("the node lost its place in the cluster")

// errClosed stands for a node whose Done closed with no error.
var errClosed = errors.New("the node was closed")

// A Member is one incarnation of a cluster node: one join, with its
// engine and its controller, until the node leaves or loses its place.
//
//   - The engine acts on a resource only while the node owns it and is
//     not leaving (Owns), writes its records under the node's fence, and
//     bounds every provider call by the node's deadline (Configure).
//   - When the node's share changes, the resources that are its now and
//     were not, and have work left (not recorded, not Ready, applied
//     from another spec, or no longer desired), are reconciled at once;
//     those Ready as desired are left to the periodic resync, but for
//     the node's first share, which is observed again in the resync lane
//     as a converge that starts is.
//   - The node acts no more once its deadline passes by the controller's
//     clock, its lease is lost, or a write of its engine is fenced: Run
//     then returns an error matching ErrLostPlace.
//   - On its context's end (SIGTERM) the node takes nothing more, lets
//     the reconciles in flight finish, with their writes, for as long as
//     it may act, then ends: what it hands over carries no half-made
//     intent for the new owner to wait out.
type Member struct {
	node    Node
	shares  targetCache
	leaving atomic.Bool

	mu     sync.Mutex
	why    error              // why the incarnation ends, before its context did
	cancel context.CancelFunc // ends Run's inner context; nil before Run
}

// NewMember returns the incarnation of node, whose engine and controller
// run on st.
func NewMember(node Node, st store.Store) *Member {
	return &Member{node: node, shares: targetCache{st: st}}
}

// Configure sets the options of the member's engine: the node's share,
// fence and deadline, and a fenced write ends the incarnation.
func (m *Member) Configure(o *engine.Options) {
	o.Shared = true
	o.Owns = m.Owns
	o.Fence = m.node.Fence()
	o.OnFenced = func(err error) { m.lose(fmt.Errorf("%w: %v", ErrLostPlace, err)) }
	// No provider call outlives the node's right to act.
	o.CallDeadline = func() (time.Time, bool) { return m.node.Deadline(), true }
}

// Owns reports whether the member's engine may act on id: the node owns
// it and is not leaving.
func (m *Member) Owns(id string) bool {
	return !m.leaving.Load() && m.node.Owns(id)
}

// Share counts the resources of the published target that the node owns
// now.
func (m *Member) Share(ctx context.Context) int {
	n := 0
	for id := range m.shares.target(ctx) {
		if m.node.Owns(id) {
			n++
		}
	}
	return n
}

// lose ends the incarnation for err, the first reason given.
func (m *Member) lose(err error) {
	m.mu.Lock()
	if m.why == nil {
		m.why = err
	}
	cancel := m.cancel
	m.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

func (m *Member) err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.why
}

// Run runs the incarnation: run, which runs c (c.Run) and what serves
// beside it, gets a context that lasts until the node must stop. Run
// returns nil once ctx is done and the node left; an error matching
// ErrLostPlace when the node lost its place first; otherwise run's error.
// c is the controller of the member's engine, and its clock is the one
// the node's deadline is checked by.
func (m *Member) Run(ctx context.Context, c *Controller, run func(ctx context.Context) error) error {
	// runCtx ends the incarnation. On ctx done the node first takes
	// nothing more and lets the reconciles in flight finish, then ends.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	m.mu.Lock()
	m.cancel = cancel
	lost := m.why != nil
	m.mu.Unlock()
	if lost {
		cancel()
	}
	defer context.AfterFunc(ctx, func() {
		m.leaving.Store(true)
		m.drain(c)
		cancel()
	})()
	// A node that stops (on ctx done, or to join again) takes nothing
	// more: the keys still queued are skipped, and its share is handed
	// over once the reconciles in flight are done.
	defer context.AfterFunc(runCtx, func() { m.leaving.Store(true) })()
	go m.follow(runCtx, c)
	runErr := run(runCtx)
	if ctx.Err() != nil {
		return nil
	}
	if why := m.err(); why != nil {
		return why
	}
	return runErr
}

// follow takes the node's share changes over and watches its deadline,
// until ctx is done or the node loses its place.
func (m *Member) follow(ctx context.Context, c *Controller) {
	var sh share
	deadline := c.clock.NewTimer(m.node.Deadline().Sub(c.clock.Now()))
	defer deadline.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.node.Done():
			err := m.node.Err()
			if err == nil {
				err = errClosed
			}
			m.lose(fmt.Errorf("%w: %v", ErrLostPlace, err))
			return
		case <-m.node.Changes():
			m.takeOver(ctx, c, &sh)
		case <-deadline.C():
			now, d := c.clock.Now(), m.node.Deadline()
			if !now.Before(d) {
				m.lose(fmt.Errorf("%w: no keepalive acknowledged before its deadline", ErrLostPlace))
				return
			}
			deadline.Reset(d.Sub(now))
		}
	}
}

// takeOver reconciles what the share change made the node's (see
// share.change).
func (m *Member) takeOver(ctx context.Context, c *Controller, sh *share) {
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	t := sh.change(m.shares.target(lctx), c.e.Records(), m.node.Owns)
	n := 0
	for _, id := range t.Reconcile {
		if c.e.Reconcile(id) {
			n++
		}
	}
	if t.Resync {
		c.e.ResyncAll()
	}
	if n > 0 || t.Resync {
		c.log.Info("the node's share changed: reconciling what is its now", "not_ready", n, "ready_resynced", t.Resync)
	}
}

// drain waits until the reconciles in flight on c's engine finished
// (Owns says no to everything by now), for as long as the node may act.
func (m *Member) drain(c *Controller) {
	ctx, cancel := context.WithDeadline(context.Background(), m.node.Deadline())
	defer cancel()
	began := c.clock.Now()
	if err := c.e.Drain(ctx); err != nil {
		c.log.Warn("leaving: reconciles still in flight at the node's deadline", "err", err)
		return
	}
	c.log.Info("leaving: the reconciles in flight finished", "took", c.clock.Since(began).Round(time.Millisecond))
}

// NodeEngine hands a cluster node's places (cluster.Config's Rebalance)
// and hand-overs (its Drain) to the node's engine, which is made only
// once the node joined: the first place comes before the engine exists,
// and is given to it when it is attached.
type NodeEngine struct {
	mu           sync.Mutex
	e            *engine.Engine
	index, count int
}

// Rebalance keeps the engine to its part of each provider's limits: the
// node is index of count members.
func (n *NodeEngine) Rebalance(index, count int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.index, n.count = index, count
	if n.e != nil {
		n.e.ShareLimits(index, count)
	}
}

// Drain returns once no reconcile runs on the engine of what the node no
// longer owns (engine.Drain), or ctx is done; at once before an engine
// is attached.
func (n *NodeEngine) Drain(ctx context.Context) {
	n.mu.Lock()
	e := n.e
	n.mu.Unlock()
	if e != nil {
		_ = e.Drain(ctx)
	}
}

// Attach makes e the node's engine, keeping to the node's last place.
func (n *NodeEngine) Attach(e *engine.Engine) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.e = e
	e.ShareLimits(n.index, n.count)
}
