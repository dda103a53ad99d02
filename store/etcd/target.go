package etcd

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/convergehq/converge/store"
)

var _ store.ConditionalTargetStore = (*Store)(nil)

// SetTargetIf makes the revision hash the target if it exists and fence is
// current, in one transaction that compares the fence's token: a leader
// that lost its term cannot publish a target, however late its request
// arrives. See store.ConditionalTargetStore.
func (s *Store) SetTargetIf(ctx context.Context, hash string, fence store.Fence) error {
	if err := store.CheckConditions(store.AnyVersion, fence); err != nil {
		return fmt.Errorf("etcd: set target %s: %w", hash, err)
	}
	if fence.Name == "" {
		return s.SetTarget(ctx, hash)
	}
	target := s.key(targetKey)
	cmps := []clientv3.Cmp{
		clientv3.Compare(clientv3.Value(s.fenceKey(fence.Name)), "=", fence.Token),
		clientv3.Compare(clientv3.CreateRevision(s.revisionKey(hash)), ">", 0),
	}
	then := []clientv3.Op{clientv3.OpTxn(
		// Setting the target it already is changes nothing.
		[]clientv3.Cmp{clientv3.Compare(clientv3.Value(target), "=", hash)},
		nil,
		[]clientv3.Op{clientv3.OpPut(target, hash), s.logChange()})}
	els := []clientv3.Op{
		clientv3.OpGet(s.fenceKey(fence.Name)),
		clientv3.OpGet(s.revisionKey(hash), clientv3.WithKeysOnly()),
	}
	resp, err := s.txn(ctx, cmps, then, els)
	if err != nil {
		return fmt.Errorf("etcd: set target %s: %w", hash, err)
	}
	if resp.Succeeded {
		return nil
	}
	cur := ""
	if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
		cur = string(kvs[0].Value)
	}
	if cur != fence.Token {
		return fmt.Errorf("etcd: %w", &store.FencedError{Op: "set target", ID: hash, Fence: fence.Name, Token: fence.Token, Current: cur})
	}
	return fmt.Errorf("etcd: set target %s: revision %w", hash, store.ErrNotFound)
}
