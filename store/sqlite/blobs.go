package sqlite

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// Large strings are stored once. A record or a revision is JSON, in which
// a file's content may take megabytes and come back in every revision, in
// the record's applied spec and in its pending operation. Before a row is
// written, every JSON string literal longer than blobMin bytes is replaced
// with a reference, and the literal is stored once in the blobs table under
// the sha256 of its bytes. The row lists the blobs it references (its blobs
// column); triggers count the references as rows come, change and go, and
// delete a blob with its last reference, in the same transaction (see
// migrations/0005_blobs.sql). Reading splices the literals back in: the
// JSON read is, byte for byte, the JSON written.
//
// A reference is the literal of a string that begins with NUL,
// "\u0000sha256:<hex>". So that no string of the caller's is ever taken for
// one, every literal that begins with "\u0000" is stored as a blob too,
// however short. Rows written before blobs existed have no blobs column
// value and are never scanned for references.

// blobMin is the length (of its JSON encoding) above which a string is
// stored once, as a blob.
const blobMin = 4096

var (
	nulPrefix = []byte(`"\u0000`)
	refPrefix = []byte(`"\u0000sha256:`)
)

// blob is one string literal stored once.
type blob struct {
	hash string // "sha256:" and the hex sha256 of data
	data []byte // the literal, quotes included
}

// splitBlobs returns the JSON document data with its long string literals
// (and those that begin with NUL) replaced with references, and the blobs
// they reference, each once. It returns data itself and no blobs when
// there is nothing to replace.
func splitBlobs(data []byte) ([]byte, []blob) {
	if len(data) <= blobMin && !bytes.Contains(data, nulPrefix) {
		return data, nil
	}
	var (
		out   []byte
		blobs []blob
		seen  map[string]bool
		last  int
	)
	for i := 0; i < len(data); {
		j := bytes.IndexByte(data[i:], '"')
		if j < 0 {
			break
		}
		start := i + j
		end := literalEnd(data, start)
		lit := data[start:end]
		i = end
		if len(lit) <= blobMin && !bytes.HasPrefix(lit, nulPrefix) {
			continue
		}
		sum := sha256.Sum256(lit)
		h := "sha256:" + hex.EncodeToString(sum[:])
		if out == nil {
			out = make([]byte, 0, 1024)
			seen = map[string]bool{}
		}
		out = append(out, data[last:start]...)
		out = append(out, nulPrefix...)
		out = append(out, h...)
		out = append(out, '"')
		last = end
		if !seen[h] {
			seen[h] = true
			blobs = append(blobs, blob{hash: h, data: lit})
		}
	}
	if out == nil {
		return data, nil
	}
	return append(out, data[last:]...), blobs
}

// literalEnd returns the index just after the JSON string literal that
// starts at data[start], a quote.
func literalEnd(data []byte, start int) int {
	for j := start + 1; j < len(data); {
		k := bytes.IndexAny(data[j:], `"\`)
		if k < 0 {
			break
		}
		j += k
		if data[j] == '\\' {
			j += 2
			continue
		}
		return j + 1
	}
	return len(data)
}

// joinBlobs returns data with its references replaced with the literals
// get returns for them.
func joinBlobs(data []byte, get func(hash string) ([]byte, error)) ([]byte, error) {
	var out bytes.Buffer
	last := 0
	for i := 0; i < len(data); {
		j := bytes.IndexByte(data[i:], '"')
		if j < 0 {
			break
		}
		start := i + j
		end := literalEnd(data, start)
		i = end
		if !bytes.HasPrefix(data[start:end], refPrefix) {
			continue
		}
		lit, err := get(string(data[start+len(nulPrefix) : end-1]))
		if err != nil {
			return nil, err
		}
		if out.Len() == 0 {
			out.Grow(len(data) + len(lit))
		}
		out.Write(data[last:start])
		out.Write(lit)
		last = end
	}
	if last == 0 {
		return data, nil
	}
	out.Write(data[last:])
	return out.Bytes(), nil
}

// blobList is the value of a row's blobs column: NULL without blobs.
func blobList(blobs []blob) any {
	if len(blobs) == 0 {
		return nil
	}
	hashes := make([]string, len(blobs))
	for i, b := range blobs {
		hashes[i] = b.hash
	}
	b, _ := json.Marshal(hashes)
	return string(b)
}

// putBlobs stores the blobs a row is about to reference, those not stored
// yet, with no reference counted: the row's triggers count them.
func putBlobs(t *txn, blobs []blob) error {
	for _, b := range blobs {
		var n int
		if err := t.tx.QueryRowContext(t.ctx, `SELECT count(*) FROM blob_refs WHERE hash = ?`, b.hash).Scan(&n); err != nil {
			return fmt.Errorf("look up blob: %w", err)
		}
		if n > 0 {
			continue
		}
		if _, err := t.tx.ExecContext(t.ctx, `INSERT INTO blobs (hash, data) VALUES (?, ?)`, b.hash, b.data); err != nil {
			return fmt.Errorf("store blob: %w", err)
		}
		if _, err := t.tx.ExecContext(t.ctx, `INSERT INTO blob_refs (hash, refs) VALUES (?, 0)`, b.hash); err != nil {
			return fmt.Errorf("store blob: %w", err)
		}
	}
	return nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// blobReader reads blobs within one read transaction, each once.
type blobReader struct {
	ctx   context.Context
	q     queryer
	cache map[string][]byte
}

func (r *blobReader) get(hash string) ([]byte, error) {
	if b, ok := r.cache[hash]; ok {
		return b, nil
	}
	var b []byte
	err := r.q.QueryRowContext(r.ctx, `SELECT data FROM blobs WHERE hash = ?`, hash).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("blob %s is missing", hash)
	}
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", hash, err)
	}
	if r.cache == nil {
		r.cache = map[string][]byte{}
	}
	r.cache[hash] = b
	return b, nil
}

// join splices the blobs back into data when the row references some.
func (r *blobReader) join(data []byte, blobs sql.NullString) ([]byte, error) {
	if !blobs.Valid {
		return data, nil
	}
	return joinBlobs(data, r.get)
}

// readTx runs fn in one read transaction, so that a row and the blobs it
// references are read from one snapshot.
func (d *DB) readTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := d.read.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a read: nothing to keep
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}
