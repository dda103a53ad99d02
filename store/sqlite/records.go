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
	var blobs sql.NullString
	var version int64
	err := d.getRecord.QueryRowContext(ctx, id).Scan(&data, &blobs, &version)
	if blobs.Valid && err == nil {
		// Read the record again with its blobs, from one snapshot.
		err = d.readTx(ctx, func(tx *sql.Tx) error {
			if err := tx.QueryRowContext(ctx, `SELECT data, blobs, version FROM records WHERE id = ?`, id).Scan(&data, &blobs, &version); err != nil {
				return err
			}
			var err error
			data, err = (&blobReader{ctx: ctx, q: tx}).join(data, blobs)
			return err
		})
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.Record{}, fmt.Errorf("get record %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Record{}, fmt.Errorf("get record %s: %w", id, err)
	}
	r, err := decodeRecord(data, version)
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
	var out []store.Record
	err := d.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, data, blobs, version FROM records ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		type row struct {
			id      string
			data    []byte
			blobs   sql.NullString
			version int64
		}
		var withBlobs []row // read once the query is done
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.data, &r.blobs, &r.version); err != nil {
				return err
			}
			if r.blobs.Valid {
				withBlobs = append(withBlobs, r)
				out = append(out, store.Record{ID: r.id})
				continue
			}
			rec, err := decodeRecord(r.data, r.version)
			if err != nil {
				return fmt.Errorf("record %s: %w", r.id, err)
			}
			out = append(out, rec)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		br := &blobReader{ctx: ctx, q: tx}
		next := 0
		for _, r := range withBlobs {
			data, err := br.join(r.data, r.blobs)
			if err != nil {
				return fmt.Errorf("record %s: %w", r.id, err)
			}
			rec, err := decodeRecord(data, r.version)
			if err != nil {
				return fmt.Errorf("record %s: %w", r.id, err)
			}
			for out[next].ID != r.id {
				next++
			}
			out[next] = rec
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list records: %w", err)
	}
	return out, nil
}

// PutRecord stores r, replacing any record with the same ID whole, with a
// new version. It returns once the write committed.
func (d *DB) PutRecord(ctx context.Context, r store.Record) error {
	if r.ID == "" {
		return errors.New("put record: empty ID")
	}
	// Encode in the caller's goroutine: the writer goroutine is the
	// bottleneck, so it only executes the statements.
	put, err := d.recordPut(r)
	if err != nil {
		return fmt.Errorf("put record %s: encode: %w", r.ID, err)
	}
	err = d.write(ctx, func(t *txn) error {
		_, err := put(t)
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
	put, err := d.recordPut(r)
	if err != nil || r.ID == "" {
		d.answer(&writeOp{what: what}, fmt.Errorf("encode: %v (id %q)", err, r.ID))
		return
	}
	d.writeDeferred(what, func(t *txn) error {
		_, err := put(t)
		return err
	})
}

// recordPut encodes r, its long strings split out as blobs, and returns
// the write that stores it, which returns the record's new version.
func (d *DB) recordPut(r store.Record) (func(t *txn) (int64, error), error) {
	r.Version = 0 // the store's: kept in its own column
	data, err := encodeRecord(&r)
	if err != nil {
		return nil, err
	}
	data, blobs := splitBlobs(data)
	list := blobList(blobs)
	updated := int64(0)
	if !r.Updated.IsZero() {
		updated = r.Updated.UnixNano()
	}
	return func(t *txn) (int64, error) {
		if err := putBlobs(t, blobs); err != nil {
			return 0, err
		}
		version, err := t.logChange(changePut, r.ID)
		if err != nil {
			return 0, err
		}
		if _, err := t.stmt(d.putRecord).ExecContext(t.ctx, r.ID, r.Kind, string(r.Phase), updated, data, list, version); err != nil {
			return 0, err
		}
		return version, nil
	}, nil
}

// DeleteRecordDeferred removes a record without waiting for the commit.
func (d *DB) DeleteRecordDeferred(id string) {
	d.writeDeferred("delete record "+id, func(t *txn) error { return d.deleteRecordTx(t, id) })
}

// DeleteRecord removes the record with the given ID. Deleting a missing
// record is not an error. It returns once the write committed.
func (d *DB) DeleteRecord(ctx context.Context, id string) error {
	if err := d.write(ctx, func(t *txn) error { return d.deleteRecordTx(t, id) }); err != nil {
		return fmt.Errorf("delete record %s: %w", id, err)
	}
	return nil
}

// deleteRecordTx deletes the record id, and logs the change when there
// was one.
func (d *DB) deleteRecordTx(t *txn, id string) error {
	res, err := t.stmt(d.deleteRecord).ExecContext(t.ctx, id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err
	}
	_, err = t.logChange(changeDelete, id)
	return err
}

// decodeRecord decodes a stored record, with its maps in
// provider.Canonical form, and gives it its version.
func decodeRecord(data []byte, version int64) (store.Record, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var r store.Record
	if err := dec.Decode(&r); err != nil {
		return store.Record{}, fmt.Errorf("decode: %w", err)
	}
	r.Version = version
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
