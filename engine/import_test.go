package engine

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
)

// TestImportID: a resource with an importId takes over the object of that
// remote ID, which converge did not create and which differs from the
// manifests, and updates it; without the importId the same object is a
// conflict that converge does not overwrite.
func TestImportID(t *testing.T) {
	for _, tc := range []struct {
		name     string
		importID string
		wantOK   bool
	}{
		{"with importId", "remote-7", true},
		{"without", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			remote := map[string]int64{"remote-7": 1} // an object made by hand
			var updates []provider.Request
			var creates int
			p := &providertest.Funcs{
				ProviderName: "imp",
				KindSchemas: []provider.Schema{{Kind: "imp.Thing", Fields: map[string]provider.Field{
					"size": {Type: provider.Int, Required: true}}}},
				ObserveFn: func(_ context.Context, req provider.Request) (provider.Observation, error) {
					mu.Lock()
					defer mu.Unlock()
					id := req.Private["id"]
					if id == "" {
						id = req.ImportID
					}
					if id == "" {
						id = "remote-7" // the name the object is found by without one
					}
					size, ok := remote[id]
					if !ok {
						return provider.Observation{}, nil
					}
					return provider.Observation{Exists: true, State: map[string]any{"size": size}, Private: map[string]string{"id": id}}, nil
				},
				CreateFn: func(context.Context, provider.Request) (provider.Result, error) {
					mu.Lock()
					defer mu.Unlock()
					creates++
					return provider.Result{}, nil
				},
				UpdateFn: func(_ context.Context, req provider.Request) (provider.Result, error) {
					mu.Lock()
					defer mu.Unlock()
					updates = append(updates, req)
					remote[req.Private["id"]] = req.Spec["size"].(int64)
					return provider.Result{Private: req.Private}, nil
				},
			}
			reg, err := provider.NewRegistry(p)
			if err != nil {
				t.Fatal(err)
			}
			doc := "kind: imp.Thing\nmetadata: {name: a}\n"
			if tc.importID != "" {
				doc += "importId: " + tc.importID + "\n"
			}
			rv, err := manifest.LoadBytes(map[string][]byte{"m.yaml": []byte(doc + "spec: {size: 2}\n")}, reg)
			if err != nil {
				t.Fatal(err)
			}
			st := memory.New()
			ctx := context.Background()
			rep, err := New(reg, st, Options{Workers: 1, Logger: slog.New(slog.DiscardHandler)}).Apply(ctx, rv)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() != tc.wantOK {
				t.Fatalf("apply OK = %v; want %v (%+v)", rep.OK(), tc.wantOK, rep.Failures)
			}
			if creates != 0 {
				t.Errorf("%d creates; an existing object is never created again", creates)
			}
			r, err := st.GetRecord(ctx, "imp.Thing/a")
			if !tc.wantOK {
				if len(updates) != 0 || remote["remote-7"] != 1 {
					t.Errorf("without importId the object was changed: updates %d, size %d", len(updates), remote["remote-7"])
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(updates) != 1 || updates[0].Private["id"] != "remote-7" || remote["remote-7"] != 2 {
				t.Fatalf("updates = %+v, remote = %v; want one update of remote-7 to size 2", updates, remote)
			}
			if r.Origin != store.OriginAdopted || r.Phase != store.PhaseReady || r.Private["id"] != "remote-7" {
				t.Errorf("record = %+v; want it adopted, Ready, on remote-7", r)
			}
			evs, _ := st.ListEvents(ctx, store.EventFilter{})
			found := false
			for _, ev := range evs {
				found = found || ev.Reason == store.ReasonAdopted && strings.Contains(ev.Message, "importId remote-7")
			}
			if !found {
				t.Errorf("no Adopted event naming the importId: %+v", evs)
			}
		})
	}
}
