package engine

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/convergehq/converge/graph"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/plan"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/queue"
	"github.com/convergehq/converge/store"
)

// Failure is a resource that did not converge.
type Failure struct {
	ID      string      `json:"id"`
	Phase   store.Phase `json:"phase"`
	Message string      `json:"message"`
	// Class is the class of the error the resource last failed with
	// (ClassConflict: an object converge did not create is in the way,
	// and converge adopt takes it over); retryable, and left out of JSON,
	// when it has none.
	Class provider.Class `json:"class,omitempty"`
}

// Report is the outcome of Apply.
type Report struct {
	Revision string    `json:"revision"`
	Ready    int       `json:"ready"`
	Deleted  int       `json:"deleted"`
	Failures []Failure `json:"failures,omitempty"`
	// Drifted are resources that drifted and whose policy says only report
	// it: they count as converged, and are listed.
	Drifted []Failure `json:"drifted,omitempty"`
	// RolledBack is set when the revision failed and the last known good
	// one was converged instead (controller.ApplyOnce sets it).
	RolledBack *Rollback     `json:"rolledBack,omitempty"`
	Stats      Stats         `json:"stats"`
	Duration   time.Duration `json:"-"`
	// Seconds is Duration, for JSON.
	Seconds float64 `json:"seconds"`
}

// OK reports whether everything converged, on the revision asked for.
func (r Report) OK() bool { return len(r.Failures) == 0 && r.RolledBack == nil }

// Apply converges rv once: it returns when every resource is Ready or
// failed in a way retrying now cannot fix, or when ctx is done (a timeout).
// A nil rv destroys everything recorded. In-flight calls finish before it
// returns, and every outcome is in the store. It judges nothing: it never
// marks the revision converged or failed, nor rolls it back.
// controller.ApplyOnce converges once and judges, as converge apply does.
func (e *Engine) Apply(ctx context.Context, rv *manifest.Revision) (Report, error) {
	return e.ApplyUntil(ctx, rv, e.WaitIdle)
}

// ApplyUntil targets rv (nil: destroy everything recorded) and runs the
// workers, without notifications (it converges once), until wait returns;
// then it lets the calls in flight finish, stops the workers and reports
// on the revision targeted then (wait may target another one: a
// rollback). Apply's wait is WaitIdle. The report's error is wait's, when
// everything else in the report is fine. Options.Guard is checked first.
func (e *Engine) ApplyUntil(ctx context.Context, rv *manifest.Revision, wait func(context.Context) error) (Report, error) {
	start := e.opts.Clock.Now()
	if g := e.opts.Guard; g != nil && rv != nil {
		if err := e.ensureLoaded(ctx); err != nil {
			return Report{}, err
		}
		if err := g.Check(e.Records(), rv); err != nil {
			return Report{}, err
		}
	}
	before := e.recordCount()
	if err := e.SetTarget(ctx, rv); err != nil {
		return Report{}, err
	}
	wg := e.startWorkers(ctx) // no notifications: it converges once
	waitErr := wait(ctx)
	e.Stop(wg)
	rep := e.report(e.currentTarget())
	rep.Duration = e.opts.Clock.Since(start)
	rep.Seconds = rep.Duration.Seconds()
	if rv == nil {
		rep.Deleted = before - e.recordCount()
	}
	if waitErr != nil && rep.OK() {
		return rep, fmt.Errorf("apply: %w", waitErr)
	}
	return rep, nil
}

// ensureLoaded loads the records unless they are loaded.
func (e *Engine) ensureLoaded(ctx context.Context) error {
	e.mu.Lock()
	loaded := e.loaded
	e.mu.Unlock()
	if loaded {
		return nil
	}
	return e.Load(ctx)
}

// Rollback says that a converge once rolled back.
type Rollback struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Reason string `json:"reason"`
}

func (e *Engine) currentTarget() *manifest.Revision {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.target
}

func (e *Engine) recordCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.records)
}

// report summarizes the records against rv.
func (e *Engine) report(rv *manifest.Revision) Report {
	rep := Report{Revision: rvHash(rv), Stats: e.Stats()}
	e.mu.Lock()
	defer e.mu.Unlock()
	recs := e.records // read under the lock, never written here
	if rv != nil {
		for _, res := range rv.Resources {
			r, ok := recs[res.ID]
			switch {
			case !ok:
				rep.Failures = append(rep.Failures, Failure{ID: res.ID, Phase: store.PhasePending, Message: "not reconciled"})
			case r.Phase == store.PhaseReady && r.AppliedHash == res.Hash:
				rep.Ready++
			case r.Phase == store.PhaseDrifted && r.AppliedHash == res.Hash:
				rep.Ready++
				rep.Drifted = append(rep.Drifted, Failure{ID: res.ID, Phase: r.Phase, Message: summarize(r.Message)})
			default:
				msg := r.Message
				if msg == "" {
					msg = r.LastError
				}
				rep.Failures = append(rep.Failures, Failure{ID: res.ID, Phase: r.Phase, Message: summarize(msg), Class: r.ErrorClass})
			}
		}
	}
	for id, r := range recs {
		if _, ok := rv.Get(id); ok {
			continue
		}
		msg := r.Message
		if msg == "" {
			msg = "not deleted yet"
		}
		rep.Failures = append(rep.Failures, Failure{ID: id, Phase: r.Phase, Message: "still present after leaving the manifests: " + summarize(msg)})
	}
	sort.Slice(rep.Failures, func(i, j int) bool { return rep.Failures[i].ID < rep.Failures[j].ID })
	return rep
}

// Plan computes what Apply would do, calling only the providers' Observe
// (and PlanChange, for a provider.Planner). A nil rv plans a destroy.
// Values that depend on resources that will change are shown as known
// after apply, except the outputs a Planner predicted for its change
// (provider.Planned.Outputs): those it gave as known are shown as they
// will be.
func (e *Engine) Plan(ctx context.Context, rv *manifest.Revision) (*plan.Plan, error) {
	rv, err := e.openRevision(rv)
	if err != nil {
		return nil, err
	}
	e.learnRevision(rv)
	p := &plan.Plan{Revision: rvHash(rv)}
	if err := e.ensureLoaded(ctx); err != nil {
		return nil, err
	}
	lim := e.planLimits(rv)
	recs := map[string]*store.Record{}
	for _, r := range e.Records() {
		r := r
		recs[r.ID] = &r
	}
	if rv != nil {
		g := manifest.BuildGraph(rv)
		order, err := g.Order()
		if err != nil {
			return nil, err
		}
		// Dependencies first (the actions are listed level by level). A
		// resource whose spec uses outputs of others is planned once all
		// its dependencies are, since what it will do depends on what they
		// will; any other is observed at once.
		ids := flatten(levels(order, g.Deps))
		at := make(map[string]int, len(ids))
		for i, id := range ids {
			at[id] = i
		}
		waits := make([][]int, len(ids))
		for i, id := range ids {
			res, _ := rv.Get(id)
			if len(res.Refs) == 0 {
				continue
			}
			for _, d := range g.Deps(id) {
				if j, ok := at[d]; ok {
					waits[i] = append(waits[i], j)
				}
			}
		}
		actions, err := e.planFlow(ctx, ids, waits, func(i int, predicted func(string) prediction) (plan.Action, map[string]any, error) {
			res, _ := rv.Get(ids[i])
			return e.planOne(ctx, lim, rv, res, recs[ids[i]], recs, predicted)
		})
		if err != nil {
			return nil, err
		}
		p.Actions = append(p.Actions, actions...)
	}
	// Resources that left the manifests, dependents first.
	g := graph.New()
	for id, r := range recs {
		if _, ok := rv.Get(id); ok {
			continue
		}
		g.AddNode(id)
		for _, d := range r.Deps {
			if _, gone := rv.Get(d); !gone {
				if _, rec := recs[d]; rec {
					g.AddEdge(id, d, "recorded dependency")
				}
			}
		}
	}
	order, err := g.Order()
	if err != nil {
		return nil, fmt.Errorf("order deletions: %w", err)
	}
	// A deletion uses nothing another resource's plan predicts: all are
	// observed at once, and listed dependents first.
	lv := levels(order, g.Deps)
	slices.Reverse(lv)
	gone := flatten(lv)
	actions, err := e.planFlow(ctx, gone, nil, func(i int, _ func(string) prediction) (plan.Action, map[string]any, error) {
		return e.planOne(ctx, lim, rv, nil, recs[gone[i]], recs, nil)
	})
	if err != nil {
		return nil, err
	}
	p.Actions = append(p.Actions, actions...)
	return p, nil
}

// flatten joins levels into one list, in order.
func flatten(levels [][]string) []string {
	var out []string
	for _, l := range levels {
		out = append(out, l...)
	}
	return out
}

// levels groups a topological order (dependencies first) into levels:
// every dependency of a resource is in an earlier level.
func levels(order []string, deps func(string) []string) [][]string {
	depth := make(map[string]int, len(order))
	var out [][]string
	for _, id := range order {
		d := 0
		for _, dep := range deps(id) {
			if dd, ok := depth[dep]; ok && dd+1 > d {
				d = dd + 1
			}
		}
		depth[id] = d
		for len(out) <= d {
			out = append(out, nil)
		}
		out[d] = append(out[d], id)
	}
	return out
}

// planOne plans one resource: res, or rec's when res is nil (a deletion).
// predicted gives what the plan does to the resources res depends on (nil
// for a deletion). Besides the action, it returns the outputs the resource
// will have after an update or replace, when its provider's plan predicted
// them (nil otherwise).
func (e *Engine) planOne(ctx context.Context, lim planLimits, rv *manifest.Revision, res *manifest.Resource, rec *store.Record, recs map[string]*store.Record, predicted func(string) prediction) (plan.Action, map[string]any, error) {
	in := Input{Desired: res, Record: rec, DefaultDrift: e.opts.DefaultDrift, Destroy: rv == nil}
	if res != nil {
		in.ID, in.Kind, in.Name = res.ID, res.Kind, res.Name
	} else {
		in.ID, in.Kind, in.Name = rec.ID, rec.Kind, rec.Name
	}
	p, ok := e.reg.For(in.Kind)
	if !ok {
		return plan.Action{}, nil, fmt.Errorf("plan %s: kind %s: %w", in.ID, in.Kind, errNoProvider)
	}
	in.Schema, _ = e.reg.Schema(in.Kind)
	if res != nil {
		spec, _ := manifest.Resolve(res, in.Schema, func(dep string) (map[string]any, bool) {
			return plannedOutputs(recs[dep], predicted(dep))
		})
		var err error
		if in.Spec, err = in.Schema.Apply(spec); err != nil {
			return e.cleanAction(planError(in, err)), nil, nil
		}
		e.learn(in.Kind, in.Spec)
	}
	e.learnRecord(rec)
	ours := rec.Ours()
	observe := ours || (res != nil && !provider.IsUnknown(in.Spec))
	if !observe && res != nil {
		// Its spec waits for outputs of dependencies: what happens to it
		// depends on them. One that could not be observed leaves this one
		// unknown too; otherwise they are to be made, and so is this.
		var blind []string
		for _, dep := range res.Deps() {
			if predicted(dep).Type == plan.Error {
				blind = append(blind, dep)
			}
		}
		if len(blind) > 0 {
			return e.cleanAction(planError(in, fmt.Errorf("not observed: it depends on %s, which could not be observed", strings.Join(blind, ", ")))), nil, nil
		}
	}
	if observe {
		req := e.observeRequest(in)
		release, err := lim.limiter(p.Name()).Acquire(ctx)
		if err != nil {
			return plan.Action{}, nil, err
		}
		cctx, cancel := context.WithTimeout(ctx, lim.timeout(p.Name()))
		obs, err := p.Observe(cctx, req)
		cancel()
		release()
		atomic.AddInt64(&e.stats.Observes, 1)
		if err != nil {
			if ctx.Err() != nil {
				return plan.Action{}, nil, ctx.Err()
			}
			if !provider.Named(err) {
				err = provider.OpFailed(provider.OpObserve, in.ID, err)
			}
			// The rest of the plan goes on: one unreachable API does not
			// hide what would happen everywhere else.
			return e.cleanAction(planError(in, err)), nil, nil
		}
		in.Observed = &obs
		if pl, ok := p.(provider.Planner); ok && wantsPlan(in) {
			planned, err := e.previewChange(ctx, lim, p.Name(), pl, in)
			if err != nil {
				if ctx.Err() != nil {
					return plan.Action{}, nil, ctx.Err()
				}
				return e.cleanAction(planError(in, fmt.Errorf("plan %s: %w", in.ID, err))), nil, nil
			}
			in.Planned = &planned
		}
	}
	a := Decide(in)
	if !observe && a.Type == plan.Create {
		a.Reason = "not observed: it uses outputs of resources to be created"
	}
	var outputs map[string]any
	if in.Planned != nil && (a.Type == plan.Update || a.Type == plan.Replace) {
		outputs = in.Planned.Outputs
	}
	return e.cleanAction(a), outputs, nil
}

// plannedOutputs are the outputs a plan resolves a dependent against: the
// recorded ones of a Ready dependency the plan leaves as it is, or the
// known ones its provider predicted for its update or replace (one
// predicted Unknown is left out, so what uses it stays known only after
// apply); false when they are known only after apply.
func plannedOutputs(r *store.Record, p prediction) (map[string]any, bool) {
	if r == nil || r.Phase != store.PhaseReady {
		return nil, false
	}
	switch p.Type {
	case plan.None, plan.Adopt:
		return r.Outputs, true
	case plan.Update, plan.Replace:
		if p.Outputs == nil {
			return nil, false
		}
		known := make(map[string]any, len(p.Outputs))
		for k, v := range p.Outputs {
			if !provider.IsUnknown(v) {
				known[k] = v
			}
		}
		return known, true
	}
	return nil, false
}

// previewChange asks a Planner provider for its plan of in's change, within
// the preview's own limits.
func (e *Engine) previewChange(ctx context.Context, lim planLimits, name string, pl provider.Planner, in Input) (provider.Planned, error) {
	release, err := lim.limiter(name).Acquire(ctx)
	if err != nil {
		return provider.Planned{}, err
	}
	defer release()
	cctx, cancel := context.WithTimeout(ctx, lim.timeout(name))
	defer cancel()
	atomic.AddInt64(&e.stats.Plans, 1)
	return pl.PlanChange(cctx, planRequest(in))
}

// planError is the action of a resource the plan could not observe.
func planError(in Input, err error) plan.Action {
	return plan.Action{Type: plan.Error, ID: in.ID, Kind: in.Kind, Name: in.Name, Reason: err.Error()}
}

func (e *Engine) limiterFor(name string) *queue.Limiter {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.limiterLocked(name)
}

func (e *Engine) limiterLocked(name string) *queue.Limiter {
	l := e.limiters[name]
	if l == nil {
		l = queue.NewLimiter(queue.LimiterConfig{}, e.opts.Clock)
		e.limiters[name] = l
	}
	return l
}

// planLimits are the limits a plan observes under. A plan never changes
// the engine's own: on an engine that has a target (a running daemon), it
// shares the engine's limiters, so its observations count against the
// same budget; on an engine that never had one (made to plan), it uses
// the limits rv declares, made for this plan alone, and configures the
// providers as rv says.
type planLimits struct {
	e        *Engine
	limiters map[string]*queue.Limiter // nil: the engine's
	timeouts map[string]time.Duration
}

func (e *Engine) planLimits(rv *manifest.Revision) planLimits {
	e.mu.Lock()
	defer e.mu.Unlock()
	l := planLimits{e: e}
	if !e.targetSince.IsZero() || rv == nil {
		return l // live, or a destroy plan: the engine's limits
	}
	l.limiters, l.timeouts = map[string]*queue.Limiter{}, map[string]time.Duration{}
	for name, pc := range rv.ProviderConfigs {
		l.limiters[name] = queue.NewLimiter(queue.LimiterConfig{QPS: pc.QPS, Burst: pc.Burst, MaxInFlight: pc.MaxInFlight}, e.opts.Clock)
		if d, err := time.ParseDuration(pc.Timeout); err == nil && d > 0 {
			l.timeouts[name] = d
		}
	}
	e.configureProvidersLocked(rv)
	return l
}

func (l planLimits) limiter(name string) *queue.Limiter {
	if lim, ok := l.limiters[name]; ok {
		return lim
	}
	return l.e.limiterFor(name)
}

func (l planLimits) timeout(name string) time.Duration {
	if d, ok := l.timeouts[name]; ok {
		return d
	}
	return l.e.timeoutFor(name)
}

// configure installs the limits and timeouts of rv's ProviderConfigs.
func (e *Engine) configure(rv *manifest.Revision) {
	if rv == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for name, pc := range rv.ProviderConfigs {
		cfg := queue.LimiterConfig{QPS: pc.QPS, Burst: pc.Burst, MaxInFlight: pc.MaxInFlight}
		old, ok := e.limiters[name]
		if !ok || e.limitCfgs[name] != cfg {
			// A new limiter only when the limits changed, and it keeps a
			// pause the provider asked for.
			l := queue.NewLimiter(cfg, e.opts.Clock)
			if ok {
				if d := old.PausedUntil().Sub(e.opts.Clock.Now()); d > 0 {
					l.Pause(d)
				}
			}
			e.limiters[name], e.limitCfgs[name] = l, cfg
		}
		if d, err := time.ParseDuration(pc.Timeout); err == nil && d > 0 {
			e.timeouts[name] = d
		}
		delete(e.graces, name)
		if d, err := time.ParseDuration(pc.ReadAfterWriteGrace); err == nil && d >= 0 {
			e.graces[name] = d
		}
		if pc.IdempotentCreates {
			e.graces[name] = 0 // the key keeps a create sent again from making a second object
		}
	}
	e.configureProvidersLocked(rv)
}

// configureProvidersLocked gives every provider that takes settings those of
// its ProviderConfig in rv, the defaults when rv has none for it. e.mu
// must be held.
func (e *Engine) configureProvidersLocked(rv *manifest.Revision) {
	done := map[string]bool{}
	for _, kind := range e.reg.Kinds() {
		name := provider.ProviderName(kind)
		if done[name] {
			continue
		}
		done[name] = true
		p, _ := e.reg.For(kind)
		c, ok := p.(provider.Configurer)
		if !ok {
			continue
		}
		pc := rv.ProviderConfigs[name]
		s := provider.Settings{FollowRedirects: pc.FollowRedirects}
		if pc.Config != nil {
			// A variable that is not set leaves its setting out (the
			// provider's default) rather than keeping the provider on
			// the settings of an older revision: the error says which.
			var errs []error
			s.Config, errs = manifest.ExpandConfig(pc.Config, e.opts.LookupEnv)
			for _, err := range errs {
				e.log.Error("configure provider: setting left out", "provider", name, "err", err)
			}
			if cs, ok := p.(provider.ConfigSchemer); ok {
				e.learnConfig(cs.ConfigSchema(), pc.Config, s.Config)
			}
		}
		if err := c.Configure(s); err != nil {
			e.log.Error("configure provider", "provider", name, "err", err)
		}
	}
}

func (e *Engine) timeoutFor(name string) time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	if d := e.timeouts[name]; d > 0 {
		return d
	}
	return e.opts.CallTimeout
}

// Drift observes every resource of rv and returns those whose observed
// state differs from what converge last applied while their desired spec
// did not change (including objects deleted out of band), in dependency
// order, and those it could not observe (type plan.Error). Resources with
// drift policy ignore are left out. It calls only the providers' Observe.
func (e *Engine) Drift(ctx context.Context, rv *manifest.Revision) ([]plan.Action, error) {
	p, err := e.Plan(ctx, rv)
	if err != nil {
		return nil, err
	}
	var out []plan.Action
	for _, a := range p.Actions {
		if (a.Drift && a.Type != plan.None) || a.Type == plan.Error {
			out = append(out, a)
		}
	}
	return out, nil
}
