package controller

import (
	"context"
	"errors"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/store"
)

// publishRetries is how many lost races Publish decides again after,
// before it returns the conflict.
const publishRetries = 5

// Publish makes rv the target of st, e's store, for the converge that
// converges it (a daemon beside this process, the nodes of a cluster, or
// e itself): first it checks that rv deletes no more than guard allows
// of e's records, and returns the guard's error when it does (an
// *engine.HeldError or engine.ErrEmpty, with errors.As and errors.Is).
// A revision that is the target already is not written again (its state
// stands): Publish then reports false.
//
// The target is written only if it is still the one Publish read
// (store.ConditionalTargetStore): when another writer moved it meanwhile
// (converge rollback, a daemon that loaded other manifests), Publish
// reads it again and decides again, so that neither write is silently
// lost: the later one is made knowing the earlier.
func Publish(ctx context.Context, st store.Store, e *engine.Engine, rv *manifest.Revision, guard engine.Guard) (bool, error) {
	if err := guard.Check(e.Records(), rv); err != nil {
		return false, err
	}
	for lost := 0; ; lost++ {
		cur, err := st.Target(ctx)
		switch {
		case err == nil && cur == rv.Hash:
			return false, nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return false, err
		}
		err = e.SetTargetFrom(ctx, cur, rv)
		if errors.Is(err, store.ErrConflict) && lost < publishRetries {
			continue
		}
		if err != nil {
			return false, err
		}
		return true, nil
	}
}
