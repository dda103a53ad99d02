package sqlite

import (
	"context"
	"fmt"
	"time"
)

// Changes. Every record put, record delete (of a record that existed) and
// target change takes the next number of one sequence, kept in
// change_log.last, inside the writer's transaction: SQLite lets one
// writer at a time, in this process or another, so the numbers follow
// the order of the commits. A put stores its number as the record's
// version. Each change is logged in the changes table (kind, ID, time),
// which watchers read (see watch.go); the record itself is not copied, a
// watcher reads it from records. The log is bounded: the writer compacts
// it (see ChangeRetention), and change_log.compacted says up to where.

// Kinds of change, as the changes table spells them.
const (
	changePut    = "put"
	changeDelete = "delete"
	changeTarget = "target"
)

// Default bounds of the change log (see ChangeRetention).
const (
	defaultRetainRows = 10000
	defaultRetainAge  = time.Hour
)

// logChange gives the next change number to a change of kind to id (a
// record's ID, or the new target's hash) and logs it.
func (t *txn) logChange(kind, id string) (int64, error) {
	if err := t.loadSeq(); err != nil {
		return 0, err
	}
	t.seq++
	t.changes++
	if t.d.changeLog {
		if t.at == 0 {
			t.at = t.d.now().UnixNano()
		}
		if _, err := t.stmt(t.d.insertChange).ExecContext(t.ctx, t.seq, kind, id, t.at); err != nil {
			return 0, fmt.Errorf("log change: %w", err)
		}
	}
	return t.seq, nil
}

// loadSeq reads the latest change number, once per transaction.
func (t *txn) loadSeq() error {
	if t.loaded {
		return nil
	}
	if err := t.stmt(t.d.lastChange).QueryRowContext(t.ctx).Scan(&t.seq); err != nil {
		return fmt.Errorf("read the change number: %w", err)
	}
	t.loaded = true
	return nil
}

// finish writes the latest change number back, before the commit.
func (t *txn) finish() error {
	if t.changes == 0 {
		return nil
	}
	if _, err := t.stmt(t.d.setLastChange).ExecContext(t.ctx, t.seq); err != nil {
		return fmt.Errorf("write the change number: %w", err)
	}
	return nil
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
		if err := t.loadSeq(); err != nil {
			return err
		}
		through := t.seq - int64(d.retainRows)
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

// compact forgets the changes up to through (at most the latest).
func compact(t *txn, through int64) error {
	if err := t.loadSeq(); err != nil {
		return err
	}
	through = min(through, t.seq)
	if _, err := t.tx.ExecContext(t.ctx, `UPDATE change_log SET compacted = ? WHERE id = 1 AND compacted < ?`, through, through); err != nil {
		return fmt.Errorf("compact changes: %w", err)
	}
	if _, err := t.tx.ExecContext(t.ctx, `DELETE FROM changes WHERE seq <= ?`, through); err != nil {
		return fmt.Errorf("compact changes: %w", err)
	}
	return nil
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
	if err := d.read.QueryRowContext(ctx, `SELECT last FROM change_log WHERE id = 1`).Scan(&seq); err != nil {
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
