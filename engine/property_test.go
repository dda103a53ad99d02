package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store/memory"
)

// genManifests draws a set of mem.Object resources: names from a small
// pool (so successive sets overlap), values, zones (force-new), and
// dependencies on resources earlier in the set (so it is acyclic), some of
// them through references.
func genManifests(t *rapid.T, label string) (string, map[string]map[string]any) {
	pool := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	names := rapid.SliceOfNDistinct(rapid.SampledFrom(pool), 0, len(pool), rapid.ID[string]).Draw(t, label+"-names")
	var b strings.Builder
	want := map[string]map[string]any{}
	for i, n := range names {
		value := rapid.SampledFrom([]string{"x", "y", "z"}).Draw(t, label+"-value-"+n)
		zone := rapid.SampledFrom([]string{"eu", "us"}).Draw(t, label+"-zone-"+n)
		fmt.Fprintf(&b, "---\nkind: mem.Object\nmetadata: {name: %s}\n", n)
		spec := fmt.Sprintf("{value: %s, zone: %s}", value, zone)
		if i > 0 && rapid.Bool().Draw(t, label+"-dep-"+n) {
			dep := names[rapid.IntRange(0, i-1).Draw(t, label+"-deppick-"+n)]
			if rapid.Bool().Draw(t, label+"-ref-"+n) {
				// The value comes from the dependency's output.
				spec = fmt.Sprintf("{value: \"${mem.Object/%s.outputs.value}-%s\", zone: %s}", dep, value, zone)
				value = want[dep]["value"].(string) + "-" + value
			} else {
				fmt.Fprintf(&b, "dependsOn: [mem.Object/%s]\n", dep)
			}
		}
		fmt.Fprintf(&b, "spec: %s\n", spec)
		want[n] = map[string]any{"value": value, "zone": zone}
	}
	return b.String(), want
}

// Applying any desired set, then planning again, gives an empty plan, and
// the world is exactly the desired set, whatever sequence of sets came
// before (creates, updates, replaces and deletes mixed).
func TestPropertyApplyThenPlanIsEmpty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		mem := providertest.NewMemory()
		reg, err := provider.NewRegistry(mem)
		if err != nil {
			rt.Fatal(err)
		}
		st := memory.New()
		steps := rapid.IntRange(1, 4).Draw(rt, "steps")
		for step := 0; step < steps; step++ {
			m, want := genManifests(rt, fmt.Sprintf("s%d", step))
			var rv *manifest.Revision
			if m != "" {
				if rv, err = manifest.LoadBytes(map[string][]byte{"m.yaml": []byte(m)}, reg); err != nil {
					rt.Fatalf("load: %v\n%s", err, m)
				}
			}
			e := New(reg, st, Options{Workers: 4, Logger: quiet(), BackoffBase: time.Millisecond, BackoffMax: time.Millisecond})
			if err := e.Load(context.Background()); err != nil {
				rt.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			rep, err := e.Apply(ctx, rv)
			cancel()
			if err != nil || !rep.OK() {
				rt.Fatalf("step %d: apply: %v, failures %+v\n%s", step, err, rep.Failures, m)
			}
			// The world is exactly the desired set.
			got := map[string]map[string]any{}
			for _, id := range mem.IDs() {
				o, _ := mem.Get(id)
				got[strings.TrimPrefix(id, providertest.Kind+"/")] = map[string]any{"value": o.Spec["value"], "zone": o.Spec["zone"]}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				rt.Fatalf("step %d: world = %v; want %v\n%s", step, got, want, m)
			}
			if v := mem.Violations(); len(v) > 0 {
				rt.Fatalf("step %d: violations %v", step, v)
			}
			// Planning again finds nothing to do.
			e2 := New(reg, st, Options{Logger: quiet()})
			if err := e2.Load(context.Background()); err != nil {
				rt.Fatal(err)
			}
			p, err := e2.Plan(context.Background(), rv)
			if err != nil {
				rt.Fatal(err)
			}
			if p.HasChanges() {
				var b strings.Builder
				_ = p.WriteText(&b)
				rt.Fatalf("step %d: plan after apply is not empty:\n%s\nmanifests:\n%s", step, b.String(), m)
			}
		}
	})
}
