package engine

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/plan"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store/memory"
)

// gatedWorld is a provider over objects in memory whose Observe of one
// resource (gated) waits until another (until) has been observed, for at
// most a few seconds: a plan that observes level by level can never let
// it through.
type gatedWorld struct {
	mu       sync.Mutex
	objects  map[string]map[string]any
	observed []string
	gated    string
	until    string
	seen     chan struct{} // closed when until is observed
	closed   bool
	timedOut bool
}

func newGatedWorld() (*gatedWorld, *provider.Registry, error) {
	w := &gatedWorld{objects: map[string]map[string]any{}}
	p := &providertest.Funcs{
		ProviderName: "mem",
		KindSchemas:  []provider.Schema{providertest.Schema},
		ObserveFn: func(_ context.Context, req provider.Request) (provider.Observation, error) {
			w.mu.Lock()
			gate, seen := req.ID == w.gated, w.seen
			w.mu.Unlock()
			if gate {
				select {
				case <-seen:
				case <-time.After(5 * time.Second):
					w.mu.Lock()
					w.timedOut = true
					w.mu.Unlock()
				}
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			w.observed = append(w.observed, req.ID)
			if req.ID == w.until && !w.closed {
				close(w.seen)
				w.closed = true
			}
			o, ok := w.objects[req.ID]
			if !ok {
				return provider.Observation{}, nil
			}
			return provider.Observation{Exists: true, State: maps.Clone(o), Outputs: map[string]any{"id": req.ID, "value": o["value"]}, Private: map[string]string{"id": req.ID}}, nil
		},
		CreateFn: func(_ context.Context, req provider.Request) (provider.Result, error) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.objects[req.ID] = maps.Clone(req.Spec)
			return provider.Result{Private: map[string]string{"id": req.ID}, Outputs: map[string]any{"id": req.ID, "value": req.Spec["value"]}}, nil
		},
	}
	reg, err := provider.NewRegistry(p)
	return w, reg, err
}

// gate makes the Observe of gated wait for that of until.
func (w *gatedWorld) gate(gated, until string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gated, w.until, w.seen, w.closed, w.observed, w.timedOut = gated, until, make(chan struct{}), false, nil, false
}

// The plan observes a resource as soon as what it depends on allows, not
// level by level: one waiting on nothing is observed at once however deep
// it is, and one that uses another's outputs as soon as that one is
// planned, while a slow resource of an earlier level is still observed.
func TestPlanHasNoLevelBarrier(t *testing.T) {
	obj := func(name, value string, dependsOn ...string) string {
		doc := fmt.Sprintf("kind: mem.Object\nmetadata: {name: %s}\nspec: {value: %q}\n", name, value)
		if len(dependsOn) > 0 {
			doc += "dependsOn: [" + strings.Join(dependsOn, ", ") + "]\n"
		}
		return doc
	}
	tests := map[string]struct {
		docs          []string
		gated, until  string
		wantActionIDs []string // dependencies first, level by level, as always
	}{
		"one waiting on nothing, deep in the graph, is observed before the first level ends": {
			docs: []string{
				obj("a", "a"),
				obj("b", "${mem.Object/a.outputs.value}"),
				obj("c", "c", "mem.Object/b"),
			},
			gated: "mem.Object/a", until: "mem.Object/c",
			wantActionIDs: []string{"mem.Object/a", "mem.Object/b", "mem.Object/c"},
		},
		"one using outputs is observed once they are known, before its level's neighbours are": {
			docs: []string{
				obj("x1", "x"),
				obj("x2", "${mem.Object/x1.outputs.value}"),
				obj("y1", "y"),
			},
			gated: "mem.Object/y1", until: "mem.Object/x2",
			wantActionIDs: []string{"mem.Object/x1", "mem.Object/y1", "mem.Object/x2"},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			w, reg, err := newGatedWorld()
			if err != nil {
				t.Fatal(err)
			}
			rv, err := manifest.LoadBytes(map[string][]byte{"m.yaml": []byte(strings.Join(tt.docs, "---\n"))}, reg)
			if err != nil {
				t.Fatal(err)
			}
			st := memory.New()
			opts := Options{Workers: 4, Logger: testLogger()}
			rep, err := New(reg, st, opts).Apply(context.Background(), rv)
			if err != nil || !rep.OK() {
				t.Fatalf("apply = %+v, %v", rep, err)
			}

			w.gate(tt.gated, tt.until)
			p, err := New(reg, st, opts).Plan(context.Background(), rv)
			if err != nil {
				t.Fatal(err)
			}
			w.mu.Lock()
			timedOut, observed := w.timedOut, w.observed
			w.mu.Unlock()
			if timedOut {
				t.Errorf("%s was not observed while %s was (observed in the order %v)", tt.until, tt.gated, observed)
			}
			var ids []string
			for _, a := range p.Actions {
				if a.Type != plan.None {
					t.Errorf("%s: %s (%s); want none", a.ID, a.Type, a.Reason)
				}
				ids = append(ids, a.ID)
			}
			if diff := cmp.Diff(tt.wantActionIDs, ids); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
			if len(observed) != len(tt.docs) {
				t.Errorf("%d observations (%v); want one per resource", len(observed), observed)
			}
		})
	}
}

// A resource that uses another's outputs is planned with what the plan
// predicts for it: the change of the first makes the second's value known
// only after apply.
func TestPlanFlowUsesPredictions(t *testing.T) {
	_, reg, err := newGatedWorld()
	if err != nil {
		t.Fatal(err)
	}
	load := func(first string) *manifest.Revision {
		rv, err := manifest.LoadBytes(map[string][]byte{"m.yaml": []byte(
			"kind: mem.Object\nmetadata: {name: a}\nspec: {value: " + first + "}\n---\n" +
				"kind: mem.Object\nmetadata: {name: b}\nspec: {value: \"${mem.Object/a.outputs.value}\"}\n---\n" +
				"kind: mem.Object\nmetadata: {name: c}\nspec: {value: \"${mem.Object/b.outputs.value}\"}\n")}, reg)
		if err != nil {
			t.Fatal(err)
		}
		return rv
	}
	st := memory.New()
	opts := Options{Workers: 4, Logger: testLogger()}
	if rep, err := New(reg, st, opts).Apply(context.Background(), load("one")); err != nil || !rep.OK() {
		t.Fatalf("apply = %+v, %v", rep, err)
	}
	p, err := New(reg, st, opts).Plan(context.Background(), load("two"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]plan.Type{}
	for _, a := range p.Actions {
		got[a.ID] = a.Type
	}
	want := map[string]plan.Type{"mem.Object/a": plan.Update, "mem.Object/b": plan.Update, "mem.Object/c": plan.Update}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
}
