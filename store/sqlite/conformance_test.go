package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/sqlite"
	"github.com/convergehq/converge/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "state.db"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return db
	})
}

func BenchmarkPutRecordParallel(b *testing.B) {
	storetest.BenchmarkPutRecordParallel(b, func(b *testing.B) store.Store {
		db, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "state.db"))
		if err != nil {
			b.Fatalf("Open: %v", err)
		}
		return db
	})
}
