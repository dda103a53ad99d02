package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/store"
)

// GetRecord returns the record with the given ID, or an error wrapping
// store.ErrNotFound.
func (d *DB) GetRecord(ctx context.Context, id string) (store.Record, error) {
	if err := d.readable(ctx); err != nil {
		return store.Record{}, fmt.Errorf("get record %s: %w", id, err)
	}
	var data []byte
	err := d.getRecord.QueryRowContext(ctx, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Record{}, fmt.Errorf("get record %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Record{}, fmt.Errorf("get record %s: %w", id, err)
	}
	r, err := decodeRecord(data)
	if err != nil {
		return store.Record{}, fmt.Errorf("get record %s: %w", id, err)
	}
	return r, nil
}

// ListRecords returns every record, sorted by ID.
func (d *DB) ListRecords(ctx context.Context) ([]store.Record, error) {
	if err := d.readable(ctx); err != nil {
		return nil, fmt.Errorf("list records: %w", err)
	}
	rows, err := d.read.QueryContext(ctx, `SELECT id, data FROM records ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list records: %w", err)
	}
	defer rows.Close()
	var out []store.Record
	for rows.Next() {
		var id string
		var data []byte
		if err := rows.Scan(&id, &data); err != nil {
			return nil, fmt.Errorf("list records: %w", err)
		}
		r, err := decodeRecord(data)
		if err != nil {
			return nil, fmt.Errorf("list records: record %s: %w", id, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list records: %w", err)
	}
	return out, nil
}

// PutRecord stores r, replacing any record with the same ID whole. It
// returns once the write committed.
func (d *DB) PutRecord(ctx context.Context, r store.Record) error {
	if r.ID == "" {
		return errors.New("put record: empty ID")
	}
	// Encode in the caller's goroutine: the writer goroutine is the
	// bottleneck, so it only executes the statement.
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("put record %s: encode: %w", r.ID, err)
	}
	updated := int64(0)
	if !r.Updated.IsZero() {
		updated = r.Updated.UnixNano()
	}
	err = d.write(ctx, func(t *txn) error {
		_, err := t.stmt(d.putRecord).ExecContext(t.ctx, r.ID, r.Kind, string(r.Phase), updated, data)
		return err
	})
	if err != nil {
		return fmt.Errorf("put record %s: %w", r.ID, err)
	}
	return nil
}

// PutRecordDeferred stores r without waiting for the commit; see
// store.Deferrer.
func (d *DB) PutRecordDeferred(r store.Record) {
	what := "put record " + r.ID
	data, err := json.Marshal(r)
	if err != nil || r.ID == "" {
		d.answer(&writeOp{what: what}, fmt.Errorf("encode: %v (id %q)", err, r.ID))
		return
	}
	updated := int64(0)
	if !r.Updated.IsZero() {
		updated = r.Updated.UnixNano()
	}
	d.writeDeferred(what, func(t *txn) error {
		_, err := t.stmt(d.putRecord).ExecContext(t.ctx, r.ID, r.Kind, string(r.Phase), updated, data)
		return err
	})
}

// DeleteRecordDeferred removes a record without waiting for the commit.
func (d *DB) DeleteRecordDeferred(id string) {
	d.writeDeferred("delete record "+id, func(t *txn) error {
		_, err := t.stmt(d.deleteRecord).ExecContext(t.ctx, id)
		return err
	})
}

// DeleteRecord removes the record with the given ID. Deleting a missing
// record is not an error. It returns once the write committed.
func (d *DB) DeleteRecord(ctx context.Context, id string) error {
	err := d.write(ctx, func(t *txn) error {
		_, err := t.stmt(d.deleteRecord).ExecContext(t.ctx, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete record %s: %w", id, err)
	}
	return nil
}

// decodeRecord decodes a stored record, with its maps in
// provider.Canonical form.
func decodeRecord(data []byte) (store.Record, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var r store.Record
	if err := dec.Decode(&r); err != nil {
		return store.Record{}, fmt.Errorf("decode: %w", err)
	}
	r.AppliedSpec = provider.CanonicalMap(r.AppliedSpec)
	r.Outputs = provider.CanonicalMap(r.Outputs)
	if r.Pending != nil {
		r.Pending.Spec = provider.CanonicalMap(r.Pending.Spec)
	}
	for i := range r.Deposed {
		r.Deposed[i].Spec = provider.CanonicalMap(r.Deposed[i].Spec)
		r.Deposed[i].Outputs = provider.CanonicalMap(r.Deposed[i].Outputs)
	}
	return r, nil
}
