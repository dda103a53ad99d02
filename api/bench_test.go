package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/convergehq/converge/controller"
	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/sqlite"
)

// BenchmarkResources10k lists 10,000 resources of a real SQLite state, a
// page of 100 of them, and one resource's detail.
func BenchmarkResources10k(b *testing.B) {
	ctx := context.Background()
	reg, err := provider.NewRegistry(providertest.NewMemory())
	if err != nil {
		b.Fatal(err)
	}
	const n = 10000
	var docs strings.Builder
	for i := range n {
		fmt.Fprintf(&docs, "---\nkind: mem.Object\nmetadata: {name: o%05d, labels: {shard: s%d}}\nspec: {value: v}\n", i, i%10)
	}
	rv, err := manifest.LoadBytes(map[string][]byte{"m.yaml": []byte(docs.String())}, reg)
	if err != nil {
		b.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	for _, r := range rv.Resources {
		st.PutRecordDeferred(store.Record{ID: r.ID, Kind: r.Kind, Name: r.Name, Phase: store.PhaseReady, AppliedHash: r.Hash,
			Outputs: map[string]any{"id": r.Name, "value": "v"}, Conditions: []store.Condition{{Type: "Ready", Status: "True", Reason: "Converged"}}})
	}
	if err := st.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	e := engine.New(reg, st, engine.Options{Logger: quiet()})
	if err := e.SetTarget(ctx, rv); err != nil { // no workers: nothing reconciles
		b.Fatal(err)
	}
	c := controller.New(e, st, controller.Options{Logger: quiet()})
	live := c.Live(reg)
	h := New(Config{Views: live, Actions: live, Readiness: live, Feed: st, Logger: quiet()})
	for _, bc := range []struct{ name, path string }{
		{"all", "/api/v1/resources"},
		{"page", "/api/v1/resources?limit=100&after=mem.Object/o05000"},
		{"selector", "/api/v1/resources?selector=shard%3Ds3"},
		{"one", "/api/v1/resources/mem.Object/o04242"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:7070"+bc.path, nil)
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					body, _ := io.ReadAll(rec.Body)
					b.Fatalf("%s: %d %s", bc.path, rec.Code, body)
				}
			}
		})
	}
}
