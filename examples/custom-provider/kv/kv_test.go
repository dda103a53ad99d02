package kv_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/examples/custom-provider/kv"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/plan"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
	"github.com/convergehq/converge/store/sqlite"
)

// waitBound bounds every Apply: a bug shows as a failure, never as a hang.
const waitBound = 10 * time.Second

// world is a kv provider, its registry, and a store that reopen may swap
// for a fresh handle on the same state.
type world struct {
	t      *testing.T
	kv     *kv.Provider
	reg    *provider.Registry
	st     store.Store
	reopen func(store.Store) store.Store
}

func newWorld(t *testing.T, st store.Store, reopen func(store.Store) store.Store) *world {
	t.Helper()
	w := &world{t: t, kv: &kv.Provider{}, st: st, reopen: reopen}
	reg, err := provider.NewRegistry(w.kv)
	if err != nil {
		t.Fatalf("registry: %v", err)
	}
	w.reg = reg
	t.Cleanup(func() { _ = w.st.Close() })
	return w
}

func memoryWorld(t *testing.T) *world {
	return newWorld(t, memory.New(), func(st store.Store) store.Store { return st })
}

// sqliteWorld keeps the state in an SQLite file in a temporary directory,
// closed and opened again before every engine, so that each step starts
// from what the previous one left on disk.
func sqliteWorld(t *testing.T) *world {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	open := func() store.Store {
		db, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatalf("open %s: %v", path, err)
		}
		return db
	}
	return newWorld(t, open(), func(st store.Store) store.Store {
		if err := st.Close(); err != nil {
			t.Fatalf("close %s: %v", path, err)
		}
		return open()
	})
}

// load validates the documents as one manifest file.
func (w *world) load(docs ...string) *manifest.Revision {
	w.t.Helper()
	rv, err := manifest.LoadBytes(map[string][]byte{"kv.yaml": []byte(strings.Join(docs, "---\n"))}, w.reg)
	if err != nil {
		w.t.Fatalf("load manifests: %v", err)
	}
	return rv
}

// engine returns a new engine over the (reopened) store: an Engine runs
// one Apply.
func (w *world) engine() *engine.Engine {
	w.st = w.reopen(w.st)
	return engine.New(w.reg, w.st, engine.Options{Logger: slog.New(slog.NewTextHandler(w.t.Output(), nil))})
}

// apply converges rv (nil: destroy) with a new engine and returns the
// report; a failure to converge fails the test.
func (w *world) apply(rv *manifest.Revision) engine.Report {
	w.t.Helper()
	rep := w.applyReport(rv)
	if !rep.OK() {
		w.t.Fatalf("apply did not converge: %+v", rep.Failures)
	}
	return rep
}

func (w *world) applyReport(rv *manifest.Revision) engine.Report {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	rep, err := w.engine().Apply(ctx, rv)
	if err != nil {
		w.t.Fatalf("apply: %v", err)
	}
	return rep
}

// entries observes keys through the provider's own Observe and returns
// those that exist, as key -> "value | secret | version".
func (w *world) entries(keys ...string) map[string]string {
	w.t.Helper()
	out := map[string]string{}
	for _, k := range keys {
		obs, err := w.kv.Observe(context.Background(), provider.Request{Spec: map[string]any{"key": k}})
		if err != nil {
			w.t.Fatalf("observe %s: %v", k, err)
		}
		if obs.Exists {
			out[k] = fmt.Sprintf("%s | %s | v%v", obs.State["value"], obs.State["secret"], obs.Outputs["version"])
		}
	}
	return out
}

// records returns the ID and phase of every record in the store.
func (w *world) records() map[string]store.Phase {
	w.t.Helper()
	recs, err := w.st.ListRecords(context.Background())
	if err != nil {
		w.t.Fatalf("list records: %v", err)
	}
	out := map[string]store.Phase{}
	for _, r := range recs {
		out[r.ID] = r.Phase
	}
	return out
}

// calls is the mutations of a report, to compare.
type calls struct{ Creates, Updates, Deletes int64 }

func callsOf(rep engine.Report) calls {
	return calls{rep.Stats.Creates, rep.Stats.Updates, rep.Stats.Deletes}
}

func db(key, value, secret string) string {
	return `kind: kv.Entry
metadata: {name: db}
spec:
  key: ` + key + `
  value: ` + value + `
  secret: ` + secret + "\n"
}

// app's value is built from db's outputs: a reference, so a dependency.
const app = `kind: kv.Entry
metadata: {name: app}
spec:
  key: app-config
  value: "db=${kv.Entry/db.outputs.key} v${kv.Entry/db.outputs.version}"
`

var allKeys = []string{"db-host", "db-primary", "app-config"}

func TestLifecycleMemory(t *testing.T) { lifecycle(t, memoryWorld(t)) }
func TestLifecycleSQLite(t *testing.T) { lifecycle(t, sqliteWorld(t)) }

// lifecycle walks one set of entries through create, a no-op, an update in
// place that propagates through a reference, a replace, a sensitive change,
// a removal and a destroy, checking the entries, the records and the
// provider calls at each step.
func lifecycle(t *testing.T, w *world) {
	step := func(name string, rv *manifest.Revision, wantCalls calls, wantEntries map[string]string, wantRecords map[string]store.Phase) {
		t.Helper()
		rep := w.apply(rv)
		if diff := cmp.Diff(wantCalls, callsOf(rep)); diff != "" {
			t.Errorf("%s: provider calls (-want +got):\n%s", name, diff)
		}
		if diff := cmp.Diff(wantEntries, w.entries(allKeys...)); diff != "" {
			t.Errorf("%s: entries (-want +got):\n%s", name, diff)
		}
		if diff := cmp.Diff(wantRecords, w.records()); diff != "" {
			t.Errorf("%s: records (-want +got):\n%s", name, diff)
		}
	}
	ready := map[string]store.Phase{"kv.Entry/app": store.PhaseReady, "kv.Entry/db": store.PhaseReady}

	v1 := w.load(db("db-host", "db.internal", "hunter2"), app)
	step("create", v1, calls{Creates: 2}, map[string]string{
		"db-host":    "db.internal | hunter2 | v1",
		"app-config": "db=db-host v1 |  | v1",
	}, ready)

	step("apply again", v1, calls{}, map[string]string{
		"db-host":    "db.internal | hunter2 | v1",
		"app-config": "db=db-host v1 |  | v1",
	}, ready)

	// value is updated in place; db's version moves, and app, which
	// references it, is updated too.
	v2 := w.load(db("db-host", "db2.internal", "hunter2"), app)
	step("update in place", v2, calls{Updates: 2}, map[string]string{
		"db-host":    "db2.internal | hunter2 | v2",
		"app-config": "db=db-host v2 |  | v2",
	}, ready)

	// key is force-new: the old entry is deleted and a new one created;
	// app follows the new key.
	v3 := w.load(db("db-primary", "db2.internal", "hunter2"), app)
	step("replace", v3, calls{Creates: 1, Deletes: 1, Updates: 1}, map[string]string{
		"db-primary": "db2.internal | hunter2 | v1",
		"app-config": "db=db-primary v1 |  | v3",
	}, ready)

	// secret is sensitive: the plan masks it, and neither the old nor the
	// new value reaches an event.
	v4 := w.load(db("db-primary", "db2.internal", "s3cr3t-2"), app)
	p, err := w.engine().Plan(context.Background(), v4)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	var text strings.Builder
	if err := p.WriteText(&text); err != nil {
		t.Fatalf("write plan: %v", err)
	}
	if s := text.String(); !strings.Contains(s, "secret: (sensitive)") || strings.Contains(s, "hunter2") || strings.Contains(s, "s3cr3t-2") {
		t.Errorf("plan shows a secret, or does not mask it:\n%s", s)
	}
	if got := p.Summary().Count(plan.Update); got != 2 {
		t.Errorf("plan: %d updates, want 2 (db, and app, whose value holds db's version):\n%s", got, text.String())
	}
	step("update a secret", v4, calls{Updates: 2}, map[string]string{
		"db-primary": "db2.internal | s3cr3t-2 | v2",
		"app-config": "db=db-primary v2 |  | v4",
	}, ready)
	events, err := w.st.ListEvents(context.Background(), store.EventFilter{})
	if err != nil {
		t.Fatalf("list events: %v", err)
	}
	for _, ev := range events {
		if strings.Contains(ev.Message, "hunter2") || strings.Contains(ev.Message, "s3cr3t-2") {
			t.Errorf("event %s %s shows a secret: %s", ev.Resource, ev.Reason, ev.Message)
		}
	}

	// A resource that leaves the manifests is deleted.
	v5 := w.load(db("db-primary", "db2.internal", "s3cr3t-2"))
	step("remove app", v5, calls{Deletes: 1}, map[string]string{
		"db-primary": "db2.internal | s3cr3t-2 | v2",
	}, map[string]store.Phase{"kv.Entry/db": store.PhaseReady})

	// Apply(nil) destroys everything converge created.
	step("destroy", nil, calls{Deletes: 1}, map[string]string{}, map[string]store.Phase{})
}

// A key written in a manifest is checked when the manifests load, with the
// file, line and field named; nothing is applied.
func TestLoadRejectsBadKeys(t *testing.T) {
	w := memoryWorld(t)
	_, err := manifest.LoadBytes(map[string][]byte{"kv.yaml": []byte(db("has space", "x", "y") + "---\nkind: kv.Entry\nmetadata: {name: nokey}\nspec: {value: x}\n")}, w.reg)
	var list manifest.ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("load: got %v, want an ErrorList", err)
	}
	var got []string
	for _, e := range list {
		got = append(got, e.Error())
	}
	want := []string{
		`kv.yaml:4: kv.Entry/db: spec.key: must be non-empty and free of white space, not "has space"`,
		`kv.yaml:10: kv.Entry/nokey: spec.key: is required`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

// A key that a reference resolves to is checked by Create: the error is
// terminal, so the resource fails and is not retried until its spec
// changes, while the rest converges.
func TestResolvedBadKeyIsTerminal(t *testing.T) {
	w := memoryWorld(t)
	rv := w.load(db("db-host", "x", "y"), `kind: kv.Entry
metadata: {name: bad}
spec:
  key: "copy of ${kv.Entry/db.outputs.key}"
`)
	rep := w.applyReport(rv)
	want := []engine.Failure{{ID: "kv.Entry/bad", Phase: store.PhaseFailed, Message: `create: must be non-empty and free of white space, not "copy of db-host"`, Class: provider.ClassTerminal}}
	if diff := cmp.Diff(want, rep.Failures); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}
	if rep.Ready != 1 {
		t.Errorf("ready: got %d, want 1 (db)", rep.Ready)
	}
	// The same spec again: blocked, not called.
	rep = w.applyReport(rv)
	if rep.Stats.Mutations() != 0 || len(rep.Failures) != 1 {
		t.Errorf("second apply: %d mutations, failures %+v; want none, and the same failure", rep.Stats.Mutations(), rep.Failures)
	}
}

// An entry that exists before converge is adopted when it matches and left
// alone (a conflict) when it differs. Adopted entries are never deleted.
func TestAdoptAndConflict(t *testing.T) {
	w := memoryWorld(t)
	ctx := context.Background()
	for k, v := range map[string]string{"db-host": "db.internal", "app-config": "someone else's"} {
		if _, err := w.kv.Create(ctx, provider.Request{Spec: map[string]any{"key": k, "value": v, "secret": "hunter2"}}); err != nil {
			t.Fatalf("seed %s: %v", k, err)
		}
	}
	rep := w.applyReport(w.load(db("db-host", "db.internal", "hunter2"), app))
	if rep.Stats.Mutations() != 0 {
		t.Errorf("mutations: got %d, want 0 (adopt and conflict call nothing)", rep.Stats.Mutations())
	}
	wantPhases := map[string]store.Phase{"kv.Entry/app": store.PhaseFailed, "kv.Entry/db": store.PhaseReady}
	if diff := cmp.Diff(wantPhases, w.records()); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if len(rep.Failures) != 1 || !strings.Contains(rep.Failures[0].Message, "not created by converge") {
		t.Errorf("failures: got %+v, want app's conflict", rep.Failures)
	}

	w.apply(nil)
	want := map[string]string{"db-host": "db.internal | hunter2 | v1", "app-config": "someone else's | hunter2 | v1"}
	if diff := cmp.Diff(want, w.entries(allKeys...)); diff != "" {
		t.Errorf("after destroy, entries (-want +got):\n%s", diff)
	}
}

// A change made behind converge's back is drift, corrected by the next
// apply: a changed value is written back, a deleted entry recreated.
func TestDriftCorrected(t *testing.T) {
	w := memoryWorld(t)
	ctx := context.Background()
	rv := w.load(db("db-host", "db.internal", "hunter2"))
	w.apply(rv)

	if _, err := w.kv.Update(ctx, provider.Request{Spec: map[string]any{"key": "db-host", "value": "defaced", "secret": "hunter2"}}); err != nil {
		t.Fatalf("deface: %v", err)
	}
	if got := callsOf(w.apply(rv)); got != (calls{Updates: 1}) {
		t.Errorf("after a changed value: calls %+v, want one update", got)
	}
	if err := w.kv.Delete(ctx, provider.Request{Spec: map[string]any{"key": "db-host"}}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if got := callsOf(w.apply(rv)); got != (calls{Creates: 1}) {
		t.Errorf("after a deletion: calls %+v, want one create", got)
	}
	want := map[string]string{"db-host": "db.internal | hunter2 | v1"}
	if diff := cmp.Diff(want, w.entries(allKeys...)); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}

// The provider's own promises, call by call.
func TestContract(t *testing.T) {
	ctx := context.Background()
	p := &kv.Provider{}
	req := provider.Request{ID: "kv.Entry/a", Kind: kv.Kind, Name: "a", Spec: map[string]any{"key": "a", "value": "1", "secret": ""}}

	if obs, err := p.Observe(ctx, req); err != nil || obs.Exists {
		t.Errorf("observe before create: got %+v, %v; want absent, nil", obs, err)
	}
	first, err := p.Create(ctx, req)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	again, err := p.Create(ctx, req)
	if err != nil {
		t.Fatalf("create again: %v", err)
	}
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("a repeated create changed the entry (-first +again):\n%s", diff)
	}
	obs, err := p.Observe(ctx, req)
	if err != nil {
		t.Fatalf("observe: %v", err)
	}
	want := provider.Observation{Exists: true, State: map[string]any{"key": "a", "value": "1", "secret": ""}, Outputs: map[string]any{"key": "a", "version": int64(1)}}
	if diff := cmp.Diff(want, obs); diff != "" {
		t.Errorf("observe (-want +got):\n%s", diff)
	}
	for i := range 2 {
		if err := p.Delete(ctx, req); err != nil {
			t.Errorf("delete #%d: %v", i+1, err)
		}
	}
	if obs, _ := p.Observe(ctx, req); obs.Exists {
		t.Errorf("observe after delete: got %+v, want absent", obs)
	}

	bad := provider.Request{Spec: map[string]any{"key": "a b", "value": "", "secret": ""}}
	_, err = p.Create(ctx, bad)
	if c, _ := provider.Classify(err); err == nil || c != provider.ClassTerminal {
		t.Errorf("create with a bad key: got %v (class %v), want a terminal error", err, c)
	}
	if errs := kv.Schema.Check(map[string]any{"value": 3}, nil); len(errs) != 2 {
		t.Errorf("check of a spec without key and with an int value: got %v, want 2 errors", errs)
	}
}
