package controller

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
)

// TestDescribeShowsTheDrift: an object changed out of band under the
// drift policy alert stands drifted, and Describe shows the field diff the
// engine found, without the words around it.
func TestDescribeShowsTheDrift(t *testing.T) {
	ctx := context.Background()
	mem := providertest.NewMemory()
	reg, err := provider.NewRegistry(mem)
	if err != nil {
		t.Fatal(err)
	}
	st := memory.New()
	rv, err := manifest.LoadBytes(map[string][]byte{"m.yaml": []byte("kind: mem.Object\nmetadata: {name: a}\npolicy: {drift: alert}\nspec: {value: one}\n")}, reg)
	if err != nil {
		t.Fatal(err)
	}
	apply := func() {
		t.Helper()
		rep, err := engine.New(reg, st, engine.Options{Logger: slog.New(slog.DiscardHandler)}).Apply(ctx, rv)
		if err != nil || !rep.OK() {
			t.Fatalf("apply: %v %+v", err, rep.Failures)
		}
	}
	apply()
	mem.Set("mem.Object/a", map[string]any{"value": "two"}) // by hand
	apply()

	v, err := Describe(ctx, st, "mem.Object/a", DescribeOptions{Revision: rv})
	if err != nil {
		t.Fatal(err)
	}
	if v.Phase != store.PhaseDrifted {
		t.Fatalf("premise: phase %s; want Drifted", v.Phase)
	}
	var detected []string
	for _, ev := range v.Events {
		if ev.Reason == store.ReasonDriftDetected {
			detected = append(detected, ev.Message)
		}
	}
	if len(detected) != 1 || !strings.HasSuffix(detected[0], `value: "two" -> "one"`) {
		t.Fatalf("premise: DriftDetected events %q; want one that ends with the diff", detected)
	}
	if want := `value: "two" -> "one"`; v.Drift != want {
		t.Errorf("Drift = %q; want %q (the diff alone)", v.Drift, want)
	}

	// Put back by hand: the drift is resolved, and the record holds none.
	mem.Set("mem.Object/a", map[string]any{"value": "one"})
	apply()
	rec, err := st.GetRecord(ctx, "mem.Object/a")
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := rec.Condition(store.ConditionDrifted); c.Status != store.ConditionFalse || rec.Drift != "" {
		t.Errorf("after the drift resolved: Drifted %s, record drift %q; want False and none", c.Status, rec.Drift)
	}
}

// TestStandsDrifted: a resource stands drifted by its phase, or by its
// Drifted condition while that holds.
func TestStandsDrifted(t *testing.T) {
	cond := func(s store.ConditionStatus) []store.Condition {
		return []store.Condition{{Type: store.ConditionReady, Status: store.ConditionTrue}, {Type: store.ConditionDrifted, Status: s}}
	}
	cases := map[string]struct {
		v    ResourceView
		want bool
	}{
		"PhaseDrifted":   {v: ResourceView{Phase: store.PhaseDrifted}, want: true},
		"ConditionTrue":  {v: ResourceView{Phase: store.PhaseUpdating, Conditions: cond(store.ConditionTrue)}, want: true},
		"ConditionFalse": {v: ResourceView{Phase: store.PhaseReady, Conditions: cond(store.ConditionFalse)}, want: false},
		"NoCondition":    {v: ResourceView{Phase: store.PhaseReady, Conditions: cond(store.ConditionTrue)[:1]}, want: false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := standsDrifted(tc.v); got != tc.want {
				t.Errorf("standsDrifted(%+v) = %v; want %v", tc.v, got, tc.want)
			}
		})
	}
}
