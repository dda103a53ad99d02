package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/convergehq/converge/store"
)

// Defaults of Config.
const (
	DefaultPrefix   = "/converge/"
	DefaultLeaseTTL = 10 * time.Second
)

// LeaderFence is the name of the fence the leader holds (see
// Node.LeaderFence).
const LeaderFence = "cluster/leader"

// ErrLost is the error of a node whose lease expired before it was
// closed: the others took its share over. Join again to take part.
var ErrLost = errors.New("cluster: the node's lease expired")

// Config says how a node takes part in the cluster.
type Config struct {
	// Prefix is the key prefix the cluster lives under, the store's
	// (DefaultPrefix when empty; a "/" is added when missing). Its keys
	// are under <prefix>cluster/.
	Prefix string
	// Node names the node, unique among the live ones; the host name and
	// the process ID ("web-1-4242") when empty. It may not hold a "/".
	Node string
	// LeaseTTL is how long the node's lease outlives its last keepalive
	// (DefaultLeaseTTL when zero); it is rounded up to whole seconds, and
	// etcd may grant more (at least 1.5 election timeouts).
	LeaseTTL time.Duration
	// Margin is taken off the lease when the node computes until when it
	// may act (see Node.Deadline): it covers clocks that run at slightly
	// different rates. A tenth of the lease when zero.
	Margin time.Duration
	// Fencer is where the node's fences are made binding: the store its
	// records are written to. Without one the node fences nothing, and a
	// node that lost its lease can still write.
	Fencer store.Fencer
	// Drain, when set, is called once for every view the node adopts,
	// after Owns turned false for what the view moved away from the node,
	// and must return once nothing the node no longer owns is being acted
	// on: the new owners start only after it returned. ctx ends when the
	// node closes. The first call comes before Join returns.
	Drain func(ctx context.Context)
	// Rebalance, when set, is called once for every view the node adopts,
	// before Drain and before the node acknowledges the view, with the
	// node's place in it (View.Place): a node divides each provider's
	// limits by it (queue.LimiterConfig.Share). A node that joins acts on
	// nothing until every member acknowledged the view, so every member
	// rebalanced before the new node's first call. The first call comes
	// before Join returns.
	Rebalance func(index, count int)
	// Lead, when set, does the leader's jobs: it is called, in a
	// goroutine of its own, each time the node becomes the leader, with
	// the leader's fence for its writes, and ctx ends when the node stops
	// leading (it must then return). It may start before Join returns.
	Lead func(ctx context.Context, fence store.Fence)
	// Logger receives the node's log; slog.Default when nil.
	Logger *slog.Logger
}

// Member is a live node, as registered under its lease.
type Member struct {
	Name string `json:"name"`
	// Lease is the member's etcd lease ID, in hexadecimal.
	Lease string `json:"lease"`
	// Expires is when the lease expires unless kept alive, to the second
	// (etcd counts whole seconds left); zero in views.
	Expires time.Time `json:"expires,omitzero"`
	lease   int64
}

// registration is what a member's key and a node's registry entry hold.
type registration struct {
	Node  string `json:"node"`
	Lease string `json:"lease"`
}

// keys are the cluster's etcd keys.
type keys struct {
	root     string // <prefix>cluster/
	members  string // members/<name>: registration, under the member's lease
	acks     string // acks/<name>: the ID of the view the member adopted, under its lease
	nodes    string // nodes/<name>/<lease>: registration, no lease; found and reaped when the lease is gone
	election string // election/: the leader election
}

func newKeys(prefix string) keys {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	root := prefix + "cluster/"
	return keys{root: root, members: root + "members/", acks: root + "acks/", nodes: root + "nodes/", election: root + "election/"}
}

// fenceName is the name of the fence of one incarnation of a node: its
// name and lease. It is set once, when the node joins, and cleared when
// the node leaves or when another node finds its lease gone; no one sets
// it again.
func fenceName(node string, lease int64) string {
	return "cluster/node/" + node + "/" + strconv.FormatInt(lease, 16)
}

// Node is one node's part in the cluster: its membership, its share of
// the resources and its chance to lead. Its methods are safe for
// concurrent use.
type Node struct {
	cli    *clientv3.Client
	cfg    Config
	keys   keys
	name   string
	lease  int64
	ttl    time.Duration // granted
	margin time.Duration
	fence  store.Fence
	log    *slog.Logger

	ctx    context.Context // ends when the node closes or its lease is lost
	cancel context.CancelFunc
	wg     sync.WaitGroup

	changes  chan struct{}
	leaderCh chan struct{}
	done     chan struct{}

	mu        sync.Mutex
	deadline  time.Time // may act until then, unless lost or closed
	acting    bool      // deadline was ahead at the last tick
	lost      bool
	closed    bool
	cur       View   // the view adopted last
	passed    *View  // the last view every member adopted; nil: none yet
	pending   []View // views adopted since passed
	acked     string // the view ID this node acknowledged last
	ackRev    int64  // the revision of that acknowledgement
	drained   string // the view ID Drain ran for
	cache     cache
	leading   bool
	leadFence store.Fence
	doneOnce  sync.Once

	// Test hooks.
	kaPaused atomic.Bool // keepalives are not sent
	crashed  atomic.Bool // leave nothing behind cleanly: as if killed
}

// cache is what the node's watch has seen of the members and their
// acknowledgements.
type cache struct {
	rev     int64
	members map[string]Member // by name
	acks    map[string]string // by name: view ID
}

// maxPending bounds the views a node remembers while waiting for the
// others: past it, the node owns nothing until every member adopted the
// current view.
const maxPending = 32

// Join registers the node under a new lease kept alive until Close, and
// returns once the node has adopted the first view that holds it. The
// node acts on nothing (Owns is false) until every member adopted that
// view; see the package comment.
//
// Join fails when a live node of the same name exists.
func Join(ctx context.Context, cli *clientv3.Client, cfg Config) (*Node, error) {
	if cfg.Node == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("cluster: join: node name: %w", err)
		}
		cfg.Node = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if strings.Contains(cfg.Node, "/") {
		return nil, fmt.Errorf("cluster: join: node name %q holds a /", cfg.Node)
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	n := &Node{
		cli: cli, cfg: cfg, keys: newKeys(cfg.Prefix), name: cfg.Node,
		log:      cfg.Logger.With("node", cfg.Node),
		changes:  make(chan struct{}, 1),
		leaderCh: make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	if err := n.awaitName(ctx); err != nil {
		return nil, fmt.Errorf("cluster: join %s: %w", n.name, err)
	}
	secs := int64(math.Ceil(cfg.LeaseTTL.Seconds()))
	sent := time.Now()
	g, err := cli.Grant(ctx, secs)
	if err != nil {
		return nil, fmt.Errorf("cluster: join %s: grant lease: %w", n.name, err)
	}
	n.lease, n.ttl = int64(g.ID), time.Duration(g.TTL)*time.Second
	n.margin = cfg.Margin
	if n.margin <= 0 {
		n.margin = n.ttl / 10
	}
	n.deadline, n.acting = sent.Add(n.ttl-n.margin), true
	n.fence = store.Fence{Name: fenceName(n.name, n.lease), Token: strconv.FormatInt(n.lease, 16)}
	if err := n.register(ctx); err != nil {
		n.unregister()
		return nil, fmt.Errorf("cluster: join %s: %w", n.name, err)
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.cache = cache{members: map[string]Member{}, acks: map[string]string{}}
	rev, err := n.load(ctx)
	if err != nil {
		n.cancel()
		n.unregister()
		return nil, fmt.Errorf("cluster: join %s: %w", n.name, err)
	}
	n.settle()
	n.wg.Add(3)
	go n.keepAlive()
	go n.follow(rev)
	go n.campaign()
	return n, nil
}

// register makes the node known: its registry entry first (so that others
// find and reap it if it dies), then its fence, then its member key, each
// only once the one before committed.
func (n *Node) register(ctx context.Context) error {
	reg, _ := json.Marshal(registration{Node: n.name, Lease: strconv.FormatInt(n.lease, 16)})
	if _, err := n.cli.Put(ctx, n.registryKey(), string(reg)); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	if n.cfg.Fencer != nil {
		if err := n.cfg.Fencer.SetFence(ctx, n.fence.Name, n.fence.Token); err != nil {
			return fmt.Errorf("set fence: %w", err)
		}
	}
	mk := n.keys.members + n.name
	lease := clientv3.WithLease(clientv3.LeaseID(n.lease))
	resp, err := n.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(mk), "=", 0)).
		Then(clientv3.OpPut(mk, string(reg), lease), clientv3.OpPut(n.keys.acks+n.name, "", lease)).
		Commit()
	if err != nil {
		return fmt.Errorf("register member: %w", err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("a live node named %s exists: give each node its own --node", n.name)
	}
	return nil
}

// awaitName waits until no live member holds the node's name. A node of
// this name that died (kill -9, a crash, a restart quicker than its lease)
// holds it until its lease expires, which etcd says when; a node that is
// alive renews its lease past that, and the name stays its own.
func (n *Node) awaitName(ctx context.Context) error {
	mk := n.keys.members + n.name
	var until time.Time
	for {
		resp, err := n.cli.Get(ctx, mk)
		if err != nil {
			return fmt.Errorf("read the members: %w", err)
		}
		if len(resp.Kvs) == 0 {
			return nil
		}
		if until.IsZero() {
			ttl, err := n.cli.TimeToLive(ctx, clientv3.LeaseID(resp.Kvs[0].Lease))
			if err != nil {
				return fmt.Errorf("read the lease of the node named %s: %w", n.name, err)
			}
			// The TTL left is in whole seconds, and etcd revokes an expired
			// lease within about a second: two more cover both.
			left := time.Duration(ttl.TTL)*time.Second + 2*time.Second
			until = time.Now().Add(left)
			n.log.Info("a node of this name is registered: waiting for its lease to expire, as a node that died leaves it", "for_at_most", left.String())
		}
		if time.Now().After(until) {
			return fmt.Errorf("a live node named %s exists (it renewed its lease): give each node its own --node", n.name)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (n *Node) registryKey() string {
	return n.keys.nodes + n.name + "/" + strconv.FormatInt(n.lease, 16)
}

// unregister undoes register, best effort: the fence first, so that
// nothing written under it commits any more, then the registry entry,
// then the lease (with the member key and the acknowledgement).
func (n *Node) unregister() {
	ctx, cancel := context.WithTimeout(context.Background(), n.ttl)
	defer cancel()
	if n.cfg.Fencer != nil {
		if err := n.cfg.Fencer.SetFence(ctx, n.fence.Name, ""); err != nil {
			n.log.Warn("clear the node's fence", "err", err)
		}
	}
	if _, err := n.cli.Delete(ctx, n.registryKey()); err != nil {
		n.log.Warn("unregister the node", "err", err)
	}
	if _, err := n.cli.Revoke(ctx, clientv3.LeaseID(n.lease)); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		n.log.Warn("revoke the node's lease", "err", err)
	}
}

// Name returns the node's name.
func (n *Node) Name() string { return n.name }

// Fence returns the node's fence, for every record write made under its
// share: it stays current until the node closes or another node finds
// its lease gone, whichever comes first.
func (n *Node) Fence() store.Fence { return n.fence }

// Deadline returns until when the node may act without hearing from etcd
// again: the send time of its last acknowledged keepalive, plus the
// lease's TTL, less the margin. Bound every action by it (a provider
// call's context, for example): no other node takes the share over
// before then.
func (n *Node) Deadline() time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.deadline
}

// mayActLocked reports whether the node may act at all at now.
func (n *Node) mayActLocked(now time.Time) bool {
	return !n.lost && !n.closed && now.Before(n.deadline)
}

// Owns reports whether the node may act on the resource id now: id is in
// its share of every view it adopted since the last one every member
// adopted (and in that one), and its deadline has not passed.
func (n *Node) Owns(id string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ownsLocked(id, time.Now())
}

func (n *Node) ownsLocked(id string, now time.Time) bool {
	if !n.mayActLocked(now) || n.passed == nil {
		return false
	}
	if n.passed.Owner(id) != n.name {
		return false
	}
	for _, v := range n.pending {
		if v.Owner(id) != n.name {
			return false
		}
	}
	return true
}

// View returns the view the node adopted last, and whether every member
// adopted it too (the node's share is then settled).
func (n *Node) View() (View, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cur, n.passed != nil && n.passed.ID == n.cur.ID && len(n.pending) == 0
}

// Changes returns a channel that receives a value whenever what Owns says
// may have changed: the members changed, the others adopted the view, the
// deadline passed or moved again, the node was lost or closed. Values are
// not queued: one value may stand for several changes, so read Owns
// afresh on each.
func (n *Node) Changes() <-chan struct{} { return n.changes }

// Done returns a channel closed once the node can act no more: it was
// closed, or its lease expired (Err then says ErrLost).
func (n *Node) Done() <-chan struct{} { return n.done }

// Err returns ErrLost when the node's lease expired, nil otherwise.
func (n *Node) Err() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.lost {
		return ErrLost
	}
	return nil
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// keepAlive keeps the lease alive every third of its TTL, with one
// request at a time whose send time it knows, and moves the deadline on
// each answer. It stops when the lease is found gone.
func (n *Node) keepAlive() {
	defer n.wg.Done()
	interval := n.ttl / 3
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		if n.kaPaused.Load() {
			t.Reset(interval)
			continue
		}
		sent := time.Now()
		ctx, cancel := context.WithTimeout(n.ctx, interval)
		resp, err := n.cli.KeepAliveOnce(ctx, clientv3.LeaseID(n.lease))
		cancel()
		switch {
		case err == nil:
			n.mu.Lock()
			if d := sent.Add(time.Duration(resp.TTL)*time.Second - n.margin); d.After(n.deadline) {
				n.deadline = d
			}
			n.mu.Unlock()
			n.tick()
			t.Reset(interval)
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			n.expire()
			return
		default:
			if n.ctx.Err() != nil {
				return
			}
			n.log.Warn("keep the lease alive", "err", err)
			t.Reset(min(interval, 100*time.Millisecond))
		}
	}
}

// expire marks the node lost: its lease is gone, others own its share.
func (n *Node) expire() {
	n.mu.Lock()
	already := n.lost || n.closed
	n.lost = true
	n.mu.Unlock()
	if already {
		return
	}
	n.log.Warn("the node's lease expired: acting on nothing more")
	notify(n.changes)
	n.doneOnce.Do(func() { close(n.done) })
	n.cancel()
}

// tick notes whether the deadline passed or moved ahead again, and says
// so on Changes.
func (n *Node) tick() {
	n.mu.Lock()
	now := n.mayActLocked(time.Now())
	changed := now != n.acting
	n.acting = now
	n.mu.Unlock()
	if changed {
		if !now {
			n.log.Warn("no keepalive acknowledged in time: acting on nothing until one is")
		}
		notify(n.changes)
		notify(n.leaderCh)
	}
}

// load reads the members and acknowledgements afresh into the cache, and
// returns the revision read.
func (n *Node) load(ctx context.Context) (int64, error) {
	resp, err := n.cli.Get(ctx, n.keys.root, clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("read members: %w", err)
	}
	c := cache{rev: resp.Header.Revision, members: map[string]Member{}, acks: map[string]string{}}
	for _, kv := range resp.Kvs {
		c.put(n.keys, kv)
	}
	n.mu.Lock()
	n.cache = c
	n.mu.Unlock()
	return resp.Header.Revision, nil
}

func (c *cache) put(k keys, kv *mvccpb.KeyValue) {
	key := string(kv.Key)
	switch {
	case strings.HasPrefix(key, k.members):
		name := strings.TrimPrefix(key, k.members)
		c.members[name] = Member{Name: name, Lease: strconv.FormatInt(kv.Lease, 16), lease: kv.Lease}
	case strings.HasPrefix(key, k.acks):
		c.acks[strings.TrimPrefix(key, k.acks)] = string(kv.Value)
	}
}

func (c *cache) del(k keys, key string) {
	switch {
	case strings.HasPrefix(key, k.members):
		delete(c.members, strings.TrimPrefix(key, k.members))
	case strings.HasPrefix(key, k.acks):
		delete(c.acks, strings.TrimPrefix(key, k.acks))
	}
}

// follow watches the members and acknowledgements from rev on, settles
// the node's view on every change, and ticks the deadline.
func (n *Node) follow(rev int64) {
	defer n.wg.Done()
	tick := time.NewTicker(max(n.ttl/20, 20*time.Millisecond))
	defer tick.Stop()
	for n.ctx.Err() == nil {
		wch := n.cli.Watch(clientv3.WithRequireLeader(n.ctx), n.keys.root, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	watch:
		for {
			select {
			case <-n.ctx.Done():
				return
			case <-tick.C:
				n.tick()
				n.settle()
			case resp, ok := <-wch:
				if !ok || resp.Err() != nil || resp.Canceled {
					break watch
				}
				n.mu.Lock()
				for _, ev := range resp.Events {
					if ev.Type == clientv3.EventTypeDelete {
						n.cache.del(n.keys, string(ev.Kv.Key))
					} else {
						n.cache.put(n.keys, ev.Kv)
					}
				}
				if resp.Header.Revision > n.cache.rev {
					n.cache.rev = resp.Header.Revision
				}
				n.mu.Unlock()
				n.settle()
			}
		}
		// The watch ended (compacted, no leader, the connection): read
		// afresh and watch again.
		for n.ctx.Err() == nil {
			r, err := n.load(n.ctx)
			if err == nil {
				rev = r
				n.settle()
				break
			}
			select {
			case <-n.ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// settle brings the node to the cache's view: it adopts a new view
// (Owns stops saying true for what the view moved away), lets Drain run,
// reaps the fences of nodes found gone, acknowledges the view, and once
// every member acknowledged it, owns its share. Each step that fails is
// tried again at the next tick.
func (n *Node) settle() {
	n.mu.Lock()
	if n.lost || n.closed {
		n.mu.Unlock()
		return
	}
	ms := make([]Member, 0, len(n.cache.members))
	for _, m := range n.cache.members {
		ms = append(ms, m)
	}
	v := newView(ms)
	if v.ID != n.cur.ID {
		n.adoptLocked(v)
	}
	needDrain := n.drained != v.ID
	n.mu.Unlock()

	if needDrain {
		if n.cfg.Rebalance != nil {
			n.cfg.Rebalance(v.Place(n.name))
		}
		if n.cfg.Drain != nil {
			n.cfg.Drain(n.ctx)
		}
		n.mu.Lock()
		n.drained = v.ID
		n.mu.Unlock()
	}
	n.mu.Lock()
	needAck := n.acked != v.ID && n.cur.ID == v.ID
	n.mu.Unlock()
	if needAck {
		if err := n.reap(v); err != nil {
			n.log.Warn("reap the fences of nodes gone", "err", err)
			return
		}
		if err := n.ack(v); err != nil {
			n.log.Warn("acknowledge the view", "view", v.ID, "err", err)
			return
		}
	}
	n.checkBarrier()
}

// adoptLocked makes v the node's current view: Owns says true only for
// what v leaves in the node's share too.
func (n *Node) adoptLocked(v View) {
	n.cur = v
	if n.passed != nil {
		n.pending = append(n.pending, v)
		if len(n.pending) > maxPending {
			n.passed, n.pending = nil, nil
		}
	}
	n.log.Info("members changed", "view", v.ID, "members", strings.Join(v.names, ","))
	notify(n.changes)
}

// reap clears the fence, and deletes the registry entry, of every node
// incarnation that is not in v and whose lease is gone: whatever it still
// sends (a write delayed in the network, a process that was paused) is
// refused from now on.
func (n *Node) reap(v View) error {
	ctx, cancel := context.WithTimeout(n.ctx, n.ttl)
	defer cancel()
	resp, err := n.cli.Get(ctx, n.keys.nodes, clientv3.WithPrefix())
	if err != nil {
		return err
	}
	for _, kv := range resp.Kvs {
		var r registration
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			continue
		}
		lease, err := strconv.ParseInt(r.Lease, 16, 64)
		if err != nil || lease == n.lease || v.has(r.Node, lease) {
			continue
		}
		ttl, err := n.cli.TimeToLive(ctx, clientv3.LeaseID(lease))
		if err != nil {
			return err
		}
		if ttl.TTL >= 0 {
			// Alive (joining, or leaving): TTL counts whole seconds left,
			// so a live lease can show 0; a gone one shows -1.
			continue
		}
		if n.cfg.Fencer != nil {
			if err := n.cfg.Fencer.SetFence(ctx, fenceName(r.Node, lease), ""); err != nil {
				return err
			}
		}
		if _, err := n.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(string(kv.Key)), "=", kv.ModRevision)).
			Then(clientv3.OpDelete(string(kv.Key))).Commit(); err != nil {
			return err
		}
		n.log.Info("fenced off a node whose lease is gone", "gone", r.Node, "lease", r.Lease)
	}
	return nil
}

// ack acknowledges v: the node adopted it, and acts on nothing v moved
// away from it.
func (n *Node) ack(v View) error {
	ctx, cancel := context.WithTimeout(n.ctx, n.ttl)
	defer cancel()
	resp, err := n.cli.Put(ctx, n.keys.acks+n.name, v.ID, clientv3.WithLease(clientv3.LeaseID(n.lease)))
	if err != nil {
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			n.expire()
		}
		return err
	}
	n.mu.Lock()
	n.acked, n.ackRev = v.ID, resp.Header.Revision
	n.mu.Unlock()
	return nil
}

// checkBarrier passes the current view once every one of its members,
// this node among them, acknowledged it, as read at or after this node's
// own acknowledgement.
func (n *Node) checkBarrier() {
	n.mu.Lock()
	defer n.mu.Unlock()
	v := n.cur
	if n.passed != nil && n.passed.ID == v.ID && len(n.pending) == 0 {
		return
	}
	if n.acked != v.ID || n.cache.rev < n.ackRev || !v.has(n.name, n.lease) {
		return
	}
	for _, m := range v.Members {
		if n.cache.acks[m.Name] != v.ID {
			return
		}
	}
	n.passed, n.pending = &v, nil
	n.log.Info("every member adopted the view: owning its share", "view", v.ID)
	notify(n.changes)
}

// Close stops the node taking part: it resigns the leadership, clears its
// fence (nothing it writes afterwards commits), and revokes its lease, so
// that the others take its share over at once. Stop acting on the share
// before calling it.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	lost := n.lost
	n.mu.Unlock()
	notify(n.changes)
	notify(n.leaderCh)
	n.cancel()
	n.wg.Wait()
	n.doneOnce.Do(func() { close(n.done) })
	if n.crashed.Load() {
		return nil
	}
	n.unregister()
	if lost {
		return ErrLost
	}
	return nil
}

// crash stops the node as a kill would: no resignation, no revocation,
// nothing cleared. For tests.
func (n *Node) crash() {
	n.crashed.Store(true)
	n.Close()
}
