package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/convergehq/converge/store"
)

var _ store.RevisionPruner = (*DB)(nil)

const revisionColumns = `hash, created, sources, state, reason, resources, git_commit, converged`

// scanRevision reads a revision selected with revisionColumns and blobs:
// the revision as stored, and the blobs its resources reference, to
// splice back in (see blobReader.join).
func scanRevision(s scanner) (store.Revision, sql.NullString, error) {
	var r store.Revision
	var created, converged int64
	var sources string
	var blobs sql.NullString
	if err := s.Scan(&r.Hash, &created, &sources, &r.State, &r.Reason, &r.Resources, &r.Commit, &converged, &blobs); err != nil {
		return store.Revision{}, blobs, err
	}
	r.Created = fromNanos(created)
	if converged != 0 {
		r.Converged = fromNanos(converged)
	}
	if err := json.Unmarshal([]byte(sources), &r.Sources); err != nil {
		return store.Revision{}, blobs, fmt.Errorf("decode sources: %w", err)
	}
	if len(r.Resources) == 0 {
		r.Resources = nil
	}
	return r, blobs, nil
}

// PutRevision inserts r, or replaces the revision with the same hash while
// keeping its place in the history. A zero Created means now on insert and
// "unchanged" on update. With HistoryLimit, an insert prunes the history
// in the same transaction (see PruneRevisions). It returns once the write
// committed.
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
	var blobs []blob
	if len(r.Resources) > 0 {
		data := r.Resources
		if json.Valid(data) { // the store keeps any bytes; only JSON is split
			data, blobs = splitBlobs(data)
		}
		resources = data
	}
	list := blobList(blobs)
	err = d.write(ctx, func(t *txn) error {
		convergedAt := int64(0)
		if !r.Converged.IsZero() {
			convergedAt = r.Converged.UnixNano()
		}
		var exists int
		if err := t.tx.QueryRowContext(t.ctx, `SELECT count(*) FROM revisions WHERE hash = ?`, r.Hash).Scan(&exists); err != nil {
			return err
		}
		if err := putBlobs(t, blobs); err != nil {
			return err
		}
		_, err := t.tx.ExecContext(t.ctx, `INSERT INTO revisions (`+revisionColumns+`, blobs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (hash) DO UPDATE SET
				created = CASE WHEN ? THEN created ELSE excluded.created END,
				sources = excluded.sources, state = excluded.state,
				reason = excluded.reason, resources = excluded.resources,
				git_commit = excluded.git_commit, converged = excluded.converged,
				blobs = excluded.blobs`,
			r.Hash, created.UnixNano(), string(sources), r.State, r.Reason, resources, r.Commit, convergedAt, list, keepCreated)
		if err != nil || exists > 0 || d.historyLimit <= 0 {
			return err
		}
		_, err = pruneRevisions(t, d.historyLimit)
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
	var r store.Revision
	err := d.readTx(ctx, func(tx *sql.Tx) error {
		row := tx.QueryRowContext(ctx, `SELECT `+revisionColumns+`, blobs FROM revisions WHERE hash = ?`, hash)
		var blobs sql.NullString
		var err error
		if r, blobs, err = scanRevision(row); err != nil {
			return err
		}
		r.Resources, err = (&blobReader{ctx: ctx, q: tx}).join(r.Resources, blobs)
		return err
	})
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
	var out []store.Revision
	err := d.readTx(ctx, func(tx *sql.Tx) error {
		// Every row first, then the blobs: one statement at a time.
		rows, err := tx.QueryContext(ctx, `SELECT `+revisionColumns+`, blobs FROM revisions ORDER BY seq`)
		if err != nil {
			return err
		}
		defer rows.Close()
		var lists []sql.NullString
		for rows.Next() {
			r, blobs, err := scanRevision(rows)
			if err != nil {
				return err
			}
			out, lists = append(out, r), append(lists, blobs)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		br := &blobReader{ctx: ctx, q: tx}
		for i := range out {
			if out[i].Resources, err = br.join(out[i].Resources, lists[i]); err != nil {
				return fmt.Errorf("revision %s: %w", out[i].Hash, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list revisions: %w", err)
	}
	return out, nil
}

// PruneRevisions deletes the revisions older than the newest keep, except
// the target and the last known good revision, with the blobs only they
// referenced. keep <= 0 keeps them all. It returns once the write
// committed.
func (d *DB) PruneRevisions(ctx context.Context, keep int) (int, error) {
	if keep <= 0 {
		return 0, nil
	}
	var n int
	err := d.write(ctx, func(t *txn) error {
		var err error
		n, err = pruneRevisions(t, keep)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune revisions: %w", err)
	}
	return n, nil
}

func pruneRevisions(t *txn, keep int) (int, error) {
	rows, err := t.tx.QueryContext(t.ctx, `SELECT seq, hash, state, converged FROM revisions ORDER BY seq`)
	if err != nil {
		return 0, err
	}
	var (
		seqs []int64
		revs []store.Revision
	)
	for rows.Next() {
		var seq, converged int64
		var r store.Revision
		if err := rows.Scan(&seq, &r.Hash, &r.State, &converged); err != nil {
			rows.Close()
			return 0, err
		}
		if converged != 0 {
			r.Converged = fromNanos(converged)
		}
		seqs, revs = append(seqs, seq), append(revs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(revs) <= keep {
		return 0, nil
	}
	var target string
	if err := t.tx.QueryRowContext(t.ctx, `SELECT hash FROM target WHERE id = 1`).Scan(&target); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	lkg, _ := store.LastKnownGood(revs)
	res, err := t.tx.ExecContext(t.ctx, `DELETE FROM revisions WHERE seq < ? AND hash NOT IN (?, ?)`, seqs[len(seqs)-keep], target, lkg.Hash)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// SetTarget makes the revision with the given hash the target. It returns
// an error wrapping store.ErrNotFound when no such revision was put.
func (d *DB) SetTarget(ctx context.Context, hash string) error {
	return d.SetTargetFrom(ctx, store.AnyTarget, hash, store.Fence{})
}

// SetTargetIf makes the revision hash the target if fence is current; see
// store.ConditionalTargetStore. It returns once the write committed.
func (d *DB) SetTargetIf(ctx context.Context, hash string, fence store.Fence) error {
	return d.SetTargetFrom(ctx, store.AnyTarget, hash, fence)
}

// SetTargetFrom makes the revision hash the target if the target is still
// from (empty: none; store.AnyTarget: any) and fence is current; see
// store.ConditionalTargetStore. The conditions are checked in the
// writer's transaction, which holds SQLite's write lock: no other writer,
// in this process or another, comes between the check and the write. It
// returns once the write committed.
func (d *DB) SetTargetFrom(ctx context.Context, from, hash string, fence store.Fence) error {
	if err := store.CheckConditions(store.AnyVersion, fence); err != nil {
		return fmt.Errorf("set target %s: %w", hash, err)
	}
	err := d.write(ctx, func(t *txn) error {
		if err := d.admit(t, "set target", hash, store.AnyVersion, fence); err != nil {
			return err
		}
		var cur string
		if err := t.tx.QueryRowContext(t.ctx, `SELECT hash FROM target WHERE id = 1`).Scan(&cur); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err := store.CheckTarget(from, hash, cur); err != nil {
			return refusal{err}
		}
		if cur == hash {
			return nil
		}
		var n int
		if err := t.tx.QueryRowContext(t.ctx, `SELECT count(*) FROM revisions WHERE hash = ?`, hash).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("revision %w", store.ErrNotFound)
		}
		if _, err := t.tx.ExecContext(t.ctx, `INSERT INTO target (id, hash) VALUES (1, ?)
			ON CONFLICT (id) DO UPDATE SET hash = excluded.hash`, hash); err != nil {
			return err
		}
		_, err := t.logChange(changeTarget, hash)
		return err
	})
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrFenced) {
		return err
	}
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
		res, err := t.tx.ExecContext(t.ctx, `DELETE FROM target`)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		_, err = t.logChange(changeTarget, "")
		return err
	})
	if err != nil {
		return fmt.Errorf("clear target: %w", err)
	}
	return nil
}
