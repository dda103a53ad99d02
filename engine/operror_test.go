package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store/memory"
)

// TestFailureNaming: a failed call's error begins with what the engine was
// doing, unless the provider named the call itself (a provider.OpError),
// however the error reads: the decision is on the type, not the text.
func TestFailureNaming(t *testing.T) {
	cause := errors.New("quota exceeded")
	tests := []struct {
		name          string
		create        error
		observe       error
		wantLastError string
		wantPlanError string
	}{
		{"unnamed", provider.Terminal(cause), nil, "create: quota exceeded", ""},
		{"named", provider.Terminal(provider.OpFailed(provider.OpCreate, "mem.Object/a", cause)), nil, "create mem.Object/a: quota exceeded", ""},
		// Text that only looks named is named again.
		{"looks named", provider.Terminal(errors.New("create mem.Object/a: quota exceeded")), nil, "create: create mem.Object/a: quota exceeded", ""},
		{"observe unnamed", nil, cause, "", "observe mem.Object/a: quota exceeded"},
		{"observe named", nil, provider.OpFailed(provider.OpObserve, "the API", cause), "", "observe the API: quota exceeded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &providertest.Funcs{
				ProviderName: "mem",
				KindSchemas:  []provider.Schema{providertest.Schema},
				ObserveFn: func(context.Context, provider.Request) (provider.Observation, error) {
					return provider.Observation{}, tc.observe
				},
				CreateFn: func(context.Context, provider.Request) (provider.Result, error) {
					return provider.Result{}, tc.create
				},
			}
			reg, err := provider.NewRegistry(p)
			if err != nil {
				t.Fatal(err)
			}
			rv, err := manifest.LoadBytes(map[string][]byte{"m.yaml": []byte("kind: mem.Object\nmetadata: {name: a}\nspec: {value: v}\n")}, reg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			st := memory.New()
			e := New(reg, st, Options{Logger: quiet(), BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond})
			if tc.wantPlanError != "" {
				pl, err := e.Plan(ctx, rv)
				if err != nil {
					t.Fatal(err)
				}
				if len(pl.Actions) != 1 || pl.Actions[0].Reason != tc.wantPlanError {
					t.Fatalf("plan = %+v; want one action failing with %q", pl.Actions, tc.wantPlanError)
				}
				return
			}
			if _, err := e.Apply(ctx, rv); err != nil {
				t.Fatal(err)
			}
			r, err := st.GetRecord(ctx, "mem.Object/a")
			if err != nil {
				t.Fatal(err)
			}
			if r.LastError != tc.wantLastError {
				t.Errorf("LastError = %q; want %q", r.LastError, tc.wantLastError)
			}
		})
	}
}
