package engine

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/queue"
	"github.com/convergehq/converge/store/memory"
)

// tookMetrics records the durations of the reconciles.
type tookMetrics struct {
	mu   sync.Mutex
	took []time.Duration
}

func (m *tookMetrics) Queue() queue.MetricsProvider { return nil }
func (m *tookMetrics) Workers(int)                  {}
func (m *tookMetrics) ReconcileStarted()            {}
func (m *tookMetrics) ReconcileDone(_ string, _ bool, took time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.took = append(m.took, took)
}
func (m *tookMetrics) ProviderCall(string, string, time.Duration, time.Duration, error) {}
func (m *tookMetrics) DriftDetected(string)                                             {}

// TestReconcileDurationOnTheClock: a reconcile is timed on the engine's
// clock: with a fake one that an Observe moves by 3 s, the reconcile took
// exactly 3 s.
func TestReconcileDurationOnTheClock(t *testing.T) {
	fake := clocktesting.NewFakeClock(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	mem := providertest.NewMemory()
	slow := providertest.NewFaulty(mem, func(op providertest.Op, _ provider.Request, _ int) providertest.Outcome {
		if op == providertest.OpObserve {
			fake.Step(3 * time.Second)
		}
		return providertest.Outcome{}
	})
	reg, err := provider.NewRegistry(slow)
	if err != nil {
		t.Fatal(err)
	}
	rv, err := manifest.LoadBytes(map[string][]byte{"m.yaml": []byte("kind: mem.Object\nmetadata: {name: a}\nspec: {value: v}\n")}, reg)
	if err != nil {
		t.Fatal(err)
	}
	m := &tookMetrics{}
	e := New(reg, memory.New(), Options{Workers: 1, Clock: fake, Metrics: m, Logger: slog.New(slog.DiscardHandler)})
	if rep, err := e.Apply(context.Background(), rv); err != nil || !rep.OK() {
		t.Fatalf("apply: %v %+v", err, rep.Failures)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.took) != 1 || m.took[0] != 3*time.Second {
		t.Errorf("reconciles took %v; want one of 3s, on the fake clock", m.took)
	}
}
