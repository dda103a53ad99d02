package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/convergehq/converge/store"
)

// PutRecordIf stores r if the stored record's version is version (0: no
// record; store.AnyVersion: any) and fence is current, and returns r's
// new version; see store.ConditionalRecordStore. The conditions are
// checked in the writer's transaction, which holds SQLite's write lock:
// no other writer, in this process or another, comes between the check
// and the write. It returns once the write committed.
func (d *DB) PutRecordIf(ctx context.Context, r store.Record, version int64, fence store.Fence) (int64, error) {
	if r.ID == "" {
		return 0, errors.New("put record: empty ID")
	}
	if err := store.CheckConditions(version, fence); err != nil {
		return 0, fmt.Errorf("put record %s: %w", r.ID, err)
	}
	put, err := d.recordPut(r)
	if err != nil {
		return 0, fmt.Errorf("put record %s: encode: %w", r.ID, err)
	}
	var got int64
	err = d.write(ctx, func(t *txn) error {
		if err := d.admit(t, "put", r.ID, version, fence); err != nil {
			return err
		}
		var err error
		got, err = put(t)
		return err
	})
	if err != nil {
		return 0, conditionalError("put", r.ID, err)
	}
	return got, nil
}

// DeleteRecordIf deletes the record id under the conditions of
// PutRecordIf. With version 0 or store.AnyVersion, deleting a missing
// record does nothing. It returns once the write committed.
func (d *DB) DeleteRecordIf(ctx context.Context, id string, version int64, fence store.Fence) error {
	if err := store.CheckConditions(version, fence); err != nil {
		return fmt.Errorf("delete record %s: %w", id, err)
	}
	err := d.write(ctx, func(t *txn) error {
		if err := d.admit(t, "delete", id, version, fence); err != nil {
			return err
		}
		return d.deleteRecordTx(t, id)
	})
	if err != nil {
		return conditionalError("delete", id, err)
	}
	return nil
}

// conditionalError returns a refused write's error as it is (it names the
// record), and wraps any other.
func conditionalError(op, id string, err error) error {
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrFenced) {
		return err
	}
	return fmt.Errorf("%s record %s: %w", op, id, err)
}

// admit checks the conditions of a write of the record id, fence first,
// and returns a refusal when they do not hold.
func (d *DB) admit(t *txn, op, id string, version int64, fence store.Fence) error {
	if fence.Name != "" {
		var cur string
		err := t.stmt(d.getFence).QueryRowContext(t.ctx, fence.Name).Scan(&cur)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read fence %s: %w", fence.Name, err)
		}
		if cur != fence.Token {
			return refusal{&store.FencedError{Op: op, ID: id, Fence: fence.Name, Token: fence.Token, Current: cur}}
		}
	}
	if version == store.AnyVersion {
		return nil
	}
	var got int64
	err := t.stmt(d.getVersion).QueryRowContext(t.ctx, id).Scan(&got)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read version: %w", err)
	}
	if got != version {
		return refusal{&store.ConflictError{Op: op, ID: id, Want: version, Got: got}}
	}
	return nil
}

// SetFence makes token the current token of the fence name; an empty
// token clears it. See store.Fencer. It returns once the write committed.
func (d *DB) SetFence(ctx context.Context, name, token string) error {
	if name == "" {
		return errors.New("set fence: empty name")
	}
	err := d.write(ctx, func(t *txn) error {
		if token == "" {
			_, err := t.tx.ExecContext(t.ctx, `DELETE FROM fences WHERE name = ?`, name)
			return err
		}
		_, err := t.tx.ExecContext(t.ctx, `INSERT INTO fences (name, token) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET token = excluded.token`, name, token)
		return err
	})
	if err != nil {
		return fmt.Errorf("set fence %s: %w", name, err)
	}
	return nil
}
