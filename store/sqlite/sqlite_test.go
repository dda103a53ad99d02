package sqlite_test

import (
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/sqlite"
	"github.com/convergehq/converge/store/storetest"
)

func open(t *testing.T, path string, opts ...sqlite.Option) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), path, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustClose(t *testing.T, db *sqlite.DB) {
	t.Helper()
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// fill writes one of everything and returns what a reader should find.
func fill(t *testing.T, s store.Store) (store.Record, store.Event, store.Revision) {
	t.Helper()
	ctx := t.Context()
	rec := store.Record{ID: "file.File/a", Kind: "file.File", Name: "a", Phase: store.PhaseReady, AppliedSpec: map[string]any{"mode": int64(420)}, Updated: t0}
	if err := s.PutRecord(ctx, rec); err != nil {
		t.Fatalf("PutRecord: %v", err)
	}
	ev, err := s.AddEvent(ctx, store.Event{Type: store.Normal, Reason: "Created", Message: "m", Resource: rec.ID, LastSeen: t0})
	if err != nil {
		t.Fatalf("AddEvent: %v", err)
	}
	rev := store.Revision{Hash: "h1", Created: t0, Sources: []string{"a.yaml"}, State: store.RevisionConverged, Resources: []byte("[]")}
	if err := s.PutRevision(ctx, rev); err != nil {
		t.Fatalf("PutRevision: %v", err)
	}
	if err := s.SetTarget(ctx, rev.Hash); err != nil {
		t.Fatalf("SetTarget: %v", err)
	}
	return rec, ev, rev
}

// check reads back what fill wrote.
func check(t *testing.T, s store.Store, rec store.Record, ev store.Event, rev store.Revision) {
	t.Helper()
	ctx := t.Context()
	gotRec, err := s.GetRecord(ctx, rec.ID)
	if err != nil {
		t.Fatalf("GetRecord: %v", err)
	}
	if diff := cmp.Diff(rec, gotRec, storetest.IgnoreVersion); diff != "" {
		t.Errorf("record mismatch (-want +got):\n%s", diff)
	}
	gotEvents, err := s.ListEvents(ctx, store.EventFilter{})
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	if diff := cmp.Diff([]store.Event{ev}, gotEvents); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
	gotRevs, err := s.ListRevisions(ctx)
	if err != nil {
		t.Fatalf("ListRevisions: %v", err)
	}
	if diff := cmp.Diff([]store.Revision{rev}, gotRevs); diff != "" {
		t.Errorf("revisions mismatch (-want +got):\n%s", diff)
	}
	if got, err := s.Target(ctx); err != nil || got != rev.Hash {
		t.Errorf("Target() = %q, %v; want %q, nil", got, err, rev.Hash)
	}
}

func TestReopenKeepsData(t *testing.T) {
	// The parent directory does not exist yet: Open creates it.
	path := filepath.Join(t.TempDir(), ".converge", "state.db")
	db := open(t, path)
	rec, ev, rev := fill(t, db)
	mustClose(t, db)

	for i := range 2 { // a second reopen proves the migrations are idempotent
		db = open(t, path)
		check(t, db, rec, ev, rev)
		mustClose(t, db)
		if t.Failed() {
			t.Fatalf("reopen %d failed", i+1)
		}
	}
	ms, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if got := schemaVersion(t, path); got != len(ms) {
		t.Errorf("schema version = %d; want %d (every migration applied once)", got, len(ms))
	}
}

// rawDB opens path without the package, to inspect or tamper with it.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatalf("sql.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func schemaVersion(t *testing.T, path string) int {
	t.Helper()
	db := rawDB(t, path)
	var rows, v int
	if err := db.QueryRow(`SELECT count(*), max(version) FROM schema_version`).Scan(&rows, &v); err != nil {
		t.Fatalf("read schema_version: %v", err)
	}
	if rows != 1 {
		t.Errorf("schema_version has %d rows; want 1", rows)
	}
	db.Close()
	return v
}

func TestNewerSchemaIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	mustClose(t, open(t, path))
	raw := rawDB(t, path)
	if _, err := raw.Exec(`UPDATE schema_version SET version = 99`); err != nil {
		t.Fatalf("bump version: %v", err)
	}
	raw.Close()

	for _, tt := range []struct {
		name string
		opts []sqlite.Option
	}{
		{"read-write", nil},
		{"read-only", []sqlite.Option{sqlite.ReadOnly()}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db, err := sqlite.Open(t.Context(), path, tt.opts...)
			if err == nil {
				db.Close()
				t.Fatalf("Open of a newer schema = nil error; want one")
			}
			want := fmt.Sprintf("state file %s has schema version 99, newer than the", path)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Open error = %q; want it to contain %q", err, want)
			}
		})
	}
}

func TestLockConflict(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	first := open(t, path)

	_, err := sqlite.Open(t.Context(), path)
	var locked *sqlite.LockedError
	if !errors.As(err, &locked) {
		t.Fatalf("second Open = %v; want a *sqlite.LockedError", err)
	}
	want := fmt.Sprintf("state file %s is in use by another converge process (pid %d)", path, os.Getpid())
	if !strings.HasSuffix(err.Error(), want) {
		t.Errorf("second Open error = %q; want it to end with %q", err, want)
	}

	mustClose(t, first)
	second := open(t, path)
	if err := second.PutRecord(t.Context(), store.Record{ID: "a.A/1"}); err != nil {
		t.Errorf("PutRecord after taking over the lock: %v", err)
	}
}

func TestReadOnlyWhileLocked(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	writer := open(t, path)
	rec, ev, rev := fill(t, writer)

	reader := open(t, path, sqlite.ReadOnly())
	check(t, reader, rec, ev, rev)

	// A write committed after the reader opened is visible to it.
	later := store.Record{ID: "file.File/b", Phase: store.PhasePending}
	if err := writer.PutRecord(ctx, later); err != nil {
		t.Fatalf("PutRecord: %v", err)
	}
	got, err := reader.GetRecord(ctx, later.ID)
	if err != nil {
		t.Fatalf("reader GetRecord(later): %v", err)
	}
	if diff := cmp.Diff(later, got, storetest.IgnoreVersion); diff != "" {
		t.Errorf("reader sees (-want +got):\n%s", diff)
	}

	writes := map[string]error{
		"PutRecord":    reader.PutRecord(ctx, store.Record{ID: "x.X/1"}),
		"DeleteRecord": reader.DeleteRecord(ctx, rec.ID),
		"PutRevision":  reader.PutRevision(ctx, store.Revision{Hash: "h2"}),
		"SetTarget":    reader.SetTarget(ctx, rev.Hash),
	}
	_, writes["AddEvent"] = reader.AddEvent(ctx, store.Event{Reason: "r"})
	for name, err := range writes {
		if !errors.Is(err, sqlite.ErrReadOnly) {
			t.Errorf("read-only %s = %v; want an error wrapping sqlite.ErrReadOnly", name, err)
		}
	}
}

func TestReadOnlyAfterWriterClosed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	writer := open(t, path)
	rec, ev, rev := fill(t, writer)
	mustClose(t, writer)

	reader := open(t, path, sqlite.ReadOnly())
	check(t, reader, rec, ev, rev)
}

func TestReadOnlyMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.db")
	_, err := sqlite.Open(t.Context(), path, sqlite.ReadOnly())
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("read-only Open(missing) = %v; want an error wrapping fs.ErrNotExist", err)
	}
	if _, statErr := os.Stat(path); !errors.Is(statErr, fs.ErrNotExist) {
		t.Errorf("read-only Open created %s", path)
	}
}

func TestClosed(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "state.db"))
	mustClose(t, db)
	if err := db.Close(); err != nil {
		t.Errorf("second Close = %v; want nil", err)
	}
	ctx := t.Context()
	_, getErr := db.GetRecord(ctx, "a.A/1")
	_, evErr := db.AddEvent(ctx, store.Event{Reason: "r"})
	for name, err := range map[string]error{
		"PutRecord": db.PutRecord(ctx, store.Record{ID: "a.A/1"}),
		"GetRecord": getErr,
		"AddEvent":  evErr,
	} {
		if !errors.Is(err, sqlite.ErrClosed) {
			t.Errorf("%s after Close = %v; want an error wrapping sqlite.ErrClosed", name, err)
		}
	}
}

// TestCloseDrains races writers against Close: every write either fails
// with ErrClosed or is durable.
func TestCloseDrains(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db := open(t, path)
	ctx := t.Context()

	const writers, perWriter = 8, 200
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	started := make(chan struct{}, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				id := fmt.Sprintf("w.W/%d-%03d", w, i)
				err := db.PutRecord(ctx, store.Record{ID: id})
				if i == 0 {
					started <- struct{}{}
				}
				switch {
				case err == nil:
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				case errors.Is(err, sqlite.ErrClosed):
					return
				default:
					t.Errorf("PutRecord(%s) = %v; want nil or ErrClosed", id, err)
					return
				}
			}
		})
	}
	for range writers {
		<-started
	}
	mustClose(t, db)
	wg.Wait()

	db = open(t, path)
	for _, id := range acked {
		if _, err := db.GetRecord(ctx, id); err != nil {
			t.Errorf("acknowledged write %s lost: %v", id, err)
		}
	}
	if len(acked) < writers {
		t.Errorf("%d writes acknowledged; want at least one per writer", len(acked))
	}
}

func TestWithNow(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	db := open(t, filepath.Join(t.TempDir(), "state.db"), sqlite.WithNow(func() time.Time { return now }))
	ctx := t.Context()
	ev, err := db.AddEvent(ctx, store.Event{Type: store.Normal, Reason: "r", Message: "m"})
	if err != nil {
		t.Fatalf("AddEvent: %v", err)
	}
	if !ev.FirstSeen.Equal(now) || !ev.LastSeen.Equal(now) {
		t.Errorf("event seen %v..%v; want %v", ev.FirstSeen, ev.LastSeen, now)
	}
	if err := db.PutRevision(ctx, store.Revision{Hash: "h"}); err != nil {
		t.Fatalf("PutRevision: %v", err)
	}
	rev, err := db.GetRevision(ctx, "h")
	if err != nil {
		t.Fatalf("GetRevision: %v", err)
	}
	if !rev.Created.Equal(now) {
		t.Errorf("revision Created = %v; want %v", rev.Created, now)
	}
}

func TestFailedWriteDoesNotFailOthers(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "state.db"))
	ctx := t.Context()
	const n = 64
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if i%4 == 0 {
				errs[i] = db.SetTarget(ctx, "missing")
				return
			}
			errs[i] = db.PutRecord(ctx, store.Record{ID: fmt.Sprintf("a.A/%02d", i)})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i%4 == 0 {
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("SetTarget(missing) = %v; want store.ErrNotFound", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("PutRecord %d = %v; want nil", i, err)
		}
	}
	records, err := db.ListRecords(ctx)
	if err != nil {
		t.Fatalf("ListRecords: %v", err)
	}
	if got, want := len(records), n-n/4; got != want {
		t.Errorf("ListRecords returned %d records; want %d", got, want)
	}
}

func TestDeferredWrites(t *testing.T) {
	ctx := t.Context()
	db := open(t, filepath.Join(t.TempDir(), "state.db"))
	defer db.Close()
	db.PutRecordDeferred(store.Record{ID: "a/1", Kind: "a", Phase: store.PhaseReady})
	db.PutRecordDeferred(store.Record{ID: "a/2", Kind: "a", Phase: store.PhaseReady})
	db.DeleteRecordDeferred("a/2")
	db.AddEventDeferred(store.Event{Type: store.Normal, Reason: "Created", Message: "created", Resource: "a/1"})
	db.AddEventDeferred(store.Event{Type: store.Normal, Reason: "Created", Message: "created", Resource: "a/1"})
	// A synchronous write returns after every deferred write before it.
	if err := db.PutRecord(ctx, store.Record{ID: "b/1", Kind: "b"}); err != nil {
		t.Fatal(err)
	}
	recs, err := db.ListRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	if diff := cmp.Diff([]string{"a/1", "b/1"}, ids); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	evs, err := db.ListEvents(ctx, store.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Count != 2 {
		t.Errorf("events = %+v; want one with count 2", evs)
	}
	if err := db.Flush(ctx); err != nil {
		t.Errorf("Flush() = %v; want nil", err)
	}
	// A failing deferred write is reported by the next Flush, once.
	db.PutRecordDeferred(store.Record{})
	if err := db.Flush(ctx); err == nil {
		t.Errorf("Flush() after a bad deferred write = nil; want an error")
	}
	if err := db.Flush(ctx); err != nil {
		t.Errorf("second Flush() = %v; want nil", err)
	}
}
