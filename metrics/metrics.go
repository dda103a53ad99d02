// Package metrics provides converge's Prometheus metrics, on a registry of
// their own: controller-runtime's names byte for byte (reconciles and the
// work queue, so that existing dashboards and alerts work), converge's own
// (resources by kind and phase, drift, provider calls, rate limits, the
// target revision), and the Go and process collectors.
//
// A Registry is the engine's Metrics (engine.Options.Metrics or
// engine.Engine.Instrument) and its queue's MetricsProvider; Follow keeps
// the resource gauges from the store's changes, so that a scrape costs the
// same at 10,000 resources as at 10; Handler serves /metrics.
//
// Cardinality: the labels are bounded by the kinds, phases, providers and
// operations converge knows, never by resource: one series per kind and
// phase, not per resource.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/queue"
	"github.com/convergehq/converge/store"
)

// Controller is the value of the controller label (and the work queue's
// name label) of the controller-runtime metrics.
const Controller = "converge"

// reconcileBuckets are controller-runtime's for
// controller_runtime_reconcile_time_seconds.
var reconcileBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0,
	1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60}

// Registry holds converge's metrics.
type Registry struct {
	reg *prometheus.Registry

	reconciles       *prometheus.CounterVec
	reconcileErrors  prometheus.Counter
	terminalErrors   prometheus.Counter
	reconcileTime    prometheus.Observer
	activeWorkers    prometheus.Gauge
	maxConcurrent    prometheus.Gauge
	drift            *prometheus.CounterVec
	calls            *prometheus.CounterVec
	callTime         *prometheus.HistogramVec
	limitWait        *prometheus.HistogramVec
	rateLimited      *prometheus.CounterVec
	retryAfter       *prometheus.CounterVec
	retryAfterPauses *prometheus.CounterVec

	wq workqueueMetrics

	state *resourceState
}

type workqueueMetrics struct {
	depthVec                  *prometheus.GaugeVec
	addsVec, retriesVec       *prometheus.CounterVec
	latencyVec, workVec       *prometheus.HistogramVec
	unfinishedVec, longestVec *prometheus.GaugeVec
}

// New returns a Registry with every metric registered.
func New() *Registry {
	r := &Registry{reg: prometheus.NewRegistry(), state: newResourceState()}
	ctl := prometheus.Labels{"controller": Controller}
	r.reconciles = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "controller_runtime_reconcile_total", Help: "Total number of reconciliations per controller",
	}, []string{"controller", "result"})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "controller_runtime_reconcile_errors_total", Help: "Total number of reconciliation errors per controller",
	}, []string{"controller"})
	terminal := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "controller_runtime_terminal_reconcile_errors_total", Help: "Total number of terminal reconciliation errors per controller",
	}, []string{"controller"})
	rtime := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "controller_runtime_reconcile_time_seconds", Help: "Length of time per reconciliation per controller",
		Buckets: reconcileBuckets, NativeHistogramBucketFactor: 1.1, NativeHistogramMaxBucketNumber: 100, NativeHistogramMinResetDuration: time.Hour,
	}, []string{"controller"})
	active := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "controller_runtime_active_workers", Help: "Number of currently used workers per controller",
	}, []string{"controller"})
	maxc := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "controller_runtime_max_concurrent_reconciles", Help: "Maximum number of concurrent reconciles per controller",
	}, []string{"controller"})
	for _, res := range []string{"success", "error", "requeue", "requeue_after"} {
		r.reconciles.With(prometheus.Labels{"controller": Controller, "result": res}).Add(0)
	}
	r.reconcileErrors, r.terminalErrors = errs.With(ctl), terminal.With(ctl)
	r.reconcileTime, r.activeWorkers, r.maxConcurrent = rtime.With(ctl), active.With(ctl), maxc.With(ctl)

	wq := []string{"name", "controller"}
	r.wq.depthVec = prometheus.NewGaugeVec(prometheus.GaugeOpts{Subsystem: "workqueue", Name: "depth", Help: "Current depth of workqueue"}, []string{"name", "controller", "priority"})
	r.wq.addsVec = prometheus.NewCounterVec(prometheus.CounterOpts{Subsystem: "workqueue", Name: "adds_total", Help: "Total number of adds handled by workqueue"}, wq)
	r.wq.latencyVec = prometheus.NewHistogramVec(prometheus.HistogramOpts{Subsystem: "workqueue", Name: "queue_duration_seconds",
		Help: "How long in seconds an item stays in workqueue before being requested", Buckets: prometheus.ExponentialBuckets(10e-9, 10, 12)}, wq)
	r.wq.workVec = prometheus.NewHistogramVec(prometheus.HistogramOpts{Subsystem: "workqueue", Name: "work_duration_seconds",
		Help: "How long in seconds processing an item from workqueue takes.", Buckets: prometheus.ExponentialBuckets(10e-9, 10, 12)}, wq)
	r.wq.unfinishedVec = prometheus.NewGaugeVec(prometheus.GaugeOpts{Subsystem: "workqueue", Name: "unfinished_work_seconds",
		Help: "How many seconds of work has been done that is in progress and hasn't been observed by work_duration. Large values indicate stuck threads. One can deduce the number of stuck threads by observing the rate at which this increases."}, wq)
	r.wq.longestVec = prometheus.NewGaugeVec(prometheus.GaugeOpts{Subsystem: "workqueue", Name: "longest_running_processor_seconds",
		Help: "How many seconds has the longest running processor for workqueue been running."}, wq)
	r.wq.retriesVec = prometheus.NewCounterVec(prometheus.CounterOpts{Subsystem: "workqueue", Name: "retries_total", Help: "Total number of retries handled by workqueue"}, wq)

	r.drift = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "converge_drift_detected_total",
		Help: "Drifts found: an object that differs from what converge last applied while its desired spec did not change."}, []string{"kind"})
	r.calls = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "converge_provider_calls_total",
		Help: "Provider calls made by reconciles, by result: success, or the error's class (retryable, rate_limited, terminal, conflict, ...)."}, []string{"provider", "operation", "result"})
	r.callTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "converge_provider_call_duration_seconds",
		Help: "How long provider calls took, waiting for limits not included.", Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12)}, []string{"provider", "operation"})
	r.limitWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "converge_provider_limit_wait_seconds",
		Help: "How long provider calls waited for their provider's limits (rate, in-flight cap, Retry-After pause).", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 12)}, []string{"provider"})
	r.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "converge_provider_rate_limited_total",
		Help: "Provider calls answered with a rate limit."}, []string{"provider"})
	r.retryAfterPauses = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "converge_provider_retry_after_pauses_total",
		Help: "Rate limits that carried a Retry-After: the whole provider pauses that long."}, []string{"provider"})
	r.retryAfter = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "converge_provider_retry_after_seconds_total",
		Help: "The Retry-After of rate limits, summed."}, []string{"provider"})

	r.reg.MustRegister(r.reconciles, errs, terminal, rtime, active, maxc,
		r.wq.depthVec, r.wq.addsVec, r.wq.latencyVec, r.wq.workVec, r.wq.unfinishedVec, r.wq.longestVec, r.wq.retriesVec,
		r.drift, r.calls, r.callTime, r.limitWait, r.rateLimited, r.retryAfterPauses, r.retryAfter,
		r.state,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Gatherer is the registry, for tests and for other exporters.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// Handler serves the metrics in Prometheus's formats.
func (r *Registry) Handler(log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// Workers sets controller_runtime_max_concurrent_reconciles.
func (r *Registry) Workers(n int) { r.maxConcurrent.Set(float64(n)) }

// ReconcileStarted counts one more active worker.
func (r *Registry) ReconcileStarted() { r.activeWorkers.Inc() }

// ReconcileDone counts a reconcile by its result, and its time.
func (r *Registry) ReconcileDone(result string, terminal bool, took time.Duration) {
	r.activeWorkers.Dec()
	r.reconciles.With(prometheus.Labels{"controller": Controller, "result": result}).Inc()
	if result == "error" {
		r.reconcileErrors.Inc()
		if terminal {
			r.terminalErrors.Inc()
		}
	}
	r.reconcileTime.Observe(took.Seconds())
}

// ProviderCall counts a provider call by its result, with its latency and
// its wait for limits; a rate limit's Retry-After is counted as a pause.
func (r *Registry) ProviderCall(prov, op string, waited, took time.Duration, err error) {
	result := "success"
	if err != nil {
		class, after := provider.Classify(err)
		result = strings.ReplaceAll(class.String(), "-", "_")
		if class == provider.ClassRateLimited {
			r.rateLimited.WithLabelValues(prov).Inc()
			if after > 0 {
				r.retryAfterPauses.WithLabelValues(prov).Inc()
				r.retryAfter.WithLabelValues(prov).Add(after.Seconds())
			}
		}
	}
	r.calls.WithLabelValues(prov, op, result).Inc()
	r.callTime.WithLabelValues(prov, op).Observe(took.Seconds())
	r.limitWait.WithLabelValues(prov).Observe(waited.Seconds())
}

// DriftDetected counts a drift of kind.
func (r *Registry) DriftDetected(kind string) { r.drift.WithLabelValues(kind).Inc() }

// Queue is the work queue's MetricsProvider: the workqueue_* metrics.
func (r *Registry) Queue() queue.MetricsProvider { return queueProvider{r} }

type queueProvider struct{ r *Registry }

func (p queueProvider) labels(name string) prometheus.Labels {
	return prometheus.Labels{"name": name, "controller": Controller}
}

func (p queueProvider) NewDepthMetric(name string) queue.GaugeMetric {
	return p.r.wq.depthVec.With(prometheus.Labels{"name": name, "controller": Controller, "priority": ""})
}
func (p queueProvider) NewAddsMetric(name string) queue.CounterMetric {
	return p.r.wq.addsVec.With(p.labels(name))
}
func (p queueProvider) NewLatencyMetric(name string) queue.HistogramMetric {
	return p.r.wq.latencyVec.With(p.labels(name))
}
func (p queueProvider) NewWorkDurationMetric(name string) queue.HistogramMetric {
	return p.r.wq.workVec.With(p.labels(name))
}
func (p queueProvider) NewUnfinishedWorkSecondsMetric(name string) queue.SettableGaugeMetric {
	return p.r.wq.unfinishedVec.With(p.labels(name))
}
func (p queueProvider) NewLongestRunningProcessorSecondsMetric(name string) queue.SettableGaugeMetric {
	return p.r.wq.longestVec.With(p.labels(name))
}
func (p queueProvider) NewRetriesMetric(name string) queue.CounterMetric {
	return p.r.wq.retriesVec.With(p.labels(name))
}

// Feed is what Follow reads: the store's records and target, and their
// changes.
type Feed interface {
	LastSeq(ctx context.Context) (int64, error)
	Watch(ctx context.Context, from int64) (<-chan store.Change, error)
	ListRecords(ctx context.Context) ([]store.Record, error)
	Target(ctx context.Context) (string, error)
}

// Follow keeps the resource and target gauges from f until ctx is done:
// it lists the records, then follows their changes (listing again when
// the watch falls behind). ready, when not nil, is closed once the first
// list is in.
func (r *Registry) Follow(ctx context.Context, f Feed, log *slog.Logger, ready chan<- struct{}) {
	if log == nil {
		log = slog.Default()
	}
	var once sync.Once
	for ctx.Err() == nil {
		ch, err := r.state.load(ctx, f)
		if err == nil {
			once.Do(func() {
				if ready != nil {
					close(ready)
				}
			})
			for c := range ch {
				if c.Err != nil {
					err = c.Err
					break
				}
				r.state.apply(c)
			}
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("metrics: follow the state", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// Interface guards.
var (
	_ engine.Metrics        = (*Registry)(nil)
	_ queue.MetricsProvider = queueProvider{}
)
