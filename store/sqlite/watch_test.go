package sqlite_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/sqlite"
)

// seen waits for a change of ch that match accepts, and returns it with
// how long it took.
func seen(t *testing.T, ch <-chan store.Change, what string, match func(store.Change) bool) (store.Change, time.Duration) {
	t.Helper()
	start := time.Now()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case c, ok := <-ch:
			if !ok || c.Err != nil {
				t.Fatalf("%s: watch ended: %v", what, c.Err)
			}
			if match(c) {
				return c, time.Since(start)
			}
		case <-deadline:
			t.Fatalf("%s: not seen within 10s", what)
		}
	}
}

func putOf(id string) func(store.Change) bool {
	return func(c store.Change) bool { return c.Kind == store.ChangePut && c.ID == id }
}

// TestWatchAcrossHandles opens one file three times, as three processes
// would: the owner, a Shared writer and a ReadOnly reader. Each handle's
// watch sees the others' writes: record puts, deletes and the target.
func TestWatchAcrossHandles(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	owner := open(t, path)
	if err := owner.PutRevision(ctx, store.Revision{Hash: "h1", State: store.RevisionProgressing}); err != nil {
		t.Fatal(err)
	}
	shared := open(t, path, sqlite.Shared())
	reader := open(t, path, sqlite.ReadOnly())
	from, err := reader.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	watchOf := func(db *sqlite.DB) <-chan store.Change {
		ch, err := db.Watch(ctx, from)
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		return ch
	}
	ownerCh, readerCh := watchOf(owner), watchOf(reader)

	// The owner's write, seen by the reader.
	if err := owner.PutRecord(ctx, store.Record{ID: "a.A/1", Phase: store.PhaseReady}); err != nil {
		t.Fatal(err)
	}
	c, took := seen(t, readerCh, "reader sees the owner's put", putOf("a.A/1"))
	if c.Record.Phase != store.PhaseReady {
		t.Errorf("reader saw %+v; want the record as put", c.Record)
	}
	t.Logf("reader saw the owner's put after %v", took)
	// The owner sees its own write too.
	seen(t, ownerCh, "owner sees its own put", putOf("a.A/1"))

	// The shared writer's put, delete and target, seen by the owner.
	if err := shared.PutRecord(ctx, store.Record{ID: "b.B/1"}); err != nil {
		t.Fatal(err)
	}
	_, took = seen(t, ownerCh, "owner sees the shared put", putOf("b.B/1"))
	t.Logf("owner saw the shared handle's put after %v", took)
	if err := shared.DeleteRecord(ctx, "a.A/1"); err != nil {
		t.Fatal(err)
	}
	seen(t, ownerCh, "owner sees the shared delete", func(c store.Change) bool { return c.Kind == store.ChangeDelete && c.ID == "a.A/1" })
	if err := shared.SetTarget(ctx, "h1"); err != nil {
		t.Fatal(err)
	}
	_, took = seen(t, ownerCh, "owner sees the shared target", func(c store.Change) bool { return c.Kind == store.ChangeTarget && c.Target == "h1" })
	t.Logf("owner saw the shared handle's new target after %v", took)

	// The reader saw all of it, in order.
	var kinds []store.ChangeKind
	for len(kinds) < 3 {
		c, _ := seen(t, readerCh, "reader sees the shared writes", func(store.Change) bool { return true })
		kinds = append(kinds, c.Kind)
	}
	if fmt.Sprint(kinds) != "[put delete target]" {
		t.Errorf("reader saw %v; want [put delete target]", kinds)
	}
	if err := reader.CompactChanges(ctx, 1); !errors.Is(err, sqlite.ErrReadOnly) {
		t.Errorf("read-only CompactChanges = %v; want ErrReadOnly", err)
	}
}

// TestWatchAnotherProcess watches the counter while a second process
// (opened Shared) increments it with this one: the watch follows both,
// and sees the other process's last write soon after it returned.
func TestWatchAnotherProcess(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	db := open(t, path)
	ch, err := db.Watch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	child := startChild(t, path, sharedChildEnv)
	for range sharedIncrements {
		if _, err := increment(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	if err := child.Wait(); err != nil {
		t.Fatalf("child: %v; stderr:\n%s", err, child.Stderr.String())
	}
	// The child's last write may come before this process's last
	// increments, or after.
	var counted, done bool
	seen(t, ch, "the counter's last value and the other process's last write", func(c store.Change) bool {
		counted = counted || c.ID == counterID && c.Record.Attempts == 2*sharedIncrements
		done = done || c.ID == doneID
		return counted && done
	})
}

// TestWatchLatencyAcrossProcesses measures how soon a watch that waits
// sees another process's writes: the other process writes a record
// stamped with the time its write started, every 100 ms.
func TestWatchLatencyAcrossProcesses(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	db := open(t, path)
	from, err := db.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := db.Watch(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	c := startChild(t, path, latencyChildEnv)
	var took []time.Duration
	for i := range latencyWrites {
		ch, _ := seen(t, ch, "a stamped write", putOf(fmt.Sprintf("latency.L/%d", i)))
		took = append(took, time.Since(ch.Record.Updated))
	}
	if err := c.Wait(); err != nil {
		t.Fatalf("child: %v; stderr:\n%s", err, c.Stderr.String())
	}
	slices.Sort(took)
	t.Logf("another process's writes seen after %v (median), %v (max), from the start of the write", took[len(took)/2], took[len(took)-1])
	if took[len(took)/2] > time.Second {
		t.Errorf("median delay %v; want about 50 ms", took[len(took)/2])
	}
}

// TestChangeRetention checks the change log's bounds: by count, and by
// age on the store's clock.
func TestChangeRetention(t *testing.T) {
	ctx := t.Context()
	t.Run("rows", func(t *testing.T) {
		db := open(t, filepath.Join(t.TempDir(), "state.db"), sqlite.ChangeRetention(8, 0))
		for i := range 50 {
			if err := db.PutRecord(ctx, store.Record{ID: fmt.Sprintf("a.A/%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
		last, _ := db.LastSeq(ctx)
		if _, err := db.Watch(ctx, 0); !errors.Is(err, store.ErrCompacted) {
			t.Errorf("Watch(0) after 50 changes, 8 kept = %v; want ErrCompacted", err)
		}
		if _, err := db.Watch(ctx, last-8); err != nil {
			t.Errorf("Watch(last-8) = %v; want the newest 8 kept", err)
		}
		if n := rowCount(t, db.Path(), "changes"); n < 8 || n > 10 {
			t.Errorf("%d changes kept; want 8 to 10", n)
		}
	})
	t.Run("age", func(t *testing.T) {
		var now atomic.Int64 // the writer goroutine reads it
		now.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
		clock := func() time.Time { return time.Unix(0, now.Load()) }
		db := open(t, filepath.Join(t.TempDir(), "state.db"), sqlite.WithNow(clock), sqlite.ChangeRetention(1000, time.Minute))
		for i := range 3 {
			if err := db.PutRecord(ctx, store.Record{ID: fmt.Sprintf("a.A/%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
		now.Add(int64(2 * time.Minute))
		if err := db.PutRecord(ctx, store.Record{ID: "b.B/1"}); err != nil {
			t.Fatal(err)
		}
		if err := db.PutRecord(ctx, store.Record{ID: "b.B/2"}); err != nil { // the writer compacts after a commit
			t.Fatal(err)
		}
		if _, err := db.Watch(ctx, 2); !errors.Is(err, store.ErrCompacted) {
			t.Errorf("Watch(2) with changes 1-3 older than the minute kept = %v; want ErrCompacted", err)
		}
		ch, err := db.Watch(ctx, 3)
		if err != nil {
			t.Fatalf("Watch(3) = %v; want the recent changes kept", err)
		}
		seen(t, ch, "the recent put", putOf("b.B/1"))
	})
}

func rowCount(t *testing.T, path, table string) int {
	t.Helper()
	var n int
	if err := rawDB(t, path+"?mode=ro").QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestVersionsOfAnOlderState opens a state written before versions: its
// records get versions 1, 2, 3..., and their changes count as forgotten,
// so a watcher lists first.
func TestVersionsOfAnOlderState(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	raw := rawDB(t, path)
	for _, name := range []string{"0001_init.sql", "0002_revision_history.sql", "0003_lighter_event_indexes.sql", "0004_meta.sql", "0005_blobs.sql"} {
		b, err := os.ReadFile(filepath.Join("migrations", name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec(string(b)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	for _, q := range []string{
		`CREATE TABLE schema_version (version INTEGER NOT NULL)`,
		`INSERT INTO schema_version VALUES (5)`,
		`INSERT INTO records (id, kind, phase, updated, data) VALUES ('b.B/1', 'b.B', 'Ready', 0, '{"id":"b.B/1"}'), ('a.A/1', 'a.A', 'Ready', 0, '{"id":"a.A/1"}')`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()

	db := open(t, path)
	recs, err := db.ListRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Version != 1 || recs[1].Version != 2 {
		t.Fatalf("records of an older state = %+v; want versions 1 and 2", recs)
	}
	if last, err := db.LastSeq(ctx); err != nil || last != 2 {
		t.Errorf("LastSeq() = %d, %v; want 2", last, err)
	}
	if _, err := db.Watch(ctx, 0); !errors.Is(err, store.ErrCompacted) {
		t.Errorf("Watch(0) = %v; want ErrCompacted: the records' changes were never logged", err)
	}
	if _, err := db.PutRecordIf(ctx, store.Record{ID: "a.A/1"}, 0, store.Fence{}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("PutRecordIf(existing record of an older state, 0) = %v; want ErrConflict", err)
	}
	v, err := db.PutRecordIf(ctx, store.Record{ID: "a.A/1"}, 1, store.Fence{})
	if err != nil || v != 3 {
		t.Errorf("PutRecordIf(a.A/1, 1) = %d, %v; want version 3", v, err)
	}
}
