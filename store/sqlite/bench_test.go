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

// BenchmarkCreateFlow writes what the engine writes to create one
// resource, from 8 goroutines as its 8 workers do: the intent, a
// synchronous write (the record Creating, with the pending operation and
// its spec), then the outcome (the record Ready, with its applied spec and
// outputs) and a Created event, both deferred. It ends with a Flush, and
// reports resources/s and the writer's transactions per resource:
//
//	go test -run '^$' -bench CreateFlow -count 5 ./store/sqlite
func BenchmarkCreateFlow(b *testing.B) {
	const goroutines = 8
	db, err := Open(b.Context(), filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := b.Context()
	var next atomic.Int64
	done := make(chan error, goroutines)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for range goroutines {
		go func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					done <- nil
					return
				}
				intent, outcome, ev := createFlow(i)
				if err := db.PutRecord(ctx, intent); err != nil {
					done <- err
					return
				}
				db.PutRecordDeferred(outcome)
				db.AddEventDeferred(ev)
			}
		}()
	}
	for range goroutines {
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resources/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e3, "cpu-µs/resource")
}

// createFlow returns the intent, the outcome and the event the engine
// writes to create the resource mem.Object/o<i>.
func createFlow(i int) (intent, outcome store.Record, ev store.Event) {
	const revision = "fdbe1df394b72ec9a328329c74bc194b8936b57dd1ee8d53d3011b0f58896a98"
	now := benchT0.Add(time.Duration(i) * time.Microsecond)
	spec := map[string]any{"size": int64(i), "value": fmt.Sprintf("v%d", i)}
	id := fmt.Sprintf("mem.Object/o%d", i)
	intent = store.Record{
		ID: id, Kind: "mem.Object", Name: id[len("mem.Object/"):], Phase: store.PhaseCreating,
		Origin: store.OriginCreated, DeletionPolicy: "delete", Revision: revision,
		Pending: &store.Operation{Op: store.OpCreate, Key: fmt.Sprintf("%s/create/%d", id, i),
			SpecHash: "259ac62cd0270d9fd9d5bc602017efbbf9897047155ef338f1de72e8380653e0", Spec: spec, Started: now},
		Created: now, Updated: now, LastReconcile: now,
	}
	outcome = store.Record{
		ID: id, Kind: "mem.Object", Name: intent.Name, Phase: store.PhaseReady,
		Origin: store.OriginCreated, AppliedSpec: spec,
		AppliedHash:    "259ac62cd0270d9fd9d5bc602017efbbf9897047155ef338f1de72e8380653e0",
		Outputs:        map[string]any{"id": fmt.Sprintf("obj-%d", i), "value": spec["value"]},
		Private:        map[string]string{"id": fmt.Sprintf("obj-%d", i)},
		DeletionPolicy: "delete", Revision: revision,
		Conditions: []store.Condition{{Type: store.ConditionReady, Status: store.ConditionTrue, Reason: "Converged", LastTransitionTime: now}},
		Created:    now, Updated: now, LastReconcile: now,
	}
	ev = store.Event{Type: store.Normal, Reason: "Created", Message: "created", Resource: id, Revision: revision, FirstSeen: now, LastSeen: now, Count: 1}
	return intent, outcome, ev
}
