package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// applicationID marks an SQLite file as a converge state ("Conv"). It is
// set when the file is created, and checked by every Open.
const applicationID = 0x436f6e76

// newSuffix names the file a new state is built in, beside the state.
const newSuffix = ".converge-new"

// convergeTables are the tables every schema version has had: an SQLite
// file with application_id 0 and all of them was written by a converge
// older than the application_id.
var convergeTables = []any{"schema_version", "records", "events", "revisions", "target"}

// checkFile refuses what cannot be a converge state before SQLite opens
// it: an empty file (converge never leaves one: see createState) and a
// file that is not an SQLite database.
func checkFile(abs, name string, fi fs.FileInfo) error {
	if fi.Size() == 0 {
		return fmt.Errorf("state file %s is empty (0 bytes): %w (converge creates a state file whole, never empty)", name, ErrForeign)
	}
	f, err := os.Open(abs)
	if err != nil {
		return fmt.Errorf("open state file %s: %w", name, err)
	}
	defer f.Close()
	head := make([]byte, 16)
	if _, err := io.ReadFull(f, head); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("open state file %s: %w", name, err)
	}
	if !bytes.Equal(head, []byte("SQLite format 3\x00")) {
		return fmt.Errorf("state file %s is not an SQLite database: %w", name, ErrForeign)
	}
	return nil
}

// identify checks that the database is a converge state: it has
// converge's application_id, or none but converge's tables (a state
// written before the id existed). stamp says the id must be set.
func identify(ctx context.Context, q querier, name string) (stamp bool, err error) {
	var id int64
	if err := q.QueryRowContext(ctx, `PRAGMA application_id`).Scan(&id); err != nil {
		return false, fmt.Errorf("read application_id: %w", err)
	}
	switch id {
	case applicationID:
		return false, nil
	case 0:
		var n int
		err := q.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN (?, ?, ?, ?, ?)`, convergeTables...).Scan(&n)
		if err != nil {
			return false, fmt.Errorf("read tables: %w", err)
		}
		if n == len(convergeTables) {
			return true, nil
		}
		return false, fmt.Errorf("state file %s is an SQLite database without converge's tables: %w", name, ErrForeign)
	}
	return false, fmt.Errorf("state file %s is the SQLite database of another application (application_id %#x, converge's is %#x): %w", name, id, applicationID, ErrForeign)
}

// createState makes a new state file at abs, with converge's schema and
// application_id. It is built beside abs and renamed into place, so that
// abs never holds a partial or empty state, whenever the process dies.
// The caller holds the lock.
func createState(ctx context.Context, abs, name string) error {
	tmp := abs + newSuffix
	for _, p := range []string{tmp, tmp + "-journal"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("create state file %s: %w", name, err)
		}
	}
	db, err := openPool(tmp, "_pragma=journal_mode(DELETE)", 1)
	if err != nil {
		return fmt.Errorf("create state file %s: %w", name, err)
	}
	if err := migrate(ctx, db, name, true); err != nil {
		db.Close()
		return fmt.Errorf("create state file %s: %w", name, err)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("create state file %s: %w", name, err)
	}
	if err := syncPath(tmp); err != nil {
		return fmt.Errorf("create state file %s: %w", name, err)
	}
	if err := os.Rename(tmp, abs); err != nil {
		return fmt.Errorf("create state file %s: %w", name, err)
	}
	if err := syncPath(filepath.Dir(abs)); err != nil {
		return fmt.Errorf("create state file %s: %w", name, err)
	}
	return nil
}

// syncPath flushes a file or a directory to disk.
func syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
