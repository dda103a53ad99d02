package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/convergehq/converge/alert"
	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func objects(n int, value string) map[string][]byte {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "---\nkind: mem.Object\nmetadata: {name: o%d}\nspec: {value: %s}\n", i, value)
	}
	return map[string][]byte{"m.yaml": []byte(b.String())}
}

// gather returns every sample's value by name and labels, as
// "name{k=v,...}" with the labels sorted, and the names of the families.
func gather(t *testing.T, r *Registry) (map[string]float64, map[string]bool) {
	t.Helper()
	fams, err := r.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	values, names := map[string]float64{}, map[string]bool{}
	for _, f := range fams {
		names[f.GetName()] = true
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			key := f.GetName() + "{" + strings.Join(ls, ",") + "}"
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				values[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				values[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				values[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return values, names
}

// TestNamesAndValues runs an engine that reports to a Registry: every
// metric the dashboards expect is there, under controller-runtime's exact
// names, and the values move with what the engine did.
func TestNamesAndValues(t *testing.T) {
	ctx := context.Background()
	mem := providertest.NewMemory()
	// The first create of o1 is rate limited with a Retry-After, the
	// first of o2 fails and is retried after a backoff.
	limited, failed := false, false
	fault := func(op providertest.Op, req provider.Request, _ int) providertest.Outcome {
		switch {
		case op == providertest.OpCreate && req.ID == "mem.Object/o1" && !limited:
			limited = true
			return providertest.Outcome{Before: provider.RateLimited(errors.New("slow down"), 10*time.Millisecond)}
		case op == providertest.OpCreate && req.ID == "mem.Object/o2" && !failed:
			failed = true
			return providertest.Outcome{Before: errors.New("the API is down")}
		}
		return providertest.Outcome{}
	}
	reg, err := provider.NewRegistry(providertest.NewFaulty(mem, fault))
	if err != nil {
		t.Fatal(err)
	}
	st := memory.New()
	r := New()
	followCtx, stop := context.WithCancel(ctx)
	defer stop()
	ready := make(chan struct{})
	followed := make(chan struct{})
	go func() { r.Follow(followCtx, st, quiet(), ready); close(followed) }()
	defer func() { stop(); <-followed }()
	<-ready

	e := engine.New(reg, st, engine.Options{Workers: 1, Logger: quiet(), BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, Metrics: r})
	rv, err := manifest.LoadBytes(objects(3, "v1"), reg)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := e.Apply(ctx, rv); err != nil || !rep.OK() {
		t.Fatalf("apply: %v %+v", err, rep.Failures)
	}
	if !limited || !failed {
		t.Fatal("premise: no create was rate limited, or none failed")
	}
	// Drift: o2 changed by hand, found by a second apply.
	mem.Set("mem.Object/o2", map[string]any{"value": "by hand"})
	e2 := engine.New(reg, st, engine.Options{Workers: 1, Logger: quiet(), Metrics: r})
	if rep, err := e2.Apply(ctx, rv); err != nil || !rep.OK() {
		t.Fatalf("second apply: %v %+v", err, rep.Failures)
	}

	var values map[string]float64
	var names map[string]bool
	deadline := time.Now().Add(5 * time.Second)
	for {
		values, names = gather(t, r)
		if values["converge_resources{kind=mem.Object,phase=Ready}"] == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond) // the watch delivers on its own goroutine
	}
	for _, name := range []string{
		"controller_runtime_reconcile_total", "controller_runtime_reconcile_errors_total",
		"controller_runtime_terminal_reconcile_errors_total", "controller_runtime_reconcile_time_seconds",
		"controller_runtime_active_workers", "controller_runtime_max_concurrent_reconciles",
		"workqueue_depth", "workqueue_adds_total", "workqueue_queue_duration_seconds", "workqueue_work_duration_seconds",
		"workqueue_retries_total", "workqueue_unfinished_work_seconds", "workqueue_longest_running_processor_seconds",
		"converge_resources", "converge_resources_drifted", "converge_drift_detected_total",
		"converge_provider_calls_total", "converge_provider_call_duration_seconds", "converge_provider_limit_wait_seconds",
		"converge_provider_rate_limited_total", "converge_provider_retry_after_pauses_total", "converge_provider_retry_after_seconds_total",
		"converge_target_revision", "go_goroutines", "process_cpu_seconds_total",
	} {
		if !names[name] {
			t.Errorf("no metric %s", name)
		}
	}
	const ctl = "controller=converge"
	tests := map[string]struct {
		key string
		min float64
		max float64
	}{
		"successes":        {"controller_runtime_reconcile_total{" + ctl + ",result=success}", 6, 1e9},
		"errors":           {"controller_runtime_reconcile_total{" + ctl + ",result=error}", 2, 2},
		"error counter":    {"controller_runtime_reconcile_errors_total{" + ctl + "}", 2, 2},
		"not terminal":     {"controller_runtime_terminal_reconcile_errors_total{" + ctl + "}", 0, 0},
		"reconcile times":  {"controller_runtime_reconcile_time_seconds{" + ctl + "}", 8, 1e9},
		"workers":          {"controller_runtime_max_concurrent_reconciles{" + ctl + "}", 1, 1},
		"no active":        {"controller_runtime_active_workers{" + ctl + "}", 0, 0},
		"adds":             {"workqueue_adds_total{" + ctl + ",name=converge}", 6, 1e9},
		"retries":          {"workqueue_retries_total{" + ctl + ",name=converge}", 1, 1},
		"drained":          {"workqueue_depth{" + ctl + ",name=converge,priority=}", 0, 0},
		"queue waits":      {"workqueue_queue_duration_seconds{" + ctl + ",name=converge}", 6, 1e9},
		"creates":          {"converge_provider_calls_total{operation=create,provider=mem,result=success}", 3, 3},
		"rate limited":     {"converge_provider_calls_total{operation=create,provider=mem,result=rate_limited}", 1, 1},
		"failed":           {"converge_provider_calls_total{operation=create,provider=mem,result=retryable}", 1, 1},
		"drift correction": {"converge_provider_calls_total{operation=update,provider=mem,result=success}", 1, 1},
		"pauses":           {"converge_provider_retry_after_pauses_total{provider=mem}", 1, 1},
		"pause seconds":    {"converge_provider_retry_after_seconds_total{provider=mem}", 0.01, 0.01},
		"drift found":      {"converge_drift_detected_total{kind=mem.Object}", 1, 1},
		"ready":            {"converge_resources{kind=mem.Object,phase=Ready}", 3, 3},
		"none drifted":     {"converge_resources_drifted{kind=mem.Object}", 0, 0},
		"target":           {"converge_target_revision{revision=" + rv.Hash + "}", 1, 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v, ok := values[tc.key]
			if !ok || v < tc.min || v > tc.max {
				t.Errorf("%s = %v (present %v); want within [%v, %v]", tc.key, v, ok, tc.min, tc.max)
			}
		})
	}

	// The text format, as Prometheus scrapes it.
	rec := httptest.NewRecorder()
	r.Handler(quiet()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `controller_runtime_reconcile_total{controller="converge",result="success"}`) {
		t.Errorf("scrape: %d\n%.500s", rec.Code, rec.Body.String())
	}
}

func TestAlerts(t *testing.T) {
	r := New()
	var sent int64
	r.Alerts(func() alert.Stats { return alert.Stats{Sent: sent, Retries: 2, Dropped: 1} })
	sent = 5
	values, _ := gather(t, r)
	want := map[string]float64{"sent": 5, "retry": 2, "undeliverable": 0, "dropped": 1}
	for result, n := range want {
		if got := values["converge_alert_deliveries_total{result="+result+"}"]; got != n {
			t.Errorf("%s: %v; want %v", result, got, n)
		}
	}
	none := New()
	none.Alerts(nil)
	if values, _ := gather(t, none); values["converge_alert_deliveries_total{result=sent}"] != 0 {
		t.Error("no notifier: want zeros")
	}
}

// BenchmarkScrape10k scrapes the metrics of a state of 10,000 resources.
func BenchmarkScrape10k(b *testing.B) {
	ctx := context.Background()
	st := memory.New()
	kinds := []string{"file.File", "file.Directory", "cloud.Instance", "cloud.Subnet", "http.Resource"}
	phases := []store.Phase{store.PhaseReady, store.PhaseReady, store.PhaseReady, store.PhaseError, store.PhaseDrifted, store.PhaseWaiting}
	for i := range 10000 {
		k := kinds[i%len(kinds)]
		id := fmt.Sprintf("%s/r%d", k, i)
		if err := st.PutRecord(ctx, store.Record{ID: id, Kind: k, Name: fmt.Sprintf("r%d", i), Phase: phases[i%len(phases)]}); err != nil {
			b.Fatal(err)
		}
	}
	r := New()
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	ready := make(chan struct{})
	go r.Follow(fctx, st, quiet(), ready)
	<-ready
	// Some traffic, so that the histograms hold samples.
	for i := range 1000 {
		r.ReconcileStarted()
		r.ReconcileDone("success", false, time.Duration(i)*time.Millisecond)
		r.ProviderCall("file", "observe", time.Millisecond, time.Duration(i)*time.Microsecond, nil)
	}
	h := r.Handler(quiet())
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `converge_resources{kind="file.File",phase="Ready"} 1000`) {
			b.Fatalf("scrape: %d", rec.Code)
		}
	}
}
