package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is one numbered schema change.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in order. Their numbers must
// run 1, 2, 3... without gaps.
func migrations() ([]migration, error) {
	return loadMigrations(migrationFS, "migrations")
}

func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		if !ok {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", name)
		}
		v, err := strconv.Atoi(num)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number", name)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: want number %d: migrations must be numbered 1, 2, 3... without gaps or duplicates", m.name, i+1)
		}
	}
	return ms, nil
}

// latestVersion is the schema version this build writes.
func latestVersion() int {
	ms, err := migrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

// migrate applies, in one transaction, every migration newer than the
// database's schema version, after checking that the database is a
// converge state (see identify); a state written before the
// application_id existed is stamped with it. fresh says the database is a
// new, empty one that createState builds.
func migrate(ctx context.Context, db *sql.DB, name string, fresh bool) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	stamp := fresh
	if !fresh {
		if stamp, err = identify(ctx, tx, name); err != nil {
			return err
		}
	}
	if stamp {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA application_id = %d`, applicationID)); err != nil {
			return fmt.Errorf("migrate: set application_id: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: create schema_version: %w", err)
	}
	current, err := schemaVersion(ctx, tx)
	if err != nil {
		return err
	}
	if err := checkNotNewer(name, current, len(ms)); err != nil {
		return err
	}
	if current == len(ms) {
		if !stamp {
			return nil
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate: commit: %w", err)
		}
		return nil
	}
	for _, m := range ms[current:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migrate: apply %s: %w", m.name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM schema_version`); err != nil {
		return fmt.Errorf("migrate: record version: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (?)`, len(ms)); err != nil {
		return fmt.Errorf("migrate: record version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// schemaVersion returns the version recorded in schema_version, 0 when the
// table is empty.
func schemaVersion(ctx context.Context, q querier) (int, error) {
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT max(version) FROM schema_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return int(v.Int64), nil
}

// checkVersion is what a read-only Open requires: a converge state with
// exactly this build's schema.
func checkVersion(ctx context.Context, db *sql.DB, name string) error {
	if _, err := identify(ctx, db, name); err != nil {
		return err
	}
	var n int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_version'`).Scan(&n)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	current := 0
	if n > 0 {
		if current, err = schemaVersion(ctx, db); err != nil {
			return err
		}
	}
	latest := latestVersion()
	if err := checkNotNewer(name, current, latest); err != nil {
		return err
	}
	if current < latest {
		return fmt.Errorf("state file %s has schema version %d, older than this converge's %d: open it read-write once (for example with converge apply) to migrate it", name, current, latest)
	}
	return nil
}

func checkNotNewer(name string, current, latest int) error {
	if current > latest {
		return fmt.Errorf("state file %s has schema version %d, newer than the %d this converge supports: it was written by a newer converge; upgrade converge to use it", name, current, latest)
	}
	return nil
}
