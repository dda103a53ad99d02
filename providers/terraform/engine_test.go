package terraform

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/plan"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/providers/terraform/internal/testprovider/things"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/sqlite"
)

// syncBuffer is a bytes.Buffer for concurrent log writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// engineHarness runs the engine with the test provider over a SQLite
// store, one Apply per step with a fresh engine, as consecutive
// `converge apply` runs do. Every log line, the engine's and the
// plugin's (at debug), goes to logs.
type engineHarness struct {
	t    testing.TB
	p    *Provider
	dir  string
	reg  *provider.Registry
	st   store.Store
	logs *syncBuffer
	log  *slog.Logger
}

func newEngineHarness(t testing.TB, proto int) *engineHarness {
	t.Helper()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, dir := startTest(t, proto, logger)
	reg, err := provider.NewRegistry(p)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return &engineHarness{t: t, p: p, dir: dir, reg: reg, st: st, logs: logs, log: logger}
}

// load loads the thing documents, after the ProviderConfig of the
// harness's directory.
func (h *engineHarness) load(things string) *manifest.Revision {
	h.t.Helper()
	doc := fmt.Sprintf("kind: ProviderConfig\nmetadata: {name: convergetest}\nspec:\n  config:\n    dir: %q\n", h.dir)
	if things != "" {
		doc += "---\n" + things
	}
	rv, err := manifest.LoadBytes(map[string][]byte{"m.yaml": []byte(doc)}, h.reg)
	if err != nil {
		h.t.Fatalf("load: %v", err)
	}
	return rv
}

func (h *engineHarness) engine() *engine.Engine {
	return engine.New(h.reg, h.st, engine.Options{
		Workers: 4, BackoffBase: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond, Logger: h.log,
	})
}

// apply converges rv and returns the report.
func (h *engineHarness) apply(rv *manifest.Revision) engine.Report {
	h.t.Helper()
	e := h.engine()
	ctx, cancel := context.WithTimeout(h.t.Context(), 60*time.Second)
	defer cancel()
	if err := e.Load(ctx); err != nil {
		h.t.Fatal(err)
	}
	rep, err := e.Apply(ctx, rv)
	if err != nil {
		h.t.Fatalf("apply: %v (report %+v)", err, rep)
	}
	return rep
}

func (h *engineHarness) mustConverge(rv *manifest.Revision) engine.Report {
	h.t.Helper()
	rep := h.apply(rv)
	if !rep.OK() {
		h.t.Fatalf("apply did not converge: %+v", rep.Failures)
	}
	return rep
}

// plan returns the action the engine plans for id.
func (h *engineHarness) plan(rv *manifest.Revision, id string) plan.Action {
	h.t.Helper()
	e := h.engine()
	if err := e.Load(h.t.Context()); err != nil {
		h.t.Fatal(err)
	}
	pl, err := e.Plan(h.t.Context(), rv)
	if err != nil {
		h.t.Fatalf("plan: %v", err)
	}
	for _, a := range pl.Actions {
		if a.ID == id {
			return a
		}
	}
	h.t.Fatalf("plan has no action for %s: %+v", id, pl.Actions)
	return plan.Action{}
}

// only returns the one object in the directory.
func (h *engineHarness) only() things.Object {
	h.t.Helper()
	objs := objects(h.t, h.dir)
	if len(objs) != 1 {
		h.t.Fatalf("the directory holds %d objects; want 1: %v", len(objs), objs)
	}
	for id := range objs {
		return readObject(h.t, h.dir, id)
	}
	return things.Object{}
}

func (h *engineHarness) record(id string) store.Record {
	h.t.Helper()
	r, err := h.st.GetRecord(h.t.Context(), id)
	if err != nil {
		h.t.Fatalf("record %s: %v", id, err)
	}
	return r
}

const thingSecret = "hunter2-is-a-secret"

func thing(size int, zone string) string {
	return fmt.Sprintf(`kind: convergetest.thing
metadata: {name: a}
spec:
  name: a
  size: %d
  zone: %s
  secret: %s
  passphrase: correct-horse-battery
  tags: {team: core}
  rule:
    - {port: 80, protocol: tcp}
    - {port: 443}
`, size, zone, thingSecret)
}

// TestEngineLifecycle plans and applies a thing through the engine, then
// applies again (no change), updates it in place, replaces it, corrects
// drift made by hand, deletes it, on both protocols; the secret and the
// token never show in a log line.
func TestEngineLifecycle(t *testing.T) {
	for _, proto := range protocols {
		t.Run(fmt.Sprintf("protocol%d", proto), func(t *testing.T) {
			h := newEngineHarness(t, proto)
			const id = "convergetest.thing/a"

			rv := h.load(thing(2, "z1"))
			if a := h.plan(rv, id); a.Type != plan.Create {
				t.Fatalf("plan of a new thing: %s (%s); want create", a.Type, a.Reason)
			}
			h.mustConverge(rv)
			o := h.only()
			if o.Name != "a" || o.Size != 2 || o.Zone == nil || *o.Zone != "z1" || o.Tags["team"] != "core" || len(o.Rule) != 2 || o.Rule[1].Port != 443 {
				t.Fatalf("created %+v; want the spec", o)
			}
			if o.PassphraseSHA256 == "" {
				t.Error("the write-only passphrase did not reach the provider")
			}
			rec := h.record(id)
			if rec.Outputs["id"] != o.ID || rec.Outputs["token"] != o.Token {
				t.Errorf("outputs %v; want the object's id %s and token", rec.Outputs, o.ID)
			}
			if _, ok := rec.Outputs["passphrase"]; ok || strings.Contains(fmt.Sprint(rec.Private), "correct-horse") {
				t.Errorf("the write-only passphrase is stored: outputs %v, private %v", rec.Outputs, rec.Private)
			}

			// No change: nothing is written.
			before := objects(t, h.dir)
			if a := h.plan(rv, id); a.Type != plan.None {
				t.Fatalf("plan of the applied spec: %s (%s, %v); want none", a.Type, a.Reason, a.Diff.Paths())
			}
			rep := h.mustConverge(rv)
			if rep.Stats.Mutations() != 0 {
				t.Errorf("second apply made %d mutations; want none", rep.Stats.Mutations())
			}
			if d := objects(t, h.dir); fmt.Sprint(d) != fmt.Sprint(before) {
				t.Errorf("second apply changed the object:\n%v\n%v", before, d)
			}

			// In place.
			rv = h.load(thing(3, "z1"))
			if a := h.plan(rv, id); a.Type != plan.Update {
				t.Fatalf("plan of a new size: %s (%s); want update", a.Type, a.Reason)
			}
			h.mustConverge(rv)
			if got := h.only(); got.ID != o.ID || got.Size != 3 {
				t.Fatalf("after the update: %+v; want %s with size 3", got, o.ID)
			}

			// Replace: zone requires it.
			rv = h.load(thing(3, "z2"))
			if a := h.plan(rv, id); a.Type != plan.Replace {
				t.Fatalf("plan of a new zone: %s (%s); want replace", a.Type, a.Reason)
			}
			h.mustConverge(rv)
			o2 := h.only()
			if o2.ID == o.ID || *o2.Zone != "z2" || o2.Size != 3 {
				t.Fatalf("after the replace: %+v; want a new object in z2 (the old was %s)", o2, o.ID)
			}

			// Drift, by hand: detected and corrected.
			tamper(t, h.dir, h.record(id).Private, func(o *things.Object) { o.Size = 99; o.Tags["team"] = "other" })
			a := h.plan(rv, id)
			if a.Type != plan.Update || !a.Drift {
				t.Fatalf("plan after a change by hand: %s drift=%v (%s); want an update correcting drift", a.Type, a.Drift, a.Reason)
			}
			if got := strings.Join(a.Diff.Paths(), ","); !strings.Contains(got, "size") || !strings.Contains(got, "tags") {
				t.Errorf("drift paths %s; want size and tags", got)
			}
			h.mustConverge(rv)
			if got := h.only(); got.ID != o2.ID || got.Size != 3 || got.Tags["team"] != "core" {
				t.Fatalf("after correcting drift: %+v; want %s back to size 3, team core", got, o2.ID)
			}

			// Deleted once it leaves the manifests.
			rep = h.mustConverge(h.load(""))
			if rep.Stats.Deletes != 1 || len(objects(t, h.dir)) != 0 {
				t.Fatalf("delete: report %+v, objects %v; want the one deleted", rep, objects(t, h.dir))
			}

			logs := h.logs.String()
			if !strings.Contains(logs, "plugin") {
				t.Errorf("no log line of the plugin: %q", logs)
			}
			for _, s := range []string{thingSecret, o.Token, o2.Token, "correct-horse-battery"} {
				if strings.Contains(logs, s) {
					t.Errorf("the logs hold the secret %q", s)
				}
			}
		})
	}
}

// TestEngineOptionalComputed leaves out size, which the provider
// defaults (Optional and Computed): no change is planned for it, and a
// size set later is an update.
func TestEngineOptionalComputed(t *testing.T) {
	h := newEngineHarness(t, 6)
	const id = "convergetest.thing/a"
	rv := h.load("kind: convergetest.thing\nmetadata: {name: a}\nspec: {name: a}\n")
	h.mustConverge(rv)
	if o := h.only(); o.Size != 1 {
		t.Fatalf("size %d; want the provider's default 1", o.Size)
	}
	if a := h.plan(rv, id); a.Type != plan.None {
		t.Fatalf("plan with size left out: %s (%s %v); want none", a.Type, a.Reason, a.Diff.Paths())
	}
	rep := h.mustConverge(rv)
	if rep.Stats.Mutations() != 0 {
		t.Errorf("apply made %d mutations; want none", rep.Stats.Mutations())
	}
}

// TestEnginePluginKilledMidApply kills the plugin (SIGKILL) while it
// creates: the call fails retryably, the next starts the plugin again and
// configures it, and the engine converges with exactly one object.
func TestEnginePluginKilledMidApply(t *testing.T) {
	for _, proto := range protocols {
		t.Run(fmt.Sprintf("protocol%d", proto), func(t *testing.T) {
			h := newEngineHarness(t, proto)
			hold := filepath.Join(h.dir, things.HoldFile)
			if err := os.WriteFile(hold, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			rv := h.load(thing(2, "z1"))
			done := make(chan engine.Report, 1)
			go func() { done <- h.apply(rv) }()

			// The create has begun and holds: kill the plugin there.
			waitFor(t, filepath.Join(h.dir, "a.creating"))
			if n := len(objects(t, h.dir)); n != 0 {
				t.Fatalf("%d objects before the kill; want the create still holding", n)
			}
			pid := h.p.pid()
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatalf("kill %d: %v", pid, err)
			}
			waitGone(t, pid)
			if err := os.Remove(hold); err != nil {
				t.Fatal(err)
			}

			rep := <-done
			if !rep.OK() {
				t.Fatalf("apply after the kill did not converge: %+v", rep.Failures)
			}
			h.only()
			if got := h.p.restartCount(); got != 1 {
				t.Errorf("the plugin was started again %d times; want 1", got)
			}
			if h.p.pid() == pid {
				t.Error("the plugin runs with the killed pid")
			}
			if !strings.Contains(h.logs.String(), "plugin gone") {
				t.Error("no log line says the plugin was found gone")
			}
		})
	}
}

// TestEnginePartialCreate makes Create fail after it made the object:
// the error comes with the object's state, the engine records it, and the
// next apply updates that object rather than make a second.
func TestEnginePartialCreate(t *testing.T) {
	h := newEngineHarness(t, 6)
	const id = "convergetest.thing/a"
	fail := filepath.Join(h.dir, things.FailAfterCreateFile)
	if err := os.WriteFile(fail, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rep := h.apply(h.load(thing(2, "z1")))
	if rep.OK() {
		t.Fatal("apply converged; want the create to fail after it made the object")
	}
	o := h.only()
	rec := h.record(id)
	if got := stateID(t, rec.Private); got != o.ID {
		t.Fatalf("the record's state names %s; want the object made, %s", got, o.ID)
	}
	if !strings.Contains(rec.LastError, "Post-create step failed") {
		t.Errorf("last error %q; want the provider's", rec.LastError)
	}
	if err := os.Remove(fail); err != nil {
		t.Fatal(err)
	}
	h.mustConverge(h.load(thing(3, "z1")))
	if got := h.only(); got.ID != o.ID || got.Size != 3 {
		t.Fatalf("after the retry: %+v; want %s updated to size 3", got, o.ID)
	}
}

// waitFor waits until path exists.
func waitFor(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", path)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitGone waits until the process pid is gone (reaped or a zombie).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(b), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs after SIGKILL", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestEngineSecretFromEnv takes a sensitive attribute from the
// environment (${env:NAME}): the provider gets the value, a second apply
// changes nothing, and the value shows in no log line.
func TestEngineSecretFromEnv(t *testing.T) {
	const value = "from-the-environment-42"
	t.Setenv("CONVERGETEST_SECRET", value)
	h := newEngineHarness(t, 6)
	if f := h.p.Schemas()[0].Fields["secret"]; !f.Env || !f.Sensitive {
		t.Fatalf("secret field %+v; want sensitive and Env", f)
	}
	rv := h.load("kind: convergetest.thing\nmetadata: {name: a}\nspec: {name: a, secret: \"${env:CONVERGETEST_SECRET}\"}\n")
	h.mustConverge(rv)
	if o := h.only(); o.Secret == nil || *o.Secret != value {
		t.Fatalf("secret %v; want the variable's value", o.Secret)
	}
	if rep := h.mustConverge(rv); rep.Stats.Mutations() != 0 {
		t.Errorf("second apply made %d mutations; want none", rep.Stats.Mutations())
	}
	if strings.Contains(h.logs.String(), value) {
		t.Error("the logs hold the secret from the environment")
	}
}

// TestEngineImportID: an object made outside converge is taken over by
// the importId beside its spec, recorded as adopted and updated to the
// manifest; no second object is made.
func TestEngineImportID(t *testing.T) {
	h := newEngineHarness(t, 6)
	// The object exists already: made by hand (here by the provider
	// directly, as terraform apply elsewhere would have).
	if err := h.p.Configure(provider.Settings{Config: map[string]any{"dir": h.dir}}); err != nil {
		t.Fatal(err)
	}
	res, err := h.p.Create(t.Context(), thingRequest("a", map[string]any{"name": "a", "size": 1}))
	if err != nil {
		t.Fatal(err)
	}
	id := stateID(t, res.Private)
	rv := h.load(fmt.Sprintf("kind: convergetest.thing\nmetadata: {name: a}\nimportId: %s\nspec: {name: a, size: 5}\n", id))
	h.mustConverge(rv)
	obj := h.only()
	if obj.ID != id || obj.Size != 5 {
		t.Errorf("object %+v; want %s updated to size 5", obj, id)
	}
	if r := h.record("convergetest.thing/a"); r.Origin != store.OriginAdopted {
		t.Errorf("record origin %q; want adopted", r.Origin)
	}
	// Adopted, as converge adopt records it: leaving the manifests, it is
	// forgotten and left in place.
	h.mustConverge(h.load(""))
	if n := len(objects(t, h.dir)); n != 1 {
		t.Errorf("%d objects after the resource left the manifests; want the adopted one left in place", n)
	}
	if _, err := h.st.GetRecord(t.Context(), "convergetest.thing/a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the record of the adopted object: %v; want it forgotten", err)
	}
}

// TestEngineInterruptedCreate: converge stopped during a create (its
// intent recorded, no outcome): a Terraform provider cannot look for what
// the create made, so converge does not create again, which could make a
// second object; it says how to go on, and importId or forgetting the
// record releases it.
func TestEngineInterruptedCreate(t *testing.T) {
	h := newEngineHarness(t, 6)
	rv := h.load("kind: convergetest.thing\nmetadata: {name: a}\nspec: {name: a, size: 2}\n")
	hold := filepath.Join(h.dir, things.HoldFile)
	if err := os.WriteFile(hold, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// An apply that stops mid-create, as a kill -9 would: its context is
	// cut while the plugin holds the create, and the object is made after.
	e := h.engine()
	ctx, cancel := context.WithCancel(t.Context())
	if err := e.Load(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _, _ = e.Apply(ctx, rv) }()
	waitFor(t, filepath.Join(h.dir, "a.creating"))
	r := h.record("convergetest.thing/a")
	if r.Pending == nil || r.Pending.Op != store.OpCreate || !r.Pending.Attempted.IsZero() {
		t.Fatalf("premise: the create's intent is recorded without an outcome; record %+v", r)
	}
	// The process dies here: nothing more is written to the state.
	crashed := r
	cancel()
	if err := os.Remove(hold); err != nil {
		t.Fatal(err)
	}
	<-done
	if err := h.st.PutRecord(t.Context(), crashed); err != nil { // what the state held at the kill
		t.Fatal(err)
	}
	before := len(objects(t, h.dir)) // whether the cut create made it or not, converge cannot tell

	rep := h.apply(rv)
	if rep.OK() {
		t.Fatalf("the apply after the crash converged; want it to refuse to create again")
	}
	if n := len(objects(t, h.dir)); n != before {
		t.Fatalf("%d objects after the apply, %d before; want none made", n, before)
	}
	got := h.record("convergetest.thing/a")
	if !strings.Contains(got.LastError, "interrupted") || !strings.Contains(got.LastError, "importId") || !strings.Contains(got.LastError, "converge state forget convergetest.thing/a") {
		t.Errorf("last error %q; want it to say the create was interrupted, and how to go on", got.LastError)
	}
	if again := h.apply(rv); again.OK() || len(objects(t, h.dir)) != before {
		t.Fatalf("a second apply: OK %v, %d objects; want it refused again, none made", again.OK(), len(objects(t, h.dir)))
	}

	// The user checks: it does not exist, and forgets the record (what
	// converge state forget does); the next apply creates one.
	for _, id := range objectIDs(t, h.dir) {
		if err := os.Remove(filepath.Join(h.dir, id+".json")); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.st.DeleteRecord(t.Context(), "convergetest.thing/a"); err != nil {
		t.Fatal(err)
	}
	h.mustConverge(rv)
	made := h.only()

	// Interrupted again; this time the object exists and the user names it.
	r = h.record("convergetest.thing/a")
	r.Origin, r.Private, r.Phase = "", nil, store.PhaseCreating
	r.Pending = &store.Operation{Op: store.OpCreate, Key: "k2", Started: time.Now()}
	if err := h.st.PutRecord(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if rep := h.apply(rv); rep.OK() {
		t.Fatalf("premise: an interrupted create is refused; it converged")
	}
	rv = h.load(fmt.Sprintf("kind: convergetest.thing\nmetadata: {name: a}\nimportId: %s\nspec: {name: a, size: 2}\n", made.ID))
	h.mustConverge(rv)
	if obj := h.only(); obj.ID != made.ID {
		t.Errorf("after importId, the object is %s; want %s", obj.ID, made.ID)
	}
}

// objectIDs returns the ids of the objects in dir.
func objectIDs(t *testing.T, dir string) []string {
	t.Helper()
	var ids []string
	for id := range objects(t, dir) {
		ids = append(ids, id)
	}
	return ids
}
