// Package store defines where converge keeps what it knows: revisions (the
// desired sets it targeted), one record per managed resource, and events.
//
// Guarantees every implementation keeps (checked by storetest):
//   - A write that returned nil is durable: it survives a crash of the process.
//   - Writes of one record replace it whole; a reader never sees half of one.
//   - Events with the same resource, type, reason and message are aggregated:
//     the count grows and LastSeen moves, no second row appears.
//   - Methods are safe for concurrent use.
//   - Every record write gives the record a new Version, from one sequence
//     for the whole store.
//
// Optional abilities are interfaces of their own, found by type
// assertion: Deferrer (writes without waiting), Meta (state-wide
// settings), RevisionPruner, ConditionalRecordStore,
// ConditionalTargetStore and Fencer (writes that several writers can
// share safely), and Watcher (follow every writer's changes as they
// happen).
package store

import (
	"context"
	"errors"
	"io"
)

// ErrNotFound is returned when a record or revision does not exist.
var ErrNotFound = errors.New("not found")

// Store keeps records, events and revisions. Each concern is an interface
// of its own, so that a caller can ask for only what it uses.
type Store interface {
	RecordStore
	EventLog
	RevisionStore
	io.Closer
}

// Deferrer is implemented by stores that can take writes without waiting
// for them to commit, so that callers that need no acknowledgement do not
// pay for one. Deferred writes commit in order with every other write: once
// a later synchronous write (or Flush) returns, every write deferred before
// it is durable too. An error of a deferred write is returned by the next
// Flush.
type Deferrer interface {
	PutRecordDeferred(r Record)
	DeleteRecordDeferred(id string)
	AddEventDeferred(e Event)
	// Flush waits until every write deferred so far committed, and returns
	// the first error of those writes since the last Flush.
	Flush(ctx context.Context) error
}

// Meta is implemented by stores that keep state-wide settings: a few
// named strings, such as the root directory the state belongs to.
type Meta interface {
	// GetMeta returns the value of key, or an error wrapping ErrNotFound
	// when it is not set.
	GetMeta(ctx context.Context, key string) (string, error)
	// SetMeta sets key to value; an empty value deletes the key. It
	// returns once the write is durable.
	SetMeta(ctx context.Context, key, value string) error
}
