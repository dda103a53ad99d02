package etcd

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/convergehq/converge/store"
)

// LastSeq returns the number of the latest change to a record or the
// target under the prefix (the etcd revision that made it), 0 before the
// first.
func (s *Store) LastSeq(ctx context.Context) (int64, error) {
	resp, err := s.get(ctx, s.key(lastChangeKey), clientv3.WithKeysOnly())
	if err != nil {
		return 0, fmt.Errorf("etcd: last change: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return 0, nil
	}
	return resp.Kvs[0].ModRevision, nil
}

// CompactChanges forgets the changes up to the one numbered seq, by
// compacting etcd's history up to it: the history of the whole etcd
// cluster, every prefix's.
func (s *Store) CompactChanges(ctx context.Context, seq int64) error {
	resp, err := s.get(ctx, s.key(lastChangeKey), clientv3.WithKeysOnly())
	if err != nil {
		return fmt.Errorf("etcd: compact changes through %d: %w", seq, err)
	}
	// etcd keeps the revision it compacts at, and cannot compact past
	// the current one.
	rev := min(seq+1, resp.Header.Revision)
	if rev <= 0 {
		return nil
	}
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("etcd: compact changes through %d: %w", seq, err)
	}
	if _, err := s.cli.Compact(ctx, rev); err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
		return fmt.Errorf("etcd: compact changes through %d: %w", seq, err)
	}
	return nil
}

// Watch returns a channel of the changes after the one numbered from; see
// store.Watcher. It fails with an error matching store.ErrCompacted when
// etcd no longer keeps some of them. The channel is closed when ctx is
// done or the store closed, after a last Change with Err set when the
// watch failed otherwise.
func (s *Store) Watch(ctx context.Context, from int64) (<-chan store.Change, error) {
	resp, err := s.get(ctx, s.key(lastChangeKey), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("etcd: watch changes from %d: %w", from, err)
	}
	// With no change after from, there is nothing to replay: watch from
	// the revision after this read. Otherwise replay from the first
	// change after from, which must not be compacted.
	start := max(resp.Header.Revision, from) + 1
	if len(resp.Kvs) > 0 && resp.Kvs[0].ModRevision > from {
		start = max(from+1, resp.Kvs[0].CreateRevision)
		if _, err := s.get(ctx, s.key(lastChangeKey), clientv3.WithKeysOnly(), clientv3.WithRev(start)); err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) {
				return nil, fmt.Errorf("etcd: watch changes from %d: %w", from, store.ErrCompacted)
			}
			return nil, fmt.Errorf("etcd: watch changes from %d: %w", from, err)
		}
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	wch := s.cli.Watch(wctx, s.key(stateKeys), clientv3.WithPrefix(), clientv3.WithRev(start))
	out := make(chan store.Change, 64)
	go s.watch(ctx, cancel, wch, out)
	return out, nil
}

// watch sends out the changes of wch until ctx is done, the store closed
// or the watch failed.
func (s *Store) watch(ctx context.Context, cancel context.CancelFunc, wch clientv3.WatchChan, out chan<- store.Change) {
	defer close(out)
	defer cancel()
	send := func(c store.Change) bool {
		select {
		case out <- c:
			return true
		case <-ctx.Done():
		case <-s.done:
		}
		return false
	}
	fail := func(err error) { send(store.Change{Err: fmt.Errorf("etcd: watch: %w", err)}) }
	for {
		var resp clientv3.WatchResponse
		var ok bool
		select {
		case resp, ok = <-wch:
		case <-ctx.Done():
			return
		case <-s.done:
			return
		}
		switch {
		case ctx.Err() != nil || s.check(ctx) != nil:
			return
		case !ok:
			fail(errors.New("etcd closed the watch"))
			return
		case resp.CompactRevision != 0:
			fail(fmt.Errorf("changes before revision %d are compacted: %w", resp.CompactRevision, store.ErrCompacted))
			return
		case resp.Err() != nil:
			fail(resp.Err())
			return
		}
		for _, ev := range resp.Events {
			c, err := s.change(ev)
			if err != nil {
				fail(err)
				return
			}
			if !send(c) {
				return
			}
		}
	}
}

// change translates an etcd event under the state keys.
func (s *Store) change(ev *clientv3.Event) (store.Change, error) {
	key := strings.TrimPrefix(string(ev.Kv.Key), s.prefix)
	c := store.Change{Seq: ev.Kv.ModRevision}
	switch {
	case key == targetKey:
		c.Kind = store.ChangeTarget
		if ev.Type == clientv3.EventTypePut {
			c.Target = string(ev.Kv.Value)
		}
	case strings.HasPrefix(key, recordKeys):
		c.ID = strings.TrimPrefix(key, recordKeys)
		c.Kind = store.ChangeDelete
		if ev.Type == clientv3.EventTypePut {
			r, err := decodeRecord(ev.Kv)
			if err != nil {
				return store.Change{}, fmt.Errorf("record %s: %w", c.ID, err)
			}
			c.Kind, c.Record = store.ChangePut, &r
		}
	default:
		return store.Change{}, fmt.Errorf("unexpected key %s", ev.Kv.Key)
	}
	return c, nil
}
