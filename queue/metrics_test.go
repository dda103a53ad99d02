package queue

import (
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"
)

// fakeMetrics records what a queue reports, by metric.
type fakeMetrics struct {
	mu     sync.Mutex
	values map[string]float64
	obs    map[string][]float64
}

type fakeMetric struct {
	m    *fakeMetrics
	name string
}

func (f fakeMetric) Inc()          { f.add(1) }
func (f fakeMetric) Dec()          { f.add(-1) }
func (f fakeMetric) Set(v float64) { f.m.mu.Lock(); f.m.values[f.name] = v; f.m.mu.Unlock() }
func (f fakeMetric) add(d float64) { f.m.mu.Lock(); f.m.values[f.name] += d; f.m.mu.Unlock() }
func (f fakeMetric) Observe(v float64) {
	f.m.mu.Lock()
	f.m.obs[f.name] = append(f.m.obs[f.name], v)
	f.m.mu.Unlock()
}

func (m *fakeMetrics) metric(kind, name string) fakeMetric  { return fakeMetric{m, name + "/" + kind} }
func (m *fakeMetrics) NewDepthMetric(n string) GaugeMetric  { return m.metric("depth", n) }
func (m *fakeMetrics) NewAddsMetric(n string) CounterMetric { return m.metric("adds", n) }
func (m *fakeMetrics) NewLatencyMetric(n string) HistogramMetric {
	return m.metric("latency", n)
}
func (m *fakeMetrics) NewWorkDurationMetric(n string) HistogramMetric {
	return m.metric("work", n)
}
func (m *fakeMetrics) NewUnfinishedWorkSecondsMetric(n string) SettableGaugeMetric {
	return m.metric("unfinished", n)
}
func (m *fakeMetrics) NewLongestRunningProcessorSecondsMetric(n string) SettableGaugeMetric {
	return m.metric("longest", n)
}
func (m *fakeMetrics) NewRetriesMetric(n string) CounterMetric { return m.metric("retries", n) }

func (m *fakeMetrics) snapshot() (map[string]float64, map[string][]float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := map[string]float64{}
	for k, x := range m.values {
		v[k] = x
	}
	o := map[string][]float64{}
	for k, x := range m.obs {
		o[k] = append([]float64(nil), x...)
	}
	return v, o
}

func TestMetrics(t *testing.T) {
	clk := clocktesting.NewFakeClock(epoch)
	m := &fakeMetrics{values: map[string]float64{}, obs: map[string][]float64{}}
	q := New[string](WithClock(clk), WithMetrics("q", m), WithRand(func() float64 { return 1 }))
	defer q.ShutDown()

	q.Add("a")
	q.Add("b")
	q.Add("a") // collapses: not an add
	clk.Step(time.Second)
	if k, _ := q.Get(); k != "a" {
		t.Fatalf("got %s; want a", k)
	}
	q.Add("a") // held: marked dirty, an add
	clk.Step(2 * time.Second)
	q.mu.Lock()
	q.metrics.updateUnfinished()
	q.mu.Unlock()
	v, _ := m.snapshot()
	if diff := cmp.Diff(map[string]float64{"q/adds": 3, "q/depth": 1, "q/unfinished": 2, "q/longest": 2}, v); diff != "" {
		t.Errorf("with a held 2s (-want +got):\n%s", diff)
	}
	q.When("a") // a failure's backoff: a retry
	q.Done("a") // dirty: ready again
	v, o := m.snapshot()
	if diff := cmp.Diff(map[string][]float64{"q/latency": {1}, "q/work": {2}}, o); diff != "" {
		t.Errorf("observations (-want +got):\n%s", diff)
	}
	if v["q/depth"] != 2 || v["q/retries"] != 1 {
		t.Errorf("depth %v, retries %v; want 2 and 1", v["q/depth"], v["q/retries"])
	}

	// The loop updates the unfinished work on its own.
	k, _ := q.Get()
	clk.Step(UnfinishedWorkPeriod)
	await(t, "the unfinished work is updated", func() bool {
		v, _ := m.snapshot()
		return v["q/unfinished"] == UnfinishedWorkPeriod.Seconds()
	})
	q.Done(k)
	q.ShutDown()
	if v, _ := m.snapshot(); v["q/depth"] != 0 {
		t.Errorf("depth after shutdown: %v; want 0", v["q/depth"])
	}
}

func TestNoMetrics(t *testing.T) {
	q := New[string]()
	defer q.ShutDown()
	q.Add("a")
	k, _ := q.Get()
	q.When(k)
	q.Done(k)
	if q.metrics != nil {
		t.Fatal("a queue without metrics has some")
	}
}
