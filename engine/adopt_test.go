package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
)

// TestAdopt: Adoptable says what can be adopted and writes nothing; Adopt
// records those objects as adopted, and the next Apply updates each to the
// manifests with one update (no create, no conflict); the others are
// named with the reason.
func TestAdopt(t *testing.T) {
	const manifests = `kind: mem.Object
metadata: {name: a}
spec: {value: want-a, secret: s3cret-manifest}
---
kind: mem.Object
metadata: {name: b}
spec: {value: "${mem.Object/a.outputs.value}-b"}
---
kind: mem.Object
metadata: {name: c}
spec: {value: want-c}
`
	tests := map[string]struct {
		byHand   map[string]map[string]any // objects made out of band
		applied  bool                      // an Apply ran first (before byHand)
		ids      []string
		want     map[string]AdoptOutcome
		wantDiff map[string][]string // paths
		wantUpd  int64               // updates of the Apply after Adopt
	}{
		"differs": {
			byHand:   map[string]map[string]any{"mem.Object/c": {"value": "by-hand"}},
			ids:      []string{"mem.Object/c"},
			want:     map[string]AdoptOutcome{"mem.Object/c": AdoptAdoptable},
			wantDiff: map[string][]string{"mem.Object/c": {"value"}},
			wantUpd:  1,
		},
		"matches": {
			byHand:  map[string]map[string]any{"mem.Object/c": {"value": "want-c"}},
			ids:     []string{"mem.Object/c"},
			want:    map[string]AdoptOutcome{"mem.Object/c": AdoptAdoptable},
			wantUpd: 0,
		},
		"a dependency named after its dependent resolves it": {
			byHand: map[string]map[string]any{
				"mem.Object/a": {"value": "hand-a", "secret": "s3cret-by-hand"},
				"mem.Object/b": {"value": "hand-b"},
			},
			ids:      []string{"mem.Object/b", "mem.Object/a"},
			want:     map[string]AdoptOutcome{"mem.Object/a": AdoptAdoptable, "mem.Object/b": AdoptAdoptable},
			wantDiff: map[string][]string{"mem.Object/a": {"secret", "value"}, "mem.Object/b": {"value"}},
			wantUpd:  2,
		},
		"dependent alone, its dependency not applied": {
			byHand: map[string]map[string]any{"mem.Object/b": {"value": "hand-b"}},
			ids:    []string{"mem.Object/b"},
			want:   map[string]AdoptOutcome{"mem.Object/b": AdoptUnresolved},
		},
		"not found, managed, undeclared": {
			applied: true,
			ids:     []string{"mem.Object/a", "mem.Object/zz", "mem.Object/a"},
			want:    map[string]AdoptOutcome{"mem.Object/a": AdoptManaged, "mem.Object/zz": AdoptNotDeclared},
		},
		"not found": {
			ids:  []string{"mem.Object/c"},
			want: map[string]AdoptOutcome{"mem.Object/c": AdoptNotFound},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			mem := providertest.NewMemory()
			reg, err := provider.NewRegistry(mem)
			if err != nil {
				t.Fatal(err)
			}
			rv, err := manifest.LoadBytes(map[string][]byte{"m.yaml": []byte(manifests)}, reg)
			if err != nil {
				t.Fatal(err)
			}
			st := memory.New()
			opts := Options{Logger: testLogger()}
			if tc.applied {
				if _, err := New(reg, st, opts).Apply(ctx, rv); err != nil {
					t.Fatal(err)
				}
			}
			for id, spec := range tc.byHand {
				mem.Set(id, spec)
			}
			before, _ := st.ListRecords(ctx)

			e := New(reg, st, opts)
			found, err := e.Adoptable(ctx, rv, tc.ids)
			if err != nil {
				t.Fatal(err)
			}
			got, gotDiff := map[string]AdoptOutcome{}, map[string][]string{}
			for _, a := range found {
				got[a.ID] = a.Outcome
				if len(a.Diff) > 0 {
					gotDiff[a.ID] = a.Diff.Paths()
				}
				for _, c := range a.Diff {
					if strings.Contains(fmtValue(c.Old)+fmtValue(c.New), "s3cret") {
						t.Errorf("%s: a sensitive value shows in the diff: %v", a.ID, c)
					}
				}
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("Adoptable outcomes (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.wantDiff, gotDiff, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("Adoptable diffs (-want +got):\n%s", d)
			}
			after, _ := st.ListRecords(ctx)
			if len(after) != len(before) {
				t.Errorf("Adoptable wrote records: %d before, %d after", len(before), len(after))
			}

			did, err := e.Adopt(ctx, rv, tc.ids)
			if err != nil {
				t.Fatal(err)
			}
			adopted := 0
			for _, a := range did {
				want := tc.want[a.ID]
				if want == AdoptAdoptable {
					want = AdoptDone
					adopted++
					r, err := st.GetRecord(ctx, a.ID)
					if err != nil || r.Origin != store.OriginAdopted {
						t.Errorf("%s: record %+v, %v; want origin adopted", a.ID, r, err)
					}
				}
				if a.Outcome != want {
					t.Errorf("Adopt %s: got %s (%s); want %s", a.ID, a.Outcome, a.Reason, want)
				}
			}
			if adopted == 0 {
				return
			}
			updates := mem.Updates.Load()
			rep, err := New(reg, st, opts).Apply(ctx, rv)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range rep.Failures {
				t.Errorf("after Adopt, Apply: %s %s: %s", f.ID, f.Phase, f.Message)
			}
			for id := range tc.want {
				o, ok := mem.Get(id)
				if !ok {
					continue
				}
				res, _ := rv.Get(id)
				if v, _ := res.Spec["value"].(string); !strings.Contains(v, "${") && o.Spec["value"] != v {
					t.Errorf("%s: value %v after Apply; want %v", id, o.Spec["value"], v)
				}
			}
			if got := mem.Updates.Load() - updates; got != tc.wantUpd {
				t.Errorf("Apply after Adopt made %d updates; want %d", got, tc.wantUpd)
			}
			if v := mem.Violations(); len(v) > 0 {
				t.Errorf("violations: %v", v)
			}
		})
	}
}

func fmtValue(v any) string {
	s, _ := v.(string)
	return s
}
