package storetest

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/convergehq/converge/store"
)

// BenchmarkPutRecordParallel measures PutRecord from 8 goroutines, each
// writing its own records with a realistic spec, and reports records/s.
// open must return a new, empty store; the benchmark closes it.
func BenchmarkPutRecordParallel(b *testing.B, open func(b *testing.B) store.Store) {
	const goroutines = 8
	s := open(b)
	defer func() {
		if err := s.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
	}()
	b.SetParallelism((goroutines + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := b.Context()
		for pb.Next() {
			n := next.Add(1)
			r := benchRecord(fmt.Sprintf("file.File/r%07d", n%50000))
			if err := s.PutRecord(ctx, r); err != nil {
				b.Errorf("PutRecord: %v", err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func benchRecord(id string) store.Record {
	return store.Record{
		ID:    id,
		Kind:  "file.File",
		Name:  id[len("file.File/"):],
		Phase: store.PhaseReady,
		AppliedSpec: map[string]any{
			"path":    "/srv/www/" + id,
			"content": "hello, world",
			"mode":    int64(420),
		},
		AppliedHash: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		Outputs:     map[string]any{"sha256": "0123456789abcdef", "size": int64(12)},
		Revision:    "rev-0123456789abcdef",
		Conditions: []store.Condition{
			{Type: "Ready", Status: "True", Reason: "Converged", LastTransitionTime: t0},
		},
		Created:       t0,
		Updated:       t0,
		LastReconcile: t0,
	}
}
