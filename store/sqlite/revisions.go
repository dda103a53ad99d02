package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/convergehq/converge/store"
)

const revisionColumns = `hash, created, sources, state, reason, resources, git_commit, converged`

func scanRevision(s scanner) (store.Revision, error) {
	var r store.Revision
	var created, converged int64
	var sources string
	if err := s.Scan(&r.Hash, &created, &sources, &r.State, &r.Reason, &r.Resources, &r.Commit, &converged); err != nil {
		return store.Revision{}, err
	}
	r.Created = fromNanos(created)
	if converged != 0 {
		r.Converged = fromNanos(converged)
	}
	if err := json.Unmarshal([]byte(sources), &r.Sources); err != nil {
		return store.Revision{}, fmt.Errorf("decode sources: %w", err)
	}
	if len(r.Resources) == 0 {
		r.Resources = nil
	}
	return r, nil
}

// PutRevision inserts r, or replaces the revision with the same hash while
// keeping its place in the history. A zero Created means now on insert and
// "unchanged" on update. It returns once the write committed.
func (d *DB) PutRevision(ctx context.Context, r store.Revision) error {
	if r.Hash == "" {
		return errors.New("put revision: empty hash")
	}
	sources, err := json.Marshal(r.Sources)
	if err != nil {
		return fmt.Errorf("put revision %s: encode sources: %w", r.Hash, err)
	}
	keepCreated := r.Created.IsZero()
	created := r.Created
	if keepCreated {
		created = d.now()
	}
	var resources any // NULL for no resources
	if len(r.Resources) > 0 {
		resources = r.Resources
	}
	err = d.write(ctx, func(t *txn) error {
		convergedAt := int64(0)
		if !r.Converged.IsZero() {
			convergedAt = r.Converged.UnixNano()
		}
		_, err := t.tx.ExecContext(t.ctx, `INSERT INTO revisions (`+revisionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (hash) DO UPDATE SET
				created = CASE WHEN ? THEN created ELSE excluded.created END,
				sources = excluded.sources, state = excluded.state,
				reason = excluded.reason, resources = excluded.resources,
				git_commit = excluded.git_commit, converged = excluded.converged`,
			r.Hash, created.UnixNano(), string(sources), r.State, r.Reason, resources, r.Commit, convergedAt, keepCreated)
		return err
	})
	if err != nil {
		return fmt.Errorf("put revision %s: %w", r.Hash, err)
	}
	return nil
}

// GetRevision returns the revision with the given hash, or an error
// wrapping store.ErrNotFound.
func (d *DB) GetRevision(ctx context.Context, hash string) (store.Revision, error) {
	if err := d.readable(ctx); err != nil {
		return store.Revision{}, fmt.Errorf("get revision %s: %w", hash, err)
	}
	row := d.read.QueryRowContext(ctx, `SELECT `+revisionColumns+` FROM revisions WHERE hash = ?`, hash)
	r, err := scanRevision(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Revision{}, fmt.Errorf("get revision %s: %w", hash, store.ErrNotFound)
	}
	if err != nil {
		return store.Revision{}, fmt.Errorf("get revision %s: %w", hash, err)
	}
	return r, nil
}

// ListRevisions returns every revision in the order they were first put.
func (d *DB) ListRevisions(ctx context.Context) ([]store.Revision, error) {
	if err := d.readable(ctx); err != nil {
		return nil, fmt.Errorf("list revisions: %w", err)
	}
	rows, err := d.read.QueryContext(ctx, `SELECT `+revisionColumns+` FROM revisions ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("list revisions: %w", err)
	}
	defer rows.Close()
	var out []store.Revision
	for rows.Next() {
		r, err := scanRevision(rows)
		if err != nil {
			return nil, fmt.Errorf("list revisions: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list revisions: %w", err)
	}
	return out, nil
}

// SetTarget makes the revision with the given hash the target. It returns
// an error wrapping store.ErrNotFound when no such revision was put.
func (d *DB) SetTarget(ctx context.Context, hash string) error {
	err := d.write(ctx, func(t *txn) error {
		var n int
		if err := t.tx.QueryRowContext(t.ctx, `SELECT count(*) FROM revisions WHERE hash = ?`, hash).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("revision %w", store.ErrNotFound)
		}
		_, err := t.tx.ExecContext(t.ctx, `INSERT INTO target (id, hash) VALUES (1, ?)
			ON CONFLICT (id) DO UPDATE SET hash = excluded.hash`, hash)
		return err
	})
	if err != nil {
		return fmt.Errorf("set target %s: %w", hash, err)
	}
	return nil
}

// Target returns the hash of the target revision, or an error wrapping
// store.ErrNotFound when none was set.
func (d *DB) Target(ctx context.Context) (string, error) {
	if err := d.readable(ctx); err != nil {
		return "", fmt.Errorf("target: %w", err)
	}
	var hash string
	err := d.read.QueryRowContext(ctx, `SELECT hash FROM target WHERE id = 1`).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("target: %w", store.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("target: %w", err)
	}
	return hash, nil
}

// ClearTarget forgets the target revision. It returns once the write
// committed.
func (d *DB) ClearTarget(ctx context.Context) error {
	err := d.write(ctx, func(t *txn) error {
		_, err := t.tx.ExecContext(t.ctx, `DELETE FROM target`)
		return err
	})
	if err != nil {
		return fmt.Errorf("clear target: %w", err)
	}
	return nil
}
