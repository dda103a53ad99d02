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
	"github.com/convergehq/converge/metrics"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/sqlite"
)

// bench10k is a real SQLite state of 10,000 Ready resources (in 10
// shards), an engine targeting them with no workers (nothing reconciles)
// and the controller's live views.
type bench10k struct {
	st   *sqlite.DB
	e    *engine.Engine
	live *controller.Live
}

func newBench10k(b *testing.B) *bench10k {
	b.Helper()
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
	b.Cleanup(func() { st.Close() })
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
	return &bench10k{st: st, e: e, live: c.Live(reg)}
}

// BenchmarkResources10k lists 10,000 resources of a real SQLite state, a
// page of 100 of them, and one resource's detail.
func BenchmarkResources10k(b *testing.B) {
	s := newBench10k(b)
	h := New(Config{Views: s.live, Actions: s.live, Readiness: s.live, Feed: s.st, Logger: quiet()})
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

// BenchmarkMetricsScrape10k scrapes /metrics through the API's handler,
// as converge run wires it: the registry follows a real SQLite state of
// 10,000 resources, and the engine reports to it. "text" asks for
// Prometheus's text format; "prometheus" asks as Prometheus does
// (OpenMetrics, gzip).
func BenchmarkMetricsScrape10k(b *testing.B) {
	s := newBench10k(b)
	m := metrics.New()
	s.e.Instrument(m)
	ctx, cancel := context.WithCancel(context.Background())
	followed := make(chan struct{})
	ready := make(chan struct{})
	go func() { m.Follow(ctx, s.st, quiet(), ready); close(followed) }()
	b.Cleanup(func() { cancel(); <-followed })
	<-ready
	h := New(Config{Views: s.live, Actions: s.live, Readiness: s.live, Feed: s.st, Metrics: m.Handler(quiet()), Logger: quiet()})
	for _, bc := range []struct {
		name    string
		headers map[string]string
	}{
		{"text", nil},
		{"prometheus", map[string]string{"Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1", "Accept-Encoding": "gzip"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:7070/metrics", nil)
			for k, v := range bc.headers {
				req.Header.Set(k, v)
			}
			// The premise: the scrape counts the 10,000 resources.
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:7070/metrics", nil))
			if !strings.Contains(rec.Body.String(), `converge_resources{kind="mem.Object",phase="Ready"} 10000`) {
				b.Fatalf("the scrape does not count 10,000 Ready resources: %d\n%.2000s", rec.Code, rec.Body.String())
			}
			var size int
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("scrape: %d %s", rec.Code, rec.Body.String())
				}
				size = rec.Body.Len()
			}
			b.ReportMetric(float64(size), "bytes/scrape")
		})
	}
}
