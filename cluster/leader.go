package cluster

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/convergehq/converge/store"
)

// IsLeader reports whether the node leads now: it won the election, its
// election key is still there as far as it knows, and its deadline has
// not passed.
func (n *Node) IsLeader() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.leading && n.mayActLocked(time.Now())
}

// LeaderChanges returns a channel that receives a value whenever what
// IsLeader says may have changed. Values are not queued.
func (n *Node) LeaderChanges() <-chan struct{} { return n.leaderCh }

// LeaderFence returns the fence of the node's leadership, for the
// leader's writes, and whether the node leads. The fence is named
// LeaderFence; its token names the node and its term, and each new
// leader sets it before it leads, so that a deposed leader's writes fail.
func (n *Node) LeaderFence() (store.Fence, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.leadFence, n.leading && n.mayActLocked(time.Now())
}

// campaign runs for the leadership until the node stops, leading each time
// it wins.
func (n *Node) campaign() {
	defer n.wg.Done()
	// The session is only a holder of the node's lease: keepAlive keeps it
	// alive, and Session.Done is not trusted.
	sess, err := concurrency.NewSession(n.cli, concurrency.WithLease(clientv3.LeaseID(n.lease)), concurrency.WithContext(n.ctx))
	if err != nil {
		if n.ctx.Err() == nil {
			n.log.Error("leader election: no session", "err", err)
		}
		return
	}
	sess.Orphan()
	el := concurrency.NewElection(sess, n.keys.election)
	for n.ctx.Err() == nil {
		if err := el.Campaign(n.ctx, n.name); err != nil {
			if n.ctx.Err() != nil {
				return
			}
			n.log.Warn("leader election", "err", err)
			sleep(n.ctx, 200*time.Millisecond)
			continue
		}
		n.lead(el)
	}
}

// lead holds the leadership el won until the election key is gone, the
// deadline passes or the node stops; the leader's jobs run meanwhile.
func (n *Node) lead(el *concurrency.Election) {
	key, rev := el.Key(), el.Rev()
	// Campaign can return after the key is gone (a lease that expired
	// while it waited): check that the key is still this term's.
	resp, err := n.cli.Get(n.ctx, key)
	if err != nil || len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != rev || resp.Kvs[0].Lease != n.lease {
		n.resign(el)
		return
	}
	fence := store.Fence{Name: LeaderFence, Token: fmt.Sprintf("%s/%s", n.name, strconv.FormatInt(rev, 10))}
	if n.cfg.Fencer != nil {
		// Not cut short by Close: a request cancelled once sent may still
		// commit, after the clear that follows it. Its outcome is known.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(n.ctx), n.ttl)
		err := n.cfg.Fencer.SetFence(sctx, fence.Name, fence.Token)
		cancel()
		if err != nil || n.ctx.Err() != nil {
			if err != nil && n.ctx.Err() == nil {
				n.log.Warn("set the leader's fence", "err", err)
			}
			n.clearLeaderFence(fence) // it may have been set all the same
			n.resign(el)
			return
		}
	}
	n.mu.Lock()
	// The fence was set by a request sent before now: if the deadline
	// passed meanwhile, another may have won and set its own since.
	ok := n.mayActLocked(time.Now())
	if ok {
		n.leading, n.leadFence = true, fence
	}
	n.mu.Unlock()
	if !ok {
		n.clearLeaderFence(fence)
		n.resign(el)
		return
	}
	n.log.Info("leading", "term", rev)
	notify(n.leaderCh)

	ctx, cancel := context.WithCancel(n.ctx)
	var jobs sync.WaitGroup
	if n.cfg.Lead != nil {
		jobs.Add(1)
		go func() {
			defer jobs.Done()
			n.cfg.Lead(ctx, fence)
		}()
	}
	n.holdLeadership(ctx, key, rev)
	cancel()
	jobs.Wait()
	n.mu.Lock()
	n.leading, n.leadFence = false, store.Fence{}
	n.mu.Unlock()
	n.clearLeaderFence(fence)
	n.log.Info("no longer leading", "term", rev)
	notify(n.leaderCh)
	n.resign(el)
}

// holdLeadership returns once the election key of this term is deleted,
// the deadline passes, or ctx ends.
func (n *Node) holdLeadership(ctx context.Context, key string, rev int64) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch := n.cli.Watch(wctx, key, clientv3.WithRev(rev))
	tick := time.NewTicker(max(n.ttl/20, 20*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			n.mu.Lock()
			ok := n.mayActLocked(time.Now())
			n.mu.Unlock()
			if !ok {
				return
			}
		case resp, open := <-wch:
			if !open || resp.Err() != nil {
				// Check the key directly, then watch again.
				g, err := n.cli.Get(ctx, key)
				if err != nil || len(g.Kvs) == 0 || g.Kvs[0].CreateRevision != rev {
					return
				}
				wch = n.cli.Watch(wctx, key, clientv3.WithRev(g.Header.Revision+1))
				continue
			}
			for _, ev := range resp.Events {
				if ev.Type == clientv3.EventTypeDelete {
					return
				}
			}
		}
	}
}

// clearLeaderFence clears the fence of the term that ends, while the
// term is surely still this node's (its election key stays until resign,
// and its lease until the deadline), so that nothing the leader's jobs
// still send commits; past the deadline another may have set it.
func (n *Node) clearLeaderFence(fence store.Fence) {
	n.mu.Lock()
	held := !n.lost && time.Now().Before(n.deadline)
	n.mu.Unlock()
	if !held || n.cfg.Fencer == nil || n.crashed.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.ttl)
	defer cancel()
	if err := n.cfg.Fencer.SetFence(ctx, fence.Name, ""); err != nil {
		n.log.Warn("clear the leader's fence", "err", err)
	}
}

// resign gives the leadership up, unless the node was killed (tests).
func (n *Node) resign(el *concurrency.Election) {
	if n.crashed.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.ttl)
	defer cancel()
	if err := el.Resign(ctx); err != nil {
		n.log.Warn("resign the leadership", "err", err)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
