package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/convergehq/converge/store"
)

// Watching. A watcher reads the changes table (see changes.go) after its
// cursor, with each put's record joined from records when the record is
// still at that version; a put whose record was written again since is
// left out, as store.Watcher allows, since the later change comes too.
// When it has read everything, it waits for the next change: the writer
// goroutine wakes it after each commit of this process, and one poller per
// DB (started by the first Watch, running until Close) wakes it when
// PRAGMA data_version, on a connection of its own, says another
// connection (in this process or another) committed. The poller
// polls every watchPoll, so another process's writes are seen within that
// and a query.

const (
	// watchPoll is how often the poller looks for other processes' commits.
	watchPoll = 50 * time.Millisecond
	// watchBatch is how many changes a watcher reads at once.
	watchBatch = 256
)

var _ store.Watcher = (*DB)(nil)

// Watch returns a channel of the changes after the one numbered from; see
// store.Watcher. It sees the writes of every process that writes the
// file, this one's at once and others' within about 50 ms. It works on
// ReadOnly and Shared DBs too. The channel is closed when ctx is done or
// the DB closed.
func (d *DB) Watch(ctx context.Context, from int64) (<-chan store.Change, error) {
	if err := d.readable(ctx); err != nil {
		return nil, fmt.Errorf("watch changes from %d: %w", from, err)
	}
	var compacted int64
	if err := d.read.QueryRowContext(ctx, `SELECT compacted FROM change_log WHERE id = 1`).Scan(&compacted); err != nil {
		return nil, fmt.Errorf("watch changes from %d: %w", from, err)
	}
	if from < compacted {
		return nil, compactedError(from, compacted)
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, fmt.Errorf("watch changes from %d: %w", from, ErrClosed)
	}
	d.watchers.Add(1)
	d.pollOnce.Do(func() {
		d.watchers.Add(1)
		go d.poll()
	})
	out := make(chan store.Change, watchBatch)
	go d.watch(ctx, from, out)
	return out, nil
}

func compactedError(from, compacted int64) error {
	return fmt.Errorf("watch changes from %d: changes up to %d are forgotten: %w", from, compacted, store.ErrCompacted)
}

// watch sends out the changes after cursor until ctx is done or the DB
// closed.
func (d *DB) watch(ctx context.Context, cursor int64, out chan<- store.Change) {
	defer d.watchers.Done()
	defer close(out)
	for {
		// Before reading: a change committed after the read closes it.
		wait := d.nextChange()
		batch, next, full, err := d.readChanges(ctx, cursor)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			select {
			case out <- store.Change{Err: err}:
			case <-ctx.Done():
			case <-d.closing:
			}
			return
		}
		for _, c := range batch {
			select {
			case out <- c:
			case <-ctx.Done():
				return
			case <-d.closing:
				return
			}
		}
		cursor = next
		if full {
			continue
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return
		case <-d.closing:
			return
		}
	}
}

// readChanges reads, from one snapshot, the next changes after cursor. It
// returns them, the cursor after them (past the puts left out), and
// whether it read a whole batch.
func (d *DB) readChanges(ctx context.Context, cursor int64) ([]store.Change, int64, bool, error) {
	var out []store.Change
	next, n := cursor, 0
	err := d.readTx(ctx, func(tx *sql.Tx) error {
		var compacted int64
		if err := tx.QueryRowContext(ctx, `SELECT compacted FROM change_log WHERE id = 1`).Scan(&compacted); err != nil {
			return err
		}
		if cursor < compacted {
			return compactedError(cursor, compacted)
		}
		rows, err := tx.QueryContext(ctx, `SELECT c.seq, c.kind, c.id, r.data, r.blobs FROM changes AS c
			LEFT JOIN records AS r ON c.kind = 'put' AND r.id = c.id AND r.version = c.seq
			WHERE c.seq > ? ORDER BY c.seq LIMIT ?`, cursor, watchBatch)
		if err != nil {
			return err
		}
		defer rows.Close()
		type row struct {
			seq      int64
			kind, id string
			data     []byte
			blobs    sql.NullString
		}
		var all []row // blobs are read once the query is done
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.seq, &r.kind, &r.id, &r.data, &r.blobs); err != nil {
				return err
			}
			all = append(all, r)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		n = len(all)
		br := &blobReader{ctx: ctx, q: tx}
		for _, r := range all {
			next = r.seq
			switch r.kind {
			case changePut:
				if r.data == nil {
					continue // written again since: a later change comes
				}
				data, err := br.join(r.data, r.blobs)
				if err != nil {
					return fmt.Errorf("record %s: %w", r.id, err)
				}
				rec, err := decodeRecord(data, r.seq)
				if err != nil {
					return fmt.Errorf("record %s: %w", r.id, err)
				}
				out = append(out, store.Change{Seq: r.seq, Kind: store.ChangePut, ID: r.id, Record: &rec})
			case changeDelete:
				out = append(out, store.Change{Seq: r.seq, Kind: store.ChangeDelete, ID: r.id})
			case changeTarget:
				out = append(out, store.Change{Seq: r.seq, Kind: store.ChangeTarget, Target: r.id})
			default:
				return fmt.Errorf("change %d: unknown kind %q", r.seq, r.kind)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrCompacted) {
		err = fmt.Errorf("watch changes after %d: %w", cursor, err)
	}
	return out, next, n == watchBatch, err
}

// poll wakes the watchers when another connection committed, until the
// DB closes. It looks at PRAGMA data_version on a connection of its own:
// the number changes when any other connection committed. Without that
// connection, it wakes the watchers at every tick.
func (d *DB) poll() {
	defer d.watchers.Done()
	conn, err := openPool(d.path, d.readExtra, 1)
	if err == nil {
		defer conn.Close()
	}
	tick := time.NewTicker(watchPoll)
	defer tick.Stop()
	last := int64(-1)
	// A commit writes the WAL: while it keeps its size and time, nothing
	// was committed, and the query is skipped (but once a second).
	var walSize int64 = -1
	var walTime time.Time
	skipped := 0
	for {
		select {
		case <-d.closing:
			return
		case <-tick.C:
		}
		if fi, err := os.Stat(d.path + "-wal"); err == nil && conn != nil {
			if fi.Size() == walSize && fi.ModTime().Equal(walTime) && skipped < int(time.Second/watchPoll) {
				skipped++
				continue
			}
			walSize, walTime, skipped = fi.Size(), fi.ModTime(), 0
		}
		var v int64
		if conn == nil || conn.QueryRow(`PRAGMA data_version`).Scan(&v) != nil || v != last {
			last = v
			d.notify()
		}
	}
}
