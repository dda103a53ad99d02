package etcd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/convergehq/converge/store"
)

func (s *Store) revisionKey(hash string) string { return s.key(revisionKeys + hash) }

// encodeRevision returns r as stored: JSON without its resources (which
// store.Revision leaves out of JSON), then, when it has resources, a
// newline and the resources as they are, neither escaped nor encoded, so
// they take no more of an etcd request than their size.
func encodeRevision(r store.Revision) ([]byte, error) {
	data, err := encode(r)
	if err != nil || r.Resources == nil {
		return data, err
	}
	data = append(data, '\n')
	return append(data, r.Resources...), nil
}

func decodeRevision(kv *mvccpb.KeyValue) (store.Revision, error) {
	head, resources, split := bytes.Cut(kv.Value, []byte("\n")) // JSON has no raw newline
	var r store.Revision
	if err := json.Unmarshal(head, &r); err != nil {
		return store.Revision{}, fmt.Errorf("decode: %w", err)
	}
	if split {
		r.Resources = bytes.Clone(resources)
		if r.Resources == nil {
			r.Resources = []byte{}
		}
	}
	return r, nil
}

// PutRevision inserts r, or replaces the revision with the same hash while
// keeping its place in the history (the key's CreateRevision). A zero
// Created means now on insert and "unchanged" on update.
func (s *Store) PutRevision(ctx context.Context, r store.Revision) error {
	if r.Hash == "" {
		return errors.New("etcd: put revision: empty hash")
	}
	key := s.revisionKey(r.Hash)
	for {
		mod := int64(0) // the stored revision's; 0: none
		put := r
		if put.Created.IsZero() {
			resp, err := s.get(ctx, key)
			if err != nil {
				return fmt.Errorf("etcd: put revision %s: %w", r.Hash, err)
			}
			put.Created = time.Now().Round(0).UTC()
			if len(resp.Kvs) > 0 {
				old, err := decodeRevision(resp.Kvs[0])
				if err != nil {
					return fmt.Errorf("etcd: put revision %s: %w", r.Hash, err)
				}
				put.Created, mod = old.Created, resp.Kvs[0].ModRevision
			}
		}
		data, err := encodeRevision(put)
		if err != nil {
			return fmt.Errorf("etcd: put revision %s: %w", r.Hash, err)
		}
		if err := s.fits(key, data); err != nil {
			return fmt.Errorf("etcd: put revision %s: %w", r.Hash, err)
		}
		var cmps []clientv3.Cmp
		if r.Created.IsZero() { // Created was read: it must still be so
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", mod))
		}
		resp, err := s.txn(ctx, cmps, []clientv3.Op{clientv3.OpPut(key, string(data))}, nil)
		if err != nil {
			return fmt.Errorf("etcd: put revision %s: %w", r.Hash, tooLarge(err, data))
		}
		if resp.Succeeded {
			return nil
		}
	}
}

// GetRevision returns the revision with the given hash, or an error
// wrapping store.ErrNotFound.
func (s *Store) GetRevision(ctx context.Context, hash string) (store.Revision, error) {
	resp, err := s.get(ctx, s.revisionKey(hash))
	if err != nil {
		return store.Revision{}, fmt.Errorf("etcd: get revision %s: %w", hash, err)
	}
	if len(resp.Kvs) == 0 {
		return store.Revision{}, fmt.Errorf("etcd: get revision %s: %w", hash, store.ErrNotFound)
	}
	r, err := decodeRevision(resp.Kvs[0])
	if err != nil {
		return store.Revision{}, fmt.Errorf("etcd: get revision %s: %w", hash, err)
	}
	return r, nil
}

// ListRevisions returns every revision, oldest first.
func (s *Store) ListRevisions(ctx context.Context) ([]store.Revision, error) {
	resp, err := s.get(ctx, s.key(revisionKeys), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("etcd: list revisions: %w", err)
	}
	revs, _, err := decodeRevisions(resp.Kvs)
	if err != nil {
		return nil, fmt.Errorf("etcd: list revisions: %w", err)
	}
	return revs, nil
}

// decodeRevisions decodes kvs in the order they were first put, and
// returns the ModRevision of each.
func decodeRevisions(kvs []*mvccpb.KeyValue) ([]store.Revision, []int64, error) {
	kvs = append([]*mvccpb.KeyValue(nil), kvs...)
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].CreateRevision < kvs[j].CreateRevision })
	revs, mods := make([]store.Revision, len(kvs)), make([]int64, len(kvs))
	for i, kv := range kvs {
		r, err := decodeRevision(kv)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", kv.Key, err)
		}
		revs[i], mods[i] = r, kv.ModRevision
	}
	return revs, mods, nil
}

// SetTarget makes the revision with the given hash the target, if it
// exists, in one transaction. It returns an error wrapping
// store.ErrNotFound when no such revision was put.
func (s *Store) SetTarget(ctx context.Context, hash string) error {
	target := s.key(targetKey)
	resp, err := s.txn(ctx,
		[]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(s.revisionKey(hash)), ">", 0)},
		// Setting the target it already is changes nothing.
		[]clientv3.Op{clientv3.OpTxn(
			[]clientv3.Cmp{clientv3.Compare(clientv3.Value(target), "=", hash)},
			nil,
			[]clientv3.Op{clientv3.OpPut(target, hash), s.logChange()})},
		nil)
	if err != nil {
		return fmt.Errorf("etcd: set target %s: %w", hash, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("etcd: set target %s: revision %w", hash, store.ErrNotFound)
	}
	return nil
}

// ClearTarget forgets the target revision.
func (s *Store) ClearTarget(ctx context.Context) error {
	target := s.key(targetKey)
	_, err := s.txn(ctx,
		[]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(target), ">", 0)},
		[]clientv3.Op{clientv3.OpDelete(target), s.logChange()}, nil)
	if err != nil {
		return fmt.Errorf("etcd: clear target: %w", err)
	}
	return nil
}

// Target returns the hash of the target revision, or an error wrapping
// store.ErrNotFound when none was set.
func (s *Store) Target(ctx context.Context) (string, error) {
	resp, err := s.get(ctx, s.key(targetKey))
	if err != nil {
		return "", fmt.Errorf("etcd: target: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return "", fmt.Errorf("etcd: target: %w", store.ErrNotFound)
	}
	return string(resp.Kvs[0].Value), nil
}

// PruneRevisions deletes the revisions older than the newest keep, except
// the target and the last known good revision. keep <= 0 keeps them all.
// The deletes commit only if the target, and each revision deleted, are
// as they were read; otherwise it reads them again.
func (s *Store) PruneRevisions(ctx context.Context, keep int) (int, error) {
	if keep <= 0 {
		return 0, nil
	}
	target := s.key(targetKey)
	n := 0
	for {
		read, err := s.txn(ctx, nil, []clientv3.Op{
			clientv3.OpGet(target),
			clientv3.OpGet(s.key(revisionKeys), clientv3.WithPrefix()),
		}, nil)
		if err != nil {
			return n, fmt.Errorf("etcd: prune revisions: %w", err)
		}
		targetMod, targetHash := int64(0), ""
		if kvs := read.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
			targetMod, targetHash = kvs[0].ModRevision, string(kvs[0].Value)
		}
		revs, mods, err := decodeRevisions(read.Responses[1].GetResponseRange().GetKvs())
		if err != nil {
			return n, fmt.Errorf("etcd: prune revisions: %w", err)
		}
		if len(revs) <= keep {
			return n, nil
		}
		lkg, _ := store.LastKnownGood(revs)
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(target), "=", targetMod)}
		var dels []clientv3.Op
		for i, r := range revs[:len(revs)-keep] {
			if r.Hash == targetHash || r.Hash == lkg.Hash {
				continue
			}
			key := s.revisionKey(r.Hash)
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", mods[i]))
			dels = append(dels, clientv3.OpDelete(key))
			if len(dels) == pruneBatch-1 {
				break // the rest in the next round
			}
		}
		if len(dels) == 0 {
			return n, nil
		}
		resp, err := s.txn(ctx, cmps, dels, nil)
		if err != nil {
			return n, fmt.Errorf("etcd: prune revisions: %w", err)
		}
		if resp.Succeeded {
			n += len(dels)
		}
	}
}

func (s *Store) metaKey(key string) string { return s.key(metaKeys + key) }

// GetMeta returns the value of the state-wide setting key, or an error
// wrapping store.ErrNotFound.
func (s *Store) GetMeta(ctx context.Context, key string) (string, error) {
	resp, err := s.get(ctx, s.metaKey(key))
	if err != nil {
		return "", fmt.Errorf("etcd: get %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return "", fmt.Errorf("etcd: get %s: %w", key, store.ErrNotFound)
	}
	return string(resp.Kvs[0].Value), nil
}

// SetMeta sets the state-wide setting key to value; an empty value deletes
// it.
func (s *Store) SetMeta(ctx context.Context, key, value string) error {
	if key == "" {
		return errors.New("etcd: set meta: empty key")
	}
	op := clientv3.OpPut(s.metaKey(key), value)
	if value == "" {
		op = clientv3.OpDelete(s.metaKey(key))
	}
	if _, err := s.txn(ctx, nil, []clientv3.Op{op}, nil); err != nil {
		return fmt.Errorf("etcd: set %s: %w", key, err)
	}
	return nil
}
