package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
)

// snapshot copies what an engine reads of src (records, revisions and the
// target) into a memory store, so that a dry run can decide, record and
// report as a real run would while the state on disk stays exactly as it
// was: a dry run's writes never leave the process.
func snapshot(ctx context.Context, src store.Store) (store.Store, error) {
	dst := memory.New()
	recs, err := src.ListRecords(ctx)
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	for _, r := range recs {
		if err := dst.PutRecord(ctx, r); err != nil {
			return nil, err
		}
	}
	revs, err := src.ListRevisions(ctx)
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	for _, r := range revs {
		if err := dst.PutRevision(ctx, r); err != nil {
			return nil, err
		}
	}
	switch t, err := src.Target(ctx); {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("read state: %w", err)
	default:
		if err := dst.SetTarget(ctx, t); err != nil {
			return nil, err
		}
	}
	return dst, nil
}
