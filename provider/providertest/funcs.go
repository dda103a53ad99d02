package providertest

import (
	"context"

	"github.com/convergehq/converge/provider"
)

// Funcs is a provider made of functions, for tests: each method calls its
// field. A nil field does nothing and succeeds: Observe reports the object
// absent, Create and Update return an empty Result, Delete returns nil.
//
//	p := &providertest.Funcs{
//		ProviderName: "mem",
//		KindSchemas:  []provider.Schema{providertest.Schema},
//		DeleteFn: func(ctx context.Context, req provider.Request) error {
//			return provider.Terminalf("refused")
//		},
//	}
type Funcs struct {
	// ProviderName is what Name returns.
	ProviderName string
	// KindSchemas is what Schemas returns.
	KindSchemas []provider.Schema

	ObserveFn func(ctx context.Context, req provider.Request) (provider.Observation, error)
	CreateFn  func(ctx context.Context, req provider.Request) (provider.Result, error)
	UpdateFn  func(ctx context.Context, req provider.Request) (provider.Result, error)
	DeleteFn  func(ctx context.Context, req provider.Request) error
}

// Name implements provider.Provider.
func (f *Funcs) Name() string { return f.ProviderName }

// Schemas implements provider.Provider.
func (f *Funcs) Schemas() []provider.Schema { return f.KindSchemas }

// Observe implements provider.Provider.
func (f *Funcs) Observe(ctx context.Context, req provider.Request) (provider.Observation, error) {
	if f.ObserveFn == nil {
		return provider.Observation{}, nil
	}
	return f.ObserveFn(ctx, req)
}

// Create implements provider.Provider.
func (f *Funcs) Create(ctx context.Context, req provider.Request) (provider.Result, error) {
	if f.CreateFn == nil {
		return provider.Result{}, nil
	}
	return f.CreateFn(ctx, req)
}

// Update implements provider.Provider.
func (f *Funcs) Update(ctx context.Context, req provider.Request) (provider.Result, error) {
	if f.UpdateFn == nil {
		return provider.Result{}, nil
	}
	return f.UpdateFn(ctx, req)
}

// Delete implements provider.Provider.
func (f *Funcs) Delete(ctx context.Context, req provider.Request) error {
	if f.DeleteFn == nil {
		return nil
	}
	return f.DeleteFn(ctx, req)
}

// Wrap returns a Funcs whose every function calls p, for a test to replace
// one of them.
func Wrap(p provider.Provider) *Funcs {
	return &Funcs{
		ProviderName: p.Name(),
		KindSchemas:  p.Schemas(),
		ObserveFn:    p.Observe,
		CreateFn:     p.Create,
		UpdateFn:     p.Update,
		DeleteFn:     p.Delete,
	}
}

var _ provider.Provider = (*Funcs)(nil)

// PlanningFuncs is Funcs that also plans its own changes
// (provider.Planner), with PlanChangeFn.
type PlanningFuncs struct {
	Funcs
	PlanChangeFn func(ctx context.Context, req provider.PlanRequest) (provider.Planned, error)
}

// PlanChange implements provider.Planner.
func (f *PlanningFuncs) PlanChange(ctx context.Context, req provider.PlanRequest) (provider.Planned, error) {
	return f.PlanChangeFn(ctx, req)
}
