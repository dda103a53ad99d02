package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/diff"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/plan"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store/memory"
)

// planWorld is a provider that plans its own changes, over objects in
// memory found by the id in Private, counting every call.
type planWorld struct {
	mu      sync.Mutex
	objects map[string]map[string]any // id -> state
	made    int
	calls   map[string]int
	planned []*provider.Planned // Request.Planned of each Update and Create
	plan    func(req provider.PlanRequest, call int) (provider.Planned, error)
}

func newPlanWorld(plan func(req provider.PlanRequest, call int) (provider.Planned, error)) (*planWorld, *provider.Registry) {
	w := &planWorld{objects: map[string]map[string]any{}, calls: map[string]int{}, plan: plan}
	p := &providertest.PlanningFuncs{
		Funcs: providertest.Funcs{
			ProviderName: "mem",
			KindSchemas:  []provider.Schema{providertest.Schema},
			ObserveFn: func(_ context.Context, req provider.Request) (provider.Observation, error) {
				w.mu.Lock()
				defer w.mu.Unlock()
				w.calls["observe"]++
				o, ok := w.objects[req.Private["id"]]
				if !ok {
					return provider.Observation{}, nil
				}
				return provider.Observation{Exists: true, State: maps.Clone(o), Outputs: map[string]any{"id": req.Private["id"], "value": o["value"]}, Private: req.Private}, nil
			},
			CreateFn: func(_ context.Context, req provider.Request) (provider.Result, error) {
				w.mu.Lock()
				defer w.mu.Unlock()
				w.calls["create"]++
				w.planned = append(w.planned, req.Planned)
				w.made++
				id := fmt.Sprintf("obj-%d", w.made)
				w.objects[id] = maps.Clone(req.Spec)
				return provider.Result{Private: map[string]string{"id": id}, Outputs: map[string]any{"id": id, "value": req.Spec["value"]}}, nil
			},
			UpdateFn: func(_ context.Context, req provider.Request) (provider.Result, error) {
				w.mu.Lock()
				defer w.mu.Unlock()
				w.calls["update"]++
				w.planned = append(w.planned, req.Planned)
				id := req.Private["id"]
				w.objects[id] = maps.Clone(req.Spec)
				if req.Planned != nil && req.Planned.Private["rotate"] == "yes" {
					w.objects[id]["rotated"] = "yes"
				}
				return provider.Result{Private: req.Private, Outputs: map[string]any{"id": id, "value": req.Spec["value"]}}, nil
			},
			DeleteFn: func(_ context.Context, req provider.Request) error {
				w.mu.Lock()
				defer w.mu.Unlock()
				w.calls["delete"]++
				delete(w.objects, req.Private["id"])
				return nil
			},
		},
		PlanChangeFn: func(_ context.Context, req provider.PlanRequest) (provider.Planned, error) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.calls["plan"]++
			return w.plan(req, w.calls["plan"])
		},
	}
	reg, err := provider.NewRegistry(p)
	if err != nil {
		panic(err)
	}
	return w, reg
}

// TestPlanner: a provider that plans its own changes has the last word on
// what happens to an object it holds: no change although the fields differ,
// an in-place update the spec cannot show, a replacement of a field the
// schema would update in place; its plan reaches the Update or Create that
// carries it out, a failed plan is retried like any failure, and a plan
// preview shows the provider's verdict without acting on it.
func TestPlanner(t *testing.T) {
	const first = "kind: mem.Object\nmetadata: {name: a}\nspec: {value: one, size: 1}\n"
	tests := map[string]struct {
		second   string // the manifests of the second apply
		plan     func(req provider.PlanRequest, call int) (provider.Planned, error)
		preview  plan.Type
		calls    map[string]int // calls of the second apply
		want     map[string]any // the object after it
		replaced bool           // a new object
		planned  bool           // Update or Create got the provider's plan
	}{
		"no change although a field differs": {
			second: "kind: mem.Object\nmetadata: {name: a}\nspec: {value: ONE, size: 1}\n",
			plan: func(provider.PlanRequest, int) (provider.Planned, error) {
				return provider.Planned{Action: provider.PlanNoop}, nil // it compares case-insensitively
			},
			preview: plan.None,
			calls:   map[string]int{"observe": 1, "plan": 1},
			want:    map[string]any{"value": "one", "size": int64(1)},
		},
		"an update the spec cannot show": {
			second: first,
			plan: func(req provider.PlanRequest, _ int) (provider.Planned, error) {
				if req.Observed.State["size"] == int64(1) && req.Observed.State["rotated"] == nil {
					return provider.Planned{Action: provider.PlanUpdate, Paths: []string{"credentials"}, Private: map[string]string{"id": req.Private["id"], "rotate": "yes"}}, nil
				}
				return provider.Planned{Action: provider.PlanNoop}, nil
			},
			preview: plan.Update,
			calls:   map[string]int{"observe": 1, "plan": 1, "update": 1},
			want:    map[string]any{"value": "one", "size": int64(1), "rotated": "yes"},
			planned: true,
		},
		"a replacement the schema does not force": {
			second: "kind: mem.Object\nmetadata: {name: a}\nspec: {value: two, size: 1}\n",
			plan: func(req provider.PlanRequest, _ int) (provider.Planned, error) {
				if req.Observed.State["value"] != req.Spec["value"] {
					return provider.Planned{Action: provider.PlanReplace, Paths: []string{"value"}, ReplacePaths: []string{"value"}}, nil
				}
				return provider.Planned{Action: provider.PlanNoop}, nil
			},
			preview:  plan.Replace,
			calls:    map[string]int{"observe": 1, "plan": 1, "create": 1, "delete": 1},
			want:     map[string]any{"value": "two", "size": int64(1)},
			replaced: true,
			planned:  true,
		},
		"a failed plan is retried": {
			second: "kind: mem.Object\nmetadata: {name: a}\nspec: {value: two, size: 1}\n",
			plan: func(req provider.PlanRequest, call int) (provider.Planned, error) {
				if call == 1 {
					return provider.Planned{}, errors.New("plan: 503 try again")
				}
				if req.Observed.State["value"] != req.Spec["value"] {
					return provider.Planned{Action: provider.PlanUpdate, Paths: []string{"value"}}, nil
				}
				return provider.Planned{Action: provider.PlanNoop}, nil
			},
			preview: plan.Error, // the preview's own plan call fails (call 1)
			calls:   map[string]int{"observe": 2, "plan": 2, "update": 1},
			want:    map[string]any{"value": "two", "size": int64(1)},
			planned: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			calls := 0
			w, reg := newPlanWorld(func(req provider.PlanRequest, call int) (provider.Planned, error) {
				calls++
				return tc.plan(req, calls)
			})
			load := func(doc string) *manifest.Revision {
				rv, err := manifest.LoadBytes(map[string][]byte{"m.yaml": []byte(doc)}, reg)
				if err != nil {
					t.Fatal(err)
				}
				return rv
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitBound)
			defer cancel()
			st := memory.New()
			opts := Options{Logger: quiet(), BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond}
			if rep, err := New(reg, st, opts).Apply(ctx, load(first)); err != nil || !rep.OK() {
				t.Fatalf("first apply: %v %+v", err, rep.Failures)
			}
			w.mu.Lock()
			if w.calls["plan"] != 0 {
				t.Errorf("a create was planned %d times; want none (only existing objects are)", w.calls["plan"])
			}
			clear(w.calls)
			w.planned = nil
			w.mu.Unlock()

			// The preview asks the provider and acts on nothing. A
			// failing plan is reported as an error action.
			e := New(reg, st, opts)
			if err := e.Load(ctx); err != nil {
				t.Fatal(err)
			}
			p, err := e.Plan(ctx, load(tc.second))
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Actions[0].Type; got != tc.preview {
				t.Errorf("preview: %s (%s); want %s", got, p.Actions[0].Reason, tc.preview)
			}
			if tc.preview == plan.Replace && !p.Actions[0].Diff.ForceNew() {
				t.Errorf("preview of a replace: diff %+v; want the provider's replace paths forcing it", p.Actions[0].Diff)
			}
			w.mu.Lock()
			if w.calls["create"]+w.calls["update"]+w.calls["delete"] != 0 {
				t.Errorf("the preview acted: %v", w.calls)
			}
			clear(w.calls)
			w.mu.Unlock()
			calls = 0 // the apply sees the plans afresh

			rep, err := New(reg, st, opts).Apply(ctx, load(tc.second))
			if err != nil || !rep.OK() {
				t.Fatalf("second apply: %v %+v", err, rep.Failures)
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			if diff := cmp.Diff(tc.calls, w.calls); diff != "" {
				t.Errorf("calls of the second apply (-want +got):\n%s", diff)
			}
			// Once carried out, the plan is empty: the next apply only looks.
			clear(w.calls)
			w.mu.Unlock()
			rep, err = New(reg, st, opts).Apply(ctx, load(tc.second))
			w.mu.Lock()
			if err != nil || !rep.OK() || rep.Stats.Mutations() != 0 {
				t.Errorf("third apply: %v, %d mutations, failures %+v; want none", err, rep.Stats.Mutations(), rep.Failures)
			}
			if diff := cmp.Diff(map[string]int{"observe": 1, "plan": 1}, w.calls); diff != "" {
				t.Errorf("calls of the third apply (-want +got):\n%s", diff)
			}
			if len(w.objects) != 1 {
				t.Fatalf("objects %v; want one", w.objects)
			}
			for id, o := range w.objects {
				if diff := cmp.Diff(tc.want, o); diff != "" {
					t.Errorf("object (-want +got):\n%s", diff)
				}
				if got := id != "obj-1"; got != tc.replaced {
					t.Errorf("object %s: replaced %v; want %v", id, got, tc.replaced)
				}
			}
			for _, pl := range w.planned {
				if got := pl != nil; got != tc.planned {
					t.Errorf("Request.Planned %+v; want set %v", pl, tc.planned)
				}
			}
			if tc.planned && len(w.planned) == 0 {
				t.Errorf("no Update or Create carried the plan out")
			}
		})
	}
}

func TestPlannedDiff(t *testing.T) {
	engineDiff := diff.Diff{
		{Path: "args[2]", Old: "a", New: "b"},
		{Path: "tags.env", Old: "dev", New: "prod"},
		{Path: "value", Old: "x", New: "y"},
	}
	tests := map[string]struct {
		plan provider.Planned
		want diff.Diff
	}{
		"no-op drops every change": {
			plan: provider.Planned{Action: provider.PlanNoop},
		},
		"an update without paths keeps the engine's changes": {
			plan: provider.Planned{Action: provider.PlanUpdate},
			want: engineDiff,
		},
		"an update keeps the changes under its paths": {
			plan: provider.Planned{Action: provider.PlanUpdate, Paths: []string{"tags", "args"}},
			want: diff.Diff{engineDiff[0], engineDiff[1]},
		},
		"a path the spec does not show is a change of its own": {
			plan: provider.Planned{Action: provider.PlanUpdate, Paths: []string{"value", "arn"}},
			want: diff.Diff{engineDiff[2], {Path: "arn", Unknown: true}},
		},
		"a replace forces exactly where it says": {
			plan: provider.Planned{Action: provider.PlanReplace, Paths: []string{"value", "tags"}, ReplacePaths: []string{"value"}},
			want: diff.Diff{engineDiff[1], {Path: "value", Old: "x", New: "y", ForceNew: true}},
		},
		"a replace without paths forces every change": {
			plan: provider.Planned{Action: provider.PlanReplace},
			want: diff.Diff{
				{Path: "args[2]", Old: "a", New: "b", ForceNew: true},
				{Path: "tags.env", Old: "dev", New: "prod", ForceNew: true},
				{Path: "value", Old: "x", New: "y", ForceNew: true},
			},
		},
		"a planned change on equal fields is still a change": {
			plan: provider.Planned{Action: provider.PlanReplace, ReplacePaths: []string{"zone"}},
			want: diff.Diff{{Path: "zone", Unknown: true, ForceNew: true}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := engineDiff
			if name == "a planned change on equal fields is still a change" {
				in = nil
			}
			if diff := cmp.Diff(tc.want, plannedDiff(in, tc.plan)); diff != "" {
				t.Errorf("plannedDiff (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPlanNotObserved: a resource whose spec waits for the outputs of a
// dependency that could not be observed is not observed either, and the
// plan says so rather than predicting a create; one whose dependencies are
// to be created is to be created, and the plan says it was not looked for.
func TestPlanNotObserved(t *testing.T) {
	p := &providertest.Funcs{
		ProviderName: "mem",
		KindSchemas:  []provider.Schema{providertest.Schema},
		ObserveFn: func(_ context.Context, req provider.Request) (provider.Observation, error) {
			if req.Name == "down" {
				return provider.Observation{}, errors.New("connection refused")
			}
			return provider.Observation{}, nil
		},
	}
	reg, err := provider.NewRegistry(p)
	if err != nil {
		t.Fatal(err)
	}
	rv, err := manifest.LoadBytes(map[string][]byte{"m.yaml": []byte(`kind: mem.Object
metadata: {name: down}
spec: {value: x}
---
kind: mem.Object
metadata: {name: uses-down}
spec: {value: "${mem.Object/down.outputs.value}"}
---
kind: mem.Object
metadata: {name: uses-uses-down}
spec: {value: "${mem.Object/uses-down.outputs.value}"}
---
kind: mem.Object
metadata: {name: up}
spec: {value: y}
---
kind: mem.Object
metadata: {name: uses-up}
spec: {value: "${mem.Object/up.outputs.value}"}
`)}, reg)
	if err != nil {
		t.Fatal(err)
	}
	e := New(reg, memory.New(), Options{Logger: quiet()})
	pl, err := e.Plan(context.Background(), rv)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range pl.Actions {
		got[a.Name] = string(a.Type) + ": " + a.Reason
	}
	want := map[string]string{
		"down":           "error: observe mem.Object/down: connection refused",
		"uses-down":      "error: not observed: it depends on mem.Object/down, which could not be observed",
		"uses-uses-down": "error: not observed: it depends on mem.Object/uses-down, which could not be observed",
		"up":             "create: not found",
		"uses-up":        "create: not observed: it uses outputs of resources to be created",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
}

// TestDestroyWording: what converge destroy deletes says "destroy", in the
// plan and in the event; what only left the manifests says that.
func TestDestroyWording(t *testing.T) {
	h := newMemHarness(t, Options{})
	if rep := h.apply(h.engine(), h.load(memDoc("a", "x"), memDoc("b", "y"))); !rep.OK() {
		t.Fatalf("apply: %+v", rep.Failures)
	}
	if rep := h.apply(h.engine(), h.load(memDoc("a", "x"))); !rep.OK() {
		t.Fatalf("apply without b: %+v", rep.Failures)
	}
	e := h.engine()
	p, err := e.Plan(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Actions) != 1 || p.Actions[0].Type != plan.Delete || p.Actions[0].Reason != "destroy" {
		t.Errorf("plan --destroy: %+v; want one delete, for destroy", p.Actions)
	}
	if rep := h.apply(e, nil); !rep.OK() {
		t.Fatalf("destroy: %+v", rep.Failures)
	}
	got := map[string]string{}
	for _, id := range []string{memID("a"), memID("b")} {
		for _, ev := range h.events(id, "Deleted") {
			got[id] = ev.Message
		}
	}
	want := map[string]string{memID("a"): "deleted (destroy)", memID("b"): "deleted: removed from manifests"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Deleted events (-want +got):\n%s", diff)
	}
}
