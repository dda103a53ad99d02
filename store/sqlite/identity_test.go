package sqlite_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/sqlite"
)

// convergeAppID is the application_id converge stamps on its state files.
const convergeAppID = 0x436f6e76

func applicationID(t *testing.T, path string) int64 {
	t.Helper()
	db := rawDB(t, path)
	defer db.Close()
	var id int64
	if err := db.QueryRow(`PRAGMA application_id`).Scan(&id); err != nil {
		t.Fatalf("read application_id: %v", err)
	}
	return id
}

// A file at the state path that is not a converge state is refused by
// every kind of Open, left as it was, and never taken as a fresh state.
func TestForeignFilesAreRefused(t *testing.T) {
	tests := map[string]struct {
		make func(t *testing.T, path string)
		want string
	}{
		"zero-length file": {
			make: func(t *testing.T, path string) { writeFile(t, path, "") },
			want: "is empty (0 bytes)",
		},
		"text file": {
			make: func(t *testing.T, path string) { writeFile(t, path, "resources:\n  - a\n") },
			want: "is not an SQLite database",
		},
		"another application's database": {
			make: func(t *testing.T, path string) {
				db := rawDB(t, path)
				for _, q := range []string{`PRAGMA application_id = 42`, `CREATE TABLE records (id TEXT)`} {
					if _, err := db.Exec(q); err != nil {
						t.Fatal(err)
					}
				}
				db.Close()
			},
			want: "is the SQLite database of another application (application_id 0x2a",
		},
		"an SQLite database without converge's tables": {
			make: func(t *testing.T, path string) {
				db := rawDB(t, path)
				if _, err := db.Exec(`CREATE TABLE notes (body TEXT)`); err != nil {
					t.Fatal(err)
				}
				db.Close()
			},
			want: "is an SQLite database without converge's tables",
		},
	}
	for name, tt := range tests {
		for _, mode := range []struct {
			name string
			opts []sqlite.Option
		}{{"read-write", nil}, {"read-only", []sqlite.Option{sqlite.ReadOnly()}}, {"shared", []sqlite.Option{sqlite.Shared()}}} {
			t.Run(name+"/"+mode.name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "state.db")
				tt.make(t, path)
				before, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				db, err := sqlite.Open(t.Context(), path, mode.opts...)
				if err == nil {
					db.Close()
					t.Fatalf("Open = nil error; want the file refused")
				}
				if !errors.Is(err, sqlite.ErrForeign) || !strings.Contains(err.Error(), path+" "+tt.want) {
					t.Errorf("Open error = %q; want one wrapping sqlite.ErrForeign that says %q", err, path+" "+tt.want)
				}
				after, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(before, after) {
					t.Errorf("the refused file changed: %d bytes before, %d after", len(before), len(after))
				}
			})
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A new state file carries converge's application_id from the start.
func TestNewStateHasApplicationID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db := open(t, path)
	if err := db.PutRecord(t.Context(), store.Record{ID: "a.A/1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Errorf("no write-ahead log beside an open state: %v", err)
	}
	mustClose(t, db)
	if got := applicationID(t, path); got != convergeAppID {
		t.Errorf("application_id of a new state = %#x; want %#x", got, convergeAppID)
	}
	raw := rawDB(t, path)
	var mode string
	if err := raw.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	raw.Close()
	for _, leftover := range []string{".converge-new", ".converge-new-journal"} {
		if _, err := os.Stat(path + leftover); err == nil {
			t.Errorf("Open left %s behind", path+leftover)
		}
	}
}

// A state written by a converge older than the application_id (schema
// version 3, application_id 0, converge's tables) is accepted, keeps its
// data, and is stamped on its first read-write Open; read-only opens
// accept it without stamping it.
func TestOlderStateIsStamped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	raw := rawDB(t, path)
	for _, name := range []string{"0001_init.sql", "0002_revision_history.sql", "0003_lighter_event_indexes.sql"} {
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
		`INSERT INTO schema_version VALUES (3)`,
		`INSERT INTO records (id, kind, phase, updated, data) VALUES ('file.File/a', 'file.File', 'Ready', 0, '{"id":"file.File/a","kind":"file.File","phase":"Ready","appliedSpec":{"content":"\u0000binary"}}')`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()

	db := open(t, path)
	got, err := db.GetRecord(t.Context(), "file.File/a")
	if err != nil {
		t.Fatalf("GetRecord from the older state: %v", err)
	}
	// The migration that brought versions gave the record one.
	want := store.Record{ID: "file.File/a", Kind: "file.File", Phase: store.PhaseReady, AppliedSpec: map[string]any{"content": "\x00binary"}, Version: 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("record from the older state (-want +got):\n%s", diff)
	}
	mustClose(t, db)
	if got := applicationID(t, path); got != convergeAppID {
		t.Errorf("application_id after a read-write Open of an older state = %#x; want %#x", got, convergeAppID)
	}
	mustClose(t, open(t, path, sqlite.ReadOnly()))
}
