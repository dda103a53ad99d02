package sqlite

import (
	"context"
	"fmt"
	"time"
)

// Changes. Every record put, record delete (of a record that existed) and
// target change takes the next number of one sequence, inside the
// writer's transaction: SQLite lets one writer at a time, in this process
// or another, so the numbers follow the order of the commits. A put
// stores its number as the record's version. Each change is logged in the
// changes table (number, kind, ID, time), which watchers read (see
// watch.go); the record itself is not copied, a watcher reads it from
// records. The log is bounded: the writer compacts it (see
// ChangeRetention), and change_log.compacted says up to where. The log is
// the sequence too: SQLite numbers a new row one above the largest, and
// compaction never deletes the newest, so the numbers never go back and a
// commit writes one page more than the records it changes (a counter row
// would make it two).

// Kinds of change, as the changes table spells them.
const (
	changePut    = "put"
	changeDelete = "delete"
	changeTarget = "target"
)

// lastChangeSQL reads the latest change number.
const lastChangeSQL = `SELECT coalesce(max(seq), 0) FROM changes`

// Default bounds of the change log (see ChangeRetention).
const (
	defaultRetainRows = 10000
	defaultRetainAge  = time.Hour
)

// logChange logs a change of kind to id (a record's ID, or the new
// target's hash) and returns its number.
func (t *txn) logChange(kind, id string) (int64, error) {
	if t.at == 0 {
		t.at = t.d.now().UnixNano()
	}
	res, err := t.stmt(t.d.insertChange).ExecContext(t.ctx, kind, id, t.at)
	if err != nil {
		return 0, fmt.Errorf("log change: %w", err)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("log change: %w", err)
	}
	t.changes++
	return seq, nil
}

// ChangeRetention bounds the change log that watchers read: a change is
// forgotten once more than rows changes came after it, or once it is
// older than age (age <= 0: no bound by age). A watcher that falls behind
// what is kept gets store.ErrCompacted. The default keeps 10000 changes
// for an hour at most. The writer compacts as it writes, so the log may
// exceed rows by a quarter, and hold older changes while nothing is
// written.
func ChangeRetention(rows int, age time.Duration) Option {
	return func(o *options) {
		o.retainRows, o.retainAge = max(rows, 1), age
	}
}

// maybeCompact compacts the change log when it may have outgrown its
// bounds: a quarter over its rows, or at least once a minute (or once per
// age, when shorter) while changes come. Only the writer goroutine calls
// it. An error is not reported: the next compaction tries again, and an
// uncompacted log only takes room.
func (d *DB) maybeCompact() {
	n := d.sinceCompact.Load()
	if n == 0 {
		return
	}
	now := d.now()
	every := time.Minute
	if d.retainAge > 0 {
		every = min(every, d.retainAge)
	}
	if n <= int64(d.retainRows/4) && now.Sub(d.lastCompact) < every {
		return
	}
	d.sinceCompact.Add(-n)
	d.lastCompact = now
	op := &writeOp{ctx: context.Background(), fn: func(t *txn) error {
		last, err := lastChange(t)
		if err != nil {
			return err
		}
		through := last - int64(d.retainRows)
		if d.retainAge > 0 {
			var old *int64
			err := t.tx.QueryRowContext(t.ctx, `SELECT max(seq) FROM changes WHERE at < ?`, now.Add(-d.retainAge).UnixNano()).Scan(&old)
			if err != nil {
				return err
			}
			if old != nil {
				through = max(through, *old)
			}
		}
		return compact(t, through)
	}}
	_ = d.runTx([]*writeOp{op})
}

// compact forgets the changes up to through (at most the latest), but
// keeps the row of the latest, which the numbers go on from.
func compact(t *txn, through int64) error {
	last, err := lastChange(t)
	if err != nil {
		return err
	}
	through = min(through, last)
	if _, err := t.tx.ExecContext(t.ctx, `UPDATE change_log SET compacted = ? WHERE id = 1 AND compacted < ?`, through, through); err != nil {
		return fmt.Errorf("compact changes: %w", err)
	}
	if _, err := t.tx.ExecContext(t.ctx, `DELETE FROM changes WHERE seq <= ? AND seq < ?`, through, last); err != nil {
		return fmt.Errorf("compact changes: %w", err)
	}
	return nil
}

// lastChange returns the number of the latest change, 0 before the first.
func lastChange(t *txn) (int64, error) {
	var last int64
	if err := t.tx.QueryRowContext(t.ctx, lastChangeSQL).Scan(&last); err != nil {
		return 0, fmt.Errorf("read the latest change: %w", err)
	}
	return last, nil
}

// CompactChanges forgets the changes up to seq (at most the latest):
// watching from before seq then fails with store.ErrCompacted. It returns
// once the write committed.
func (d *DB) CompactChanges(ctx context.Context, seq int64) error {
	if err := d.write(ctx, func(t *txn) error { return compact(t, seq) }); err != nil {
		return fmt.Errorf("compact changes through %d: %w", seq, err)
	}
	return nil
}

// LastSeq returns the number of the latest change, 0 before the first.
func (d *DB) LastSeq(ctx context.Context) (int64, error) {
	if err := d.readable(ctx); err != nil {
		return 0, fmt.Errorf("last change: %w", err)
	}
	var seq int64
	if err := d.read.QueryRowContext(ctx, lastChangeSQL).Scan(&seq); err != nil {
		return 0, fmt.Errorf("last change: %w", err)
	}
	return seq, nil
}

// notify wakes the watchers of this process waiting for a change.
func (d *DB) notify() {
	d.watchMu.Lock()
	defer d.watchMu.Unlock()
	if d.changed != nil {
		close(d.changed)
		d.changed = nil
	}
}

// nextChange returns a channel closed at the next change this process
// sees (its own commit, or another process's, found by polling).
func (d *DB) nextChange() <-chan struct{} {
	d.watchMu.Lock()
	defer d.watchMu.Unlock()
	if d.changed == nil {
		d.changed = make(chan struct{})
	}
	return d.changed
}
