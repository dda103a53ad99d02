package engine

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store/memory"
)

// lagging hides objects for lag after they are created, declares a
// read-after-write grace, and answers the first create ambiguously (it
// acts, then fails).
type lagging struct {
	*providertest.Memory
	lag time.Duration

	mu      sync.Mutex
	created map[string]time.Time
	first   bool
}

func (l *lagging) Schemas() []provider.Schema {
	s := providertest.Schema
	s.ReadAfterWriteGrace = 10 * time.Second
	return []provider.Schema{s}
}

func (l *lagging) Observe(ctx context.Context, req provider.Request) (provider.Observation, error) {
	l.mu.Lock()
	at, ok := l.created[req.ID]
	l.mu.Unlock()
	if ok && time.Since(at) < l.lag {
		return provider.Observation{}, nil // not visible yet
	}
	return l.Memory.Observe(ctx, req)
}

func (l *lagging) Create(ctx context.Context, req provider.Request) (provider.Result, error) {
	res, err := l.Memory.Create(ctx, req)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.created[req.ID] = time.Now()
	if !l.first {
		l.first = true
		return provider.Result{}, provider.Ambiguous(errors.New("500 Internal Server Error"))
	}
	return res, err
}

// After an ambiguous create, the engine waits the kind's grace for the
// object to show up instead of creating it again; a ProviderConfig can set
// the grace (0s: an API that never lags or honours idempotency keys).
func TestReadAfterWriteGrace(t *testing.T) {
	for _, tc := range []struct {
		name    string
		config  string
		creates int64
	}{
		{"kind's grace", "", 1},
		{"ProviderConfig 0s", "---\nkind: ProviderConfig\nmetadata: {name: mem}\nspec: {readAfterWriteGrace: 0s}\n", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &lagging{Memory: providertest.NewMemory(), lag: 300 * time.Millisecond, created: map[string]time.Time{}}
			reg, err := provider.NewRegistry(p)
			if err != nil {
				t.Fatal(err)
			}
			rv, err := manifest.LoadBytes(map[string][]byte{"m.yaml": []byte("kind: mem.Object\nmetadata: {name: a}\nspec: {value: v}\n" + tc.config)}, reg)
			if err != nil {
				t.Fatal(err)
			}
			e := New(reg, memory.New(), Options{Logger: quiet(), BackoffBase: time.Millisecond, BackoffMax: time.Millisecond, ReadyPoll: 50 * time.Millisecond})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			rep, err := e.Apply(ctx, rv)
			if err != nil || !rep.OK() {
				t.Fatalf("apply: %v %+v", err, rep.Failures)
			}
			if got := p.Creates.Load(); got != tc.creates {
				t.Errorf("creates = %d; want %d", got, tc.creates)
			}
		})
	}
}
