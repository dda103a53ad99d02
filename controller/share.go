package controller

import (
	"context"
	"maps"
	"slices"
	"sync"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/store"
)

// share is what a cluster node owned at its last share change: it decides
// what a change hands the node (see Member).
type share struct {
	owned   map[string]bool // by ID: owned at the last change
	started bool            // the node owned something at some change
}

// takeover is what one share change asks of the node's engine.
type takeover struct {
	// Reconcile are the resources that became the node's and have work
	// left, reconciled at once.
	Reconcile []string
	// Resync: the node's first share holds resources Ready as desired;
	// every resource is observed again, in the resync lane.
	Resync bool
}

// change takes a share change over: desired are the published target's
// resources (ID -> the resource's hash), records the node's engine's, and
// owns says what the node owns now. A resource that is the node's now and
// was not at the last change is reconciled unless it is recorded Ready
// with the desired hash; those are resynced for the node's first share
// alone.
func (s *share) change(desired map[string]string, records []store.Record, owns func(string) bool) takeover {
	if s.owned == nil {
		s.owned = map[string]bool{}
	}
	ids := make([]string, 0, len(desired)+len(records))
	for id := range desired {
		ids = append(ids, id)
	}
	ready := map[string]bool{} // Ready as desired: nothing to do now
	for _, r := range records {
		ids = append(ids, r.ID)
		h, ok := desired[r.ID]
		ready[r.ID] = ok && r.Phase == store.PhaseReady && r.AppliedHash == h
	}
	slices.Sort(ids)
	var t takeover
	any := false
	for _, id := range ids {
		o := owns(id)
		any = any || o
		if o && !s.owned[id] {
			if ready[id] {
				t.Resync = t.Resync || !s.started
			} else {
				t.Reconcile = append(t.Reconcile, id)
			}
		}
		s.owned[id] = o
	}
	s.started = s.started || any
	return t
}

// targetCache holds the published target's resources, read once per
// target.
type targetCache struct {
	st        store.Store
	mu        sync.Mutex
	hash      string
	resources map[string]string // ID -> the desired resource's hash
}

// target returns the published target's resources (ID -> hash), as last
// read.
func (c *targetCache) target(ctx context.Context) map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, err := c.st.Target(ctx); err == nil && t != c.hash {
		if res, err := RevisionResources(ctx, c.st, t); err == nil {
			c.hash, c.resources = t, res
		}
	}
	return maps.Clone(c.resources)
}

// RevisionResources returns the resources of the revision hash stored in
// st: ID -> the resource's hash.
func RevisionResources(ctx context.Context, st store.Store, hash string) (map[string]string, error) {
	r, err := st.GetRevision(ctx, hash)
	if err != nil {
		return nil, err
	}
	rv, err := engine.RevisionFromStore(r)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(rv.Resources))
	for _, res := range rv.Resources {
		out[res.ID] = res.Hash
	}
	return out, nil
}
