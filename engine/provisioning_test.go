package engine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
)

// TestProvisioningIsNotCreated: an object a create made but that is not
// ready yet is "accepted, provisioning", and "created" once it is ready:
// the events say it in that order, once each.
func TestProvisioningIsNotCreated(t *testing.T) {
	var (
		mu       sync.Mutex
		observes int
		made     bool
	)
	p := &providertest.Funcs{
		ProviderName: "mem",
		KindSchemas:  []provider.Schema{providertest.Schema},
		ObserveFn: func(_ context.Context, req provider.Request) (provider.Observation, error) {
			mu.Lock()
			defer mu.Unlock()
			if !made {
				return provider.Observation{}, nil
			}
			observes++
			obs := provider.Observation{Exists: true, State: map[string]any{"value": "v"}, Outputs: map[string]any{"id": "1", "value": "v"}, Private: map[string]string{"id": "1"}}
			if observes < 3 {
				obs.NotReady = "booting"
			}
			return obs, nil
		},
		CreateFn: func(context.Context, provider.Request) (provider.Result, error) {
			mu.Lock()
			defer mu.Unlock()
			made = true
			return provider.Result{Outputs: map[string]any{"id": "1", "value": "v"}, Private: map[string]string{"id": "1"}, NotReady: "booting"}, nil
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
	st := memory.New()
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	rep, err := New(reg, st, Options{Logger: quiet(), ReadyPoll: time.Millisecond}).Apply(ctx, rv)
	if err != nil || !rep.OK() {
		t.Fatalf("apply: %v %+v", err, rep.Failures)
	}
	if observes < 3 {
		t.Fatalf("observed %d times; want the object not ready twice, then ready", observes)
	}
	evs, err := st.ListEvents(ctx, store.EventFilter{Resource: "mem.Object/a"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		got = append(got, string(ev.Reason)+": "+ev.Message)
	}
	want := []string{"Accepted: accepted, provisioning: booting", "Created: created (ready after provisioning)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestDeadlineKeepsTheNews: when the run's deadline cuts a retry in flight,
// the resource still says what it last failed with, as its message too
// (the retry's intent had cleared it).
func TestDeadlineKeepsTheNews(t *testing.T) {
	var calls atomic.Int32
	p := &providertest.Funcs{
		ProviderName: "mem",
		KindSchemas:  []provider.Schema{providertest.Schema},
		CreateFn: func(ctx context.Context, req provider.Request) (provider.Result, error) {
			if calls.Add(1) == 1 {
				return provider.Result{}, errors.New("parent directory nodir does not exist")
			}
			// The retry hangs until the run's deadline cuts it, and fails otherwise.
			<-ctx.Done()
			return provider.Result{}, errors.New("connection reset")
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
	st := memory.New()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	rep, _ := New(reg, st, Options{Logger: quiet(), BackoffBase: time.Millisecond, BackoffMax: time.Millisecond}).Apply(ctx, rv)
	if calls.Load() < 2 || rep.OK() {
		t.Fatalf("calls %d, report OK %v: want a failure, then a retry cut by the deadline", calls.Load(), rep.OK())
	}
	r, err := st.GetRecord(context.Background(), "mem.Object/a")
	if err != nil {
		t.Fatal(err)
	}
	if r.Phase != store.PhaseError || !strings.Contains(r.Message, "parent directory nodir does not exist") || r.Message != r.LastError {
		t.Errorf("record after the deadline: %s, message %q, last error %q; want Error and the last failure in both", r.Phase, r.Message, r.LastError)
	}
}
