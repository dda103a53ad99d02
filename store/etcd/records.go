package etcd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/store"
)

func (s *Store) recordKey(id string) string { return s.key(recordKeys + id) }

// GetRecord returns the record with the given ID, or an error wrapping
// store.ErrNotFound.
func (s *Store) GetRecord(ctx context.Context, id string) (store.Record, error) {
	resp, err := s.get(ctx, s.recordKey(id))
	if err != nil {
		return store.Record{}, fmt.Errorf("etcd: get record %s: %w", id, err)
	}
	if len(resp.Kvs) == 0 {
		return store.Record{}, fmt.Errorf("etcd: get record %s: %w", id, store.ErrNotFound)
	}
	r, err := decodeRecord(resp.Kvs[0])
	if err != nil {
		return store.Record{}, fmt.Errorf("etcd: get record %s: %w", id, err)
	}
	return r, nil
}

// ListRecords returns every record, sorted by ID.
func (s *Store) ListRecords(ctx context.Context) ([]store.Record, error) {
	resp, err := s.get(ctx, s.key(recordKeys), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("etcd: list records: %w", err)
	}
	// etcd returns keys in byte order, which is the order of the IDs.
	out := make([]store.Record, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		r, err := decodeRecord(kv)
		if err != nil {
			return nil, fmt.Errorf("etcd: list records: %s: %w", kv.Key, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// PutRecord stores r, replacing any record with the same ID whole, with a
// new version.
func (s *Store) PutRecord(ctx context.Context, r store.Record) error {
	_, err := s.PutRecordIf(ctx, r, store.AnyVersion, store.Fence{})
	return err
}

// PutRecordIf stores r if the stored record's version is version (0: no
// record; store.AnyVersion: any) and fence is current, in one etcd
// transaction, and returns r's new version; see
// store.ConditionalRecordStore.
func (s *Store) PutRecordIf(ctx context.Context, r store.Record, version int64, fence store.Fence) (int64, error) {
	if r.ID == "" {
		return 0, errors.New("etcd: put record: empty ID")
	}
	if err := store.CheckConditions(version, fence); err != nil {
		return 0, fmt.Errorf("etcd: put record %s: %w", r.ID, err)
	}
	data, err := encodeRecord(r)
	if err != nil {
		return 0, fmt.Errorf("etcd: put record %s: %w", r.ID, err)
	}
	key := s.recordKey(r.ID)
	if err := s.fits(key, data); err != nil {
		return 0, fmt.Errorf("etcd: put record %s: %w", r.ID, err)
	}
	then := []clientv3.Op{clientv3.OpPut(key, string(data)), s.logChange()}
	resp, err := s.txn(ctx, s.conditions(key, version, fence), then, s.refusalReads(key, fence))
	if err != nil {
		return 0, fmt.Errorf("etcd: put record %s: %w", r.ID, tooLarge(err, data))
	}
	if !resp.Succeeded {
		return 0, refusal("put", r.ID, version, fence, resp)
	}
	return resp.Header.Revision, nil
}

// DeleteRecord removes the record with the given ID. Deleting a missing
// record is not an error.
func (s *Store) DeleteRecord(ctx context.Context, id string) error {
	return s.DeleteRecordIf(ctx, id, store.AnyVersion, store.Fence{})
}

// DeleteRecordIf removes the record with the given ID under the conditions
// of PutRecordIf. With version 0 or store.AnyVersion, deleting a missing
// record does nothing.
func (s *Store) DeleteRecordIf(ctx context.Context, id string, version int64, fence store.Fence) error {
	if err := store.CheckConditions(version, fence); err != nil {
		return fmt.Errorf("etcd: delete record %s: %w", id, err)
	}
	key := s.recordKey(id)
	// Only a delete of a record that exists is a change.
	then := []clientv3.Op{clientv3.OpTxn(
		[]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), ">", 0)},
		[]clientv3.Op{clientv3.OpDelete(key), s.logChange()},
		nil,
	)}
	resp, err := s.txn(ctx, s.conditions(key, version, fence), then, s.refusalReads(key, fence))
	if err != nil {
		return fmt.Errorf("etcd: delete record %s: %w", id, err)
	}
	if !resp.Succeeded {
		return refusal("delete", id, version, fence, resp)
	}
	return nil
}

// conditions are the comparisons of a conditional write of the record at
// key. A fence compares the value of its key, and fails when the key is
// missing (etcd fails a value comparison with a missing key).
func (s *Store) conditions(key string, version int64, fence store.Fence) []clientv3.Cmp {
	var cmps []clientv3.Cmp
	if fence.Name != "" {
		cmps = append(cmps, clientv3.Compare(clientv3.Value(s.fenceKey(fence.Name)), "=", fence.Token))
	}
	if version != store.AnyVersion {
		// A missing key's ModRevision is 0.
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", version))
	}
	return cmps
}

// refusalReads are what a refused conditional write reads, in the same
// transaction, to say why: the record's version and the fence's token.
func (s *Store) refusalReads(key string, fence store.Fence) []clientv3.Op {
	ops := []clientv3.Op{clientv3.OpGet(key, clientv3.WithKeysOnly())}
	if fence.Name != "" {
		ops = append(ops, clientv3.OpGet(s.fenceKey(fence.Name)))
	}
	return ops
}

// refusal returns the error of a refused conditional write, from what
// refusalReads read: the fence first, then the version.
func refusal(op, id string, version int64, fence store.Fence, resp *clientv3.TxnResponse) error {
	got := int64(0)
	if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
		got = kvs[0].ModRevision
	}
	if fence.Name != "" {
		cur := ""
		if kvs := resp.Responses[1].GetResponseRange().GetKvs(); len(kvs) > 0 {
			cur = string(kvs[0].Value)
		}
		if cur != fence.Token {
			return &store.FencedError{Op: op, ID: id, Fence: fence.Name, Token: fence.Token, Current: cur}
		}
	}
	if version != store.AnyVersion && got != version {
		return &store.ConflictError{Op: op, ID: id, Want: version, Got: got}
	}
	return fmt.Errorf("etcd: %s record %s: refused, though the fence and version read back as expected", op, id)
}

func (s *Store) fenceKey(name string) string { return s.key(fenceKeys + name) }

// SetFence makes token the current token of the fence name; an empty
// token clears it. See store.Fencer.
func (s *Store) SetFence(ctx context.Context, name, token string) error {
	if name == "" {
		return errors.New("etcd: set fence: empty name")
	}
	op := clientv3.OpPut(s.fenceKey(name), token)
	if token == "" {
		op = clientv3.OpDelete(s.fenceKey(name))
	}
	if _, err := s.txn(ctx, nil, []clientv3.Op{op}, nil); err != nil {
		return fmt.Errorf("etcd: set fence %s: %w", name, err)
	}
	return nil
}

// encodeRecord returns r as stored: JSON, without its version (the key's
// ModRevision is).
func encodeRecord(r store.Record) ([]byte, error) {
	r.Version = 0
	return encode(r)
}

// encode returns v as JSON, with no HTML escaping: it makes large strings
// no larger than they are.
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// decodeRecord decodes a stored record, with its maps in
// provider.Canonical form, and gives it its version.
func decodeRecord(kv *mvccpb.KeyValue) (store.Record, error) {
	dec := json.NewDecoder(bytes.NewReader(kv.Value))
	dec.UseNumber()
	var r store.Record
	if err := dec.Decode(&r); err != nil {
		return store.Record{}, fmt.Errorf("decode: %w", err)
	}
	r.Version = kv.ModRevision
	r.AppliedSpec = provider.CanonicalMap(r.AppliedSpec)
	r.Outputs = provider.CanonicalMap(r.Outputs)
	if r.Pending != nil {
		r.Pending.Spec = provider.CanonicalMap(r.Pending.Spec)
	}
	for i := range r.Deposed {
		r.Deposed[i].Spec = provider.CanonicalMap(r.Deposed[i].Spec)
		r.Deposed[i].Outputs = provider.CanonicalMap(r.Deposed[i].Outputs)
	}
	return r, nil
}
