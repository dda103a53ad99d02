package queue

import (
	"time"

	"k8s.io/utils/clock"
)

// The metrics of a queue are modelled on client-go's workqueue: a
// MetricsProvider makes them, by the queue's name, and the queue reports
// to them as it works. Controller-runtime registers them as workqueue_depth,
// workqueue_adds_total, workqueue_queue_duration_seconds,
// workqueue_work_duration_seconds, workqueue_unfinished_work_seconds,
// workqueue_longest_running_processor_seconds and workqueue_retries_total.

// GaugeMetric is a value that goes up and down.
type GaugeMetric interface {
	Inc()
	Dec()
}

// SettableGaugeMetric is a value that is set.
type SettableGaugeMetric interface {
	Set(float64)
}

// CounterMetric is a value that only goes up.
type CounterMetric interface {
	Inc()
}

// HistogramMetric records observations, in seconds.
type HistogramMetric interface {
	Observe(float64)
}

// MetricsProvider makes the metrics of the queue called name.
type MetricsProvider interface {
	// NewDepthMetric: the keys ready to be taken.
	NewDepthMetric(name string) GaugeMetric
	// NewAddsMetric: the adds that queued a key (or marked a held one
	// dirty); adds of a key already queued collapse and do not count.
	NewAddsMetric(name string) CounterMetric
	// NewLatencyMetric: how long a key waited, ready, before a Get took it.
	NewLatencyMetric(name string) HistogramMetric
	// NewWorkDurationMetric: how long a key was held, from Get to Done.
	NewWorkDurationMetric(name string) HistogramMetric
	// NewUnfinishedWorkSecondsMetric: the seconds the keys held now have
	// been held, summed.
	NewUnfinishedWorkSecondsMetric(name string) SettableGaugeMetric
	// NewLongestRunningProcessorSecondsMetric: the seconds the key held
	// longest has been held.
	NewLongestRunningProcessorSecondsMetric(name string) SettableGaugeMetric
	// NewRetriesMetric: the backoffs counted (AddRateLimited, When).
	NewRetriesMetric(name string) CounterMetric
}

// UnfinishedWorkPeriod is how often a queue with metrics updates its
// unfinished work and longest running processor.
const UnfinishedWorkPeriod = 500 * time.Millisecond

// WithMetrics makes the queue report to the metrics p makes for name
// (default: none). A queue with metrics also runs a goroutine that
// updates the unfinished work every UnfinishedWorkPeriod, until it shuts
// down.
func WithMetrics(name string, p MetricsProvider) Option {
	return func(o *options) {
		o.metricsName, o.metrics = name, p
	}
}

// queueMetrics are a queue's metrics; a nil *queueMetrics does nothing.
// Its methods are called with the queue's lock held.
type queueMetrics[K comparable] struct {
	clock      clock.Clock
	depth      GaugeMetric
	adds       CounterMetric
	latency    HistogramMetric
	work       HistogramMetric
	unfinished SettableGaugeMetric
	longest    SettableGaugeMetric
	retries    CounterMetric

	queued     map[K]time.Time // when each ready key became ready
	processing map[K]time.Time // when each held key was taken
}

func newQueueMetrics[K comparable](o options) *queueMetrics[K] {
	if o.metrics == nil {
		return nil
	}
	p, n := o.metrics, o.metricsName
	return &queueMetrics[K]{
		clock:      o.clock,
		depth:      p.NewDepthMetric(n),
		adds:       p.NewAddsMetric(n),
		latency:    p.NewLatencyMetric(n),
		work:       p.NewWorkDurationMetric(n),
		unfinished: p.NewUnfinishedWorkSecondsMetric(n),
		longest:    p.NewLongestRunningProcessorSecondsMetric(n),
		retries:    p.NewRetriesMetric(n),
		queued:     map[K]time.Time{},
		processing: map[K]time.Time{},
	}
}

// added: an add queued k or marked it dirty.
func (m *queueMetrics[K]) added() {
	if m != nil {
		m.adds.Inc()
	}
}

// ready: k was put in a lane.
func (m *queueMetrics[K]) ready(k K) {
	if m == nil {
		return
	}
	m.depth.Inc()
	if _, ok := m.queued[k]; !ok {
		m.queued[k] = m.clock.Now()
	}
}

// taken: a Get took k; or, with held false, ShutDown dropped it.
func (m *queueMetrics[K]) taken(k K, held bool) {
	if m == nil {
		return
	}
	m.depth.Dec()
	now := m.clock.Now()
	if t, ok := m.queued[k]; ok {
		if held {
			m.latency.Observe(now.Sub(t).Seconds())
		}
		delete(m.queued, k)
	}
	if held {
		m.processing[k] = now
	}
}

// done: Done released k.
func (m *queueMetrics[K]) done(k K) {
	if m == nil {
		return
	}
	if t, ok := m.processing[k]; ok {
		m.work.Observe(m.clock.Since(t).Seconds())
		delete(m.processing, k)
	}
}

func (m *queueMetrics[K]) retry() {
	if m != nil {
		m.retries.Inc()
	}
}

// updateUnfinished sets the unfinished work and the longest running
// processor from the keys held now.
func (m *queueMetrics[K]) updateUnfinished() {
	now := m.clock.Now()
	var total, longest float64
	for _, t := range m.processing {
		d := now.Sub(t).Seconds()
		total += d
		longest = max(longest, d)
	}
	m.unfinished.Set(total)
	m.longest.Set(longest)
}

// unfinishedLoop updates the unfinished work at every tick of t until the
// queue stops.
func (q *Queue[K]) unfinishedLoop(t clock.Ticker) {
	defer t.Stop()
	for {
		select {
		case <-q.stop:
			return
		case <-t.C():
			q.mu.Lock()
			q.metrics.updateUnfinished()
			q.mu.Unlock()
		}
	}
}
