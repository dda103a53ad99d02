package controller

import (
	"context"
	"errors"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/store"
)

// Publish makes rv the target of st, e's store, for the converge that
// converges it (a daemon beside this process, the nodes of a cluster, or
// e itself): first it checks that rv deletes no more than guard allows
// of e's records, and returns the guard's error when it does (an
// *engine.HeldError or engine.ErrEmpty, with errors.As and errors.Is).
// A revision that is the target already is not written again (its state
// stands): Publish then reports false.
func Publish(ctx context.Context, st store.Store, e *engine.Engine, rv *manifest.Revision, guard engine.Guard) (bool, error) {
	if err := guard.Check(e.Records(), rv); err != nil {
		return false, err
	}
	switch t, err := st.Target(ctx); {
	case err == nil && t == rv.Hash:
		return false, nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return false, err
	}
	if err := e.SetTarget(ctx, rv); err != nil {
		return false, err
	}
	return true, nil
}
