package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/store"
)

func conditional(t *testing.T, s store.Store) store.ConditionalRecordStore {
	t.Helper()
	c, ok := s.(store.ConditionalRecordStore)
	if !ok {
		t.Fatalf("%T does not implement store.ConditionalRecordStore", s)
	}
	return c
}

func fencer(t *testing.T, s store.Store) store.Fencer {
	t.Helper()
	f, ok := s.(store.Fencer)
	if !ok {
		t.Fatalf("%T does not implement store.Fencer", s)
	}
	return f
}

// version returns the stored version of the record id, 0 when there is
// none.
func version(t *testing.T, s store.Store, id string) int64 {
	t.Helper()
	r, err := s.GetRecord(t.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return 0
	}
	if err != nil {
		t.Fatalf("GetRecord(%s): %v", id, err)
	}
	return r.Version
}

// testVersions checks that every write gives the record a new, higher
// version from one sequence for the whole store, that listing gives the
// same versions, and that the version a writer sets is ignored.
func testVersions(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.PutRecord(ctx, store.Record{ID: "a.A/1", Version: 1000}); err != nil {
		t.Fatal(err)
	}
	v1 := version(t, s, "a.A/1")
	if v1 <= 0 || v1 == 1000 {
		t.Errorf("version after the first put = %d; want one the store chose, above 0", v1)
	}
	if err := s.PutRecord(ctx, store.Record{ID: "a.A/2"}); err != nil {
		t.Fatal(err)
	}
	v2 := version(t, s, "a.A/2")
	if err := s.PutRecord(ctx, store.Record{ID: "a.A/1", Version: v1}); err != nil {
		t.Fatal(err)
	}
	v3 := version(t, s, "a.A/1")
	if !(v1 < v2 && v2 < v3) {
		t.Errorf("versions of put a.A/1, put a.A/2, put a.A/1 = %d, %d, %d; want them increasing: one sequence for the store", v1, v2, v3)
	}
	list, err := s.ListRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, r := range list {
		got = append(got, r.Version)
	}
	if diff := cmp.Diff([]int64{v3, v2}, got); diff != "" {
		t.Errorf("versions listed (-want +got):\n%s", diff)
	}
	// Deleted and put again: a version it never had.
	if err := s.DeleteRecord(ctx, "a.A/1"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRecord(ctx, store.Record{ID: "a.A/1"}); err != nil {
		t.Fatal(err)
	}
	if v4 := version(t, s, "a.A/1"); v4 <= v3 {
		t.Errorf("version of a record put again after its delete = %d; want above its last, %d", v4, v3)
	}
}

// testPutRecordIf checks a conditional put that holds, one that lost the
// race (what its error says, and that it wrote nothing), and that the
// version it returns is the one read back.
func testPutRecordIf(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := conditional(t, s)
	r := store.Record{ID: "a.A/1", Phase: store.PhasePending}
	v1, err := c.PutRecordIf(ctx, r, 0, store.Fence{})
	if err != nil {
		t.Fatalf("PutRecordIf(new, 0) = %v", err)
	}
	if got := version(t, s, r.ID); got != v1 || v1 <= 0 {
		t.Errorf("PutRecordIf(new, 0) returned version %d, the store has %d; want them equal, above 0", v1, got)
	}
	r.Phase = store.PhaseReady
	v2, err := c.PutRecordIf(ctx, r, v1, store.Fence{})
	if err != nil || v2 <= v1 {
		t.Fatalf("PutRecordIf(r, %d) = %d, %v; want a higher version", v1, v2, err)
	}

	// A writer that read v1 lost the race.
	stale := store.Record{ID: r.ID, Phase: store.PhaseFailed}
	_, err = c.PutRecordIf(ctx, stale, v1, store.Fence{})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("PutRecordIf(r, stale %d) = %v; want an error matching store.ErrConflict", v1, err)
	}
	var ce *store.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("PutRecordIf(stale) error %T; want a *store.ConflictError", err)
	}
	if diff := cmp.Diff(store.ConflictError{Op: "put", ID: r.ID, Want: v1, Got: v2}, *ce); diff != "" {
		t.Errorf("conflict (-want +got):\n%s", diff)
	}
	for _, want := range []string{r.ID, fmt.Sprint("version ", v1), fmt.Sprint("version ", v2)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("conflict error %q; want it to name %q", err, want)
		}
	}
	got, err := s.GetRecord(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Phase != store.PhaseReady || got.Version != v2 {
		t.Errorf("record after a lost race: phase %s, version %d; want Ready, %d: nothing written", got.Phase, got.Version, v2)
	}
	if _, err := c.PutRecordIf(ctx, store.Record{}, 0, store.Fence{}); err == nil {
		t.Errorf("PutRecordIf(empty ID) = nil; want an error")
	}
	if _, err := c.PutRecordIf(ctx, r, -2, store.Fence{}); err == nil || errors.Is(err, store.ErrConflict) {
		t.Errorf("PutRecordIf(version -2) = %v; want an error that is not a conflict", err)
	}
}

// testConditionalAbsent checks what version 0 and AnyVersion mean, for
// puts and deletes, of records that exist or do not.
func testConditionalAbsent(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := conditional(t, s)
	if err := s.PutRecord(ctx, store.Record{ID: "a.A/here"}); err != nil {
		t.Fatal(err)
	}
	here := version(t, s, "a.A/here")
	conflict := func(op string, err error, want store.ConflictError) {
		t.Helper()
		var ce *store.ConflictError
		if !errors.As(err, &ce) {
			t.Errorf("%s = %v; want a *store.ConflictError", op, err)
			return
		}
		if diff := cmp.Diff(want, *ce); diff != "" {
			t.Errorf("%s conflict (-want +got):\n%s", op, diff)
		}
	}
	_, err := c.PutRecordIf(ctx, store.Record{ID: "a.A/here"}, 0, store.Fence{})
	conflict("PutRecordIf(existing, 0)", err, store.ConflictError{Op: "put", ID: "a.A/here", Want: 0, Got: here})
	_, err = c.PutRecordIf(ctx, store.Record{ID: "a.A/gone"}, 5, store.Fence{})
	conflict("PutRecordIf(missing, 5)", err, store.ConflictError{Op: "put", ID: "a.A/gone", Want: 5, Got: 0})
	if _, err := s.GetRecord(ctx, "a.A/gone"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRecord after a refused put of a missing record = %v; want ErrNotFound", err)
	}
	err = c.DeleteRecordIf(ctx, "a.A/here", 0, store.Fence{})
	conflict("DeleteRecordIf(existing, 0)", err, store.ConflictError{Op: "delete", ID: "a.A/here", Want: 0, Got: here})
	err = c.DeleteRecordIf(ctx, "a.A/here", here+100, store.Fence{})
	conflict("DeleteRecordIf(existing, other version)", err, store.ConflictError{Op: "delete", ID: "a.A/here", Want: here + 100, Got: here})
	if got := version(t, s, "a.A/here"); got != here {
		t.Errorf("version after refused deletes = %d; want %d, the record untouched", got, here)
	}
	for _, v := range []int64{0, store.AnyVersion} {
		if err := c.DeleteRecordIf(ctx, "a.A/gone", v, store.Fence{}); err != nil {
			t.Errorf("DeleteRecordIf(missing, %d) = %v; want nil", v, err)
		}
	}
	if err := c.DeleteRecordIf(ctx, "a.A/here", here, store.Fence{}); err != nil {
		t.Fatalf("DeleteRecordIf(existing, its version) = %v", err)
	}
	if got := version(t, s, "a.A/here"); got != 0 {
		t.Errorf("record still there after DeleteRecordIf, version %d", got)
	}
	// AnyVersion writes whatever is stored, and 0 again after the delete.
	v, err := c.PutRecordIf(ctx, store.Record{ID: "a.A/here"}, store.AnyVersion, store.Fence{})
	if err != nil || v <= here {
		t.Errorf("PutRecordIf(AnyVersion) = %d, %v; want a version above %d", v, err, here)
	}
	if _, err := c.PutRecordIf(ctx, store.Record{ID: "a.A/here"}, store.AnyVersion, store.Fence{}); err != nil {
		t.Errorf("PutRecordIf(AnyVersion) over an existing record = %v", err)
	}
	if err := c.DeleteRecordIf(ctx, "a.A/here", store.AnyVersion, store.Fence{}); err != nil {
		t.Errorf("DeleteRecordIf(AnyVersion) = %v", err)
	}
	if _, err := c.PutRecordIf(ctx, store.Record{ID: "a.A/here"}, 0, store.Fence{}); err != nil {
		t.Errorf("PutRecordIf(0) after the delete = %v", err)
	}
}

// testFences checks that a write fenced by a token commits while the
// token is current and fails with ErrFenced once another replaced it or
// the fence was cleared, that the fence is checked before the version,
// and what a fenced error says.
func testFences(t *testing.T, s store.Store) {
	ctx := t.Context()
	c, f := conditional(t, s), fencer(t, s)
	old := store.Fence{Name: "shard/1", Token: "lease-1"}
	if err := f.SetFence(ctx, old.Name, old.Token); err != nil {
		t.Fatal(err)
	}
	v, err := c.PutRecordIf(ctx, store.Record{ID: "a.A/1"}, 0, old)
	if err != nil {
		t.Fatalf("PutRecordIf with the current token = %v", err)
	}
	// Another writer takes the fence.
	cur := store.Fence{Name: old.Name, Token: "lease-2"}
	if err := f.SetFence(ctx, cur.Name, cur.Token); err != nil {
		t.Fatal(err)
	}
	fenced := func(op string, err error, want store.FencedError) {
		t.Helper()
		if !errors.Is(err, store.ErrFenced) {
			t.Errorf("%s = %v; want an error matching store.ErrFenced", op, err)
		}
		var fe *store.FencedError
		if !errors.As(err, &fe) {
			t.Errorf("%s error %T; want a *store.FencedError", op, err)
			return
		}
		if diff := cmp.Diff(want, *fe); diff != "" {
			t.Errorf("%s (-want +got):\n%s", op, diff)
		}
		for _, s := range []string{want.ID, want.Fence, want.Token} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s error %q; want it to name %q", op, err, s)
			}
		}
	}
	_, err = c.PutRecordIf(ctx, store.Record{ID: "a.A/1", Phase: store.PhaseFailed}, v, old)
	fenced("PutRecordIf(stale token)", err, store.FencedError{Op: "put", ID: "a.A/1", Fence: old.Name, Token: old.Token, Current: cur.Token})
	// The fence first: a stale token and a stale version is fenced.
	_, err = c.PutRecordIf(ctx, store.Record{ID: "a.A/1"}, v+100, old)
	fenced("PutRecordIf(stale token, stale version)", err, store.FencedError{Op: "put", ID: "a.A/1", Fence: old.Name, Token: old.Token, Current: cur.Token})
	err = c.DeleteRecordIf(ctx, "a.A/1", store.AnyVersion, old)
	fenced("DeleteRecordIf(stale token)", err, store.FencedError{Op: "delete", ID: "a.A/1", Fence: old.Name, Token: old.Token, Current: cur.Token})
	if got := version(t, s, "a.A/1"); got != v {
		t.Errorf("version after fenced writes = %d; want %d, nothing written", got, v)
	}
	v2, err := c.PutRecordIf(ctx, store.Record{ID: "a.A/1"}, v, cur)
	if err != nil || v2 <= v {
		t.Errorf("PutRecordIf with the new token = %d, %v; want a new version", v2, err)
	}
	// A fence nobody set, and one cleared, hold no token.
	_, err = c.PutRecordIf(ctx, store.Record{ID: "a.A/2"}, 0, store.Fence{Name: "shard/unknown", Token: "x"})
	fenced("PutRecordIf(unknown fence)", err, store.FencedError{Op: "put", ID: "a.A/2", Fence: "shard/unknown", Token: "x"})
	if err := f.SetFence(ctx, cur.Name, ""); err != nil {
		t.Fatal(err)
	}
	_, err = c.PutRecordIf(ctx, store.Record{ID: "a.A/1"}, v2, cur)
	fenced("PutRecordIf(cleared fence)", err, store.FencedError{Op: "put", ID: "a.A/1", Fence: cur.Name, Token: cur.Token})
	// Unfenced writes are not held back by fences.
	if err := s.PutRecord(ctx, store.Record{ID: "a.A/1"}); err != nil {
		t.Errorf("PutRecord beside a fence = %v", err)
	}
	if _, err := c.PutRecordIf(ctx, store.Record{ID: "a.A/3"}, 0, store.Fence{Name: "shard/1"}); err == nil || errors.Is(err, store.ErrFenced) {
		t.Errorf("PutRecordIf(fence without a token) = %v; want an error that is not ErrFenced", err)
	}
	if err := f.SetFence(ctx, "", "x"); err == nil {
		t.Errorf("SetFence(empty name) = nil; want an error")
	}
}

// increment adds 1 to the Attempts of the record id by read, change and
// conditional write, retrying lost races, and returns how many it lost.
func increment(ctx context.Context, s store.Store, id string, fence store.Fence) (int, error) {
	c := s.(store.ConditionalRecordStore)
	for lost := 0; ; lost++ {
		r, err := s.GetRecord(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			r = store.Record{ID: id, Kind: "counter.C"}
		} else if err != nil {
			return lost, err
		}
		r.Attempts++
		_, err = c.PutRecordIf(ctx, r, r.Version, fence)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		return lost, err
	}
}

// testConditionalConcurrent runs writers that each increment one counter
// by read, change and conditional write, retrying when they lose: no
// increment is lost.
func testConditionalConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	fence := store.Fence{Name: "counter", Token: "t"}
	if err := fencer(t, s).SetFence(ctx, fence.Name, fence.Token); err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	lost := make(chan int, writers)
	for range writers {
		wg.Go(func() {
			n := 0
			for range each {
				l, err := increment(ctx, s, "counter.C/n", fence)
				if err != nil {
					errs <- err
					return
				}
				n += l
			}
			lost <- n
		})
	}
	wg.Wait()
	close(errs)
	close(lost)
	for err := range errs {
		t.Error(err)
	}
	total := 0
	for n := range lost {
		total += n
	}
	r, err := s.GetRecord(ctx, "counter.C/n")
	if err != nil {
		t.Fatal(err)
	}
	if r.Attempts != writers*each {
		t.Errorf("counter = %d after %d increments by %d writers; want %d", r.Attempts, writers*each, writers, writers*each)
	}
	t.Logf("%d increments, %d lost races retried", writers*each, total)
}

// testConditionalDeferred checks that conditional writes keep their place
// among deferred writes: they are checked against every write deferred
// before them, and concurrent increments lose nothing while deferred
// writes go on beside them.
func testConditionalDeferred(t *testing.T, s store.Store) {
	d, ok := s.(store.Deferrer)
	if !ok {
		t.Skipf("%T does not implement store.Deferrer", s)
	}
	ctx := t.Context()
	c := conditional(t, s)
	if err := s.PutRecord(ctx, store.Record{ID: "a.A/1"}); err != nil {
		t.Fatal(err)
	}
	v1 := version(t, s, "a.A/1")
	// A deferred put, then a conditional put on the version read before it:
	// the deferred one committed first, so the conditional one lost.
	d.PutRecordDeferred(store.Record{ID: "a.A/1", Attempts: 7})
	_, err := c.PutRecordIf(ctx, store.Record{ID: "a.A/1", Attempts: 1}, v1, store.Fence{})
	var ce *store.ConflictError
	if !errors.As(err, &ce) || ce.Want != v1 || ce.Got <= v1 {
		t.Fatalf("PutRecordIf(version before a deferred put) = %v; want a conflict with a version above %d", err, v1)
	}
	got, err := s.GetRecord(ctx, "a.A/1")
	if err != nil || got.Attempts != 7 || got.Version != ce.Got {
		t.Fatalf("record after the deferred put = %+v, %v; want the deferred write, version %d", got, err, ce.Got)
	}
	// A deferred delete, then a conditional put of a record that must not
	// exist: it does not any more.
	d.DeleteRecordDeferred("a.A/1")
	if _, err := c.PutRecordIf(ctx, store.Record{ID: "a.A/1", Attempts: 2}, 0, store.Fence{}); err != nil {
		t.Fatalf("PutRecordIf(0) after a deferred delete = %v", err)
	}

	// Increments race while deferred writes of other records, and of
	// events, go on.
	const writers, each, deferred = 4, 20, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			for range each {
				if _, err := increment(ctx, s, "counter.C/n", store.Fence{}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range deferred {
			id := fmt.Sprintf("d.D/%d", i%5)
			d.PutRecordDeferred(store.Record{ID: id, Attempts: i})
			if i%7 == 3 {
				d.DeleteRecordDeferred(fmt.Sprintf("d.D/%d", (i+1)%5))
			}
			d.AddEventDeferred(store.Event{Type: store.Normal, Reason: "Deferred", Message: "m", Resource: id})
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := d.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	r, err := s.GetRecord(ctx, "counter.C/n")
	if err != nil || r.Attempts != writers*each {
		t.Errorf("counter = %d, %v; want %d", r.Attempts, err, writers*each)
	}
	// The deferred writes landed in their order: the last put of each
	// record wins, and records deleted after their last put are gone.
	want := map[string]int{}
	for i := range deferred {
		want[fmt.Sprintf("d.D/%d", i%5)] = i
		if i%7 == 3 {
			delete(want, fmt.Sprintf("d.D/%d", (i+1)%5))
		}
	}
	list, err := s.ListRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gotDeferred := map[string]int{}
	for _, r := range list {
		if strings.HasPrefix(r.ID, "d.D/") {
			gotDeferred[r.ID] = r.Attempts
		}
	}
	if diff := cmp.Diff(want, gotDeferred); diff != "" {
		t.Errorf("deferred records (-want +got):\n%s", diff)
	}
}
