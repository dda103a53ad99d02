package providertest

import (
	"context"
	"sync"

	"github.com/convergehq/converge/provider"
)

// Op names a provider operation: provider.Op.
type Op = provider.Op

// Operations.
const (
	OpObserve = provider.OpObserve
	OpCreate  = provider.OpCreate
	OpUpdate  = provider.OpUpdate
	OpDelete  = provider.OpDelete
)

// Call is one call Faulty saw.
type Call struct {
	Op  Op
	ID  string
	Key string // idempotency key
	Err error  // what the caller got
}

// Fault decides, for one call, what goes wrong. A nil Fault or a zero
// Outcome passes the call through.
type Fault func(op Op, req provider.Request, n int) Outcome

// Outcome is what a Fault makes of a call.
type Outcome struct {
	// Before fails the call without passing it on.
	Before error
	// After passes the call on, then fails it anyway: an ambiguous failure,
	// the change happened but the caller is told it did not.
	After error
	// Hang blocks until the caller's context is done, then fails with its
	// error: a call that times out.
	Hang bool
}

// Faulty wraps a provider and injects faults.
type Faulty struct {
	provider.Provider
	Fault Fault

	mu    sync.Mutex
	calls []Call
	count map[Op]int
}

// NewFaulty wraps p.
func NewFaulty(p provider.Provider, f Fault) *Faulty {
	return &Faulty{Provider: p, Fault: f, count: map[Op]int{}}
}

// Calls returns every call so far.
func (f *Faulty) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Call(nil), f.calls...)
}

// Count returns how many calls of op were made.
func (f *Faulty) Count(op Op) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count[op]
}

func (f *Faulty) do(ctx context.Context, op Op, req provider.Request, fn func() error) error {
	f.mu.Lock()
	f.count[op]++
	n := f.count[op]
	f.mu.Unlock()
	var out Outcome
	if f.Fault != nil {
		out = f.Fault(op, req, n)
	}
	var err error
	switch {
	case out.Hang:
		<-ctx.Done()
		err = ctx.Err()
	case out.Before != nil:
		err = out.Before
	default:
		err = fn()
		if err == nil && out.After != nil {
			err = out.After
		}
	}
	f.mu.Lock()
	f.calls = append(f.calls, Call{Op: op, ID: req.ID, Key: req.IdempotencyKey, Err: err})
	f.mu.Unlock()
	return err
}

// Observe implements provider.Provider.
func (f *Faulty) Observe(ctx context.Context, req provider.Request) (provider.Observation, error) {
	var obs provider.Observation
	err := f.do(ctx, OpObserve, req, func() error {
		var err error
		obs, err = f.Provider.Observe(ctx, req)
		return err
	})
	return obs, err
}

// Create implements provider.Provider.
func (f *Faulty) Create(ctx context.Context, req provider.Request) (provider.Result, error) {
	var res provider.Result
	err := f.do(ctx, OpCreate, req, func() error {
		var err error
		res, err = f.Provider.Create(ctx, req)
		return err
	})
	return res, err
}

// Update implements provider.Provider.
func (f *Faulty) Update(ctx context.Context, req provider.Request) (provider.Result, error) {
	var res provider.Result
	err := f.do(ctx, OpUpdate, req, func() error {
		var err error
		res, err = f.Provider.Update(ctx, req)
		return err
	})
	return res, err
}

// Delete implements provider.Provider.
func (f *Faulty) Delete(ctx context.Context, req provider.Request) error {
	return f.do(ctx, OpDelete, req, func() error { return f.Provider.Delete(ctx, req) })
}

var _ provider.Provider = (*Faulty)(nil)
