package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
)

// writeOp is one write waiting for the writer goroutine. fn runs inside the
// batch's transaction; it may run twice (a failed batch is retried one op
// at a time), so it must set its outputs afresh each time.
type writeOp struct {
	ctx  context.Context
	fn   func(tx *txn) error
	done chan error // buffered: the writer never blocks on it; nil for a deferred write
	what string     // for a deferred write: what it was, for its error
	// refused is the answer of an op whose fn returned a refusal: its
	// transaction commits the other ops, and the op is answered with it.
	refused error
}

// refusal is returned by a write's fn that decided, before writing
// anything, not to write (a condition failed): unlike any other error, it
// does not fail the transaction of the other writes. The write is
// answered with err.
type refusal struct{ err error }

func (r refusal) Error() string { return r.err.Error() }

// answer gives op its result: to the waiting caller, or, for a deferred
// write, to the next Flush.
func (d *DB) answer(op *writeOp, err error) {
	if op.done != nil {
		op.done <- err
		return
	}
	if err != nil {
		d.deferredMu.Lock()
		if d.deferredErr == nil {
			d.deferredErr = fmt.Errorf("%s: %w", op.what, err)
		}
		d.deferredMu.Unlock()
	}
}

// writeDeferred queues fn to the writer goroutine without waiting for it.
func (d *DB) writeDeferred(what string, fn func(tx *txn) error) {
	if d.readOnly {
		d.answer(&writeOp{what: what}, ErrReadOnly)
		return
	}
	op := &writeOp{ctx: context.Background(), fn: fn, what: what}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		d.answer(op, ErrClosed)
		return
	}
	d.queue <- op
}

// Flush waits until every deferred write so far committed and returns the
// first error among deferred writes since the last Flush.
func (d *DB) Flush(ctx context.Context) error {
	if !d.readOnly {
		// The queue is FIFO: an empty write answered means all before it ran.
		if err := d.write(ctx, func(*txn) error { return nil }); err != nil {
			return fmt.Errorf("flush: %w", err)
		}
	}
	d.deferredMu.Lock()
	defer d.deferredMu.Unlock()
	err := d.deferredErr
	d.deferredErr = nil
	return err
}

// txn is a batch transaction with its statements bound to it once.
type txn struct {
	ctx   context.Context
	tx    *sql.Tx
	stmts map[*sql.Stmt]*sql.Stmt
	d     *DB

	changes int   // changes this transaction logged (see changes.go)
	at      int64 // when they were made, unix nanoseconds
}

// stmt returns s bound to the transaction.
func (t *txn) stmt(s *sql.Stmt) *sql.Stmt {
	if b, ok := t.stmts[s]; ok {
		return b
	}
	b := t.tx.StmtContext(t.ctx, s)
	t.stmts[s] = b
	return b
}

// write queues fn to the writer goroutine and waits until the transaction
// that ran it committed or failed. A ctx cancelled before fn runs cancels
// the write; once fn runs, the call waits for the commit, so its answer is
// never ambiguous.
func (d *DB) write(ctx context.Context, fn func(tx *txn) error) error {
	if d.readOnly {
		return ErrReadOnly
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	op := &writeOp{ctx: ctx, fn: fn, done: make(chan error, 1)}
	d.mu.RLock()
	if d.closed {
		d.mu.RUnlock()
		return ErrClosed
	}
	select {
	case d.queue <- op:
	case <-ctx.Done():
		d.mu.RUnlock()
		return ctx.Err()
	}
	d.mu.RUnlock()
	return <-op.done
}

// runWriter is the writer goroutine: it takes everything queued, commits it
// in one transaction, answers each caller, and repeats until the queue is
// closed and drained.
func (d *DB) runWriter() {
	defer close(d.writerDone)
	batch := make([]*writeOp, 0, maxBatch)
	for op := range d.queue {
		batch = append(batch[:0], op)
		// Let the callers just answered queue their next write: with
		// few cores this more than doubles the batch size.
		runtime.Gosched()
	fill:
		for len(batch) < maxBatch {
			select {
			case op, ok := <-d.queue:
				if !ok {
					break fill
				}
				batch = append(batch, op)
			default:
				break fill
			}
		}
		d.commit(batch)
		d.maybeCompact()
	}
}

// commit runs batch in one transaction and answers every op. When the batch
// fails, each op is retried in a transaction of its own so that its error
// is its own.
func (d *DB) commit(batch []*writeOp) {
	live := batch[:0:0]
	for _, op := range batch {
		if err := op.ctx.Err(); err != nil {
			d.answer(op, err)
			continue
		}
		live = append(live, op)
	}
	if len(live) == 0 {
		return
	}
	err := d.runTx(live)
	if err == nil || len(live) == 1 {
		for _, op := range live {
			if err == nil {
				d.answer(op, op.refused)
				continue
			}
			d.answer(op, err)
		}
		return
	}
	for _, op := range live {
		err := d.runTx([]*writeOp{op})
		if err == nil {
			err = op.refused
		}
		d.answer(op, err)
	}
}

// runTx runs ops in one transaction and commits it. The transaction does
// not use any caller's context: one caller giving up must not abort the
// writes of the others. Once it committed changes, watchers are told.
func (d *DB) runTx(ops []*writeOp) error {
	ctx := context.Background()
	tx, err := d.writeDB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	t := &txn{ctx: ctx, tx: tx, stmts: make(map[*sql.Stmt]*sql.Stmt, 8), d: d}
	for _, op := range ops {
		op.refused = nil
		if err := op.fn(t); err != nil {
			if r, ok := err.(refusal); ok {
				op.refused = r.err
				continue
			}
			tx.Rollback() //nolint:errcheck // the op's error is the one to report
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if t.changes > 0 {
		d.sinceCompact.Add(int64(t.changes))
		d.notify()
	}
	return nil
}
