package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/store"
)

func TestLoadMigrations(t *testing.T) {
	tests := map[string]struct {
		files   fstest.MapFS
		want    []int
		wantErr string
	}{
		"ordered by number, not by name": {
			files: fstest.MapFS{
				"m/0002_b.sql": {Data: []byte("B")},
				"m/1_a.sql":    {Data: []byte("A")},
				"m/README.md":  {Data: []byte("not a migration")},
			},
			want: []int{1, 2},
		},
		"gap":       {files: fstest.MapFS{"m/0001_a.sql": {}, "m/0003_c.sql": {}}, wantErr: "want number 2"},
		"duplicate": {files: fstest.MapFS{"m/0001_a.sql": {}, "m/0001_b.sql": {}}, wantErr: "want number 2"},
		"no number": {files: fstest.MapFS{"m/init.sql": {}}, wantErr: "NNNN_description.sql"},
		"zero":      {files: fstest.MapFS{"m/0000_a.sql": {}}, wantErr: "positive number"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			ms, err := loadMigrations(tt.files, "m")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("loadMigrations() error = %v; want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadMigrations(): %v", err)
			}
			var got []int
			for _, m := range ms {
				got = append(got, m.version)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("versions mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEmbeddedMigrations(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatalf("migrations(): %v", err)
	}
	if len(ms) == 0 || latestVersion() != len(ms) {
		t.Errorf("latestVersion() = %d with %d migrations; want them equal and positive", latestVersion(), len(ms))
	}
}

// TestCommitAttributesErrors runs one batch directly: the failing write
// gets its own error, the others commit, and a write whose caller gave up
// before the batch ran is not applied.
func TestCommitAttributesErrors(t *testing.T) {
	d, err := Open(t.Context(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer d.Close()

	put := func(ctx context.Context, id string) *writeOp {
		return &writeOp{ctx: ctx, done: make(chan error, 1), fn: func(t *txn) error {
			_, err := t.stmt(d.putRecord).ExecContext(t.ctx, id, "a.A", "Ready", 0, `{"id":"`+id+`"}`, nil, 1)
			return err
		}}
	}
	boom := errors.New("boom")
	failing := &writeOp{ctx: t.Context(), done: make(chan error, 1), fn: func(*txn) error { return boom }}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()

	batch := []*writeOp{put(t.Context(), "a.A/1"), failing, put(cancelled, "a.A/2"), put(t.Context(), "a.A/3")}
	d.commit(batch)

	wantErrs := []error{nil, boom, context.Canceled, nil}
	for i, op := range batch {
		if got := <-op.done; !errors.Is(got, wantErrs[i]) || (wantErrs[i] == nil && got != nil) {
			t.Errorf("op %d answered %v; want %v", i, got, wantErrs[i])
		}
	}
	records, err := d.ListRecords(t.Context())
	if err != nil {
		t.Fatalf("ListRecords: %v", err)
	}
	var ids []string
	for _, r := range records {
		ids = append(ids, r.ID)
	}
	if diff := cmp.Diff([]string{"a.A/1", "a.A/3"}, ids); diff != "" {
		t.Errorf("committed records mismatch (-want +got):\n%s", diff)
	}
	if _, err := d.GetRecord(t.Context(), "a.A/2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRecord(cancelled write) = %v; want store.ErrNotFound", err)
	}
}

// TestWriterSyncsEveryCommit checks the premise of the durability of
// acknowledged writes: the writer's connection syncs the WAL at every
// commit (synchronous=FULL), so that an intent answered before a provider
// call survives a power loss, while readers, which never commit, keep
// NORMAL.
func TestWriterSyncsEveryCommit(t *testing.T) {
	d, err := Open(t.Context(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer d.Close()
	const normal, full = 1, 2
	for name, tt := range map[string]struct {
		db   *sql.DB
		want int
	}{"writer": {d.writeDB, full}, "readers": {d.read, normal}} {
		var got int
		if err := tt.db.QueryRowContext(t.Context(), `PRAGMA synchronous`).Scan(&got); err != nil {
			t.Fatalf("%s: PRAGMA synchronous: %v", name, err)
		}
		if got != tt.want {
			t.Errorf("%s: synchronous = %d; want %d", name, got, tt.want)
		}
	}
}
