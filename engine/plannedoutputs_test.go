package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/diff"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/plan"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/store/memory"
)

// TestPlanUsesPlannedOutputs: when a provider's plan predicts the outputs
// an object will have after its change (provider.Planned.Outputs), a plan
// preview resolves its dependents against them: a predicted value is shown
// as it will be, an output predicted Unknown stays "(known after apply)",
// and without a prediction the outputs of a changing object are unknown.
func TestPlanUsesPlannedOutputs(t *testing.T) {
	const manifests = "kind: mem.Object\nmetadata: {name: a}\nspec: {value: %s}\n---\n" +
		"kind: mem.Object\nmetadata: {name: b}\nspec: {value: \"${mem.Object/a.outputs.value}\"}\n---\n" +
		"kind: mem.Object\nmetadata: {name: c}\nspec: {value: \"id ${mem.Object/a.outputs.id}\"}\n"
	unknown := func(expr string) any { return provider.Unknown{Expr: expr} }
	tests := map[string]struct {
		outputs map[string]any // what the plan of a predicts; nil: none
		want    map[string]diff.Diff
	}{
		"predicted, one output unknown": {
			outputs: map[string]any{"id": provider.Unknown{Expr: "id"}, "value": "two"},
			want: map[string]diff.Diff{
				"mem.Object/b": {{Path: "value", Old: "one", New: "two"}},
				"mem.Object/c": {{Path: "value", Old: "id obj-1", New: unknown("id ${mem.Object/a.outputs.id}"), Unknown: true}},
			},
		},
		"predicted, all known": {
			outputs: map[string]any{"id": "obj-1", "value": "two"},
			want: map[string]diff.Diff{
				"mem.Object/b": {{Path: "value", Old: "one", New: "two"}},
			},
		},
		"not predicted": {
			want: map[string]diff.Diff{
				"mem.Object/b": {{Path: "value", Old: "one", New: unknown("${mem.Object/a.outputs.value}"), Unknown: true}},
				"mem.Object/c": {{Path: "value", Old: "id obj-1", New: unknown("id ${mem.Object/a.outputs.id}"), Unknown: true}},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			w, reg := newPlanWorld(func(req provider.PlanRequest, _ int) (provider.Planned, error) {
				if req.Observed.State["value"] == req.Spec["value"] {
					return provider.Planned{Action: provider.PlanNoop}, nil
				}
				p := provider.Planned{Action: provider.PlanUpdate, Paths: []string{"value"}}
				if req.Name == "a" {
					p.Outputs = tc.outputs
				}
				return p, nil
			})
			load := func(value string) *manifest.Revision {
				doc := []byte(fmt.Sprintf(manifests, value))
				rv, err := manifest.LoadBytes(map[string][]byte{"m.yaml": doc}, reg)
				if err != nil {
					t.Fatal(err)
				}
				return rv
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitBound)
			defer cancel()
			st := memory.New()
			opts := Options{Workers: 4, Logger: quiet(), BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond}
			if rep, err := New(reg, st, opts).Apply(ctx, load("one")); err != nil || !rep.OK() {
				t.Fatalf("first apply: %v %+v", err, rep.Failures)
			}
			// The premise: a's object is obj-1, and its dependents hold
			// what it gave them.
			w.mu.Lock()
			if got := w.objects["obj-1"]["value"]; got != "one" {
				t.Fatalf("obj-1 holds %v; want a's value one", got)
			}
			w.mu.Unlock()

			e := New(reg, st, opts)
			if err := e.Load(ctx); err != nil {
				t.Fatal(err)
			}
			p, err := e.Plan(ctx, load("two"))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]diff.Diff{}
			for _, a := range p.Actions {
				if a.ID == "mem.Object/a" {
					if a.Type != plan.Update {
						t.Errorf("a: %s (%s); want the provider's update", a.Type, a.Reason)
					}
					continue
				}
				if a.Type != plan.None {
					got[a.ID] = a.Diff
				}
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(provider.Unknown{})); diff != "" {
				t.Errorf("dependents' changes (-want +got):\n%s", diff)
			}
		})
	}
}
