package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"

	"github.com/convergehq/converge/alert"
	"github.com/convergehq/converge/diff"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/queue"
	"github.com/convergehq/converge/secret"
	"github.com/convergehq/converge/store"
)

// Options configure an Engine. Zero values take the defaults.
type Options struct {
	Workers     int           // concurrent reconciles; default 8
	BackoffBase time.Duration // first retry delay; default 1s
	BackoffMax  time.Duration // retry delay cap; default 60s
	// ReadyPoll is how soon a resource that exists but is not ready yet is
	// observed again; default 2s.
	ReadyPoll time.Duration
	// CallTimeout bounds one provider call unless the provider's
	// ProviderConfig sets a timeout; default 30s.
	CallTimeout time.Duration
	// DryRun computes and reports what would be done, and mutates nothing.
	DryRun bool
	// DefaultDrift is the drift policy of resources that set none; default correct.
	DefaultDrift string
	Clock        clock.WithTicker
	Logger       *slog.Logger
	// Rand returns a number in [0, 1) for backoff jitter; tests fix it.
	Rand func() float64
	// Alert, when set, is called for drift, terminal failures, conflicts
	// and rollbacks. It must not block (alert.Notifier.Notify does not).
	Alert func(alert.Alert)
	// Guard, when set, makes Apply refuse a revision that declares nothing
	// over a managed state or deletes more than it allows (an *EmptyError
	// or a *HeldError), before anything is targeted. The CLI and the
	// controller check their own guard and leave this nil.
	Guard *Guard
	// FixedRate turns off the adaptation of a provider's rate to its
	// rate-limit answers (each one halves the rate, successes restore it).
	// For comparisons; the default adapts.
	FixedRate bool
	// Sealer, when set, encrypts the sensitive values of records and
	// revisions before they go to the store, and opens them when they are
	// read back (see sealed.go). Without it they are stored as they are,
	// and a store holding sealed values cannot be used.
	Sealer *secret.Sealer
	// LookupEnv is how the engine reads the variables of ${env:NAME} in
	// Env fields, to keep their values out of what it writes; default
	// os.LookupEnv. Providers read them on their own.
	LookupEnv func(string) (string, bool)
	// Metrics, when set, is told what the engine measures (see metrics.go).
	Metrics Metrics
	// Shared says that other writers (other processes, other nodes) share
	// the store: every record write is then synchronous and conditional on
	// the version the engine last saw (a lost race re-reads the record and
	// retries), and, when the store is a store.Watcher, the other writers'
	// changes feed the engine's records while it runs (Start). It needs a
	// store.ConditionalRecordStore. See shared.go.
	Shared bool
	// Fence, when its Name is set, is checked by every record write (and
	// implies Shared): once the store holds another token for it, no write
	// of this engine commits, nothing more is acted on, and OnFenced is
	// called, once.
	Fence store.Fence
	// Owns, when set, says which resources this engine acts on (a cluster
	// node's share); the others are left to whoever owns them. When the
	// share changes, call ResyncAll, and Drain before another takes over
	// what this one lost. See share.go.
	Owns func(id string) bool
	// CallDeadline, when set, returns until when this engine may act
	// (a cluster node's lease deadline, Node.Deadline), in real time, and
	// whether there is such a bound. The deadline may only move on (later).
	// Every provider call ends by it: a call is cut short once the
	// deadline it read last has come and, read again, has not moved on;
	// and no mutating call starts after it. See share.go.
	CallDeadline func() (time.Time, bool)
	// OnFenced is called, once and without blocking, when a write found
	// Fence no longer current: whoever granted the token (a lease, a shard)
	// should stop this engine.
	OnFenced func(error)
}

func (o *Options) defaults() {
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = time.Second
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 60 * time.Second
	}
	if o.ReadyPoll <= 0 {
		o.ReadyPoll = 2 * time.Second
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 30 * time.Second
	}
	if o.DefaultDrift == "" {
		o.DefaultDrift = manifest.DriftCorrect
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
}

// Engine converges the world to a target revision. One Engine owns its
// store's records: it keeps them in memory and writes every change through.
type Engine struct {
	reg   *provider.Registry
	store store.Store
	opts  Options
	log   *slog.Logger
	q     *queue.Queue[string]
	// secrets are the sensitive values the engine has seen: nothing it
	// writes holds them (see secrets.go).
	secrets *secret.Redactor

	mu          sync.Mutex
	target      *manifest.Revision // nil: nothing desired (destroy)
	targetSince time.Time          // when target became the target
	loaded      bool               // Load ran
	destroying  bool
	dependents  map[string][]string        // desired: id -> desired resources that depend on it
	records     map[string]*store.Record   // every record, authoritative
	recDeps     map[string]map[string]bool // records: id -> recorded resources whose Deps hold it
	limiters    map[string]*queue.Limiter
	limitCfgs   map[string]queue.LimiterConfig // the config each limiter was made with
	limitShare  [2]int                         // index, count: this node's part of the limits (ShareLimits)
	graces      map[string]time.Duration       // ProviderConfig readAfterWriteGrace overrides
	timeouts    map[string]time.Duration
	outstanding map[string]uint64 // keys queued, scheduled or in progress, with their add generation

	callsMu  sync.Mutex
	inflight map[string]Call // the provider calls in flight, by resource ID

	idle     *sync.Cond
	stats    Stats
	notify   notifiers       // the providers' notifications (notify.go)
	shared   sharing         // writes shared with other writers (shared.go)
	inFlight map[string]bool // keys a worker is reconciling (share.go)
	drained  *sync.Cond
}

// Stats counts provider calls, for tests and benchmarks.
type Stats struct {
	Observes int64 `json:"observes"`
	Creates  int64 `json:"creates"`
	Updates  int64 `json:"updates"`
	Deletes  int64 `json:"deletes"`
	// Plans counts the changes planned by providers that plan their own.
	Plans int64 `json:"plans,omitempty"`
	// Conflicts counts the record writes that lost a race with another
	// writer of a shared store (and were retried on a fresh read).
	Conflicts int64 `json:"conflicts,omitempty"`
}

// Mutations is the number of mutating provider calls.
func (s Stats) Mutations() int64 { return s.Creates + s.Updates + s.Deletes }

// New returns an engine. Call Load before anything else.
func New(reg *provider.Registry, st store.Store, opts Options) *Engine {
	opts.defaults()
	e := &Engine{
		reg:         reg,
		store:       st,
		opts:        opts,
		secrets:     secret.New(),
		records:     map[string]*store.Record{},
		recDeps:     map[string]map[string]bool{},
		dependents:  map[string][]string{},
		limiters:    map[string]*queue.Limiter{},
		limitCfgs:   map[string]queue.LimiterConfig{},
		graces:      map[string]time.Duration{},
		timeouts:    map[string]time.Duration{},
		outstanding: map[string]uint64{},
		inflight:    map[string]Call{},
	}
	e.log = slog.New(secret.Handler(opts.Logger.Handler(), e.clean))
	e.idle = sync.NewCond(&e.mu)
	e.drained = sync.NewCond(&e.mu)
	e.inFlight = map[string]bool{}
	e.q = queue.New[string](opts.queueOptions()...)
	if opts.Shared || opts.Fence.Name != "" {
		e.shared.asked = true
		e.shared.cond, _ = st.(store.ConditionalRecordStore)
	}
	return e
}

// Load reads every record from the store.
func (e *Engine) Load(ctx context.Context) error {
	if err := e.shareLoad(ctx); err != nil {
		return err
	}
	recs, err := e.store.ListRecords(ctx)
	if err != nil {
		return fmt.Errorf("load records: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range recs {
		if err := e.openRecord(&recs[i]); err != nil {
			return fmt.Errorf("load records: %w", err)
		}
		e.learnRecord(&recs[i])
	}
	e.loaded = true
	for i := range recs {
		r := recs[i]
		e.setRecordLocked(&r)
	}
	return nil
}

// Stats returns the provider call counts so far.
func (e *Engine) Stats() Stats {
	return Stats{
		Observes:  atomic.LoadInt64(&e.stats.Observes),
		Creates:   atomic.LoadInt64(&e.stats.Creates),
		Updates:   atomic.LoadInt64(&e.stats.Updates),
		Deletes:   atomic.LoadInt64(&e.stats.Deletes),
		Plans:     atomic.LoadInt64(&e.stats.Plans),
		Conflicts: atomic.LoadInt64(&e.stats.Conflicts),
	}
}

// SetTarget makes rv the desired state, records it in the store, and
// enqueues every resource whose desired state changed (all of them on the
// first call). A nil rv means nothing is desired: everything recorded is
// deleted, dependents first.
func (e *Engine) SetTarget(ctx context.Context, rv *manifest.Revision) error {
	return e.SetTargetFrom(ctx, store.AnyTarget, rv)
}

// SetTargetFrom is SetTarget, recording rv as the store's target only if
// the target is still from (empty: none; store.AnyTarget: any), checked
// and written in one step when the store is a
// store.ConditionalTargetStore (otherwise it writes as SetTarget does).
// A lost race fails with an error matching store.ErrConflict (a
// *store.TargetConflictError) and leaves the engine's target as it was;
// the revision is recorded already. A nil rv clears the target without
// condition.
func (e *Engine) SetTargetFrom(ctx context.Context, from string, rv *manifest.Revision) error {
	e.mu.Lock()
	loaded := e.loaded
	e.mu.Unlock()
	if !loaded {
		// Never act without knowing what was recorded before.
		if err := e.Load(ctx); err != nil {
			return err
		}
	}
	rv, err := e.openRevision(rv)
	if err != nil {
		return err
	}
	e.learnRevision(rv)
	if rv != nil {
		b, err := manifest.Marshal(e.storedRevision(rv))
		if err != nil {
			return fmt.Errorf("encode revision: %w", err)
		}
		rec := store.Revision{Hash: rv.Hash, Created: e.opts.Clock.Now(), Sources: rv.Paths, State: store.RevisionProgressing, Resources: b, Commit: rv.Commit}
		if old, err := e.store.GetRevision(ctx, rv.Hash); err == nil {
			rec.Created, rec.Converged = old.Created, old.Converged
			if rec.Commit == "" {
				rec.Commit = old.Commit
			}
			if rv.Hash == e.targetHash() {
				rec.State, rec.Reason = old.State, old.Reason // still the target: its state stands
			}
		}
		if err := e.store.PutRevision(ctx, rec); err != nil {
			return fmt.Errorf("save revision: %w", err)
		}
		if err := e.writeTarget(ctx, from, rv.Hash); err != nil {
			return fmt.Errorf("save target: %w", err)
		}
	} else {
		// A destroy calls the providers of what the records hold:
		// configure them as the revision it leaves said, so that they
		// reach the servers those objects are on.
		e.configureForDestroy(ctx)
		if err := e.store.ClearTarget(ctx); err != nil {
			return fmt.Errorf("save target: %w", err)
		}
	}

	e.configure(rv)
	e.reshare()
	e.mu.Lock()
	old := e.target
	if rvHash(old) != rvHash(rv) || e.targetSince.IsZero() {
		e.targetSince = e.opts.Clock.Now()
	}
	e.target = rv
	e.destroying = rv == nil
	e.dependents = map[string][]string{}
	if rv != nil {
		for _, r := range rv.Resources {
			for _, d := range r.Deps() {
				e.dependents[d] = append(e.dependents[d], r.ID)
			}
		}
	}
	// What changed goes first. A resource the records show Ready with
	// the desired spec (after a restart, most of them) only needs looking
	// at again: it goes to the resync lane, so that a new or changed one
	// is not queued behind thousands that are not.
	var changed, unchanged []string
	if rv != nil {
		for _, r := range rv.Resources {
			if o, ok := old.Get(r.ID); ok && o.Hash == r.Hash {
				continue
			}
			if rec := e.records[r.ID]; rec != nil && rec.Phase == store.PhaseReady && rec.AppliedHash == r.Hash && rec.Pending == nil {
				unchanged = append(unchanged, r.ID)
				continue
			}
			changed = append(changed, r.ID)
		}
	}
	for id := range e.records {
		if _, ok := rv.Get(id); !ok {
			changed = append(changed, id)
		}
	}
	if old != nil {
		// A resource only the old target declares may have no record
		// yet, while a pass that read the old target is about to create
		// it. Queued again, it is looked at once that pass has returned,
		// and deleted.
		for _, r := range old.Resources {
			if _, ok := rv.Get(r.ID); !ok && e.records[r.ID] == nil {
				changed = append(changed, r.ID)
			}
		}
	}
	e.mu.Unlock()
	// Logged before anything is queued, so that it comes before the
	// lines of the passes it starts.
	e.log.Info("target set", "revision", short(rvHash(rv)), "enqueued", len(changed)+len(unchanged))
	sort.Strings(changed)
	for _, id := range changed {
		e.enqueue(id)
	}
	sort.Strings(unchanged)
	for _, id := range unchanged {
		e.mu.Lock()
		e.outstanding[id]++
		e.mu.Unlock()
		e.q.AddBackground(id)
	}
	return nil
}

// ResyncAll enqueues every desired and recorded resource, so each is
// observed again and drift is found.
func (e *Engine) ResyncAll() {
	e.mu.Lock()
	ids := make([]string, 0, len(e.records))
	seen := map[string]bool{}
	if e.target != nil {
		for _, r := range e.target.Resources {
			ids = append(ids, r.ID)
			seen[r.ID] = true
		}
	}
	for id := range e.records {
		if !seen[id] {
			ids = append(ids, id)
		}
	}
	e.mu.Unlock()
	for _, id := range ids {
		e.mu.Lock()
		e.outstanding[id]++
		e.mu.Unlock()
		// A lane of its own: a flood of new resources does not starve the
		// resync of the others, nor the reverse.
		e.q.AddBackground(id)
	}
}

func (e *Engine) enqueue(id string) {
	e.mu.Lock()
	e.outstanding[id]++
	e.mu.Unlock()
	e.q.Add(id)
}

// Start launches the workers and the providers' notifications (see
// notify.go). They run until Stop.
func (e *Engine) Start(ctx context.Context) *sync.WaitGroup {
	wg := e.startWorkers(ctx)
	e.startNotifiers(ctx)
	return wg
}

// startWorkers launches the workers alone: Apply, which converges once,
// needs no notifications.
func (e *Engine) startWorkers(ctx context.Context) *sync.WaitGroup {
	var wg sync.WaitGroup
	if e.opts.Metrics != nil {
		e.opts.Metrics.Workers(e.opts.Workers)
	}
	for i := 0; i < e.opts.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.worker(ctx)
		}()
	}
	return &wg
}

// Stop ends the providers' notifications, lets in-flight reconciles
// finish, then stops the workers and closes the providers that are
// provider.Closers (once, however often Stop is called): nothing that calls
// a provider (Plan, Drift) may be called after it.
func (e *Engine) Stop(wg *sync.WaitGroup) {
	e.stopNotifiers()
	e.q.ShutDownWithDrain()
	wg.Wait()
	if err := e.Flush(context.Background()); err != nil {
		e.log.Error("save state", "err", err)
	}
	e.mu.Lock()
	e.idle.Broadcast()
	e.mu.Unlock()
	e.closeProviders()
}

// WaitIdle blocks until nothing is queued, scheduled for retry or in
// progress, or ctx is done.
func (e *Engine) WaitIdle(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		e.mu.Lock()
		e.idle.Broadcast()
		e.mu.Unlock()
	})
	defer stop()
	e.mu.Lock()
	defer e.mu.Unlock()
	for len(e.outstanding) > 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		e.idle.Wait()
	}
	return nil
}

func (e *Engine) worker(ctx context.Context) {
	for {
		id, shutdown := e.q.Get()
		if shutdown {
			return
		}
		e.mu.Lock()
		gen := e.outstanding[id]
		if gen == 0 {
			// A key processed is outstanding until its worker is done with
			// it, however it came back to the queue: counted here too, so
			// that WaitIdle never sees the engine idle while it is
			// processed or scheduled again (an apply returned with a
			// resource still provisioning, about 1 in 30 runs of
			// TestAmbiguousCreates, its count dropped while it was still
			// scheduled).
			gen = 1
			e.outstanding[id] = gen
		}
		e.mu.Unlock()

		measured := e.measure()
		e.working(id, true)
		res := e.reconcile(ctx, id)
		e.working(id, false)
		measured(res)
		requeued := e.next(ctx, id, res)
		e.q.Done(id)
		if !requeued {
			e.mu.Lock()
			if e.outstanding[id] == gen {
				delete(e.outstanding, id)
				if len(e.outstanding) == 0 {
					e.idle.Broadcast()
				}
			}
			e.mu.Unlock()
		}
	}
}

// result is what a reconcile reports to the worker: it failed (err, with
// its class), it asks to be looked at again (after, again), or it is done.
// What happens to the key is decided in one place, [Engine.next].
type result struct {
	err     error          // the failure, already recorded on the resource
	limiter *queue.Limiter // the provider's, for a rate limit's pause
	after   time.Duration  // observe again after this (not ready yet)
	again   bool           // reconcile again now
}

// failed is the result of a failure that fail recorded.
func failed(err error, s snapshot) result { return result{err: err, limiter: s.limiter} }

// next decides what happens to a key after a reconcile, and reports whether
// the key stays queued: the one retry switch. A terminal failure (or a
// provider's conflict) waits for a change; a rate limit pauses the whole
// provider for its Retry-After (or the key's backoff) and lowers its rate;
// any other failure retries after the key's exponential backoff; a success
// resets the backoff. A retry's time is written on the resource
// (NextRetry). In a shared store, a write that lost a race is decided again
// at once, and a stale fence ends the key's processing.
func (e *Engine) next(ctx context.Context, id string, res result) bool {
	if ctx.Err() != nil {
		return false // stopping: the next run starts from the records
	}
	switch {
	case errors.Is(res.err, store.ErrFenced):
		e.q.Forget(id)
		return false
	case errors.Is(res.err, errNotOwned):
		// Not this engine's to act on now (its share moved, its
		// deadline passed): skipped before the call. Look again after
		// the key's backoff: the reconcile goes on if the share came
		// back, and stops at once if not.
		e.q.AddAfter(id, e.q.When(id))
		return true
	case errors.Is(res.err, store.ErrConflict):
		// Another writer got there first and its record was read again:
		// decide again now, on it. (Each conflict is another writer's
		// progress, so this cannot spin.)
		e.q.Add(id)
		return true
	}
	if res.err == nil {
		e.q.Forget(id)
		switch {
		case res.after > 0:
			e.q.AddAfter(id, res.after)
		case res.again:
			e.q.Add(id)
		default:
			return false
		}
		return true
	}
	class, after := provider.Classify(res.err)
	switch class {
	case provider.ClassTerminal, provider.ClassConflict:
		e.q.Forget(id)
		return false
	case provider.ClassRateLimited:
		if after <= 0 {
			after = e.q.When(id) // no Retry-After: the key's exponential backoff
		}
		if res.limiter != nil {
			res.limiter.Pause(after)
			if !e.opts.FixedRate {
				res.limiter.Throttle() // each 429 lowers the rate; successes raise it again
			}
		}
	default:
		after = e.q.When(id) // the failure count is kept: the next backoff is longer
	}
	e.q.AddAfter(id, after)
	e.noteRetry(ctx, id, e.opts.Clock.Now().Add(after))
	return true
}

// noteRetry writes on the resource when its next retry is due.
func (e *Engine) noteRetry(ctx context.Context, id string, at time.Time) {
	e.mu.Lock()
	r := cloneRecord(e.records[id])
	e.mu.Unlock()
	if r == nil || r.Phase != store.PhaseError {
		return // its failure was not recorded (the store failed), or it is gone
	}
	r.NextRetry = at
	if err := e.putRecord(ctx, r); err != nil {
		e.log.Error("save", "resource", id, "err", err)
	}
}

func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func rvHash(rv *manifest.Revision) string {
	if rv == nil {
		return ""
	}
	return rv.Hash
}

// setRecordLocked installs r as the record of r.ID and maintains the
// reverse dependency index. e.mu must be held.
func (e *Engine) setRecordLocked(r *store.Record) {
	if old, ok := e.records[r.ID]; ok {
		for _, d := range old.Deps {
			delete(e.recDeps[d], r.ID)
		}
	}
	e.records[r.ID] = r
	for _, d := range r.Deps {
		m := e.recDeps[d]
		if m == nil {
			m = map[string]bool{}
			e.recDeps[d] = m
		}
		m[r.ID] = true
	}
	e.watchLocked(r)
}

func (e *Engine) deleteRecordLocked(id string) {
	if old, ok := e.records[id]; ok {
		for _, d := range old.Deps {
			delete(e.recDeps[d], id)
		}
		e.unwatchLocked(old)
	}
	delete(e.records, id)
}

// putRecordSync writes r to the store and waits until it is durable, then
// updates memory. Intents use it: they must be on disk before the provider
// is called.
func (e *Engine) putRecordSync(ctx context.Context, r *store.Record) error {
	e.stamp(r)
	e.cleanRecord(r)
	if e.shared.cond != nil {
		return e.putShared(ctx, r)
	}
	if err := e.store.PutRecord(context.WithoutCancel(ctx), e.stored(r)); err != nil {
		return fmt.Errorf("save record %s: %w", r.ID, err)
	}
	e.remember(r)
	return nil
}

// putRecord writes r without waiting for the write to be durable, when the
// store can, and updates memory. Outcomes use it: losing one in a crash is
// safe, because the intent written before the call is on disk and the next
// attempt observes first.
func (e *Engine) putRecord(ctx context.Context, r *store.Record) error {
	e.stamp(r)
	e.cleanRecord(r)
	if e.shared.cond != nil {
		return e.putShared(ctx, r) // a deferred write could not be conditional
	}
	if d, ok := e.store.(store.Deferrer); ok {
		d.PutRecordDeferred(e.stored(r))
	} else if err := e.store.PutRecord(context.WithoutCancel(ctx), e.stored(r)); err != nil {
		return fmt.Errorf("save record %s: %w", r.ID, err)
	}
	e.remember(r)
	return nil
}

func (e *Engine) stamp(r *store.Record) {
	r.Updated = e.opts.Clock.Now()
	if r.Created.IsZero() {
		r.Created = r.Updated
	}
}

func (e *Engine) remember(r *store.Record) {
	c := cloneRecord(r)
	e.mu.Lock()
	var dropped []string
	if old, ok := e.records[r.ID]; ok {
		for _, d := range old.Deps {
			if !slices.Contains(c.Deps, d) {
				dropped = append(dropped, d)
			}
		}
	}
	e.setRecordLocked(c)
	e.mu.Unlock()
	// A dependency this resource let go of may be waiting to be deleted.
	for _, d := range dropped {
		e.enqueue(d)
	}
}

func (e *Engine) deleteRecord(ctx context.Context, id string) error {
	if e.shared.cond != nil {
		return e.deleteShared(ctx, id)
	}
	if d, ok := e.store.(store.Deferrer); ok {
		d.DeleteRecordDeferred(id)
	} else if err := e.store.DeleteRecord(context.WithoutCancel(ctx), id); err != nil {
		return fmt.Errorf("delete record %s: %w", id, err)
	}
	e.mu.Lock()
	e.deleteRecordLocked(id)
	e.mu.Unlock()
	return nil
}

// Flush waits until every deferred write is durable.
func (e *Engine) Flush(ctx context.Context) error {
	if d, ok := e.store.(store.Deferrer); ok {
		if err := d.Flush(context.WithoutCancel(ctx)); err != nil {
			return fmt.Errorf("save state: %w", err)
		}
	}
	return nil
}

func (e *Engine) event(ctx context.Context, id string, typ store.EventType, reason store.Reason, msg string) {
	msg = e.clean(msg)
	now := e.opts.Clock.Now()
	ev := store.Event{Type: typ, Reason: reason, Message: msg, Resource: id, Revision: e.targetHash(), FirstSeen: now, LastSeen: now, Count: 1}
	if d, ok := e.store.(store.Deferrer); ok {
		d.AddEventDeferred(ev)
	} else if _, err := e.store.AddEvent(context.WithoutCancel(ctx), ev); err != nil {
		e.log.Error("record event", "resource", id, "reason", reason, "err", err)
	}
	level := slog.LevelInfo
	if typ == store.Warning {
		level = slog.LevelWarn
	}
	args := []any{"reason", reason}
	if id != "" { // empty: about the whole run
		args = append(args, "resource", id)
	}
	if rid, ok := ctx.Value(reconcileKey{}).(string); ok {
		args = append(args, "reconcile", rid)
	}
	e.log.Log(ctx, level, msg, args...)
}

// alert hands an alert to Options.Alert.
func (e *Engine) alert(typ string, reason store.Reason, id, kind, msg string, d diff.Diff) {
	if e.opts.Alert == nil {
		return
	}
	e.opts.Alert(alert.Alert{Type: typ, Reason: string(reason), Resource: id, Kind: kind, Message: e.clean(msg), Diff: e.cleanDiff(d), Revision: e.targetHash(), Time: e.opts.Clock.Now()})
}

// configureForDestroy configures the providers with the ProviderConfigs of
// the revision targeted until now: the engine's target, else the store's
// (a destroy run by a new converge). Without one they keep their settings.
func (e *Engine) configureForDestroy(ctx context.Context) {
	rv := e.currentTarget()
	if rv == nil {
		hash, err := e.store.Target(ctx)
		if err != nil {
			return // no target: nothing says how to configure them
		}
		r, err := e.store.GetRevision(ctx, hash)
		if err == nil {
			rv, err = RevisionFromStore(r)
		}
		if err != nil {
			e.log.Warn("destroy: the providers keep their settings: the target revision cannot be read", "revision", short(hash), "err", err)
			return
		}
	}
	opened, err := e.openRevision(rv)
	if err != nil {
		e.log.Warn("destroy: the providers keep their settings", "revision", short(rv.Hash), "err", err)
		return
	}
	e.configure(opened)
	e.reshare()
}

// writeTarget makes hash the store's target if it is still from.
func (e *Engine) writeTarget(ctx context.Context, from, hash string) error {
	if cs, ok := e.store.(store.ConditionalTargetStore); ok && from != store.AnyTarget {
		return cs.SetTargetFrom(ctx, from, hash, store.Fence{})
	}
	return e.store.SetTarget(ctx, hash)
}

func (e *Engine) targetHash() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return rvHash(e.target)
}

// Records returns a copy of every record, sorted by ID.
func (e *Engine) Records() []store.Record {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]store.Record, 0, len(e.records))
	for _, r := range e.records {
		c := cloneRecord(r)
		// A deep copy for callers outside: provider.CanonicalMap copies
		// every map and list of a value already canonical.
		c.AppliedSpec = provider.CanonicalMap(r.AppliedSpec)
		c.Outputs = provider.CanonicalMap(r.Outputs)
		c.Private = maps.Clone(r.Private)
		if c.Pending != nil {
			c.Pending.Spec = provider.CanonicalMap(r.Pending.Spec)
		}
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// cloneRecord copies r for the engine's own use. The maps it holds
// (applied spec, outputs, private state, an intent's spec) are never
// modified in place anywhere in the engine, only replaced, so they are
// shared; the slices, which are, are copied.
func cloneRecord(r *store.Record) *store.Record {
	if r == nil {
		return nil
	}
	c := *r
	c.Deps = append([]string(nil), r.Deps...)
	c.Conditions = append([]store.Condition(nil), r.Conditions...)
	c.Deposed = append([]store.Instance(nil), r.Deposed...)
	if r.Pending != nil {
		p := *r.Pending
		c.Pending = &p
	}
	return &c
}

var errNoProvider = errors.New("no provider manages this kind")
