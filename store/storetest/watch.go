package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/store"
)

// watchWait bounds the wait for a change a watch must deliver. Stores
// deliver within about 100 ms; the bound is for loaded test machines.
const watchWait = 10 * time.Second

func watcher(t *testing.T, s store.Store) store.Watcher {
	t.Helper()
	w, ok := s.(store.Watcher)
	if !ok {
		t.Fatalf("%T does not implement store.Watcher", s)
	}
	return w
}

// lastSeq returns the store's latest change number.
func lastSeq(t *testing.T, w store.Watcher) int64 {
	t.Helper()
	seq, err := w.LastSeq(t.Context())
	if err != nil {
		t.Fatalf("LastSeq: %v", err)
	}
	return seq
}

// watch starts a watch from the change numbered from, ended with the test.
func watch(t *testing.T, w store.Watcher, from int64) <-chan store.Change {
	t.Helper()
	ch, err := w.Watch(t.Context(), from)
	if err != nil {
		t.Fatalf("Watch(%d): %v", from, err)
	}
	return ch
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
	case <-time.After(watchWait):
		t.Fatalf("no change within %s", watchWait)
	}
	return store.Change{}
}

// summary is a change without its record, for comparisons.
type summary struct {
	Kind   store.ChangeKind
	ID     string
	Target string
	Phase  store.Phase // the put record's
}

func summarize(c store.Change) summary {
	s := summary{Kind: c.Kind, ID: c.ID, Target: c.Target}
	if c.Record != nil {
		s.Phase = c.Record.Phase
	}
	return s
}

// testWatchOrder checks that a watch delivers puts (with the record as
// stored), deletes and target changes in order, one at a time as they
// happen, and nothing for writes that change nothing.
func testWatchOrder(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := watcher(t, s)
	start := lastSeq(t, w)
	ch := watch(t, w, start)

	put := fullRecord()
	if err := s.PutRecord(ctx, put); err != nil {
		t.Fatal(err)
	}
	c := next(t, ch)
	if c.Kind != store.ChangePut || c.ID != put.ID || c.Seq <= start || c.Record == nil {
		t.Fatalf("first change = %+v; want the put of %s after %d", c, put.ID, start)
	}
	if diff := cmp.Diff(canonicalFullRecord(), *c.Record, IgnoreVersion); diff != "" {
		t.Errorf("put change's record (-want +got):\n%s", diff)
	}
	if c.Record.Version != c.Seq || c.Record.Version != version(t, s, put.ID) {
		t.Errorf("put change: Seq %d, record version %d; want both the stored version %d", c.Seq, c.Record.Version, version(t, s, put.ID))
	}
	seqs := []int64{c.Seq}

	var got []summary
	step := func(what string, write func() error) {
		t.Helper()
		if err := write(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		c := next(t, ch)
		seqs = append(seqs, c.Seq)
		got = append(got, summarize(c))
	}
	step("put b", func() error { return s.PutRecord(ctx, store.Record{ID: "b.B/1", Phase: store.PhasePending}) })
	step("put b again", func() error { return s.PutRecord(ctx, store.Record{ID: "b.B/1", Phase: store.PhaseReady}) })
	step("delete a", func() error { return s.DeleteRecord(ctx, put.ID) })
	// Neither a delete of a missing record nor a revision is a change: the
	// next change is the target's.
	step("set target", func() error {
		if err := s.DeleteRecord(ctx, put.ID); err != nil {
			return err
		}
		for _, h := range []string{"h1", "h2"} {
			if err := s.PutRevision(ctx, store.Revision{Hash: h, State: store.RevisionProgressing}); err != nil {
				return err
			}
		}
		return s.SetTarget(ctx, "h1")
	})
	// Setting the target it already is changes nothing either.
	step("set another target", func() error {
		if err := s.SetTarget(ctx, "h1"); err != nil {
			return err
		}
		return s.SetTarget(ctx, "h2")
	})
	step("clear target", func() error { return s.ClearTarget(ctx) })
	step("conditional put", func() error {
		if err := s.ClearTarget(ctx); err != nil {
			return err
		}
		_, err := conditional(t, s).PutRecordIf(ctx, store.Record{ID: "c.C/1", Phase: store.PhaseReady}, 0, store.Fence{})
		return err
	})
	step("conditional delete", func() error {
		return conditional(t, s).DeleteRecordIf(ctx, "c.C/1", store.AnyVersion, store.Fence{})
	})
	want := []summary{
		{Kind: store.ChangePut, ID: "b.B/1", Phase: store.PhasePending},
		{Kind: store.ChangePut, ID: "b.B/1", Phase: store.PhaseReady},
		{Kind: store.ChangeDelete, ID: put.ID},
		{Kind: store.ChangeTarget, Target: "h1"},
		{Kind: store.ChangeTarget, Target: "h2"},
		{Kind: store.ChangeTarget},
		{Kind: store.ChangePut, ID: "c.C/1", Phase: store.PhaseReady},
		{Kind: store.ChangeDelete, ID: "c.C/1"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Errorf("change numbers %v; want them increasing", seqs)
			break
		}
	}
	if last := lastSeq(t, w); last != seqs[len(seqs)-1] {
		t.Errorf("LastSeq() = %d; want %d, the last change's", last, seqs[len(seqs)-1])
	}
}

// testWatchFrom checks that a watch starts after the change it is given:
// from 0 it gives every change, from a later one only those after it.
func testWatchFrom(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := watcher(t, s)
	if got := lastSeq(t, w); got != 0 {
		t.Errorf("LastSeq() of a new store = %d; want 0", got)
	}
	var seqs []int64
	for _, id := range []string{"a.A/1", "a.A/2", "a.A/3"} {
		if err := s.PutRecord(ctx, store.Record{ID: id}); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, version(t, s, id))
	}
	for _, tt := range []struct {
		from int64
		want []string
	}{
		{0, []string{"a.A/1", "a.A/2", "a.A/3"}},
		{seqs[0], []string{"a.A/2", "a.A/3"}},
		{seqs[2], nil},
	} {
		ch := watch(t, w, tt.from)
		var got []string
		for range tt.want {
			got = append(got, next(t, ch).ID)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Watch(%d) (-want +got):\n%s", tt.from, diff)
		}
		// Then the next change, not an older one.
		if err := s.PutRecord(ctx, store.Record{ID: "z.Z/1"}); err != nil {
			t.Fatal(err)
		}
		if c := next(t, ch); c.ID != "z.Z/1" {
			t.Errorf("Watch(%d) then gave %+v; want the put of z.Z/1", tt.from, c)
		}
	}
}

// testWatchCollapse writes one record many times behind a watch: the
// watch may leave puts out, but delivers the last one, in order.
func testWatchCollapse(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := watcher(t, s)
	ch := watch(t, w, lastSeq(t, w))
	const writes = 50
	for i := range writes {
		if err := s.PutRecord(ctx, store.Record{ID: "a.A/1", Attempts: i}); err != nil {
			t.Fatal(err)
		}
	}
	last := int64(0)
	for {
		c := next(t, ch)
		if c.Kind != store.ChangePut || c.Seq <= last || c.Record.Version != c.Seq {
			t.Fatalf("change %+v after %d; want a later put", c, last)
		}
		last = c.Seq
		if c.Record.Attempts == writes-1 {
			break
		}
	}
	if got := version(t, s, "a.A/1"); last != got {
		t.Errorf("last change %d; want the record's version %d", last, got)
	}
}

// testWatchConcurrent runs watches beside concurrent writers: each sees,
// in increasing order, every record's last put.
func testWatchConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := watcher(t, s)
	const watchers, writers, each = 3, 4, 25
	start := lastSeq(t, w)
	chans := make([]<-chan store.Change, watchers)
	for i := range chans {
		chans[i] = watch(t, w, start)
	}
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("w.W/%d-%d", g, i%5)
				if err := s.PutRecord(ctx, store.Record{ID: id, Attempts: i}); err != nil {
					t.Errorf("PutRecord(%s): %v", id, err)
					return
				}
			}
		})
	}
	wg.Wait()
	want := map[string]int{}
	for g := range writers {
		for i := range each {
			want[fmt.Sprintf("w.W/%d-%d", g, i%5)] = i
		}
	}
	for i, ch := range chans {
		got := map[string]int{}
		last := start
		for len(got) < len(want) || !cmp.Equal(want, got) {
			c := next(t, ch)
			if c.Seq <= last {
				t.Fatalf("watch %d: change %d after %d; want increasing", i, c.Seq, last)
			}
			last = c.Seq
			got[c.ID] = c.Record.Attempts
		}
	}
}

// testWatchCompacted checks that watching from a forgotten change fails
// with ErrCompacted, from the first kept one works, and that a watch that
// falls behind fails with it too.
func testWatchCompacted(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := watcher(t, s)
	var seqs []int64
	for i := range 5 {
		id := fmt.Sprintf("a.A/%d", i)
		if err := s.PutRecord(ctx, store.Record{ID: id}); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, version(t, s, id))
	}
	behind, err := w.Watch(ctx, seqs[4]) // started before the compaction, read after
	if err != nil {
		t.Fatal(err)
	}
	if err := w.CompactChanges(ctx, seqs[2]); err != nil {
		t.Fatalf("CompactChanges: %v", err)
	}
	for _, from := range []int64{0, seqs[1]} {
		if _, err := w.Watch(ctx, from); !errors.Is(err, store.ErrCompacted) {
			t.Errorf("Watch(%d) after CompactChanges(%d) = %v; want an error matching store.ErrCompacted", from, seqs[2], err)
		}
	}
	ch := watch(t, w, seqs[2])
	if c := next(t, ch); c.ID != "a.A/3" {
		t.Errorf("Watch(%d) first gave %+v; want the put of a.A/3", seqs[2], c)
	}
	// Compacting what is forgotten already, or beyond the last change,
	// forgets nothing more than there is.
	if err := w.CompactChanges(ctx, seqs[1]); err != nil {
		t.Fatal(err)
	}
	if err := w.CompactChanges(ctx, seqs[4]+100); err != nil {
		t.Fatal(err)
	}
	ch = watch(t, w, seqs[4])
	if err := s.PutRecord(ctx, store.Record{ID: "b.B/1"}); err != nil {
		t.Fatal(err)
	}
	if c := next(t, ch); c.ID != "b.B/1" || c.Seq <= seqs[4] {
		t.Errorf("after compacting everything, Watch(last) gave %+v; want the next put, numbered above %d", c, seqs[4])
	}
	// The watch started at seqs[4] kept up: it is not behind.
	if c := next(t, behind); c.ID != "b.B/1" {
		t.Errorf("a watch at the last change when it was compacted gave %+v; want the next put", c)
	}
	// A watch that is behind when its changes go fails.
	lagging, err := w.Watch(ctx, lastSeq(t, w))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.PutRecord(ctx, store.Record{ID: fmt.Sprintf("c.C/%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.CompactChanges(ctx, lastSeq(t, w)); err != nil {
		t.Fatal(err)
	}
	// It may have read the changes before they went, and then it kept up;
	// otherwise it fails.
	read := 0
	for read < 3 {
		var c store.Change
		var ok bool
		select {
		case c, ok = <-lagging:
		case <-time.After(watchWait):
			t.Fatalf("lagging watch: neither the changes nor an error within %s", watchWait)
		}
		if !ok {
			t.Fatalf("lagging watch closed without an error")
		}
		if c.Err == nil {
			read++
			continue
		}
		if !errors.Is(c.Err, store.ErrCompacted) {
			t.Errorf("lagging watch failed with %v; want store.ErrCompacted", c.Err)
		}
		if _, ok := <-lagging; ok {
			t.Errorf("watch sent a change after its error; want it closed")
		}
		return
	}
}

// testWatchCancel checks that a watch's channel closes when its context
// is cancelled, while it waits and while changes come, and when the store
// closes.
func testWatchCancel(t *testing.T, s store.Store) {
	w := watcher(t, s)
	closed := func(what string, ch <-chan store.Change) {
		t.Helper()
		deadline := time.After(watchWait)
		for {
			select {
			case c, ok := <-ch:
				if !ok {
					return
				}
				if c.Err != nil {
					t.Errorf("%s: watch failed with %v; want it closed", what, c.Err)
				}
			case <-deadline:
				t.Fatalf("%s: watch not closed within %s", what, watchWait)
			}
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := w.Watch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	closed("cancelled while waiting", ch)

	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	ch, err = w.Watch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := s.PutRecord(t.Context(), store.Record{ID: fmt.Sprintf("a.A/%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	cancel() // without reading the changes
	closed("cancelled with changes unread", ch)

	if _, err := w.Watch(ctx, 0); err == nil {
		t.Errorf("Watch(cancelled context) = nil error; want one")
	}
	ch = watch(t, w, 0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	closed("store closed", ch)
	if _, err := w.Watch(t.Context(), 0); err == nil {
		t.Errorf("Watch after Close = nil error; want one")
	}
}

// testWatchDeferred checks that a watch sees deferred writes (Deferrer)
// once they committed, in the order they were made, among synchronous
// writes: each put with the record as stored (its Version the change's
// Seq), each delete, then the synchronous write made after them.
func testWatchDeferred(t *testing.T, s store.Store) {
	d, ok := s.(store.Deferrer)
	if !ok {
		t.Skipf("%T does not implement store.Deferrer", s)
	}
	ctx := t.Context()
	w := watcher(t, s)
	if err := s.PutRecord(ctx, store.Record{ID: "a.A/old"}); err != nil {
		t.Fatal(err)
	}
	putRevisions(t, s, "h1")
	start := lastSeq(t, w)
	ch := watch(t, w, start)
	for i := range 3 {
		d.PutRecordDeferred(store.Record{ID: fmt.Sprintf("d.D/%d", i), Attempts: i, Phase: store.PhaseReady})
	}
	d.DeleteRecordDeferred("a.A/old")
	d.DeleteRecordDeferred("a.A/never") // deletes nothing: no change
	d.PutRecordDeferred(store.Record{ID: "d.D/3", Phase: store.PhasePending})
	// A synchronous write after them commits after them.
	if err := s.SetTarget(ctx, "h1"); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	want := []summary{
		{Kind: store.ChangePut, ID: "d.D/0", Phase: store.PhaseReady},
		{Kind: store.ChangePut, ID: "d.D/1", Phase: store.PhaseReady},
		{Kind: store.ChangePut, ID: "d.D/2", Phase: store.PhaseReady},
		{Kind: store.ChangeDelete, ID: "a.A/old"},
		{Kind: store.ChangePut, ID: "d.D/3", Phase: store.PhasePending},
		{Kind: store.ChangeTarget, Target: "h1"},
	}
	var got []summary
	last := start
	for range want {
		c := next(t, ch)
		if c.Seq <= last {
			t.Fatalf("change %d after %d; want increasing", c.Seq, last)
		}
		last = c.Seq
		if c.Kind == store.ChangePut {
			if c.Record == nil || c.Record.Version != c.Seq || c.Record.Version != version(t, s, c.ID) {
				t.Errorf("deferred put of %s: change %d with record %+v; want the record as stored, its version the change's", c.ID, c.Seq, c.Record)
			}
		}
		got = append(got, summarize(c))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes of deferred writes (-want +got):\n%s", diff)
	}
	if seq := lastSeq(t, w); seq != last {
		t.Errorf("LastSeq() = %d; want %d, the last change's: nothing more was logged", seq, last)
	}
}
