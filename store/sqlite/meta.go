package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/convergehq/converge/store"
)

var _ store.Meta = (*DB)(nil)

// GetMeta returns the value of the state-wide setting key, or an error
// wrapping store.ErrNotFound.
func (d *DB) GetMeta(ctx context.Context, key string) (string, error) {
	if err := d.readable(ctx); err != nil {
		return "", fmt.Errorf("get %s: %w", key, err)
	}
	var v string
	err := d.read.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("get %s: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("get %s: %w", key, err)
	}
	return v, nil
}

// SetMeta sets the state-wide setting key to value; an empty value deletes
// it. It returns once the write committed.
func (d *DB) SetMeta(ctx context.Context, key, value string) error {
	if key == "" {
		return errors.New("set meta: empty key")
	}
	err := d.write(ctx, func(t *txn) error {
		if value == "" {
			_, err := t.tx.ExecContext(t.ctx, `DELETE FROM meta WHERE key = ?`, key)
			return err
		}
		_, err := t.tx.ExecContext(t.ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
		return err
	})
	if err != nil {
		return fmt.Errorf("set %s: %w", key, err)
	}
	return nil
}
