package etcd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/convergehq/converge/store"
)

// eventKey is the key of the event e aggregates into: a hash of its
// resource, type, reason and message.
func (s *Store) eventKey(e store.Event) string {
	h := sha256.New()
	for _, part := range []string{e.Resource, string(e.Type), string(e.Reason), e.Message} {
		fmt.Fprintf(h, "%d:%s", len(part), part)
	}
	return s.key(eventKeys + hex.EncodeToString(h.Sum(nil)))
}

// AddEvent stores e, or aggregates it into the event with the same
// resource, type, reason and message: that event's Count grows by e.Count
// (at least 1), its LastSeen moves to e.LastSeen and its Revision to
// e.Revision when set; FirstSeen is kept. A zero LastSeen means now, a
// zero FirstSeen means LastSeen. A new event's ID is the etcd revision
// that created it. It returns the stored event.
func (s *Store) AddEvent(ctx context.Context, e store.Event) (store.Event, error) {
	e = defaultEvent(e, time.Now)
	key := s.eventKey(e)
	data, err := encodeEvent(e)
	if err != nil {
		return store.Event{}, fmt.Errorf("etcd: add event %s %s: %w", e.Resource, e.Reason, err)
	}
	s.eventMu.Lock()
	defer s.eventMu.Unlock()
	for {
		// A new event, or the one it aggregates into.
		resp, err := s.txn(ctx,
			[]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", 0)},
			[]clientv3.Op{clientv3.OpPut(key, string(data))},
			[]clientv3.Op{clientv3.OpGet(key)})
		if err != nil {
			return store.Event{}, fmt.Errorf("etcd: add event %s %s: %w", e.Resource, e.Reason, err)
		}
		if resp.Succeeded {
			e.ID = resp.Header.Revision
			return e, nil
		}
		kvs := resp.Responses[0].GetResponseRange().GetKvs()
		if len(kvs) == 0 {
			continue // pruned meanwhile
		}
		old, err := decodeEvent(kvs[0])
		if err != nil {
			return store.Event{}, fmt.Errorf("etcd: add event %s %s: %w", e.Resource, e.Reason, err)
		}
		old.Count += e.Count
		if e.LastSeen.After(old.LastSeen) {
			old.LastSeen = e.LastSeen
		}
		if e.Revision != "" {
			old.Revision = e.Revision
		}
		agg, err := encodeEvent(old)
		if err != nil {
			return store.Event{}, fmt.Errorf("etcd: add event %s %s: %w", e.Resource, e.Reason, err)
		}
		resp, err = s.txn(ctx,
			[]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", kvs[0].ModRevision)},
			[]clientv3.Op{clientv3.OpPut(key, string(agg))}, nil)
		if err != nil {
			return store.Event{}, fmt.Errorf("etcd: add event %s %s: %w", e.Resource, e.Reason, err)
		}
		if resp.Succeeded {
			return old, nil
		}
		// Another process aggregated into it first: again.
	}
}

// ListEvents returns the events f selects, oldest (by LastSeen) first.
// With a Limit it returns the newest Limit of them, still oldest first.
func (s *Store) ListEvents(ctx context.Context, f store.EventFilter) ([]store.Event, error) {
	rows, err := s.events(ctx)
	if err != nil {
		return nil, fmt.Errorf("etcd: list events: %w", err)
	}
	var out []store.Event
	for _, r := range rows {
		e := r.event
		if f.Resource != "" && e.Resource != f.Resource {
			continue
		}
		if !f.Since.IsZero() && e.LastSeen.Before(f.Since) {
			continue
		}
		out = append(out, e)
	}
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[len(out)-f.Limit:]
	}
	return out, nil
}

// eventRow is a stored event, its key and the key's ModRevision.
type eventRow struct {
	event store.Event
	key   string
	mod   int64
}

// events returns every event, oldest (by LastSeen, then ID) first.
func (s *Store) events(ctx context.Context) ([]eventRow, error) {
	resp, err := s.get(ctx, s.key(eventKeys), clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	rows := make([]eventRow, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		e, err := decodeEvent(kv)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kv.Key, err)
		}
		rows = append(rows, eventRow{e, string(kv.Key), kv.ModRevision})
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i].event, rows[j].event
		if !a.LastSeen.Equal(b.LastSeen) {
			return a.LastSeen.Before(b.LastSeen)
		}
		return a.ID < b.ID
	})
	return rows, nil
}

// pruneBatch is how many deletes one transaction makes; etcd takes 128
// operations in one by default.
const pruneBatch = 64

// PruneEvents deletes the events last seen before the given time. An
// event aggregated into meanwhile is kept: it was seen again.
func (s *Store) PruneEvents(ctx context.Context, before time.Time) (int, error) {
	rows, err := s.events(ctx)
	if err != nil {
		return 0, fmt.Errorf("etcd: prune events: %w", err)
	}
	var ops []clientv3.Op
	for _, r := range rows {
		if !r.event.LastSeen.Before(before) {
			continue
		}
		ops = append(ops, clientv3.OpTxn(
			[]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(r.key), "=", r.mod)},
			[]clientv3.Op{clientv3.OpDelete(r.key)}, nil))
	}
	n := 0
	for len(ops) > 0 {
		batch := ops[:min(pruneBatch, len(ops))]
		ops = ops[len(batch):]
		resp, err := s.txn(ctx, nil, batch, nil)
		if err != nil {
			return n, fmt.Errorf("etcd: prune events: %w", err)
		}
		for _, r := range resp.Responses {
			if r.GetResponseTxn().GetSucceeded() {
				n++
			}
		}
	}
	return n, nil
}

// defaultEvent fills the count and times of a new or repeated event.
func defaultEvent(e store.Event, now func() time.Time) store.Event {
	if e.Count < 1 {
		e.Count = 1
	}
	if e.LastSeen.IsZero() {
		e.LastSeen = now()
	}
	if e.FirstSeen.IsZero() {
		e.FirstSeen = e.LastSeen
	}
	e.LastSeen = e.LastSeen.Round(0).UTC()
	e.FirstSeen = e.FirstSeen.Round(0).UTC()
	return e
}

// encodeEvent returns e as stored, without its ID: the key's
// CreateRevision is.
func encodeEvent(e store.Event) ([]byte, error) {
	e.ID = 0
	return encode(e)
}

func decodeEvent(kv *mvccpb.KeyValue) (store.Event, error) {
	var e store.Event
	if err := json.Unmarshal(kv.Value, &e); err != nil {
		return store.Event{}, fmt.Errorf("decode: %w", err)
	}
	e.ID = kv.CreateRevision
	return e, nil
}
