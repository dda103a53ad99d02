package store

import (
	"context"
	"errors"
)

// ErrCompacted is matched by the error of a watch from a change the store
// no longer keeps: the watcher missed changes, so it must read the state
// afresh (LastSeq, then ListRecords and Target) and watch from there.
var ErrCompacted = errors.New("changes compacted: list again, then watch from the last change")

// ChangeKind says what a Change changed.
type ChangeKind string

// Kinds of change.
const (
	ChangePut    ChangeKind = "put"    // a record was put: Change.Record is it
	ChangeDelete ChangeKind = "delete" // a record that existed was deleted
	ChangeTarget ChangeKind = "target" // the target was set to another revision, or cleared
)

// Change is one write of a record or of the target, as a watch delivers
// it.
type Change struct {
	// Seq is the change's number in the store's one sequence: it grows
	// with every change, in the order the store made them.
	Seq  int64
	Kind ChangeKind
	// ID is the record's, for puts and deletes.
	ID string
	// Record is, for a put, the record as stored; its Version is Seq.
	Record *Record
	// Target is, for a target change, the new target's hash; empty when
	// it was cleared.
	Target string
	// Err, set on the last value a watch sends, says why it ended before
	// its context did: ErrCompacted when it fell behind the changes the
	// store keeps, or the store's error.
	Err error
}

// Watcher is implemented by stores that let a reader follow every change
// to records and to the target as it happens, whoever made it: this
// process or another sharing the store.
//
// Guarantees:
//   - Ordered: a watch delivers changes in Seq order, each once.
//   - Complete up to collapse: every change after the watch's start is
//     delivered, except that a put may be left out when a later change of
//     the same record was made before the watch read it. The latest
//     change of every record, and every target change, is always
//     delivered, so a reader that keeps the latest state (level-triggered)
//     misses nothing.
//   - Bounded: the store keeps the recent changes only. A watch that
//     starts, or falls, behind them fails with ErrCompacted.
//
// To follow the state without missing a change: read LastSeq, then list
// (ListRecords, Target), then Watch from that Seq. A change may then come
// both in the list and in the watch; keep a put only when its Seq is
// above the Version held for its record, and a delete likewise.
type Watcher interface {
	// LastSeq returns the number of the latest change, 0 before the
	// first.
	LastSeq(ctx context.Context) (int64, error)
	// Watch returns a channel of the changes after the change numbered
	// from (0: from the first). It fails with an error matching
	// ErrCompacted when some of those are no longer kept. The channel is
	// closed when ctx is done or the store closed, after a last Change
	// with Err set when the watch failed otherwise.
	Watch(ctx context.Context, from int64) (<-chan Change, error)
	// CompactChanges forgets the changes up to the one numbered seq:
	// watching from before it then fails with ErrCompacted. Stores also
	// compact on their own, by bounds of their own.
	CompactChanges(ctx context.Context, seq int64) error
}
