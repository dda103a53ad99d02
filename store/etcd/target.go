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
	return s.SetTargetFrom(ctx, store.AnyTarget, hash, fence)
}

// SetTargetFrom makes the revision hash the target if the target is still
// from (empty: none; store.AnyTarget: any), the revision exists and fence
// is current, in one transaction that compares them all. See
// store.ConditionalTargetStore.
func (s *Store) SetTargetFrom(ctx context.Context, from, hash string, fence store.Fence) error {
	if err := store.CheckConditions(store.AnyVersion, fence); err != nil {
		return fmt.Errorf("etcd: set target %s: %w", hash, err)
	}
	if fence.Name == "" && from == store.AnyTarget {
		return s.SetTarget(ctx, hash)
	}
	target := s.key(targetKey)
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(s.revisionKey(hash)), ">", 0)}
	if fence.Name != "" {
		cmps = append(cmps, clientv3.Compare(clientv3.Value(s.fenceKey(fence.Name)), "=", fence.Token))
	}
	switch from {
	case store.AnyTarget:
	case "":
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(target), "=", 0))
	default:
		cmps = append(cmps, clientv3.Compare(clientv3.Value(target), "=", from))
	}
	then := []clientv3.Op{clientv3.OpTxn(
		// Setting the target it already is changes nothing.
		[]clientv3.Cmp{clientv3.Compare(clientv3.Value(target), "=", hash)},
		nil,
		[]clientv3.Op{clientv3.OpPut(target, hash), s.logChange()})}
	els := []clientv3.Op{
		clientv3.OpGet(s.revisionKey(hash), clientv3.WithKeysOnly()),
		clientv3.OpGet(target),
	}
	if fence.Name != "" {
		els = append(els, clientv3.OpGet(s.fenceKey(fence.Name)))
	}
	resp, err := s.txn(ctx, cmps, then, els)
	if err != nil {
		return fmt.Errorf("etcd: set target %s: %w", hash, err)
	}
	if resp.Succeeded {
		return nil
	}
	value := func(i int) (string, bool) {
		kvs := resp.Responses[i].GetResponseRange().GetKvs()
		if len(kvs) == 0 {
			return "", false
		}
		return string(kvs[0].Value), true
	}
	if fence.Name != "" {
		if cur, _ := value(2); cur != fence.Token {
			return fmt.Errorf("etcd: %w", &store.FencedError{Op: "set target", ID: hash, Fence: fence.Name, Token: fence.Token, Current: cur})
		}
	}
	cur, _ := value(1)
	if err := store.CheckTarget(from, hash, cur); err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	if cur == hash {
		return nil
	}
	if _, ok := value(0); !ok {
		return fmt.Errorf("etcd: set target %s: revision %w", hash, store.ErrNotFound)
	}
	// Not reached: the reads are the transaction's, and every condition
	// held by them.
	return fmt.Errorf("etcd: %w", &store.TargetConflictError{Hash: hash, Want: from, Got: cur})
}
