package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convergehq/converge/store"
)

// BenchmarkRecordWrite compares, in one run, the ways to write a record:
// PutRecord, PutRecordIf on the version held (the read of a
// read-modify-write is left out), and PutRecordIf with a fence too; and,
// as the baseline, the write PutRecord made before records had versions
// and changes were logged (the same encoding, writer and statement,
// without the version and the change). Each runs from one goroutine, so
// every write is a commit of its own, and from eight, whose writes share
// group commits. Compare the figures of one concurrency with each other:
//
//	go test -run '^$' -bench RecordWrite -count 5 ./store/sqlite
func BenchmarkRecordWrite(b *testing.B) {
	type write func(db *DB, r store.Record, version int64) (int64, error)
	fence := store.Fence{Name: "bench", Token: "t"}
	writes := []struct {
		name string
		fn   write
	}{
		{"unversioned", nil}, // made per DB: see putUnversioned
		{"PutRecord", func(db *DB, r store.Record, _ int64) (int64, error) {
			return 0, db.PutRecord(b.Context(), r)
		}},
		{"PutRecordIf", func(db *DB, r store.Record, v int64) (int64, error) {
			return db.PutRecordIf(b.Context(), r, v, store.Fence{})
		}},
		{"PutRecordIf+fence", func(db *DB, r store.Record, v int64) (int64, error) {
			return db.PutRecordIf(b.Context(), r, v, fence)
		}},
	}
	for _, goroutines := range []int{1, 8} {
		for _, w := range writes {
			b.Run(fmt.Sprintf("goroutines=%d/%s", goroutines, w.name), func(b *testing.B) {
				db, err := Open(b.Context(), filepath.Join(b.TempDir(), "state.db"))
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				if err := db.SetFence(b.Context(), fence.Name, fence.Token); err != nil {
					b.Fatal(err)
				}
				fn := w.fn
				if fn == nil {
					if fn, err = putUnversioned(db); err != nil {
						b.Fatal(err)
					}
				}
				benchWrites(b, db, goroutines, fn)
			})
		}
	}
}

// putUnversioned returns PutRecord as it was before versions and the
// change log, on db: the record's upsert alone. The statement is closed
// with db.
func putUnversioned(db *DB) (func(*DB, store.Record, int64) (int64, error), error) {
	upsert, err := db.writeDB.Prepare(`INSERT INTO records (id, kind, phase, updated, data, blobs) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, phase = excluded.phase,
			updated = excluded.updated, data = excluded.data, blobs = excluded.blobs`)
	if err != nil {
		return nil, err
	}
	return func(db *DB, r store.Record, _ int64) (int64, error) {
		data, err := json.Marshal(r)
		if err != nil {
			return 0, err
		}
		data, blobs := splitBlobs(data)
		list := blobList(blobs)
		return 0, db.write(context.Background(), func(t *txn) error {
			if err := putBlobs(t, blobs); err != nil {
				return err
			}
			_, err := t.stmt(upsert).ExecContext(t.ctx, r.ID, r.Kind, string(r.Phase), r.Updated.UnixNano(), data, list)
			return err
		})
	}, nil
}

// benchWrites runs b.N writes from goroutines goroutines, each writing its
// own 64 records in turn and holding their versions. Each write changes
// the record, as real writes do: SQLite skips writing a page whose bytes
// a write leaves as they were, which would make writes of the same record
// look free.
func benchWrites(b *testing.B, db *DB, goroutines int, write func(*DB, store.Record, int64) (int64, error)) {
	const perGoroutine = 64
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	if goroutines == 1 {
		versions := make([]int64, perGoroutine)
		for i := range b.N {
			k := i % perGoroutine
			v, err := write(db, benchRecord(fmt.Sprintf("file.File/r%02d", k), i), versions[k])
			if err != nil {
				b.Fatal(err)
			}
			versions[k] = v
		}
	} else {
		done := make(chan error, goroutines)
		for g := range goroutines {
			go func() {
				versions := make([]int64, perGoroutine)
				for {
					i := next.Add(1) - 1
					if i >= int64(b.N) {
						done <- nil
						return
					}
					k := int(i) % perGoroutine
					v, err := write(db, benchRecord(fmt.Sprintf("file.File/g%d-r%02d", g, k), int(i)), versions[k])
					if err != nil {
						done <- err
						return
					}
					versions[k] = v
				}
			}()
		}
		for range goroutines {
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

var benchT0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// benchRecord is a record with a realistic spec, as storetest's benchmark
// writes, at its attempt n.
func benchRecord(id string, n int) store.Record {
	return store.Record{
		Attempts: n,
		ID:       id,
		Kind:     "file.File",
		Name:     id[len("file.File/"):],
		Phase:    store.PhaseReady,
		AppliedSpec: map[string]any{
			"path":    "/srv/www/" + id,
			"content": "hello, world",
			"mode":    int64(420),
		},
		AppliedHash:   "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		Outputs:       map[string]any{"sha256": "0123456789abcdef", "size": int64(12)},
		Revision:      "rev-0123456789abcdef",
		Conditions:    []store.Condition{{Type: "Ready", Status: "True", Reason: "Converged", LastTransitionTime: benchT0}},
		Created:       benchT0,
		Updated:       benchT0,
		LastReconcile: benchT0,
	}
}
