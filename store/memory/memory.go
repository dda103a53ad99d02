package memory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/store"
)

// ErrClosed is returned by every method called after Close.
var ErrClosed = errors.New("memory store is closed")

// Option configures a Store.
type Option func(*Store)

// WithNow sets the clock used to stamp events and revisions that carry no
// time of their own. The default is time.Now.
func WithNow(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// WithChangeRetention makes the store keep the newest n changes (at least
// 1) for watchers; the default is 10000. See store.Watcher.
func WithChangeRetention(n int) Option {
	return func(s *Store) { s.retain = max(n, 1) }
}

// Store is an in-memory store.Store guarded by one mutex. The zero value is
// not usable; call New.
type Store struct {
	now func() time.Time

	mu        sync.RWMutex
	closed    bool
	records   map[string]*store.Record // never changed in place: the change log shares them
	events    []store.Event            // in ID order
	eventKeys map[eventKey]int
	nextEvent int64            // the ID of the next new event, less one
	revisions []store.Revision // in insertion order
	revIndex  map[string]int
	target    string
	meta      map[string]string
	fences    map[string]string // the current token of each fence

	// The change log (see watch.go): seq is the latest change's number;
	// changes holds those after compacted, in order, with no gap.
	seq       int64
	changes   []store.Change
	compacted int64
	retain    int
	changed   chan struct{} // closed at the next change; nil while no watcher waits
	done      chan struct{} // closed by Close
}

type eventKey struct {
	resource string
	typ      store.EventType
	reason   store.Reason
	message  string
}

var (
	_ store.Store                  = (*Store)(nil)
	_ store.Meta                   = (*Store)(nil)
	_ store.RevisionPruner         = (*Store)(nil)
	_ store.ConditionalRecordStore = (*Store)(nil)
	_ store.Fencer                 = (*Store)(nil)
	_ store.ConditionalTargetStore = (*Store)(nil)
	_ store.Watcher                = (*Store)(nil)
)

// New returns an empty Store.
func New(opts ...Option) *Store {
	s := &Store{
		now:       time.Now,
		records:   map[string]*store.Record{},
		eventKeys: map[eventKey]int{},
		revIndex:  map[string]int{},
		meta:      map[string]string{},
		fences:    map[string]string{},
		retain:    10000,
		done:      make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// check returns the reason a call cannot proceed. The caller holds mu.
func (s *Store) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed {
		return ErrClosed
	}
	return nil
}

// GetRecord returns the record with the given ID, or an error wrapping
// store.ErrNotFound.
func (s *Store) GetRecord(ctx context.Context, id string) (store.Record, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return store.Record{}, fmt.Errorf("get record %s: %w", id, err)
	}
	r, ok := s.records[id]
	if !ok {
		return store.Record{}, fmt.Errorf("get record %s: %w", id, store.ErrNotFound)
	}
	return cloneRecord(*r), nil
}

// ListRecords returns every record, sorted by ID.
func (s *Store) ListRecords(ctx context.Context) ([]store.Record, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, fmt.Errorf("list records: %w", err)
	}
	ids := provider.SortedKeys(s.records)
	out := make([]store.Record, len(ids))
	for i, id := range ids {
		out[i] = cloneRecord(*s.records[id])
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
// record; store.AnyVersion: any) and fence is current, and returns r's
// new version; see store.ConditionalRecordStore.
func (s *Store) PutRecordIf(ctx context.Context, r store.Record, version int64, fence store.Fence) (int64, error) {
	if r.ID == "" {
		return 0, errors.New("put record: empty ID")
	}
	if err := store.CheckConditions(version, fence); err != nil {
		return 0, fmt.Errorf("put record %s: %w", r.ID, err)
	}
	// Normalize outside the lock: it is the expensive part.
	n, err := normalizeRecord(r)
	if err != nil {
		return 0, fmt.Errorf("put record %s: %w", r.ID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return 0, fmt.Errorf("put record %s: %w", r.ID, err)
	}
	if err := s.admit("put", r.ID, version, fence); err != nil {
		return 0, err
	}
	n.Version = s.seq + 1
	s.records[r.ID] = &n
	s.logChange(store.Change{Kind: store.ChangePut, ID: r.ID, Record: &n})
	return n.Version, nil
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
		return fmt.Errorf("delete record %s: %w", id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("delete record %s: %w", id, err)
	}
	if err := s.admit("delete", id, version, fence); err != nil {
		return err
	}
	if _, ok := s.records[id]; !ok {
		return nil
	}
	delete(s.records, id)
	s.logChange(store.Change{Kind: store.ChangeDelete, ID: id})
	return nil
}

// admit returns the error of a conditional write of the record id that
// must not proceed: fence first, then version. The caller holds mu.
func (s *Store) admit(op, id string, version int64, fence store.Fence) error {
	if fence.Name != "" {
		if cur := s.fences[fence.Name]; cur != fence.Token {
			return &store.FencedError{Op: op, ID: id, Fence: fence.Name, Token: fence.Token, Current: cur}
		}
	}
	if version != store.AnyVersion {
		got := int64(0)
		if r, ok := s.records[id]; ok {
			got = r.Version
		}
		if got != version {
			return &store.ConflictError{Op: op, ID: id, Want: version, Got: got}
		}
	}
	return nil
}

// SetFence makes token the current token of the fence name; an empty
// token clears it. See store.Fencer.
func (s *Store) SetFence(ctx context.Context, name, token string) error {
	if name == "" {
		return errors.New("set fence: empty name")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("set fence %s: %w", name, err)
	}
	if token == "" {
		delete(s.fences, name)
	} else {
		s.fences[name] = token
	}
	return nil
}

// AddEvent stores e, or aggregates it into the event with the same
// resource, type, reason and message: that event's Count grows by e.Count
// (at least 1), its LastSeen moves to e.LastSeen and its Revision to
// e.Revision when set; FirstSeen is kept. A zero LastSeen means now, a zero
// FirstSeen means LastSeen. It returns the stored event.
func (s *Store) AddEvent(ctx context.Context, e store.Event) (store.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return store.Event{}, fmt.Errorf("add event %s %s: %w", e.Resource, e.Reason, err)
	}
	e = defaultEvent(e, s.now)
	k := eventKey{e.Resource, e.Type, e.Reason, e.Message}
	if i, ok := s.eventKeys[k]; ok {
		old := &s.events[i]
		old.Count += e.Count
		if e.LastSeen.After(old.LastSeen) {
			old.LastSeen = e.LastSeen
		}
		if e.Revision != "" {
			old.Revision = e.Revision
		}
		return *old, nil
	}
	s.nextEvent++
	e.ID = s.nextEvent
	s.eventKeys[k] = len(s.events)
	s.events = append(s.events, e)
	return e, nil
}

// PruneEvents deletes the events last seen before the given time.
func (s *Store) PruneEvents(ctx context.Context, before time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	kept := s.events[:0]
	for _, e := range s.events {
		if !e.LastSeen.Before(before) {
			kept = append(kept, e)
		}
	}
	n := len(s.events) - len(kept)
	s.events = kept
	s.eventKeys = make(map[eventKey]int, len(kept))
	for i, e := range kept {
		s.eventKeys[eventKey{e.Resource, e.Type, e.Reason, e.Message}] = i
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

// ListEvents returns the events f selects, oldest (by LastSeen) first. With
// a Limit it returns the newest Limit of them, still oldest first.
func (s *Store) ListEvents(ctx context.Context, f store.EventFilter) ([]store.Event, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	var out []store.Event
	for _, e := range s.events {
		if f.Resource != "" && e.Resource != f.Resource {
			continue
		}
		if !f.Since.IsZero() && e.LastSeen.Before(f.Since) {
			continue
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].LastSeen.Equal(out[j].LastSeen) {
			return out[i].LastSeen.Before(out[j].LastSeen)
		}
		return out[i].ID < out[j].ID
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[len(out)-f.Limit:]
	}
	return out, nil
}

// PutRevision inserts r, or replaces the revision with the same hash while
// keeping its place in the history. A zero Created means now on insert and
// "unchanged" on update.
func (s *Store) PutRevision(ctx context.Context, r store.Revision) error {
	if r.Hash == "" {
		return errors.New("put revision: empty hash")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("put revision %s: %w", r.Hash, err)
	}
	r = cloneRevision(r)
	if i, ok := s.revIndex[r.Hash]; ok {
		if r.Created.IsZero() {
			r.Created = s.revisions[i].Created
		}
		s.revisions[i] = r
		return nil
	}
	if r.Created.IsZero() {
		r.Created = s.now().Round(0).UTC()
	}
	s.revIndex[r.Hash] = len(s.revisions)
	s.revisions = append(s.revisions, r)
	return nil
}

// GetRevision returns the revision with the given hash, or an error
// wrapping store.ErrNotFound.
func (s *Store) GetRevision(ctx context.Context, hash string) (store.Revision, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return store.Revision{}, fmt.Errorf("get revision %s: %w", hash, err)
	}
	i, ok := s.revIndex[hash]
	if !ok {
		return store.Revision{}, fmt.Errorf("get revision %s: %w", hash, store.ErrNotFound)
	}
	return cloneRevision(s.revisions[i]), nil
}

// ListRevisions returns every revision, oldest first.
func (s *Store) ListRevisions(ctx context.Context) ([]store.Revision, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return nil, fmt.Errorf("list revisions: %w", err)
	}
	out := make([]store.Revision, len(s.revisions))
	for i, r := range s.revisions {
		out[i] = cloneRevision(r)
	}
	return out, nil
}

// SetTarget makes the revision with the given hash the target. It returns
// an error wrapping store.ErrNotFound when no such revision was put.
func (s *Store) SetTarget(ctx context.Context, hash string) error {
	return s.SetTargetFrom(ctx, store.AnyTarget, hash, store.Fence{})
}

// SetTargetIf makes the revision hash the target if fence is current; see
// store.ConditionalTargetStore.
func (s *Store) SetTargetIf(ctx context.Context, hash string, fence store.Fence) error {
	return s.SetTargetFrom(ctx, store.AnyTarget, hash, fence)
}

// SetTargetFrom makes the revision hash the target if the target is still
// from (empty: none; store.AnyTarget: any) and fence is current; see
// store.ConditionalTargetStore.
func (s *Store) SetTargetFrom(ctx context.Context, from, hash string, fence store.Fence) error {
	if err := store.CheckConditions(store.AnyVersion, fence); err != nil {
		return fmt.Errorf("set target %s: %w", hash, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("set target %s: %w", hash, err)
	}
	if fence.Name != "" {
		if cur := s.fences[fence.Name]; cur != fence.Token {
			return &store.FencedError{Op: "set target", ID: hash, Fence: fence.Name, Token: fence.Token, Current: cur}
		}
	}
	if err := store.CheckTarget(from, hash, s.target); err != nil {
		return err
	}
	if _, ok := s.revIndex[hash]; !ok {
		return fmt.Errorf("set target %s: revision %w", hash, store.ErrNotFound)
	}
	if s.target != hash {
		s.logChange(store.Change{Kind: store.ChangeTarget, Target: hash})
	}
	s.target = hash
	return nil
}

// ClearTarget forgets the target revision.
func (s *Store) ClearTarget(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("clear target: %w", err)
	}
	if s.target != "" {
		s.logChange(store.Change{Kind: store.ChangeTarget})
	}
	s.target = ""
	return nil
}

// Target returns the hash of the target revision, or an error wrapping
// store.ErrNotFound when none was set.
func (s *Store) Target(ctx context.Context) (string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return "", fmt.Errorf("target: %w", err)
	}
	if s.target == "" {
		return "", fmt.Errorf("target: %w", store.ErrNotFound)
	}
	return s.target, nil
}

// PruneRevisions deletes the revisions older than the newest keep, except
// the target and the last known good revision. keep <= 0 keeps them all.
func (s *Store) PruneRevisions(ctx context.Context, keep int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return 0, fmt.Errorf("prune revisions: %w", err)
	}
	if keep <= 0 || len(s.revisions) <= keep {
		return 0, nil
	}
	lkg, _ := store.LastKnownGood(s.revisions)
	old := len(s.revisions) - keep
	kept := make([]store.Revision, 0, keep+2)
	for i, r := range s.revisions {
		if i >= old || r.Hash == s.target || r.Hash == lkg.Hash {
			kept = append(kept, r)
		}
	}
	n := len(s.revisions) - len(kept)
	s.revisions = kept
	s.revIndex = make(map[string]int, len(kept))
	for i, r := range kept {
		s.revIndex[r.Hash] = i
	}
	return n, nil
}

// GetMeta returns the value of the state-wide setting key, or an error
// wrapping store.ErrNotFound.
func (s *Store) GetMeta(ctx context.Context, key string) (string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(ctx); err != nil {
		return "", fmt.Errorf("get %s: %w", key, err)
	}
	v, ok := s.meta[key]
	if !ok {
		return "", fmt.Errorf("get %s: %w", key, store.ErrNotFound)
	}
	return v, nil
}

// SetMeta sets the state-wide setting key to value; an empty value deletes
// it.
func (s *Store) SetMeta(ctx context.Context, key, value string) error {
	if key == "" {
		return errors.New("set meta: empty key")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("set %s: %w", key, err)
	}
	if value == "" {
		delete(s.meta, key)
	} else {
		s.meta[key] = value
	}
	return nil
}

// Close makes every later call fail with ErrClosed. It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.done)
	}
	return nil
}

// normalizeRecord returns r as a durable store would give it back: maps in
// provider.Canonical form, empty collections absent, times without their
// monotonic clock reading. It copies directly rather than through JSON:
// the memory store runs the engine's benchmarks, and the round trip was
// most of their cost.
func normalizeRecord(r store.Record) (store.Record, error) {
	out := cloneRecord(r)
	if len(out.AppliedSpec) == 0 {
		out.AppliedSpec = nil
	}
	if len(out.Outputs) == 0 {
		out.Outputs = nil
	}
	if len(out.Private) == 0 {
		out.Private = nil
	}
	if len(out.Deps) == 0 {
		out.Deps = nil
	}
	if len(out.Conditions) == 0 {
		out.Conditions = nil
	}
	if len(out.Deposed) == 0 {
		out.Deposed = nil
	}
	for i := range out.Deposed {
		d := &out.Deposed[i]
		if len(d.Spec) == 0 {
			d.Spec = nil
		}
		if len(d.Outputs) == 0 {
			d.Outputs = nil
		}
		if len(d.Private) == 0 {
			d.Private = nil
		}
	}
	if out.Pending != nil && len(out.Pending.Spec) == 0 {
		out.Pending.Spec = nil
	}
	for i := range out.Conditions {
		out.Conditions[i].LastTransitionTime = out.Conditions[i].LastTransitionTime.Round(0)
	}
	if out.Pending != nil {
		out.Pending.Started = out.Pending.Started.Round(0)
	}
	out.NextRetry = out.NextRetry.Round(0)
	out.Created = out.Created.Round(0)
	out.Updated = out.Updated.Round(0)
	out.LastReconcile = out.LastReconcile.Round(0)
	return out, nil
}

// cloneRecord deep-copies a normalized record. provider.CanonicalMap copies
// every map and slice of a value already in canonical form.
func cloneRecord(r store.Record) store.Record {
	r.AppliedSpec = provider.CanonicalMap(r.AppliedSpec)
	r.Outputs = provider.CanonicalMap(r.Outputs)
	r.Private = maps.Clone(r.Private)
	r.Deps = slices.Clone(r.Deps)
	r.Conditions = slices.Clone(r.Conditions)
	if r.Pending != nil {
		p := *r.Pending
		p.Spec = provider.CanonicalMap(p.Spec)
		r.Pending = &p
	}
	if r.Deposed != nil {
		d := make([]store.Instance, len(r.Deposed))
		for i, in := range r.Deposed {
			d[i] = store.Instance{
				Spec:    provider.CanonicalMap(in.Spec),
				Outputs: provider.CanonicalMap(in.Outputs),
				Private: maps.Clone(in.Private),
			}
		}
		r.Deposed = d
	}
	return r
}

func cloneRevision(r store.Revision) store.Revision {
	r.Sources = slices.Clone(r.Sources)
	r.Resources = bytes.Clone(r.Resources)
	return r
}
