package providertest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/convergehq/converge/provider"
)

// Kind is the one kind Memory manages.
const Kind = "mem.Object"

// Schema is the schema of mem.Object: value (string), size (int), zone
// (force-new), secret (sensitive), tags (partial map).
var Schema = provider.Schema{
	Kind:        Kind,
	Description: "An object kept in memory, for tests.",
	Fields: map[string]provider.Field{
		"value":  {Type: provider.String, Description: "any string", Default: ""},
		"size":   {Type: provider.Int, Description: "any integer"},
		"zone":   {Type: provider.String, Description: "changing it replaces the object", ForceNew: true},
		"secret": {Type: provider.String, Description: "never printed", Sensitive: true},
		"tags":   {Type: provider.Map, Description: "only declared keys are compared", Partial: true},
	},
	Outputs: []string{"id", "value"},
}

// Object is one stored object.
type Object struct {
	ID    string
	Name  string
	Spec  map[string]any
	Gen   int // bumped on every write
	Creat int // how many times a create made it
}

// Memory is an in-memory provider. It is safe for concurrent use.
type Memory struct {
	// Latency, when set, is slept in every call (benchmarks of scheduling).
	Latency time.Duration

	mu      sync.Mutex
	objects map[string]*Object // by resource ID
	busy    map[string]bool    // objects with a mutation in flight
	nextID  int

	Observes, Creates, Updates, Deletes atomic.Int64
	// Violations lists guarantees the engine broke: overlapping mutations
	// of one object, creates of an object that exists.
	violations []string
}

// NewMemory returns an empty Memory provider.
func NewMemory() *Memory {
	return &Memory{objects: map[string]*Object{}, busy: map[string]bool{}}
}

// Name implements provider.Provider.
func (m *Memory) Name() string { return "mem" }

// Schemas implements provider.Provider.
func (m *Memory) Schemas() []provider.Schema { return []provider.Schema{Schema} }

// Observe implements provider.Provider.
func (m *Memory) Observe(ctx context.Context, req provider.Request) (provider.Observation, error) {
	m.Observes.Add(1)
	m.sleep(ctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objects[req.ID]
	if !ok {
		return provider.Observation{}, nil
	}
	return provider.Observation{Exists: true, State: copyMap(o.Spec), Outputs: outputs(o), Private: map[string]string{"id": o.ID}}, nil
}

// Create implements provider.Provider. Creating an object that exists is
// recorded as a violation (the engine must observe and adopt first) and
// overwrites it.
func (m *Memory) Create(ctx context.Context, req provider.Request) (provider.Result, error) {
	m.Creates.Add(1)
	if err := m.begin(req.ID); err != nil {
		return provider.Result{}, err
	}
	defer m.end(req.ID)
	m.sleep(ctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	if o, ok := m.objects[req.ID]; ok {
		m.violations = append(m.violations, fmt.Sprintf("create of %s, which exists (created %d times)", req.ID, o.Creat))
	}
	m.nextID++
	o := &Object{ID: fmt.Sprintf("obj-%d", m.nextID), Name: req.Name, Spec: copyMap(req.Spec), Gen: 1, Creat: 1}
	m.objects[req.ID] = o
	return provider.Result{Outputs: outputs(o), Private: map[string]string{"id": o.ID}}, nil
}

// Update implements provider.Provider. An object that is gone is a
// retryable error: the engine observes again, and creates it.
func (m *Memory) Update(ctx context.Context, req provider.Request) (provider.Result, error) {
	m.Updates.Add(1)
	if err := m.begin(req.ID); err != nil {
		return provider.Result{}, err
	}
	defer m.end(req.ID)
	m.sleep(ctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objects[req.ID]
	if !ok {
		return provider.Result{}, provider.Retryable(provider.OpFailed(provider.OpUpdate, req.ID, errors.New("not found")))
	}
	o.Spec = copyMap(req.Spec)
	o.Gen++
	return provider.Result{Outputs: outputs(o), Private: map[string]string{"id": o.ID}}, nil
}

// Delete implements provider.Provider.
func (m *Memory) Delete(ctx context.Context, req provider.Request) error {
	m.Deletes.Add(1)
	if err := m.begin(req.ID); err != nil {
		return err
	}
	defer m.end(req.ID)
	m.sleep(ctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objects, req.ID)
	return nil
}

func (m *Memory) sleep(ctx context.Context) {
	if m.Latency <= 0 {
		return
	}
	t := time.NewTimer(m.Latency)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func (m *Memory) begin(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.busy[id] {
		m.violations = append(m.violations, "two mutations of "+id+" at once")
		return fmt.Errorf("%s is busy", id)
	}
	m.busy[id] = true
	return nil
}

func (m *Memory) end(id string) {
	m.mu.Lock()
	delete(m.busy, id)
	m.mu.Unlock()
}

// Get returns a copy of the object of resource id.
func (m *Memory) Get(id string) (Object, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objects[id]
	if !ok {
		return Object{}, false
	}
	c := *o
	c.Spec = copyMap(o.Spec)
	return c, true
}

// Set puts an object in place by hand (out of band), as a person would.
func (m *Memory) Set(id string, spec map[string]any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objects[id]
	if !ok {
		m.nextID++
		o = &Object{ID: fmt.Sprintf("obj-%d", m.nextID)}
		m.objects[id] = o
	}
	o.Spec = provider.CanonicalMap(spec)
	o.Gen++
}

// Remove deletes an object by hand (out of band).
func (m *Memory) Remove(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objects, id)
}

// IDs returns the resource IDs of every object, sorted.
func (m *Memory) IDs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.objects))
	for id := range m.objects {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Violations returns the guarantees broken so far.
func (m *Memory) Violations() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.violations...)
}

// Mutations is the number of mutating calls so far.
func (m *Memory) Mutations() int64 {
	return m.Creates.Load() + m.Updates.Load() + m.Deletes.Load()
}

func outputs(o *Object) map[string]any {
	return map[string]any{"id": o.ID, "value": o.Spec["value"]}
}

func copyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	return provider.CanonicalMap(m)
}

var _ provider.Provider = (*Memory)(nil)
