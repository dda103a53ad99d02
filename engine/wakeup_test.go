package engine

import (
	"context"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
)

// holdingStore holds the write of one record (hold) until release is
// closed, and says when it starts and when another record (watch) is
// written Ready.
type holdingStore struct {
	*memory.Store
	hold, watch  string
	holding      chan struct{} // closed when the write of hold starts
	release      chan struct{}
	watchReady   chan struct{} // closed when watch is written Ready
	once1, once2 sync.Once
	mu           sync.Mutex
	armed        bool
}

func (s *holdingStore) arm() {
	s.mu.Lock()
	s.armed = true
	s.mu.Unlock()
}

func (s *holdingStore) PutRecord(ctx context.Context, r store.Record) error {
	s.mu.Lock()
	armed := s.armed
	s.mu.Unlock()
	if !armed {
		return s.Store.PutRecord(ctx, r)
	}
	if r.ID == s.hold && r.Phase == store.PhaseWaiting {
		s.once1.Do(func() { close(s.holding) })
		<-s.release
	}
	err := s.Store.PutRecord(ctx, r)
	if r.ID == s.watch && r.Phase == store.PhaseReady {
		s.once2.Do(func() { close(s.watchReady) })
	}
	return err
}

// A dependent that decides to wait while its dependency is being made,
// and records it only once the dependency is Ready (and saw the
// dependent's old record, Ready, so did not wake it), goes on all the
// same: it does not wait forever.
func TestWaitRecordedAfterTheDependencyBecameReady(t *testing.T) {
	var mu sync.Mutex
	objects := map[string]map[string]any{}
	createGate := make(chan struct{})
	gateOn := false
	p := &providertest.Funcs{
		ProviderName: "mem",
		KindSchemas:  []provider.Schema{providertest.Schema},
		ObserveFn: func(_ context.Context, req provider.Request) (provider.Observation, error) {
			mu.Lock()
			defer mu.Unlock()
			o, ok := objects[req.ID]
			if !ok {
				return provider.Observation{}, nil
			}
			return provider.Observation{Exists: true, State: maps.Clone(o), Outputs: map[string]any{"id": req.ID, "value": o["value"]}, Private: map[string]string{"id": req.ID}}, nil
		},
		CreateFn: func(_ context.Context, req provider.Request) (provider.Result, error) {
			mu.Lock()
			gate := gateOn
			mu.Unlock()
			if gate {
				<-createGate
			}
			mu.Lock()
			defer mu.Unlock()
			objects[req.ID] = maps.Clone(req.Spec)
			return provider.Result{Private: map[string]string{"id": req.ID}, Outputs: map[string]any{"id": req.ID, "value": req.Spec["value"]}}, nil
		},
	}
	reg, err := provider.NewRegistry(p)
	if err != nil {
		t.Fatal(err)
	}
	rv, err := manifest.LoadBytes(map[string][]byte{"m.yaml": []byte(
		"kind: mem.Object\nmetadata: {name: a}\nspec: {value: a}\n---\n" +
			"kind: mem.Object\nmetadata: {name: b}\nspec: {value: \"${mem.Object/a.outputs.value}\"}\n")}, reg)
	if err != nil {
		t.Fatal(err)
	}
	st := &holdingStore{Store: memory.New(), hold: "mem.Object/b", watch: "mem.Object/a",
		holding: make(chan struct{}), release: make(chan struct{}), watchReady: make(chan struct{})}
	opts := Options{Workers: 4, Logger: testLogger()}
	if rep, err := New(reg, st, opts).Apply(context.Background(), rv); err != nil || !rep.OK() {
		t.Fatalf("apply = %+v, %v", rep, err)
	}

	e := New(reg, st, opts)
	if err := e.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := e.SetTarget(ctx, rv); err != nil {
		t.Fatal(err)
	}
	wg := e.Start(ctx)
	defer e.Stop(wg)
	waitIdle := func() {
		t.Helper()
		wctx, wcancel := context.WithTimeout(ctx, waitBound)
		defer wcancel()
		if err := e.WaitIdle(wctx); err != nil {
			t.Fatal(err)
		}
	}
	waitIdle()

	// a is deleted by hand: its create is held until b decided to wait
	// and started recording it; that record is held until a is Ready.
	mu.Lock()
	delete(objects, "mem.Object/a")
	gateOn = true
	mu.Unlock()
	st.arm()
	e.enqueue("mem.Object/a")
	go func() {
		// b looks while a is being made.
		for {
			if r, ok := e.recordOf("mem.Object/a"); ok && r.Phase == store.PhaseCreating {
				break
			}
			time.Sleep(time.Millisecond)
		}
		e.enqueue("mem.Object/b")
	}()
	select {
	case <-st.holding:
	case <-time.After(waitBound):
		t.Fatal("b never decided to wait for a")
	}
	close(createGate)
	select {
	case <-st.watchReady:
	case <-time.After(waitBound):
		t.Fatal("a never became Ready")
	}
	time.Sleep(50 * time.Millisecond) // a wakes its dependents now
	close(st.release)
	waitIdle()

	for _, id := range []string{"mem.Object/a", "mem.Object/b"} {
		if r, _ := e.recordOf(id); r.Phase != store.PhaseReady {
			t.Errorf("%s is %s (%s); want Ready", id, r.Phase, r.Message)
		}
	}
}

func (e *Engine) recordOf(id string) (store.Record, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.records[id]
	if !ok {
		return store.Record{}, false
	}
	return *r, true
}
