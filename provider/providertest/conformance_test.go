package providertest_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/convergehq/converge/diff"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
)

// memoryHarness is the harness of Memory, the suite's reference provider,
// with p in front of it (Memory itself when nil).
func memoryHarness(t *testing.T, wrap func(m *providertest.Memory) provider.Provider) providertest.Harness {
	m := providertest.NewMemory()
	var p provider.Provider = m
	if wrap != nil {
		p = wrap(m)
	}
	// Once armed, a Create makes its object, then fails: a partial create,
	// its Result (Private included) returned with the error.
	var partial atomic.Bool
	failAfter := func(next func(context.Context, provider.Request) (provider.Result, error)) func(context.Context, provider.Request) (provider.Result, error) {
		return func(ctx context.Context, req provider.Request) (provider.Result, error) {
			res, err := next(ctx, req)
			if err == nil && partial.Load() {
				err = provider.Retryable(fmt.Errorf("create %s: the object was made, its tags were refused", req.ID))
			}
			return res, err
		}
	}
	switch w := p.(type) {
	case *providertest.Memory:
		f := providertest.Wrap(w)
		f.CreateFn = failAfter(f.CreateFn)
		p = f
	case *providertest.Funcs:
		w.CreateFn = failAfter(w.CreateFn)
	case *providertest.PlanningFuncs:
		w.CreateFn = failAfter(w.CreateFn)
	default:
		t.Fatalf("memoryHarness: cannot make a partial create with a %T", p)
	}
	return providertest.Harness{
		PartialCreate: func(*testing.T, string) func() {
			partial.Store(true)
			return func() { partial.Store(false) }
		},
		Provider: p,
		Kind:     providertest.Kind,
		Spec: func(name string) map[string]any {
			return map[string]any{"value": "v-" + name, "size": 1, "zone": "a", "tags": map[string]any{"team": "core"}}
		},
		Updated: func(name string) map[string]any {
			return map[string]any{"value": "v2-" + name, "size": 2, "zone": "a", "tags": map[string]any{"team": "edge"}}
		},
		Replaced: func(name string) map[string]any {
			return map[string]any{"value": "v-" + name, "size": 1, "zone": "b", "tags": map[string]any{"team": "core"}}
		},
		CreateIdempotent: true,
		ObserveFinds:     true,
		Objects: func(t *testing.T) map[string]any {
			out := map[string]any{}
			for _, id := range m.IDs() {
				o, _ := m.Get(id)
				out[id] = map[string]any{"spec": o.Spec, "gen": o.Gen}
			}
			return out
		},
		Tamper: func(t *testing.T, name string, _ map[string]string) {
			id := providertest.Kind + "/" + name
			o, ok := m.Get(id)
			if !ok {
				t.Fatalf("no object %s to tamper with", id)
			}
			spec := maps.Clone(o.Spec)
			spec["size"] = int64(99)
			m.Set(id, spec)
		},
		Failures: []providertest.Failure{
			{
				Name: "update of an object that is gone", Op: providertest.OpUpdate,
				Spec:  map[string]any{"value": "x", "secret": "hunter2-hunter2"},
				Class: provider.ClassRetryable,
			},
		},
	}
}

func TestConformanceMemory(t *testing.T) {
	providertest.Run(t, func(t *testing.T) providertest.Harness { return memoryHarness(t, nil) })
}

// planning is Memory that plans its own changes, as the engine would: by
// the schema, field by field.
func planning(m *providertest.Memory) provider.Provider {
	return &providertest.PlanningFuncs{
		Funcs: *providertest.Wrap(m),
		PlanChangeFn: func(_ context.Context, req provider.PlanRequest) (provider.Planned, error) {
			d := diff.Compute(providertest.Schema, req.Spec, req.Observed.State)
			switch {
			case d.Empty():
				return provider.Planned{Action: provider.PlanNoop}, nil
			case d.ForceNew():
				var force []string
				for _, c := range d {
					if c.ForceNew {
						force = append(force, c.Path)
					}
				}
				return provider.Planned{Action: provider.PlanReplace, Paths: d.Paths(), ReplacePaths: force}, nil
			}
			return provider.Planned{Action: provider.PlanUpdate, Paths: d.Paths()}, nil
		},
	}
}

func TestConformancePlanner(t *testing.T) {
	providertest.Run(t, func(t *testing.T) providertest.Harness { return memoryHarness(t, planning) })
}

// brokenProviders are providers that each break one point of the
// contract; TestSuiteCatches checks that the suite fails them, at that
// point.
var brokenProviders = map[string]struct {
	wrap func(m *providertest.Memory) provider.Provider
	// failures replaces the harness's Failures when set.
	failures []providertest.Failure
	// edit, when set, changes the harness.
	edit func(h *providertest.Harness)
	// want is the subtest that must fail and a line of its output.
	wantTest, wantLine string
}{
	"observe writes": {
		wrap: func(m *providertest.Memory) provider.Provider {
			f := providertest.Wrap(m)
			f.ObserveFn = func(ctx context.Context, req provider.Request) (provider.Observation, error) {
				if o, ok := m.Get(req.ID); ok {
					m.Set(req.ID, o.Spec) // a rewrite of what is there
				}
				return m.Observe(ctx, req)
			}
			return f
		},
		wantTest: "ObserveNeverMutates", wantLine: "Observe changed the backend",
	},
	"plan writes": {
		wrap: func(m *providertest.Memory) provider.Provider {
			p := planning(m).(*providertest.PlanningFuncs)
			next := p.PlanChangeFn
			p.PlanChangeFn = func(ctx context.Context, req provider.PlanRequest) (provider.Planned, error) {
				m.Set(req.ID, req.Spec) // plans by doing
				return next(ctx, req)
			}
			return p
		},
		wantTest: "Plan", wantLine: "PlanChange changed the backend",
	},
	"plan sees no change": {
		wrap: func(m *providertest.Memory) provider.Provider {
			p := planning(m).(*providertest.PlanningFuncs)
			p.PlanChangeFn = func(context.Context, provider.PlanRequest) (provider.Planned, error) {
				return provider.Planned{Action: provider.PlanNoop}, nil
			}
			return p
		},
		wantTest: "Plan", wantLine: "want update",
	},
	"delete of what is gone fails": {
		wrap: func(m *providertest.Memory) provider.Provider {
			f := providertest.Wrap(m)
			f.DeleteFn = func(ctx context.Context, req provider.Request) error {
				if _, ok := m.Get(req.ID); !ok {
					return provider.Terminalf("delete %s: not found", req.ID)
				}
				return m.Delete(ctx, req)
			}
			return f
		},
		wantTest: "Delete", wantLine: "second Delete",
	},
	"a retried create makes a second object": {
		wrap: func(m *providertest.Memory) provider.Provider {
			f := providertest.Wrap(m)
			f.CreateFn = func(ctx context.Context, req provider.Request) (provider.Result, error) {
				if _, ok := m.Get(req.ID); ok {
					m.Set(req.ID+"-"+req.IdempotencyKey, req.Spec)
					return provider.Result{}, nil
				}
				return m.Create(ctx, req)
			}
			return f
		},
		wantTest: "CreateRetry", wantLine: "second Create with the same IdempotencyKey added objects",
	},
	"observe echoes the spec": {
		wrap: func(m *providertest.Memory) provider.Provider {
			f := providertest.Wrap(m)
			f.ObserveFn = func(ctx context.Context, req provider.Request) (provider.Observation, error) {
				obs, err := m.Observe(ctx, req)
				if obs.Exists {
					obs.State = provider.CanonicalMap(req.Spec)
				}
				return obs, err
			}
			return f
		},
		wantTest: "Drift", wantLine: "it does not read the object",
	},
	"a partial create names no object": {
		wrap: func(m *providertest.Memory) provider.Provider {
			f := providertest.Wrap(m)
			f.CreateFn = func(ctx context.Context, req provider.Request) (provider.Result, error) {
				res, err := m.Create(ctx, req)
				return provider.Result{Outputs: res.Outputs}, err // Observe finds it by ID all the same
			}
			return f
		},
		wantTest: "PartialCreate", wantLine: "returned no Private",
	},
	"a ForceNew kind with no Replaced spec": {
		edit:     func(h *providertest.Harness) { h.Replaced = nil },
		wantTest: "Replace", wantLine: "has ForceNew fields (zone) but the harness gives no Replaced spec",
	},
	"create writes into its request": {
		wrap: func(m *providertest.Memory) provider.Provider {
			f := providertest.Wrap(m)
			f.CreateFn = func(ctx context.Context, req provider.Request) (provider.Result, error) {
				req.Spec["value"] = "rewritten"
				return m.Create(ctx, req)
			}
			return f
		},
		wantTest: "CreateObserve", wantLine: "modified its request",
	},
	"update is not in place": {
		wrap: func(m *providertest.Memory) provider.Provider {
			f := providertest.Wrap(m)
			f.UpdateFn = func(ctx context.Context, req provider.Request) (provider.Result, error) {
				m.Set(req.ID+"-copy", req.Spec)
				return m.Update(ctx, req)
			}
			return f
		},
		wantTest: "Update", wantLine: "want it in place",
	},
	"update changes nothing": {
		wrap: func(m *providertest.Memory) provider.Provider {
			f := providertest.Wrap(m)
			f.UpdateFn = func(ctx context.Context, req provider.Request) (provider.Result, error) {
				return provider.Result{}, nil
			}
			return f
		},
		wantTest: "Update", wantLine: "the observed state differs from the spec at",
	},
	"unclassified error": {
		wrap: func(m *providertest.Memory) provider.Provider {
			f := providertest.Wrap(m)
			f.UpdateFn = func(ctx context.Context, req provider.Request) (provider.Result, error) {
				return provider.Result{}, errors.New("refused: the spec is invalid")
			}
			return f
		},
		failures: []providertest.Failure{{
			Name: "invalid", Op: providertest.OpUpdate,
			Spec: map[string]any{"value": "x", "secret": "hunter2-hunter2"}, Class: provider.ClassTerminal,
		}},
		wantTest: "ErrorsClassified", wantLine: "the error carries no class (Classify falls back to retryable); want terminal",
	},
	"error shows a sensitive value": {
		wrap: func(m *providertest.Memory) provider.Provider {
			f := providertest.Wrap(m)
			f.UpdateFn = func(ctx context.Context, req provider.Request) (provider.Result, error) {
				return provider.Result{}, provider.Retryable(fmt.Errorf("update with secret %v failed", req.Spec["secret"]))
			}
			return f
		},
		wantTest: "SensitiveNotInErrors", wantLine: "the error shows the value of a Sensitive field",
	},
	"no failure sets the sensitive field": {
		failures: []providertest.Failure{{Name: "gone", Op: providertest.OpUpdate, Spec: map[string]any{"value": "x"}, Class: provider.ClassRetryable}},
		wantTest: "SensitiveNotInErrors", wantLine: "no Failure sets Sensitive field secret",
	},
	"a failure that succeeds": {
		failures: []providertest.Failure{{Name: "fine", Op: providertest.OpDelete, Spec: map[string]any{"value": "x"}}},
		wantTest: "ErrorsClassified", wantLine: "succeeded; want it to fail",
	},
}

// TestBrokenProvider runs the suite against the broken provider that
// CONVERGE_BROKEN_PROVIDER names, for TestSuiteCatches; it is skipped
// otherwise.
func TestBrokenProvider(t *testing.T) {
	name := os.Getenv("CONVERGE_BROKEN_PROVIDER")
	if name == "" {
		t.Skip("run by TestSuiteCatches")
	}
	b, ok := brokenProviders[name]
	if !ok {
		t.Fatalf("no broken provider %q", name)
	}
	providertest.Run(t, func(t *testing.T) providertest.Harness {
		h := memoryHarness(t, b.wrap)
		if b.failures != nil {
			h.Failures = b.failures
		}
		if b.edit != nil {
			b.edit(&h)
		}
		return h
	})
}

// TestSuiteCatches checks that every point of the suite can fail: each
// broken provider fails the subtest of the point it breaks, with its
// message.
func TestSuiteCatches(t *testing.T) {
	if os.Getenv("CONVERGE_BROKEN_PROVIDER") != "" {
		t.Skip("inside a broken provider's run")
	}
	for name, b := range brokenProviders {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestBrokenProvider$", "-test.v")
			cmd.Env = append(os.Environ(), "CONVERGE_BROKEN_PROVIDER="+name)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("the suite passed the broken provider, or did not run (%v):\n%s", err, out)
			}
			if want := "--- FAIL: TestBrokenProvider/" + b.wantTest + " "; !strings.Contains(string(out), want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
			if !strings.Contains(string(out), b.wantLine) {
				t.Errorf("output lacks %q:\n%s", b.wantLine, out)
			}
		})
	}
}
