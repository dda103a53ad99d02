package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/etcd"
	"github.com/convergehq/converge/store/etcd/etcdtest"
	"github.com/convergehq/converge/store/storetest"
)

// endpoint is the client URL of the etcd every test shares; each test
// keeps its keys under a prefix of its own.
var endpoint string

func TestMain(m *testing.M) { etcdtest.Main(m, &endpoint) }

// open returns a store under prefix p, closed with the test.
func open(t testing.TB, p string) *etcd.Store {
	t.Helper()
	s, err := etcd.Open(context.Background(), etcd.Config{Endpoints: []string{endpoint}, Prefix: p})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := etcd.Open(t.Context(), etcd.Config{Endpoints: []string{endpoint}, Prefix: etcdtest.Prefix(t)})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

func BenchmarkPutRecordParallel(b *testing.B) {
	storetest.BenchmarkPutRecordParallel(b, func(b *testing.B) store.Store {
		s, err := etcd.Open(b.Context(), etcd.Config{Endpoints: []string{endpoint}, Prefix: etcdtest.Prefix(b)})
		if err != nil {
			b.Fatalf("Open: %v", err)
		}
		return s
	})
}

// BenchmarkPutRecordIf measures one write at a time, fenced and
// conditional (the write every node of a cluster makes) against a plain
// PutRecord.
func BenchmarkPutRecordIf(b *testing.B) {
	ctx := b.Context()
	s := open(b, etcdtest.Prefix(b))
	fence := store.Fence{Name: "shard/0", Token: "t"}
	if err := s.SetFence(ctx, fence.Name, fence.Token); err != nil {
		b.Fatal(err)
	}
	r := store.Record{ID: "a.A/1", Phase: store.PhaseReady}
	b.Run("unfenced", func(b *testing.B) {
		for b.Loop() {
			if err := s.PutRecord(ctx, r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fenced", func(b *testing.B) {
		v, err := s.LastSeq(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if v, err = s.PutRecordIf(ctx, r, v, fence); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestPrefixIsolation checks that two stores under different prefixes of
// one etcd see nothing of each other, including a prefix that the other
// begins with.
func TestPrefixIsolation(t *testing.T) {
	ctx := t.Context()
	base := etcdtest.Prefix(t)
	a, b := open(t, base+"a"), open(t, base+"ab")
	if err := a.PutRecord(ctx, store.Record{ID: "x.X/1"}); err != nil {
		t.Fatal(err)
	}
	if err := a.PutRevision(ctx, store.Revision{Hash: "h", State: store.RevisionConverged}); err != nil {
		t.Fatal(err)
	}
	if err := a.SetTarget(ctx, "h"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddEvent(ctx, store.Event{Type: store.Normal, Reason: "Created", Message: "m"}); err != nil {
		t.Fatal(err)
	}
	if err := a.SetMeta(ctx, "root", "/srv"); err != nil {
		t.Fatal(err)
	}
	if err := a.SetFence(ctx, "shard/1", "t1"); err != nil {
		t.Fatal(err)
	}
	// Premise: a sees what it wrote.
	if recs, err := a.ListRecords(ctx); err != nil || len(recs) != 1 {
		t.Fatalf("a.ListRecords() = %v, %v; want its record", recs, err)
	}
	if seq, err := a.LastSeq(ctx); err != nil || seq == 0 {
		t.Fatalf("a.LastSeq() = %d, %v; want its changes", seq, err)
	}

	if recs, err := b.ListRecords(ctx); err != nil || len(recs) != 0 {
		t.Errorf("b.ListRecords() = %v, %v; want none", recs, err)
	}
	if revs, err := b.ListRevisions(ctx); err != nil || len(revs) != 0 {
		t.Errorf("b.ListRevisions() = %v, %v; want none", revs, err)
	}
	if _, err := b.Target(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("b.Target() = %v; want ErrNotFound", err)
	}
	if evs, err := b.ListEvents(ctx, store.EventFilter{}); err != nil || len(evs) != 0 {
		t.Errorf("b.ListEvents() = %v, %v; want none", evs, err)
	}
	if _, err := b.GetMeta(ctx, "root"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("b.GetMeta(root) = %v; want ErrNotFound", err)
	}
	if _, err := b.PutRecordIf(ctx, store.Record{ID: "x.X/2"}, 0, store.Fence{Name: "shard/1", Token: "t1"}); !errors.Is(err, store.ErrFenced) {
		t.Errorf("b.PutRecordIf with a's fence = %v; want ErrFenced: b has no such fence", err)
	}
	if seq, err := b.LastSeq(ctx); err != nil || seq != 0 {
		t.Errorf("b.LastSeq() = %d, %v; want 0", seq, err)
	}
	// A watch of b sees none of a's changes, only b's.
	ch, err := b.Watch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.PutRecord(ctx, store.Record{ID: "x.X/3"}); err != nil {
		t.Fatal(err)
	}
	if err := b.PutRecord(ctx, store.Record{ID: "y.Y/1"}); err != nil {
		t.Fatal(err)
	}
	if c := next(t, ch); c.ID != "y.Y/1" {
		t.Errorf("b's watch gave %+v; want only b's put of y.Y/1", c)
	}
}

// TestFencingAcrossClients checks that a writer whose fence another
// client took over can no longer write.
func TestFencingAcrossClients(t *testing.T) {
	ctx := t.Context()
	p := etcdtest.Prefix(t)
	first, second := open(t, p), open(t, p)
	old := store.Fence{Name: "shard/1", Token: "node-a"}
	if err := first.SetFence(ctx, old.Name, old.Token); err != nil {
		t.Fatal(err)
	}
	v, err := first.PutRecordIf(ctx, store.Record{ID: "a.A/1", Phase: store.PhasePending}, 0, old)
	if err != nil {
		t.Fatalf("first's write with its token = %v; want it to commit", err)
	}
	if err := second.SetFence(ctx, old.Name, "node-b"); err != nil {
		t.Fatal(err)
	}
	_, err = first.PutRecordIf(ctx, store.Record{ID: "a.A/1", Phase: store.PhaseReady}, v, old)
	var fe *store.FencedError
	if !errors.As(err, &fe) || fe.Current != "node-b" || fe.Token != "node-a" {
		t.Fatalf("first's write after second took the fence = %v; want a FencedError naming node-b's token", err)
	}
	if err := first.DeleteRecordIf(ctx, "a.A/1", store.AnyVersion, old); !errors.Is(err, store.ErrFenced) {
		t.Errorf("first's delete after second took the fence = %v; want ErrFenced", err)
	}
	r, err := second.GetRecord(ctx, "a.A/1")
	if err != nil || r.Phase != store.PhasePending || r.Version != v {
		t.Errorf("record = %+v, %v; want first's only write, version %d", r, err, v)
	}
	if _, err := second.PutRecordIf(ctx, store.Record{ID: "a.A/1", Phase: store.PhaseReady}, v, store.Fence{Name: old.Name, Token: "node-b"}); err != nil {
		t.Errorf("second's write with the new token = %v", err)
	}
}

// TestWatchAcrossClients checks that a write through one client is seen
// by a watch through another.
func TestWatchAcrossClients(t *testing.T) {
	ctx := t.Context()
	p := etcdtest.Prefix(t)
	writer, reader := open(t, p), open(t, p)
	from, err := reader.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := reader.Watch(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	if err := writer.PutRecord(ctx, store.Record{ID: "a.A/1", Phase: store.PhaseReady}); err != nil {
		t.Fatal(err)
	}
	c := next(t, ch)
	if c.Kind != store.ChangePut || c.ID != "a.A/1" || c.Record == nil || c.Record.Phase != store.PhaseReady {
		t.Fatalf("reader's watch gave %+v; want the writer's put", c)
	}
	if err := writer.PutRevision(ctx, store.Revision{Hash: "h"}); err != nil {
		t.Fatal(err)
	}
	if err := writer.SetTarget(ctx, "h"); err != nil {
		t.Fatal(err)
	}
	if c := next(t, ch); c.Kind != store.ChangeTarget || c.Target != "h" {
		t.Errorf("reader's watch gave %+v; want the writer's target", c)
	}
	if seq, err := reader.LastSeq(ctx); err != nil || seq <= c.Seq {
		t.Errorf("reader.LastSeq() = %d, %v; want above the put's %d", seq, err, c.Seq)
	}
}

// TestUnreachable checks that Open of an etcd nobody listens on fails
// within its dial timeout, naming the endpoint.
func TestUnreachable(t *testing.T) {
	u, err := etcdtest.FreeURL() // nobody listens on it once FreeURL returns
	if err != nil {
		t.Fatal(err)
	}
	const timeout = 300 * time.Millisecond
	start := time.Now()
	s, err := etcd.Open(t.Context(), etcd.Config{Endpoints: []string{u.Host}, DialTimeout: timeout})
	took := time.Since(start)
	if err == nil {
		s.Close()
		t.Fatalf("Open(%s) = nil error; want one", u.Host)
	}
	if !strings.Contains(err.Error(), u.Host) {
		t.Errorf("Open error %q; want it to name %s", err, u.Host)
	}
	if took > timeout+2*time.Second {
		t.Errorf("Open took %s; want about its dial timeout, %s", took, timeout)
	}
	t.Logf("Open(unreachable) took %s: %v", took, err)
}

// TestTooLarge checks that a value larger than one etcd request is refused
// before it is sent, saying its size and the limit, and that nothing is
// written; a value under the limit is kept whole.
func TestTooLarge(t *testing.T) {
	ctx := t.Context()
	s := open(t, etcdtest.Prefix(t))
	// Just under the limit: resources are stored as they are, not encoded.
	size := etcd.DefaultMaxRequestBytes - 8<<10
	fits := store.Revision{Hash: "fits", State: store.RevisionConverged, Resources: []byte(strings.Repeat("x", size))}
	if err := s.PutRevision(ctx, fits); err != nil {
		t.Fatalf("PutRevision(%d bytes) = %v; want it kept", size, err)
	}
	if got, err := s.GetRevision(ctx, "fits"); err != nil || string(got.Resources) != string(fits.Resources) {
		t.Fatalf("GetRevision(fits) = %d bytes, %v; want %d", len(got.Resources), err, size)
	}
	big := store.Revision{Hash: "big", State: store.RevisionConverged, Resources: []byte(strings.Repeat("x", 2<<20))}
	err := s.PutRevision(ctx, big)
	if !errors.Is(err, etcd.ErrTooLarge) {
		t.Fatalf("PutRevision(2 MiB) = %v; want an error matching ErrTooLarge", err)
	}
	for _, want := range []string{"big", fmt.Sprint(etcd.DefaultMaxRequestBytes), "bytes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q; want it to name %q", err, want)
		}
	}
	if _, err := s.GetRevision(ctx, "big"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRevision(big) = %v; want ErrNotFound: nothing written", err)
	}
	rec := store.Record{ID: "file.File/big", LastError: strings.Repeat("y", 2<<20)}
	if err := s.PutRecord(ctx, rec); !errors.Is(err, etcd.ErrTooLarge) || !strings.Contains(err.Error(), rec.ID) {
		t.Errorf("PutRecord(2 MiB) = %v; want an error matching ErrTooLarge naming the record", err)
	}

	// A store told etcd takes more than it does: etcd refuses, and the
	// error says so just as clearly.
	loose, err := etcd.Open(ctx, etcd.Config{Endpoints: []string{endpoint}, Prefix: etcdtest.Prefix(t), MaxRequestBytes: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer loose.Close()
	for _, n := range []int{etcd.DefaultMaxRequestBytes + 64<<10, 3 << 20} { // refused by etcd, and by gRPC before it
		r := store.Revision{Hash: fmt.Sprint("big-", n), Resources: make([]byte, n)}
		err = loose.PutRevision(ctx, r)
		if !errors.Is(err, etcd.ErrTooLarge) || !strings.Contains(err.Error(), "max-request-bytes") || !strings.Contains(err.Error(), "bytes") {
			t.Errorf("PutRevision(%d bytes) past etcd's limit = %v; want an error matching ErrTooLarge naming the size and etcd's limit", n, err)
		}
		if _, err := loose.GetRevision(ctx, r.Hash); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetRevision(%s) = %v; want ErrNotFound: nothing written", r.Hash, err)
		}
	}
}

// next returns the next change of ch, failing the test if none comes in
// time or the watch failed.
func next(t *testing.T, ch <-chan store.Change) store.Change {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatalf("watch closed; want a change")
		}
		if c.Err != nil {
			t.Fatalf("watch failed: %v", c.Err)
		}
		return c
	case <-time.After(10 * time.Second):
		t.Fatalf("no change within 10s")
	}
	return store.Change{}
}

// TestGivenClient checks that a store made on a client of the caller's
// uses it, and leaves it open when closed; and that the store's methods
// then fail with ErrClosed.
func TestGivenClient(t *testing.T) {
	ctx := t.Context()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	p := etcdtest.Prefix(t)
	s, err := etcd.Open(ctx, etcd.Config{Client: cli, Prefix: p})
	if err != nil {
		t.Fatalf("Open(client) = %v", err)
	}
	if err := s.PutRecord(ctx, store.Record{ID: "a.A/1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.PutRecord(ctx, store.Record{ID: "a.A/2"}); !errors.Is(err, etcd.ErrClosed) {
		t.Errorf("PutRecord after Close = %v; want ErrClosed", err)
	}
	if _, err := s.ListRecords(ctx); !errors.Is(err, etcd.ErrClosed) {
		t.Errorf("ListRecords after Close = %v; want ErrClosed", err)
	}
	resp, err := cli.Get(ctx, p+"state/records/a.A/1")
	if err != nil || len(resp.Kvs) != 1 {
		t.Errorf("client Get of the record after the store's Close = %v, %v; want the record, the client still open", resp, err)
	}
}
