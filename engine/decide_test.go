package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/plan"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/store"
)

var decideNow = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

var testSchema = provider.Schema{
	ReadAfterWriteGrace: 10 * time.Second,
	Kind:                "t.Thing",
	Fields: map[string]provider.Field{
		"path":    {Type: provider.String, Required: true, ForceNew: true},
		"content": {Type: provider.String},
		"secret":  {Type: provider.String, Sensitive: true},
	},
	Outputs: []string{"id"},
}

func desired(spec map[string]any, policy manifest.Policy) *manifest.Resource {
	return &manifest.Resource{ID: "t.Thing/a", Kind: "t.Thing", Name: "a", Spec: spec, Policy: policy, Hash: "h1"}
}

func exists(state map[string]any) *provider.Observation {
	return &provider.Observation{Exists: true, State: state}
}

func TestDecide(t *testing.T) {
	spec := map[string]any{"path": "a", "content": "x"}
	ours := &store.Record{ID: "t.Thing/a", Origin: store.OriginCreated, AppliedSpec: spec, AppliedHash: "h1", Phase: store.PhaseReady}
	oursOldSpec := &store.Record{ID: "t.Thing/a", Origin: store.OriginCreated, AppliedSpec: map[string]any{"path": "a", "content": "old"}, AppliedHash: "h0", Phase: store.PhaseReady}
	pendingCreate := &store.Record{ID: "t.Thing/a", Pending: &store.Operation{Op: "create", Key: "k"}}
	waiting := &store.Record{ID: "t.Thing/a", Phase: store.PhaseWaiting}
	adopted := &store.Record{ID: "t.Thing/a", Origin: store.OriginAdopted, AppliedSpec: spec, AppliedHash: "h1"}
	orphan := &store.Record{ID: "t.Thing/a", Origin: store.OriginCreated, AppliedSpec: spec, DeletionPolicy: manifest.DeletionOrphan}
	failed := &store.Record{ID: "t.Thing/a", Phase: store.PhaseFailed, FailedHash: "h1", ErrorClass: provider.ClassTerminal, LastError: "bad"}
	deposed := &store.Record{ID: "t.Thing/a", Origin: store.OriginCreated, AppliedSpec: spec, AppliedHash: "h1", Deposed: []store.Instance{{Spec: map[string]any{"path": "old"}}}}

	type want struct {
		typ     plan.Type
		drift   bool
		paths   []string
		waitFor []string
		deposed bool
	}
	tests := map[string]struct {
		desired  *manifest.Resource
		spec     map[string]any
		record   *store.Record
		observed *provider.Observation
		waitFor  []Dep
		deps     []Dep
		def      string
		now      time.Time
		want     want
	}{
		"absent, never seen: create": {
			desired: desired(spec, manifest.Policy{}), spec: spec, observed: &provider.Observation{},
			want: want{typ: plan.Create, paths: []string{"content", "path"}},
		},
		"dependencies not ready: wait": {
			desired: desired(spec, manifest.Policy{}), spec: spec, waitFor: []Dep{{"t.Thing/b", store.PhaseCreating}},
			want: want{typ: plan.Wait, waitFor: []string{"t.Thing/b"}},
		},
		"matches, ours: nothing": {
			desired: desired(spec, manifest.Policy{}), spec: spec, record: ours, observed: exists(spec),
			want: want{typ: plan.None},
		},
		"exists and matches, not ours: adopt": {
			desired: desired(spec, manifest.Policy{}), spec: spec, observed: exists(spec),
			want: want{typ: plan.Adopt},
		},
		"exists and matches, only a waiting record: adopt": {
			desired: desired(spec, manifest.Policy{}), spec: spec, record: waiting, observed: exists(spec),
			want: want{typ: plan.Adopt},
		},
		"exists and differs, not ours: conflict, never overwrite": {
			desired: desired(spec, manifest.Policy{}), spec: spec, observed: exists(map[string]any{"path": "a", "content": "theirs"}),
			want: want{typ: plan.Conflict, paths: []string{"content"}},
		},
		"interrupted create found: take it as ours": {
			desired: desired(spec, manifest.Policy{}), spec: spec, record: pendingCreate, observed: exists(spec),
			want: want{typ: plan.Adopt},
		},
		"interrupted create, half done: update, not conflict": {
			desired: desired(spec, manifest.Policy{}), spec: spec, record: pendingCreate, observed: exists(map[string]any{"path": "a", "content": ""}),
			want: want{typ: plan.Update, paths: []string{"content"}},
		},
		"ambiguous create, nothing seen yet, within the grace: look again": {
			desired: desired(spec, manifest.Policy{}), spec: spec, observed: &provider.Observation{}, now: decideNow,
			record: &store.Record{ID: "t.Thing/a", Pending: &store.Operation{Op: "create", Key: "k", Ambiguous: true, Attempted: decideNow.Add(-5 * time.Second)}},
			want:   want{typ: plan.Wait},
		},
		"ambiguous create, grace over: create again": {
			desired: desired(spec, manifest.Policy{}), spec: spec, observed: &provider.Observation{}, now: decideNow,
			record: &store.Record{ID: "t.Thing/a", Pending: &store.Operation{Op: "create", Key: "k", Ambiguous: true, Attempted: decideNow.Add(-15 * time.Second)}},
			want:   want{typ: plan.Create, paths: []string{"content", "path"}},
		},
		"failed create that did not act: create again at once": {
			desired: desired(spec, manifest.Policy{}), spec: spec, observed: &provider.Observation{}, now: decideNow,
			record: &store.Record{ID: "t.Thing/a", Pending: &store.Operation{Op: "create", Key: "k", Attempted: decideNow.Add(-time.Second)}},
			want:   want{typ: plan.Create, paths: []string{"content", "path"}},
		},
		"create interrupted by a crash a moment ago, nothing seen yet: look again": {
			desired: desired(spec, manifest.Policy{}), spec: spec, observed: &provider.Observation{}, now: decideNow,
			record: &store.Record{ID: "t.Thing/a", Pending: &store.Operation{Op: "create", Key: "k", Started: decideNow.Add(-time.Second)}},
			want:   want{typ: plan.Wait},
		},
		"removed, ambiguous create not seen yet: look again before forgetting": {
			observed: &provider.Observation{}, now: decideNow,
			record: &store.Record{ID: "t.Thing/a", Pending: &store.Operation{Op: "create", Key: "k", Ambiguous: true, Attempted: decideNow.Add(-time.Second)}},
			want:   want{typ: plan.Wait},
		},
		"interrupted create, nothing there: create again": {
			desired: desired(spec, manifest.Policy{}), spec: spec, record: pendingCreate, observed: &provider.Observation{},
			want: want{typ: plan.Create, paths: []string{"content", "path"}},
		},
		"spec changed: update": {
			desired: desired(spec, manifest.Policy{}), spec: spec, record: oursOldSpec, observed: exists(map[string]any{"path": "a", "content": "old"}),
			want: want{typ: plan.Update, paths: []string{"content"}},
		},
		"force-new field changed: replace": {
			desired: desired(map[string]any{"path": "b", "content": "x"}, manifest.Policy{}), spec: map[string]any{"path": "b", "content": "x"}, record: ours, observed: exists(spec),
			want: want{typ: plan.Replace, paths: []string{"path"}},
		},
		"drift, policy correct: update marked drift": {
			desired: desired(spec, manifest.Policy{}), spec: spec, record: ours, observed: exists(map[string]any{"path": "a", "content": "hand edit"}),
			want: want{typ: plan.Update, drift: true, paths: []string{"content"}},
		},
		"drift, policy alert: report only": {
			desired: desired(spec, manifest.Policy{Drift: manifest.DriftAlert}), spec: spec, record: ours, observed: exists(map[string]any{"path": "a", "content": "hand edit"}),
			want: want{typ: plan.Drift, drift: true, paths: []string{"content"}},
		},
		"a field added to the spec is a change, not drift, even under alert": {
			// The applied spec lacks the field: the object has whatever
			// its default is; the manifest now asks for a value.
			desired: desired(map[string]any{"path": "a", "content": "x", "secret": "s"}, manifest.Policy{Drift: manifest.DriftAlert}),
			spec:    map[string]any{"path": "a", "content": "x", "secret": "s"}, record: ours, observed: exists(map[string]any{"path": "a", "content": "x", "secret": "other"}),
			want: want{typ: plan.Update, paths: []string{"secret"}},
		},
		"drift, global default alert": {
			desired: desired(spec, manifest.Policy{}), spec: spec, record: ours, def: manifest.DriftAlert, observed: exists(map[string]any{"path": "a", "content": "hand edit"}),
			want: want{typ: plan.Drift, drift: true, paths: []string{"content"}},
		},
		"resource policy beats global default": {
			desired: desired(spec, manifest.Policy{Drift: manifest.DriftCorrect}), spec: spec, record: ours, def: manifest.DriftAlert, observed: exists(map[string]any{"path": "a", "content": "hand edit"}),
			want: want{typ: plan.Update, drift: true, paths: []string{"content"}},
		},
		"drift, policy ignore: nothing": {
			desired: desired(spec, manifest.Policy{Drift: manifest.DriftIgnore}), spec: spec, record: ours, observed: exists(map[string]any{"path": "a", "content": "hand edit"}),
			want: want{typ: plan.None, drift: true, paths: []string{"content"}},
		},
		"deleted out of band, correct: recreate": {
			desired: desired(spec, manifest.Policy{}), spec: spec, record: ours, observed: &provider.Observation{},
			want: want{typ: plan.Create, drift: true, paths: []string{"content", "path"}},
		},
		"deleted out of band, alert: report": {
			desired: desired(spec, manifest.Policy{Drift: manifest.DriftAlert}), spec: spec, record: ours, observed: &provider.Observation{},
			want: want{typ: plan.Drift, drift: true, paths: []string{"content", "path"}},
		},
		"terminal failure on this spec: blocked": {
			desired: desired(spec, manifest.Policy{}), spec: spec, record: failed, observed: &provider.Observation{},
			want: want{typ: plan.Blocked},
		},
		"terminal failure on an older spec: try again": {
			desired: &manifest.Resource{ID: "t.Thing/a", Kind: "t.Thing", Name: "a", Spec: spec, Hash: "h2"}, spec: spec, record: failed, observed: &provider.Observation{},
			want: want{typ: plan.Create, paths: []string{"content", "path"}},
		},
		"replaced object, dependents moved: delete it": {
			desired: desired(spec, manifest.Policy{}), spec: spec, record: deposed, observed: exists(spec),
			want: want{typ: plan.Delete, deposed: true},
		},
		"replaced object, dependents not moved: wait": {
			desired: desired(spec, manifest.Policy{}), spec: spec, record: deposed, observed: exists(spec), deps: []Dep{{"t.Thing/b", store.PhaseUpdating}},
			want: want{typ: plan.Wait, waitFor: []string{"t.Thing/b"}, deposed: true},
		},
		"removed, ours: delete": {
			record: ours, observed: exists(spec),
			want: want{typ: plan.Delete},
		},
		"removed, dependents remain: wait": {
			record: ours, observed: exists(spec), deps: []Dep{{"t.Thing/b", store.PhaseReady}},
			want: want{typ: plan.Wait, waitFor: []string{"t.Thing/b"}},
		},
		"removed, orphan policy: forget": {
			record: orphan, observed: exists(spec),
			want: want{typ: plan.Forget},
		},
		"removed, adopted: forget, never delete what converge did not create": {
			record: adopted, observed: exists(spec),
			want: want{typ: plan.Forget},
		},
		"removed, already gone: forget": {
			record: ours, observed: &provider.Observation{},
			want: want{typ: plan.Forget},
		},
		"removed, never created: forget": {
			record: waiting,
			want:   want{typ: plan.Forget},
		},
		"removed, interrupted create, nothing found: delete anyway (parts may be left)": {
			record: pendingCreate, observed: &provider.Observation{},
			want: want{typ: plan.Delete},
		},
		"removed, interrupted create: delete": {
			record: pendingCreate, observed: exists(spec),
			want: want{typ: plan.Delete},
		},
		"removed, no record: nothing": {
			want: want{typ: plan.None},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a := Decide(Input{
				ID: "t.Thing/a", Kind: "t.Thing", Name: "a",
				Desired: tc.desired, Spec: tc.spec, Schema: testSchema, Record: tc.record, Observed: tc.observed,
				WaitFor: tc.waitFor, Dependents: tc.deps, DefaultDrift: tc.def, Now: tc.now,
			})
			got := want{typ: a.Type, drift: a.Drift, waitFor: a.WaitFor, deposed: a.Deposed}
			if len(a.Diff) > 0 {
				got.paths = a.Diff.Paths()
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("Decide() mismatch (-want +got):\n%s\nreason: %s", diff, a.Reason)
			}
			if a.Type != plan.None && a.Reason == "" {
				t.Errorf("Decide() gave %s without a reason", a.Type)
			}
		})
	}
}

// Deciding is pure: the same input gives the same action, and sensitive
// values never appear in reasons.
func TestDecideSensitiveNotInReason(t *testing.T) {
	spec := map[string]any{"path": "a", "secret": "hunter2"}
	a := Decide(Input{
		ID: "t.Thing/a", Kind: "t.Thing", Name: "a", Desired: desired(spec, manifest.Policy{}), Spec: spec, Schema: testSchema,
		Observed: exists(map[string]any{"path": "a", "secret": "other"}),
	})
	if a.Type != plan.Conflict {
		t.Fatalf("got %s, want conflict", a.Type)
	}
	for _, s := range []string{a.Reason, formatDiff(a.Diff)} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, "other") {
			t.Errorf("sensitive value printed: %q", s)
		}
	}
}
