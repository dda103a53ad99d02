package engine

import (
	"time"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/queue"
	"github.com/convergehq/converge/store"
)

// Metrics receives what a running engine measures (Options.Metrics, or
// Instrument). Its methods are called from the workers: they must be
// cheap, never block, and be safe for concurrent use.
type Metrics interface {
	// Queue makes the metrics of the engine's work queue; nil: none.
	Queue() queue.MetricsProvider
	// Workers is told the number of workers when they start.
	Workers(n int)
	// ReconcileStarted and ReconcileDone bracket one reconcile. result is
	// controller-runtime's: success, error, requeue or requeue_after;
	// terminal says an error is not retried until the spec changes.
	ReconcileStarted()
	ReconcileDone(result string, terminal bool, took time.Duration)
	// ProviderCall is one call of a provider by a reconcile: waited is how
	// long it waited for the provider's limits, took how long the call
	// itself took; err is the call's (provider.Classify tells its class and
	// any Retry-After).
	ProviderCall(provider, operation string, waited, took time.Duration, err error)
	// DriftDetected is told of every drift found.
	DriftDetected(kind string)
}

// The results of a reconcile, as controller-runtime names them.
const (
	ResultSuccess      = "success"
	ResultError        = "error"
	ResultRequeue      = "requeue"
	ResultRequeueAfter = "requeue_after"
)

// Instrument makes e report to m, as Options.Metrics does, for an engine
// made by code that did not set it. Call it before SetTarget and Start:
// it replaces the engine's (empty) work queue by one with metrics.
func (e *Engine) Instrument(m Metrics) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.opts.Metrics = m
	old := e.q
	e.q = queue.New[string](e.opts.queueOptions()...)
	old.ShutDown()
}

// queueOptions are the options of the engine's work queue.
func (o *Options) queueOptions() []queue.Option {
	qopts := []queue.Option{queue.WithClock(o.Clock), queue.WithBackoff(o.BackoffBase, o.BackoffMax)}
	if o.Rand != nil {
		qopts = append(qopts, queue.WithRand(o.Rand))
	}
	if o.Metrics != nil {
		if p := o.Metrics.Queue(); p != nil {
			qopts = append(qopts, queue.WithMetrics("converge", p))
		}
	}
	return qopts
}

// measure starts measuring one reconcile; the function it returns ends it
// with the reconcile's result.
func (e *Engine) measure() func(result) {
	m := e.opts.Metrics
	if m == nil {
		return func(result) {}
	}
	m.ReconcileStarted()
	began := e.opts.Clock.Now()
	return func(res result) {
		label, terminal := ResultSuccess, false
		switch {
		case res.err != nil:
			label = ResultError
			class, _ := provider.Classify(res.err)
			terminal = class == provider.ClassTerminal || class == provider.ClassConflict
		case res.after > 0:
			label = ResultRequeueAfter
		case res.again:
			label = ResultRequeue
		}
		m.ReconcileDone(label, terminal, e.opts.Clock.Since(began))
	}
}

// measureCall reports one provider call that waited for its limits from
// began and was made at called.
func (e *Engine) measureCall(s snapshot, counter *int64, began, called time.Time, err error) {
	m := e.opts.Metrics
	if m == nil || s.provider == nil {
		return
	}
	m.ProviderCall(s.provider.Name(), string(e.opOf(counter)), called.Sub(began), time.Since(called), err)
}

// opOf is the provider method a call counted in counter makes.
func (e *Engine) opOf(counter *int64) store.Op {
	switch counter {
	case &e.stats.Creates:
		return store.OpCreate
	case &e.stats.Updates:
		return store.OpUpdate
	case &e.stats.Deletes:
		return store.OpDelete
	}
	return OpObserve
}

func (e *Engine) driftMeasured(kind string) {
	if m := e.opts.Metrics; m != nil {
		m.DriftDetected(kind)
	}
}
