package cluster

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/etcd/etcdtest"
)

// proxy is a TCP proxy between clients and etcd that can be cut as a
// network partition cuts: the connections stay open, and nothing passes
// either way until it is restored (no reset tells the client).
type proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	cut    bool
	resume chan struct{} // closed on restore
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, resume: make(chan struct{})}
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.restore()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go p.pipe(u, c)
		go p.pipe(c, u)
	}
}

// pipe copies from src to dst, holding each chunk while the proxy is cut.
func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.cut {
				ch := p.resume
				p.mu.Unlock()
				<-ch
				p.mu.Lock()
			}
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				dst.Close()
			}
			return
		}
	}
}

func (p *proxy) partition() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.cut {
		p.cut, p.resume = true, make(chan struct{})
	}
}

func (p *proxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		p.cut = false
		close(p.resume)
	}
}

// TestPartitionedNodeStopsBeforeTakeover cuts a node from etcd with a TCP
// proxy (a partition, not a pause: its process runs on, its keepalives
// are sent and never answered). It stops acting by its own clock before
// the lease can have expired, so that the node that takes its share over,
// and the leadership, never overlaps it; its fenced writes are refused
// once it is deposed; and when the partition heals it finds itself lost
// rather than acting on a lease that is gone. Twice, so that the second
// round runs on a cluster that already lived through one.
func TestPartitionedNodeStopsBeforeTakeover(t *testing.T) {
	cfg := Config{Prefix: etcdtest.Prefix(t), LeaseTTL: time.Second}
	s := openStore(t, cfg.Prefix)
	cfg.Fencer = s
	var cs store.ConditionalRecordStore = s
	keys := ids(100)
	for round := range 2 {
		px := newProxy(t, endpoint)
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{px.addr()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		pc := cfg
		pc.Node, pc.Logger = "p", quiet
		p, err := Join(context.Background(), cli, pc)
		if err != nil {
			t.Fatalf("join p through the proxy: %v", err)
		}
		waitFor(t, 3*time.Second, "p leads", p.IsLeader)
		q := join(t, cfg, "q")
		waitFor(t, 3*time.Second, "settled", func() bool { return settled(p, q) })
		samples := watchOwners(t, keys, func() []*Node { return []*Node{p, q} })
		var x string
		for _, id := range keys {
			if p.Owns(id) {
				x = id
				break
			}
		}
		if x == "" {
			t.Fatal("p owns none of the keys: the test needs one")
		}
		if err := put(t.Context(), &cs, x, p.Fence()); err != nil {
			t.Fatalf("p's fenced write before the partition: %v", err)
		}
		pLead, _ := p.LeaderFence()

		px.partition()
		start := time.Now()
		took := waitFor(t, 3*p.ttl+2*time.Second, "q owns p's share", func() bool { return q.Owns(x) })
		led := waitFor(t, 3*p.ttl+2*time.Second, "q leads", q.IsLeader)
		stopped := p.Deadline()
		if !stopped.Before(took) || !stopped.Before(led) {
			t.Errorf("round %d: p's deadline %s is not before q owned its share (%s) and led (%s)",
				round, stopped.Sub(start), took.Sub(start), led.Sub(start))
		}
		if p.Owns(x) || p.IsLeader() {
			t.Errorf("round %d: p still owns or leads while cut off", round)
		}
		if err := put(t.Context(), &cs, x, p.Fence()); !errors.Is(err, store.ErrFenced) {
			t.Errorf("round %d: p's fenced write after the takeover: %v; want ErrFenced", round, err)
		}
		if err := put(t.Context(), &cs, x, pLead); !errors.Is(err, store.ErrFenced) {
			t.Errorf("round %d: p's leader-fenced write after q leads: %v; want ErrFenced", round, err)
		}
		if err := put(t.Context(), &cs, x, q.Fence()); err != nil {
			t.Errorf("round %d: q's fenced write: %v", round, err)
		}
		// That q took p's share over is the premise: p's keepalives no
		// longer reached etcd, so its lease expired there.
		px.restore()
		select {
		case <-p.Done():
		case <-time.After(3*p.ttl + 2*time.Second):
			t.Fatalf("round %d: p did not find itself lost once the partition healed", round)
		}
		if !errors.Is(p.Err(), ErrLost) {
			t.Errorf("round %d: p.Err() = %v; want ErrLost", round, p.Err())
		}
		if p.Owns(x) {
			t.Errorf("round %d: p owns %s after it found itself lost", round, x)
		}
		t.Logf("round %d: cut off at 0: p stopped acting at %s, q owned p's share at %s and led at %s (margin %s); %d ownership samples, none with two",
			round, stopped.Sub(start).Round(time.Millisecond), took.Sub(start).Round(time.Millisecond), led.Sub(start).Round(time.Millisecond),
			took.Sub(stopped).Round(time.Millisecond), samples.Load())
		p.Close()
		q.Close()
		cli.Close()
	}
}
