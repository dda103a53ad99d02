package engine

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
)

// TestInterruptedCreateThenChanged: a create that took effect but whose
// outcome was never recorded (converge stopped during the call, or the API
// answered 500 after committing it) leaves a record with a pending create
// and no remote ID. When the manifests change before converge looks again,
// the object it then finds by name is the one to update, replace or delete:
// the call must carry the ID the observation found, not the record's none
// ("no id recorded for the object", a terminal failure, before).
func TestInterruptedCreateThenChanged(t *testing.T) {
	for _, tc := range []struct {
		name    string
		doc     string // the manifests after the interruption; "" removes the resource
		want    map[string]int64
		updates int
		deletes int
	}{
		{"spec changed", "kind: obj.Thing\nmetadata: {name: a}\nspec: {size: 2, zone: z1}\n", map[string]int64{"obj-1": 2}, 1, 0},
		{"a field that forces replacement changed", "kind: obj.Thing\nmetadata: {name: a}\nspec: {size: 1, zone: z2}\n", map[string]int64{"obj-2": 1}, 0, 1},
		{"removed from the manifests", "", map[string]int64{}, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			remote := map[string]int64{"obj-1": 1} // what the interrupted create made
			zone := map[string]string{"obj-1": "z1"}
			byName := map[string]string{"a": "obj-1"}
			next := 2
			var updates, deletes, creates int
			withID := func(req provider.Request, what string) (string, error) {
				id := req.Private["id"]
				if id == "" {
					return "", provider.Terminalf("%s %s: no id recorded for the object", what, req.ID)
				}
				return id, nil
			}
			p := &providertest.Funcs{
				ProviderName: "obj",
				KindSchemas: []provider.Schema{{Kind: "obj.Thing", Fields: map[string]provider.Field{
					"size": {Type: provider.Int, Required: true},
					"zone": {Type: provider.String, Required: true, ForceNew: true}}}},
				ObserveFn: func(_ context.Context, req provider.Request) (provider.Observation, error) {
					mu.Lock()
					defer mu.Unlock()
					id := req.Private["id"]
					if id == "" {
						id = byName[req.Name] // found by its name, as cloud APIs allow
					}
					size, ok := remote[id]
					if !ok {
						return provider.Observation{}, nil
					}
					return provider.Observation{Exists: true, State: map[string]any{"size": size, "zone": zone[id]}, Private: map[string]string{"id": id}}, nil
				},
				CreateFn: func(_ context.Context, req provider.Request) (provider.Result, error) {
					mu.Lock()
					defer mu.Unlock()
					creates++
					id := "obj-" + string(rune('0'+next))
					next++
					remote[id], zone[id], byName[req.Name] = req.Spec["size"].(int64), req.Spec["zone"].(string), id
					return provider.Result{Private: map[string]string{"id": id}}, nil
				},
				UpdateFn: func(_ context.Context, req provider.Request) (provider.Result, error) {
					mu.Lock()
					defer mu.Unlock()
					id, err := withID(req, "update")
					if err != nil {
						return provider.Result{}, err
					}
					updates++
					remote[id] = req.Spec["size"].(int64)
					return provider.Result{Private: req.Private}, nil
				},
				DeleteFn: func(_ context.Context, req provider.Request) error {
					mu.Lock()
					defer mu.Unlock()
					id, err := withID(req, "delete")
					if err != nil {
						return err
					}
					deletes++
					delete(remote, id)
					if byName[req.Name] == id {
						delete(byName, req.Name)
					}
					return nil
				},
			}
			reg, err := provider.NewRegistry(p)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			st := memory.New()
			// The record an interrupted create of {size: 1, zone: z1} leaves.
			old := map[string]any{"size": int64(1), "zone": "z1"}
			if err := st.PutRecord(ctx, store.Record{ID: "obj.Thing/a", Kind: "obj.Thing", Name: "a", Phase: store.PhaseCreating,
				Pending: &store.Operation{Op: store.OpCreate, Key: "k1", SpecHash: "old", Spec: old, Started: time.Now().Add(-time.Minute)}}); err != nil {
				t.Fatal(err)
			}
			files := map[string][]byte{}
			if tc.doc != "" {
				files["m.yaml"] = []byte(tc.doc)
			}
			rv, err := manifest.LoadBytes(files, reg)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := New(reg, st, Options{Workers: 1, Logger: slog.New(slog.DiscardHandler)}).Apply(ctx, rv)
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK() {
				t.Fatalf("apply failed: %+v", rep.Failures)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(remote) != len(tc.want) {
				t.Errorf("remote objects = %v; want %v", remote, tc.want)
			}
			for id, size := range tc.want {
				if remote[id] != size {
					t.Errorf("remote objects = %v; want %v", remote, tc.want)
				}
			}
			if updates != tc.updates || deletes != tc.deletes {
				t.Errorf("%d updates, %d deletes; want %d, %d", updates, deletes, tc.updates, tc.deletes)
			}
			wantCreates := len(tc.want) - 1 + deletes // a replacement is the only create
			if tc.doc == "" {
				wantCreates = 0
			}
			if creates != wantCreates {
				t.Errorf("%d creates; want %d (the interrupted create's object is never made twice)", creates, wantCreates)
			}
			r, err := st.GetRecord(ctx, "obj.Thing/a")
			if tc.doc == "" {
				if err == nil {
					t.Errorf("the removed resource is still recorded: %+v", r)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Origin != store.OriginCreated || r.Phase != store.PhaseReady || r.Pending != nil {
				t.Errorf("record = %+v; want it converge's (created), Ready, nothing pending", r)
			}
		})
	}
}
