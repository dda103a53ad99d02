package memory

import (
	"context"
	"errors"
	"fmt"

	"github.com/convergehq/converge/store"
)

// watchBatch is how many changes a watch takes from the log at once.
const watchBatch = 256

// logChange gives c the next change number and appends it to the log,
// compacting the log once it holds a quarter more than it keeps, and
// wakes the waiting watchers. The caller holds mu.
func (s *Store) logChange(c store.Change) {
	s.seq++
	c.Seq = s.seq
	s.changes = append(s.changes, c)
	if len(s.changes) > s.retain+s.retain/4 {
		s.compactLocked(s.seq - int64(s.retain))
	}
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

// compactLocked forgets the changes up to through. The caller holds mu.
func (s *Store) compactLocked(through int64) {
	through = min(through, s.seq)
	if through <= s.compacted {
		return
	}
	// Drop the front without copying the rest: append copies what is
	// kept when it next grows the array. Clear what is dropped, so that
	// the records it holds can be collected.
	drop := s.changes[:through-s.compacted]
	clear(drop)
	s.changes = s.changes[len(drop):]
	s.compacted = through
}

// LastSeq returns the number of the latest change, 0 before the first.
func (s *Store) LastSeq(ctx context.Context) (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return 0, fmt.Errorf("last change: %w", err)
	}
	return s.seq, nil
}

// CompactChanges forgets the changes up to the one numbered seq.
func (s *Store) CompactChanges(ctx context.Context, seq int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("compact changes through %d: %w", seq, err)
	}
	s.compactLocked(seq)
	return nil
}

// Watch returns a channel of the changes after the one numbered from; see
// store.Watcher. Every put is delivered, none collapsed, while the log
// keeps it. The channel is closed when ctx is done or the store closed.
func (s *Store) Watch(ctx context.Context, from int64) (<-chan store.Change, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, fmt.Errorf("watch changes from %d: %w", from, err)
	}
	if from < s.compacted {
		return nil, fmt.Errorf("watch changes from %d: changes up to %d are forgotten: %w", from, s.compacted, store.ErrCompacted)
	}
	out := make(chan store.Change, watchBatch)
	go s.watch(ctx, from, out)
	return out, nil
}

// watch sends out the changes after cursor until ctx is done or the store
// closed.
func (s *Store) watch(ctx context.Context, cursor int64, out chan<- store.Change) {
	defer close(out)
	for {
		batch, wait, err := s.changesAfter(cursor)
		if errors.Is(err, ErrClosed) {
			return
		}
		if err != nil {
			select {
			case out <- store.Change{Err: err}:
			case <-ctx.Done():
			case <-s.done:
			}
			return
		}
		for _, c := range batch {
			if c.Record != nil {
				r := cloneRecord(*c.Record)
				c.Record = &r
			}
			select {
			case out <- c:
				cursor = c.Seq
			case <-ctx.Done():
				return
			case <-s.done:
				return
			}
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return
		case <-s.done:
			return
		}
	}
}

// changesAfter returns a copy of the next changes after cursor, and a
// channel closed at the next change (already closed when there may be
// more to take now).
func (s *Store) changesAfter(cursor int64) ([]store.Change, <-chan struct{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, ErrClosed
	}
	if cursor < s.compacted {
		return nil, nil, fmt.Errorf("watch changes after %d: changes up to %d are forgotten: %w", cursor, s.compacted, store.ErrCompacted)
	}
	next := s.changes[min(cursor-s.compacted, int64(len(s.changes))):]
	if len(next) > watchBatch {
		return append([]store.Change(nil), next[:watchBatch]...), closedChan, nil
	}
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return append([]store.Change(nil), next...), s.changed, nil
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()
