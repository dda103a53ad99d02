package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/store"
)

// Run runs the conformance suite. open must return a new, empty store that
// uses the real clock; Run closes it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"RecordNotFound", testRecordNotFound},
		{"RecordRoundTrip", testRecordRoundTrip},
		{"RecordReplace", testRecordReplace},
		{"RecordList", testRecordList},
		{"RecordDelete", testRecordDelete},
		{"RecordNoAliasing", testRecordNoAliasing},
		{"RecordEmptyID", testRecordEmptyID},
		{"EventAggregation", testEventAggregation},
		{"EventDefaults", testEventDefaults},
		{"EventFilters", testEventFilters},
		{"Revisions", testRevisions},
		{"Target", testTarget},
		{"RevisionHistory", testRevisionHistory},
		{"PruneEvents", testPruneEvents},
		{"Meta", testMeta},
		{"PruneRevisions", testPruneRevisions},
		{"LargeValues", testLargeValues},
		{"CancelledContext", testCancelledContext},
		{"Concurrent", testConcurrent},
		{"Versions", testVersions},
		{"PutRecordIf", testPutRecordIf},
		{"ConditionalAbsent", testConditionalAbsent},
		{"Fences", testFences},
		{"ConditionalConcurrent", testConditionalConcurrent},
		{"ConditionalDeferred", testConditionalDeferred},
		{"SetTargetFrom", testSetTargetFrom},
		{"TargetFences", testTargetFences},
		{"TargetConcurrent", testTargetConcurrent},
		{"WatchOrder", testWatchOrder},
		{"WatchFrom", testWatchFrom},
		{"WatchCollapse", testWatchCollapse},
		{"WatchConcurrent", testWatchConcurrent},
		{"WatchCompacted", testWatchCompacted},
		{"WatchCancel", testWatchCancel},
		{"WatchDeferred", testWatchDeferred},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, s)
		})
	}
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)

// IgnoreVersion leaves store.Record.Version, which the store sets, out of
// a comparison of records with those that were put.
var IgnoreVersion = cmpopts.IgnoreFields(store.Record{}, "Version")

func testRecordNotFound(t *testing.T, s store.Store) {
	_, err := s.GetRecord(t.Context(), "file.File/missing")
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRecord(missing) = %v; want an error wrapping store.ErrNotFound", err)
	}
}

// fullRecord sets every field of Record, with values in the shapes callers
// hand in (int, []string, map[string]string) rather than canonical ones.
func fullRecord() store.Record {
	return store.Record{
		ID:      "file.File/index",
		Kind:    "file.File",
		Name:    "index",
		Phase:   store.PhaseReady,
		Message: "ok",
		Origin:  store.OriginCreated,
		AppliedSpec: map[string]any{
			"path":    "/srv/www/index.html",
			"mode":    420,
			"ratio":   0.5,
			"big":     float64(1 << 40),
			"enabled": true,
			"none":    nil,
			"args":    []any{"a", 2, 3.25, []any{int32(4)}},
			"tags":    []string{"x", "y"},
			"env":     map[string]string{"HOME": "/root"},
			"nested":  map[string]any{"deep": map[string]any{"n": int64(7), "empty": map[string]any{}}},
		},
		AppliedHash:    "sha256:abc",
		Outputs:        map[string]any{"sha256": "deadbeef", "size": 1024},
		Private:        map[string]string{"inode": "42"},
		Deps:           []string{"file.Directory/www"},
		DeletionPolicy: "delete",
		Revision:       "rev1",
		Conditions: []store.Condition{
			{Type: "Ready", Status: "True", Reason: "Converged", Message: "m", LastTransitionTime: t0},
		},
		Attempts:   3,
		LastError:  "boom",
		ErrorClass: provider.ClassRetryable,
		FailedHash: "sha256:old",
		NextRetry:  t0.Add(time.Minute),
		Pending:    &store.Operation{Op: "update", Key: "k1", SpecHash: "sha256:abc", Started: t0},
		Deposed: []store.Instance{{
			Spec:    map[string]any{"size": 2, "list": []any{1}},
			Outputs: map[string]any{"id": "i-1", "port": 8080},
			Private: map[string]string{"remote": "r-1"},
		}},
		Created:       t0,
		Updated:       t0.Add(time.Second),
		LastReconcile: t0.Add(2 * time.Second),
	}
}

// canonicalFullRecord is fullRecord as a store gives it back.
func canonicalFullRecord() store.Record {
	r := fullRecord()
	r.AppliedSpec = map[string]any{
		"path":    "/srv/www/index.html",
		"mode":    int64(420),
		"ratio":   0.5,
		"big":     int64(1 << 40),
		"enabled": true,
		"none":    nil,
		"args":    []any{"a", int64(2), 3.25, []any{int64(4)}},
		"tags":    []any{"x", "y"},
		"env":     map[string]any{"HOME": "/root"},
		"nested":  map[string]any{"deep": map[string]any{"n": int64(7), "empty": map[string]any{}}},
	}
	r.Outputs = map[string]any{"sha256": "deadbeef", "size": int64(1024)}
	r.Deposed = []store.Instance{{
		Spec:    map[string]any{"size": int64(2), "list": []any{int64(1)}},
		Outputs: map[string]any{"id": "i-1", "port": int64(8080)},
		Private: map[string]string{"remote": "r-1"},
	}}
	return r
}

func testRecordRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	tests := []struct {
		name string
		put  store.Record
		want store.Record
	}{
		{"every field", fullRecord(), canonicalFullRecord()},
		{"only the ID", store.Record{ID: "x.X/min"}, store.Record{ID: "x.X/min"}},
		{
			"empty collections read back as absent",
			store.Record{ID: "x.X/empty", AppliedSpec: map[string]any{}, Private: map[string]string{}, Deps: []string{}, Conditions: []store.Condition{}},
			store.Record{ID: "x.X/empty"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.PutRecord(ctx, tt.put); err != nil {
				t.Fatalf("PutRecord: %v", err)
			}
			got, err := s.GetRecord(ctx, tt.put.ID)
			if err != nil {
				t.Fatalf("GetRecord: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, IgnoreVersion); diff != "" {
				t.Errorf("GetRecord mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func testRecordReplace(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.PutRecord(ctx, fullRecord()); err != nil {
		t.Fatalf("PutRecord: %v", err)
	}
	second := store.Record{ID: "file.File/index", Kind: "file.File", Name: "index", Phase: store.PhaseDeleting, Attempts: 1}
	if err := s.PutRecord(ctx, second); err != nil {
		t.Fatalf("PutRecord(second): %v", err)
	}
	got, err := s.GetRecord(ctx, second.ID)
	if err != nil {
		t.Fatalf("GetRecord: %v", err)
	}
	if diff := cmp.Diff(second, got, IgnoreVersion); diff != "" {
		t.Errorf("record after replace mismatch (-want +got):\n%s", diff)
	}
}

func testRecordList(t *testing.T, s store.Store) {
	ctx := t.Context()
	got, err := s.ListRecords(ctx)
	if err != nil {
		t.Fatalf("ListRecords(empty): %v", err)
	}
	if len(got) != 0 {
		t.Errorf("ListRecords(empty) returned %d records; want 0", len(got))
	}
	for _, id := range []string{"b.B/2", "a.A/1", "c.C/0", "a.A/0", "b.B/10"} {
		if err := s.PutRecord(ctx, store.Record{ID: id, Phase: store.PhasePending}); err != nil {
			t.Fatalf("PutRecord(%s): %v", id, err)
		}
	}
	got, err = s.ListRecords(ctx)
	if err != nil {
		t.Fatalf("ListRecords: %v", err)
	}
	want := []store.Record{
		{ID: "a.A/0", Phase: store.PhasePending},
		{ID: "a.A/1", Phase: store.PhasePending},
		{ID: "b.B/10", Phase: store.PhasePending},
		{ID: "b.B/2", Phase: store.PhasePending},
		{ID: "c.C/0", Phase: store.PhasePending},
	}
	if diff := cmp.Diff(want, got, IgnoreVersion); diff != "" {
		t.Errorf("ListRecords mismatch (-want +got):\n%s", diff)
	}
}

func testRecordDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, id := range []string{"a.A/1", "a.A/2"} {
		if err := s.PutRecord(ctx, store.Record{ID: id}); err != nil {
			t.Fatalf("PutRecord(%s): %v", id, err)
		}
	}
	if err := s.DeleteRecord(ctx, "a.A/1"); err != nil {
		t.Fatalf("DeleteRecord: %v", err)
	}
	if err := s.DeleteRecord(ctx, "a.A/1"); err != nil {
		t.Errorf("DeleteRecord(already deleted) = %v; want nil", err)
	}
	if err := s.DeleteRecord(ctx, "never.Was/there"); err != nil {
		t.Errorf("DeleteRecord(missing) = %v; want nil", err)
	}
	if _, err := s.GetRecord(ctx, "a.A/1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRecord(deleted) = %v; want an error wrapping store.ErrNotFound", err)
	}
	got, err := s.ListRecords(ctx)
	if err != nil {
		t.Fatalf("ListRecords: %v", err)
	}
	if diff := cmp.Diff([]store.Record{{ID: "a.A/2"}}, got, IgnoreVersion); diff != "" {
		t.Errorf("ListRecords after delete mismatch (-want +got):\n%s", diff)
	}
}

func testRecordNoAliasing(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := fullRecord()
	if err := s.PutRecord(ctx, r); err != nil {
		t.Fatalf("PutRecord: %v", err)
	}
	// Mutate what was put.
	r.AppliedSpec["path"] = "changed"
	r.AppliedSpec["nested"].(map[string]any)["deep"].(map[string]any)["n"] = 0
	r.Private["inode"] = "changed"
	r.Deps[0] = "changed"
	r.Conditions[0].Status = "False"
	r.Pending.Key = "changed"
	r.Deposed[0].Outputs["id"] = "changed"

	got, err := s.GetRecord(ctx, r.ID)
	if err != nil {
		t.Fatalf("GetRecord: %v", err)
	}
	// Mutate what was got.
	got.AppliedSpec["args"].([]any)[0] = "changed"
	got.Outputs["sha256"] = "changed"
	got.Deposed[0].Private["remote"] = "changed"
	got.Deposed[0].Spec["list"].([]any)[0] = "changed"

	again, err := s.GetRecord(ctx, r.ID)
	if err != nil {
		t.Fatalf("GetRecord(again): %v", err)
	}
	if diff := cmp.Diff(canonicalFullRecord(), again, IgnoreVersion); diff != "" {
		t.Errorf("stored record changed through an alias (-want +got):\n%s", diff)
	}
}

func testRecordEmptyID(t *testing.T, s store.Store) {
	if err := s.PutRecord(t.Context(), store.Record{Kind: "a.A"}); err == nil {
		t.Errorf("PutRecord(empty ID) = nil; want an error")
	}
}

func testEventAggregation(t *testing.T, s store.Store) {
	ctx := t.Context()
	e := store.Event{Type: store.Warning, Reason: "DriftDetected", Message: "spec.mode: 420 -> 384", Resource: "file.File/index", Revision: "rev1"}

	e1 := e
	e1.FirstSeen, e1.LastSeen = t0, t0
	first, err := s.AddEvent(ctx, e1)
	if err != nil {
		t.Fatalf("AddEvent(first): %v", err)
	}
	want := e1
	want.ID, want.Count = first.ID, 1
	if diff := cmp.Diff(want, first); diff != "" {
		t.Errorf("AddEvent(first) mismatch (-want +got):\n%s", diff)
	}
	if first.ID == 0 {
		t.Errorf("AddEvent(first).ID = 0; want an assigned ID")
	}

	e2 := e
	e2.Revision = "rev2"
	e2.FirstSeen, e2.LastSeen = t0.Add(time.Minute), t0.Add(time.Minute)
	second, err := s.AddEvent(ctx, e2)
	if err != nil {
		t.Fatalf("AddEvent(second): %v", err)
	}
	want = e
	want.ID, want.Count, want.Revision = first.ID, 2, "rev2"
	want.FirstSeen, want.LastSeen = t0, t0.Add(time.Minute)
	if diff := cmp.Diff(want, second); diff != "" {
		t.Errorf("AddEvent(repeat) mismatch (-want +got):\n%s", diff)
	}

	// A different message is a different event.
	other := e
	other.Message = "spec.mode: 420 -> 256"
	other.LastSeen = t0.Add(2 * time.Minute)
	if _, err := s.AddEvent(ctx, other); err != nil {
		t.Fatalf("AddEvent(other): %v", err)
	}

	got, err := s.ListEvents(ctx, store.EventFilter{})
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	type row struct {
		Message string
		Count   int
	}
	var rows []row
	for _, g := range got {
		rows = append(rows, row{g.Message, g.Count})
	}
	wantRows := []row{{e.Message, 2}, {other.Message, 1}}
	if diff := cmp.Diff(wantRows, rows); diff != "" {
		t.Errorf("ListEvents rows mismatch (-want +got):\n%s", diff)
	}
	if len(got) > 0 {
		if diff := cmp.Diff(second, got[0]); diff != "" {
			t.Errorf("listed aggregated event mismatch (-want +got):\n%s", diff)
		}
	}
}

func testEventDefaults(t *testing.T, s store.Store) {
	before := time.Now()
	got, err := s.AddEvent(t.Context(), store.Event{Type: store.Normal, Reason: "Created", Message: "created", Resource: "a.A/1"})
	after := time.Now()
	if err != nil {
		t.Fatalf("AddEvent: %v", err)
	}
	if got.Count != 1 {
		t.Errorf("Count = %d; want 1", got.Count)
	}
	if got.LastSeen.Before(before) || got.LastSeen.After(after) {
		t.Errorf("LastSeen = %v; want the time of the call, between %v and %v", got.LastSeen, before, after)
	}
	if !got.FirstSeen.Equal(got.LastSeen) {
		t.Errorf("FirstSeen = %v; want LastSeen %v", got.FirstSeen, got.LastSeen)
	}
}

func testEventFilters(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Added out of time order on purpose: order is by LastSeen, not by ID.
	for _, e := range []struct {
		reason, resource string
		at               int // minutes after t0
	}{
		{"r3", "a.A/1", 3},
		{"r1", "a.A/1", 1},
		{"r2", "b.B/1", 2},
		{"r5", "", 5},
		{"r4", "b.B/1", 4},
		{"r6", "a.A/1", 6},
	} {
		at := t0.Add(time.Duration(e.at) * time.Minute)
		if _, err := s.AddEvent(ctx, store.Event{Type: store.Normal, Reason: store.Reason(e.reason), Message: "m", Resource: e.resource, FirstSeen: at, LastSeen: at}); err != nil {
			t.Fatalf("AddEvent(%s): %v", e.reason, err)
		}
	}
	// r1 happens again, after every other event: it becomes the newest.
	if _, err := s.AddEvent(ctx, store.Event{Type: store.Normal, Reason: "r1", Message: "m", Resource: "a.A/1", LastSeen: t0.Add(7 * time.Minute)}); err != nil {
		t.Fatalf("AddEvent(r1 again): %v", err)
	}

	tests := []struct {
		name   string
		filter store.EventFilter
		want   []string
	}{
		{"all", store.EventFilter{}, []string{"r2", "r3", "r4", "r5", "r6", "r1"}},
		{"resource", store.EventFilter{Resource: "a.A/1"}, []string{"r3", "r6", "r1"}},
		{"resource without events", store.EventFilter{Resource: "z.Z/1"}, nil},
		{"since is inclusive", store.EventFilter{Since: t0.Add(4 * time.Minute)}, []string{"r4", "r5", "r6", "r1"}},
		{"since in another zone", store.EventFilter{Since: t0.Add(4 * time.Minute).In(time.FixedZone("X", 3600))}, []string{"r4", "r5", "r6", "r1"}},
		{"limit keeps the newest, oldest first", store.EventFilter{Limit: 2}, []string{"r6", "r1"}},
		{"limit above count", store.EventFilter{Limit: 100}, []string{"r2", "r3", "r4", "r5", "r6", "r1"}},
		{"resource and limit", store.EventFilter{Resource: "b.B/1", Limit: 1}, []string{"r4"}},
		{"since and limit", store.EventFilter{Since: t0.Add(2 * time.Minute), Limit: 3}, []string{"r5", "r6", "r1"}},
		{"everything", store.EventFilter{Resource: "a.A/1", Since: t0.Add(3 * time.Minute), Limit: 2}, []string{"r6", "r1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := s.ListEvents(ctx, tt.filter)
			if err != nil {
				t.Fatalf("ListEvents: %v", err)
			}
			var got []string
			for _, e := range events {
				got = append(got, string(e.Reason))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ListEvents(%+v) reasons mismatch (-want +got):\n%s", tt.filter, diff)
			}
		})
	}
}

func testRevisions(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.GetRevision(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRevision(missing) = %v; want an error wrapping store.ErrNotFound", err)
	}
	r1 := store.Revision{Hash: "h1", Created: t0, Sources: []string{"a.yaml", "b.yaml"}, State: store.RevisionProgressing, Resources: []byte(`[{"id":"a.A/1"}]`)}
	r2 := store.Revision{Hash: "h2", Created: t0.Add(time.Minute), Sources: []string{"a.yaml"}, State: store.RevisionProgressing, Resources: []byte(`[]`)}
	for _, r := range []store.Revision{r1, r2} {
		if err := s.PutRevision(ctx, r); err != nil {
			t.Fatalf("PutRevision(%s): %v", r.Hash, err)
		}
	}
	got, err := s.GetRevision(ctx, "h1")
	if err != nil {
		t.Fatalf("GetRevision: %v", err)
	}
	if diff := cmp.Diff(r1, got); diff != "" {
		t.Errorf("GetRevision mismatch (-want +got):\n%s", diff)
	}

	// Update the state of the older one; a zero Created keeps the stored
	// one and the history keeps its order.
	update := r1
	update.Created = time.Time{}
	update.State, update.Reason = store.RevisionFailed, "terminal error on a.A/1"
	if err := s.PutRevision(ctx, update); err != nil {
		t.Fatalf("PutRevision(update): %v", err)
	}
	wantR1 := r1
	wantR1.State, wantR1.Reason = update.State, update.Reason
	list, err := s.ListRevisions(ctx)
	if err != nil {
		t.Fatalf("ListRevisions: %v", err)
	}
	if diff := cmp.Diff([]store.Revision{wantR1, r2}, list); diff != "" {
		t.Errorf("ListRevisions mismatch (-want +got):\n%s", diff)
	}

	// A zero Created on insert is stamped with the current time.
	before := time.Now()
	if err := s.PutRevision(ctx, store.Revision{Hash: "h3", State: store.RevisionProgressing}); err != nil {
		t.Fatalf("PutRevision(h3): %v", err)
	}
	after := time.Now()
	r3, err := s.GetRevision(ctx, "h3")
	if err != nil {
		t.Fatalf("GetRevision(h3): %v", err)
	}
	if r3.Created.Before(before) || r3.Created.After(after) {
		t.Errorf("Created = %v; want the time of the call, between %v and %v", r3.Created, before, after)
	}
	if err := s.PutRevision(ctx, store.Revision{State: "x"}); err == nil {
		t.Errorf("PutRevision(empty hash) = nil; want an error")
	}
}

func testTarget(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.Target(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Target(none set) = %v; want an error wrapping store.ErrNotFound", err)
	}
	if err := s.SetTarget(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetTarget(missing) = %v; want an error wrapping store.ErrNotFound", err)
	}
	for _, h := range []string{"h1", "h2"} {
		if err := s.PutRevision(ctx, store.Revision{Hash: h, Created: t0, State: store.RevisionConverged}); err != nil {
			t.Fatalf("PutRevision(%s): %v", h, err)
		}
	}
	for _, h := range []string{"h1", "h2", "h1"} {
		if err := s.SetTarget(ctx, h); err != nil {
			t.Fatalf("SetTarget(%s): %v", h, err)
		}
		got, err := s.Target(ctx)
		if err != nil {
			t.Fatalf("Target: %v", err)
		}
		if got != h {
			t.Errorf("Target() = %q; want %q", got, h)
		}
	}
	// A failed SetTarget leaves the target alone.
	if err := s.SetTarget(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetTarget(missing) = %v; want an error wrapping store.ErrNotFound", err)
	}
	if got, err := s.Target(ctx); err != nil || got != "h1" {
		t.Errorf("Target() after failed SetTarget = %q, %v; want %q, nil", got, err, "h1")
	}
	// Clearing it: nothing is the target any more.
	if err := s.ClearTarget(ctx); err != nil {
		t.Fatalf("ClearTarget() = %v", err)
	}
	if _, err := s.Target(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Target() after ClearTarget = %v; want ErrNotFound", err)
	}
}

func testCancelledContext(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.PutRecord(ctx, store.Record{ID: "a.A/1"}); !errors.Is(err, context.Canceled) {
		t.Errorf("PutRecord(cancelled) = %v; want an error wrapping context.Canceled", err)
	}
	if _, err := s.AddEvent(ctx, store.Event{Reason: "r"}); !errors.Is(err, context.Canceled) {
		t.Errorf("AddEvent(cancelled) = %v; want an error wrapping context.Canceled", err)
	}
	if _, err := s.GetRecord(ctx, "a.A/1"); !errors.Is(err, context.Canceled) {
		t.Errorf("GetRecord(cancelled) = %v; want an error wrapping context.Canceled", err)
	}
	if _, err := s.GetRecord(t.Context(), "a.A/1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRecord after a cancelled put = %v; want store.ErrNotFound: a cancelled put must not write", err)
	}
}

func testConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const workers, perWorker = 16, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			errs <- func() error {
				for i := range perWorker {
					id := fmt.Sprintf("w.W/%02d-%03d", w, i)
					r := store.Record{ID: id, Kind: "w.W", Phase: store.PhaseReady, Attempts: i, AppliedSpec: map[string]any{"i": i}}
					if err := s.PutRecord(ctx, r); err != nil {
						return fmt.Errorf("PutRecord(%s): %w", id, err)
					}
					got, err := s.GetRecord(ctx, id)
					if err != nil {
						return fmt.Errorf("GetRecord(%s): %w", id, err)
					}
					if got.Attempts != i {
						return fmt.Errorf("GetRecord(%s).Attempts = %d; want %d", id, got.Attempts, i)
					}
					if _, err := s.AddEvent(ctx, store.Event{Type: store.Normal, Reason: "Shared", Message: "m"}); err != nil {
						return fmt.Errorf("AddEvent: %w", err)
					}
					if i%2 == 1 {
						if err := s.DeleteRecord(ctx, id); err != nil {
							return fmt.Errorf("DeleteRecord(%s): %w", id, err)
						}
					}
					if i%10 == 0 {
						if _, err := s.ListRecords(ctx); err != nil {
							return fmt.Errorf("ListRecords: %w", err)
						}
						if _, err := s.ListEvents(ctx, store.EventFilter{Limit: 5}); err != nil {
							return fmt.Errorf("ListEvents: %w", err)
						}
					}
				}
				return nil
			}()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}

	records, err := s.ListRecords(ctx)
	if err != nil {
		t.Fatalf("ListRecords: %v", err)
	}
	var gotIDs, wantIDs []string
	for _, r := range records {
		gotIDs = append(gotIDs, r.ID)
	}
	for w := range workers {
		for i := 0; i < perWorker; i += 2 {
			wantIDs = append(wantIDs, fmt.Sprintf("w.W/%02d-%03d", w, i))
		}
	}
	if diff := cmp.Diff(wantIDs, gotIDs); diff != "" {
		t.Errorf("records after concurrent use mismatch (-want +got):\n%s", diff)
	}
	events, err := s.ListEvents(ctx, store.EventFilter{})
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	if len(events) != 1 || events[0].Count != workers*perWorker {
		t.Errorf("events after concurrent use = %+v; want one event with count %d", events, workers*perWorker)
	}
}

// testRevisionHistory checks the history fields round-trip and that the
// last known good revision is the one that converged last.
func testRevisionHistory(t *testing.T, s store.Store) {
	ctx := context.Background()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	revs := []store.Revision{
		{Hash: "a", Created: base, State: store.RevisionConverged, Converged: base.Add(time.Minute), Commit: "0123abc"},
		{Hash: "b", Created: base.Add(time.Hour), State: store.RevisionConverged, Converged: base.Add(2 * time.Hour), Commit: "4567def-dirty"},
		{Hash: "c", Created: base.Add(3 * time.Hour), State: store.RevisionFailed, Reason: "file.File/x: permission denied"},
	}
	for _, r := range revs {
		if err := s.PutRevision(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListRevisions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[1].Commit != "4567def-dirty" || !got[1].Converged.Equal(base.Add(2*time.Hour)) || !got[2].Converged.IsZero() {
		t.Fatalf("ListRevisions() = %+v; want the commit and converged times back", got)
	}
	lkg, ok := store.LastKnownGood(got)
	if !ok || lkg.Hash != "b" {
		t.Errorf("LastKnownGood() = %q, %v; want b", lkg.Hash, ok)
	}
	// Re-converging an older revision makes it the last known good.
	revs[0].Converged = base.Add(4 * time.Hour)
	if err := s.PutRevision(ctx, revs[0]); err != nil {
		t.Fatal(err)
	}
	got, _ = s.ListRevisions(ctx)
	if lkg, _ := store.LastKnownGood(got); lkg.Hash != "a" {
		t.Errorf("LastKnownGood() after a converged again = %q; want a", lkg.Hash)
	}
	// A revision rolled back from is not good, however recently it converged.
	revs[0].State = store.RevisionRolledBack
	if err := s.PutRevision(ctx, revs[0]); err != nil {
		t.Fatal(err)
	}
	got, _ = s.ListRevisions(ctx)
	if lkg, _ := store.LastKnownGood(got); lkg.Hash != "b" {
		t.Errorf("LastKnownGood() after a was rolled back from = %q; want b", lkg.Hash)
	}
}

// testPruneEvents checks that old events go, recent ones stay, and new
// events after a prune get fresh IDs and aggregate as before.
func testPruneEvents(t *testing.T, s store.Store) {
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, r := range []string{"a", "b", "c"} {
		at := base.Add(time.Duration(i) * time.Hour)
		if _, err := s.AddEvent(ctx, store.Event{Type: store.Normal, Reason: "Created", Message: "created", Resource: r, FirstSeen: at, LastSeen: at}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PruneEvents(ctx, base.Add(90*time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("PruneEvents() = %d, %v; want 2 deleted", n, err)
	}
	evs, _ := s.ListEvents(ctx, store.EventFilter{})
	if len(evs) != 1 || evs[0].Resource != "c" {
		t.Fatalf("events after prune = %+v; want only c", evs)
	}
	// c aggregates as before; a comes back as a new event with a new ID.
	later := base.Add(3 * time.Hour)
	c, _ := s.AddEvent(ctx, store.Event{Type: store.Normal, Reason: "Created", Message: "created", Resource: "c", LastSeen: later})
	a, _ := s.AddEvent(ctx, store.Event{Type: store.Normal, Reason: "Created", Message: "created", Resource: "a", LastSeen: later})
	if c.Count != 2 || a.Count != 1 || a.ID == c.ID || a.ID <= evs[0].ID {
		t.Errorf("after prune: c %+v, a %+v; want c counted twice and a new event with a new ID", c, a)
	}
}

// testMeta checks the state-wide settings: unset keys are not found, a set
// replaces, an empty value deletes.
func testMeta(t *testing.T, s store.Store) {
	ctx := t.Context()
	m, ok := s.(store.Meta)
	if !ok {
		t.Fatalf("%T does not implement store.Meta", s)
	}
	if _, err := m.GetMeta(ctx, "root"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetMeta(unset) = %v; want an error wrapping store.ErrNotFound", err)
	}
	for _, v := range []string{"/srv/www", "/srv/other", "with\nnewline and ünicode"} {
		if err := m.SetMeta(ctx, "root", v); err != nil {
			t.Fatalf("SetMeta(root, %q): %v", v, err)
		}
		if got, err := m.GetMeta(ctx, "root"); err != nil || got != v {
			t.Errorf("GetMeta(root) = %q, %v; want %q", got, err, v)
		}
	}
	if err := m.SetMeta(ctx, "other", "x"); err != nil {
		t.Fatalf("SetMeta(other): %v", err)
	}
	if err := m.SetMeta(ctx, "root", ""); err != nil {
		t.Fatalf("SetMeta(root, empty): %v", err)
	}
	if _, err := m.GetMeta(ctx, "root"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetMeta(root) after setting it empty = %v; want an error wrapping store.ErrNotFound", err)
	}
	if got, err := m.GetMeta(ctx, "other"); err != nil || got != "x" {
		t.Errorf("GetMeta(other) = %q, %v; want x: deleting one key deletes only it", got, err)
	}
	if err := m.SetMeta(ctx, "", "x"); err == nil {
		t.Errorf("SetMeta(empty key) = nil; want an error")
	}
}

// testPruneRevisions checks that pruning keeps the newest revisions, the
// target and the last known good one, however old, and deletes the rest.
func testPruneRevisions(t *testing.T, s store.Store) {
	ctx := t.Context()
	p, ok := s.(store.RevisionPruner)
	if !ok {
		t.Fatalf("%T does not implement store.RevisionPruner", s)
	}
	if n, err := p.PruneRevisions(ctx, 2); err != nil || n != 0 {
		t.Errorf("PruneRevisions(2) of no revisions = %d, %v; want 0, nil", n, err)
	}
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	// r0 is the target (rolled back to); r1 converged last of the old ones.
	for i := range 7 {
		r := store.Revision{Hash: fmt.Sprintf("r%d", i), Created: base.Add(time.Duration(i) * time.Hour), State: store.RevisionProgressing,
			Resources: []byte(fmt.Sprintf(`{"content":%q}`, strings.Repeat(fmt.Sprint(i%2), 10000)))}
		switch i {
		case 1:
			r.State, r.Converged = store.RevisionConverged, base.Add(10*time.Hour)
		case 2:
			r.State, r.Converged = store.RevisionRolledBack, base.Add(11*time.Hour)
		case 3:
			r.State, r.Converged = store.RevisionFailed, base.Add(12*time.Hour)
		}
		if err := s.PutRevision(ctx, r); err != nil {
			t.Fatalf("PutRevision(%s): %v", r.Hash, err)
		}
	}
	if err := s.SetTarget(ctx, "r0"); err != nil {
		t.Fatal(err)
	}
	if n, err := p.PruneRevisions(ctx, 0); err != nil || n != 0 {
		t.Errorf("PruneRevisions(0) = %d, %v; want 0, nil: 0 keeps them all", n, err)
	}
	n, err := p.PruneRevisions(ctx, 3)
	if err != nil || n != 2 {
		t.Errorf("PruneRevisions(3) = %d, %v; want 2 deleted (r2 and r3)", n, err)
	}
	hashes := func() []string {
		revs, err := s.ListRevisions(ctx)
		if err != nil {
			t.Fatalf("ListRevisions: %v", err)
		}
		var out []string
		for _, r := range revs {
			out = append(out, r.Hash)
		}
		return out
	}
	if diff := cmp.Diff([]string{"r0", "r1", "r4", "r5", "r6"}, hashes()); diff != "" {
		t.Errorf("revisions after PruneRevisions(3) (-want +got):\n%s", diff)
	}
	for _, h := range []string{"r2", "r3"} {
		if _, err := s.GetRevision(ctx, h); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetRevision(%s) after pruning = %v; want an error wrapping store.ErrNotFound", h, err)
		}
	}
	// What is left reads back whole; the target stays.
	r5, err := s.GetRevision(ctx, "r5")
	if err != nil || string(r5.Resources) != fmt.Sprintf(`{"content":%q}`, strings.Repeat("1", 10000)) {
		t.Errorf("GetRevision(r5) after pruning = %d bytes, %v; want its resources whole", len(r5.Resources), err)
	}
	if got, err := s.Target(ctx); err != nil || got != "r0" {
		t.Errorf("Target() after pruning = %q, %v; want r0", got, err)
	}
	// With the target moved to the newest, r0 goes too; r1 stays.
	if err := s.SetTarget(ctx, "r6"); err != nil {
		t.Fatal(err)
	}
	if n, err := p.PruneRevisions(ctx, 1); err != nil || n != 3 {
		t.Errorf("PruneRevisions(1) = %d, %v; want 3 deleted", n, err)
	}
	if diff := cmp.Diff([]string{"r1", "r6"}, hashes()); diff != "" {
		t.Errorf("revisions after PruneRevisions(1) (-want +got):\n%s", diff)
	}
}

// testLargeValues checks that records and revisions holding large strings
// (a file's content, in several fields), strings that begin with NUL, large
// keys and resources that are not JSON read back exactly, through
// replacements and deletes.
func testLargeValues(t *testing.T, s store.Store) {
	ctx := t.Context()
	big := strings.Repeat("line of a large file <&>\n", 3000) // about 80 KB
	other := strings.Repeat("another large file\t\"quoted\"\u00e9\n", 3000)
	rec := store.Record{
		ID: "file.File/big", Kind: "file.File", Name: "big", Phase: store.PhaseReady,
		AppliedSpec: map[string]any{"path": "big.txt", "content": big, "nul": "\x00short", "empty": "", strings.Repeat("k", 5000): "a large key"},
		Outputs:     map[string]any{"content": big, "list": []any{big, other, "\x00"}},
		Pending:     &store.Operation{Op: "update", Key: "k", Spec: map[string]any{"content": other}, Started: t0},
		Deposed:     []store.Instance{{Spec: map[string]any{"content": big}}},
		LastError:   big,
	}
	for i, put := range []store.Record{rec, func() store.Record {
		r := rec
		r.AppliedSpec = map[string]any{"content": other}
		r.LastError = ""
		return r
	}(), rec} {
		if err := s.PutRecord(ctx, put); err != nil {
			t.Fatalf("PutRecord %d: %v", i, err)
		}
		got, err := s.GetRecord(ctx, put.ID)
		if err != nil {
			t.Fatalf("GetRecord %d: %v", i, err)
		}
		if diff := cmp.Diff(put, got, IgnoreVersion); diff != "" {
			t.Errorf("GetRecord %d mismatch (-want +got):\n%s", i, diff)
		}
	}
	twin := rec
	twin.ID = "file.File/twin"
	if err := s.PutRecord(ctx, twin); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRecord(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]store.Record{twin}, list, IgnoreVersion); diff != "" {
		t.Errorf("ListRecords after deleting one of two records sharing content (-want +got):\n%s", diff)
	}

	revs := []store.Revision{
		{Hash: "big1", Created: t0, State: store.RevisionConverged, Resources: []byte(fmt.Sprintf(`[{"content":%q,"other":%q,"nul":"\u0000x"}]`, big, other))},
		{Hash: "big2", Created: t0, State: store.RevisionConverged, Resources: []byte(fmt.Sprintf(`[{"content":%q}]`, big))},
		{Hash: "raw", Created: t0, State: store.RevisionConverged, Resources: append([]byte(`not JSON "\u0000sha256:`), big...)},
	}
	for _, r := range revs {
		if err := s.PutRevision(ctx, r); err != nil {
			t.Fatalf("PutRevision(%s): %v", r.Hash, err)
		}
	}
	got, err := s.ListRevisions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(revs, got, cmp.Comparer(bytes.Equal)); diff != "" {
		t.Errorf("ListRevisions mismatch (-want +got):\n%s", diff)
	}
	for _, r := range revs {
		g, err := s.GetRevision(ctx, r.Hash)
		if err != nil || string(g.Resources) != string(r.Resources) {
			t.Errorf("GetRevision(%s) = %d bytes, %v; want %d bytes", r.Hash, len(g.Resources), err, len(r.Resources))
		}
	}
}
