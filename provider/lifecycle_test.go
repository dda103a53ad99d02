package provider_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store/memory"
)

// lifecycle is a memory provider that logs its lifecycle calls and its
// calls on objects, and refuses a call on an object while closed.
type lifecycle struct {
	*providertest.Memory
	mu     sync.Mutex
	calls  []string
	closed bool
	broken []string
}

var (
	_ provider.Configurer = (*lifecycle)(nil)
	_ provider.Closer     = (*lifecycle)(nil)
)

func (p *lifecycle) log(call string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch call {
	case "Configure":
		p.closed = false // Configure opens anew
	case "Close":
		p.closed = true
	default:
		if p.closed {
			p.broken = append(p.broken, call+" after Close, before Configure")
		}
	}
	p.calls = append(p.calls, call)
}

func (p *lifecycle) Configure(provider.Settings) error { p.log("Configure"); return nil }
func (p *lifecycle) Close() error                      { p.log("Close"); return nil }
func (p *lifecycle) Observe(ctx context.Context, req provider.Request) (provider.Observation, error) {
	p.log("Observe")
	return p.Memory.Observe(ctx, req)
}
func (p *lifecycle) Create(ctx context.Context, req provider.Request) (provider.Result, error) {
	p.log("Create")
	return p.Memory.Create(ctx, req)
}
func (p *lifecycle) Update(ctx context.Context, req provider.Request) (provider.Result, error) {
	p.log("Update")
	return p.Memory.Update(ctx, req)
}

// take returns the calls logged since the last take.
func (p *lifecycle) take() ([]string, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	calls, broken := p.calls, p.broken
	p.calls, p.broken = nil, nil
	return calls, broken
}

// TestLifecycleAcrossRuns: Close ends a run, not the provider's life. Two
// Applies in a row over one registry (one engine each, as every converge
// command makes) each configure the provider before they call it and
// close it once, after their last call; the second run's calls come after
// its Configure. A plan configures and observes, and closes nothing.
func TestLifecycleAcrossRuns(t *testing.T) {
	ctx := context.Background()
	p := &lifecycle{Memory: providertest.NewMemory()}
	reg, err := provider.NewRegistry(p)
	if err != nil {
		t.Fatal(err)
	}
	st := memory.New()
	load := func(value string) *manifest.Revision {
		t.Helper()
		rv, err := manifest.LoadBytes(map[string][]byte{"m.yaml": []byte("kind: mem.Object\nmetadata: {name: a}\nspec: {value: " + value + "}\n")}, reg)
		if err != nil {
			t.Fatal(err)
		}
		return rv
	}
	newEngine := func() *engine.Engine {
		return engine.New(reg, st, engine.Options{Workers: 1, Logger: slog.New(slog.DiscardHandler)})
	}
	for i, run := range []struct {
		value string
		want  []string
	}{
		{value: "v1", want: []string{"Configure", "Observe", "Create", "Close"}},
		{value: "v2", want: []string{"Configure", "Observe", "Update", "Close"}},
	} {
		rep, err := newEngine().Apply(ctx, load(run.value))
		if err != nil || !rep.OK() {
			t.Fatalf("apply %d: %v %+v", i+1, err, rep.Failures)
		}
		calls, broken := p.take()
		if !slices.Equal(calls, run.want) || len(broken) > 0 {
			t.Errorf("apply %d: calls %s (broken: %q); want %s", i+1, strings.Join(calls, ", "), broken, strings.Join(run.want, ", "))
		}
	}
	if o, ok := p.Get("mem.Object/a"); !ok || o.Spec["value"] != "v2" {
		t.Errorf("the object after two runs: %+v; want value v2", o.Spec)
	}

	if _, err := newEngine().Plan(ctx, load("v3")); err != nil {
		t.Fatal(err)
	}
	calls, broken := p.take()
	if want := []string{"Configure", "Observe"}; !slices.Equal(calls, want) || len(broken) > 0 {
		t.Errorf("plan: calls %s (broken: %q); want %s", strings.Join(calls, ", "), broken, strings.Join(want, ", "))
	}
}
