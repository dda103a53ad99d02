package engine

import (
	"context"
	"testing"

	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store/memory"
)

// TestPlanLeavesALiveEngineAlone: a plan of another revision beside a
// running engine (a preview next to the daemon) neither replaces its
// limiters nor changes its target or records.
func TestPlanLeavesALiveEngineAlone(t *testing.T) {
	reg, err := provider.NewRegistry(providertest.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	load := func(qps string) *manifest.Revision {
		rv, err := manifest.LoadBytes(map[string][]byte{"m.yaml": []byte("kind: ProviderConfig\nmetadata: {name: mem}\nspec: {qps: " + qps + "}\n---\nkind: mem.Object\nmetadata: {name: a}\nspec: {value: \"v" + qps + "\"}\n")}, reg)
		if err != nil {
			t.Fatal(err)
		}
		return rv
	}
	ctx := context.Background()
	e := New(reg, memory.New(), Options{Workers: 2, Logger: quiet()})
	live := load("5")
	if rep, err := e.Apply(ctx, live); err != nil || !rep.OK() {
		t.Fatalf("apply: %v %+v", err, rep.Failures)
	}
	before := e.limiterFor("mem")
	recsBefore := e.Records()
	p, err := e.Plan(ctx, load("1000"))
	if err != nil {
		t.Fatal(err)
	}
	if !p.HasChanges() {
		t.Fatal("premise: the other revision plans no change")
	}
	if got := e.limiterFor("mem"); got != before {
		t.Error("Plan replaced the live engine's limiter")
	}
	if qps, _ := e.limiterFor("mem").Rate(); qps != 5 {
		t.Errorf("live limiter rate %v after a plan; want 5", qps)
	}
	if got := e.Progress().Revision; got != live.Hash {
		t.Errorf("target after a plan: %s; want the live one", got)
	}
	if got := e.Records(); len(got) != len(recsBefore) || got[0].AppliedHash != recsBefore[0].AppliedHash {
		t.Errorf("records changed by a plan")
	}

	// An engine made to plan observes under the plan's own limits.
	fresh := New(reg, memory.New(), Options{Workers: 2, Logger: quiet()})
	if _, err := fresh.Plan(ctx, load("7")); err != nil {
		t.Fatal(err)
	}
	if l, ok := fresh.limiters["mem"]; ok {
		if qps, _ := l.Rate(); qps == 7 {
			t.Error("a plan installed its limits in the engine")
		}
	}
}
