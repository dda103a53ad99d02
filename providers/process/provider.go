package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/convergehq/converge/provider"
)

// Kind is the one kind the provider manages.
const Kind = "process.Process"

// CrashLoop says when a process that keeps exiting is restarted with a
// delay: once it exited Exits times within Window, each start waits
// Backoff, doubled for every further exit, up to MaxBackoff. A run that
// lasts Window or longer starts the count again.
type CrashLoop struct {
	Exits      int
	Window     time.Duration
	Backoff    time.Duration
	MaxBackoff time.Duration
}

// DefaultCrashLoop is 3 exits within a minute, then 1s, 2s, 4s... up to 1m.
var DefaultCrashLoop = CrashLoop{Exits: 3, Window: time.Minute, Backoff: time.Second, MaxBackoff: time.Minute}

// Option configures a Provider.
type Option func(*Provider)

// WithInstance names this converge among others on the host that may
// manage resources of the same IDs (other state stores): a process is
// found again by its resource ID only when it was started by the same
// instance. Default "" (one converge per user).
func WithInstance(name string) Option { return func(p *Provider) { p.instance = name } }

// WithCrashLoop sets the crash-loop policy (default DefaultCrashLoop).
// Zero fields keep their defaults.
func WithCrashLoop(c CrashLoop) Option {
	return func(p *Provider) {
		if c.Exits > 0 {
			p.policy.Exits = c.Exits
		}
		if c.Window > 0 {
			p.policy.Window = c.Window
		}
		if c.Backoff > 0 {
			p.policy.Backoff = c.Backoff
		}
		if c.MaxBackoff > 0 {
			p.policy.MaxBackoff = c.MaxBackoff
		}
	}
}

// WithLogger sets the provider's logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(p *Provider) { p.log = l } }

// WithLookupEnv sets how ${env:NAME} and the inherited variables are read
// (default os.LookupEnv).
func WithLookupEnv(f func(string) (string, bool)) Option {
	return func(p *Provider) { p.lookupEnv = f }
}

// Provider manages process.Process resources: processes it starts
// detached, as the user converge runs as, and finds again by pid and start
// time. It is safe for concurrent use; the engine never runs two calls for
// one resource at once.
type Provider struct {
	instance  string
	policy    CrashLoop
	log       *slog.Logger
	lookupEnv func(string) (string, bool)

	mu    sync.Mutex
	procs map[string]*tracked // by resource ID
	// changed is the engine's callback while Notify runs, nil otherwise.
	changed func(id string)
	// poke wakes the watcher of Notify when what it watches changed.
	poke func()
}

// New returns a process provider.
func New(opts ...Option) *Provider {
	p := &Provider{
		policy:    DefaultCrashLoop,
		log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		lookupEnv: os.LookupEnv,
		procs:     map[string]*tracked{},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Name returns "process".
func (p *Provider) Name() string { return "process" }

// Schemas describes process.Process.
func (p *Provider) Schemas() []provider.Schema { return []provider.Schema{schema()} }

// ValidateSpec checks what the schema cannot: a health check that names a
// port, and env names.
func (p *Provider) ValidateSpec(kind string, m map[string]any) []provider.FieldError {
	if kind != Kind {
		return nil
	}
	if s, _ := m["shell"].(bool); !s {
		if c, _ := m["command"].(string); strings.ContainsAny(c, " \t") && !strings.Contains(c, "/") && !hasRef(c) {
			return []provider.FieldError{{Field: "spec.command", Msg: fmt.Sprintf("%q holds a space: put the arguments in args, or set shell: true", c)}}
		}
	}
	return nil
}

// Private keys.
const (
	privPID      = "pid"
	privStart    = "start"
	privHash     = "hash"
	privStop     = "stop"
	privExits    = "exits"
	privStreak   = "streak"
	privLastExit = "lastExit"
)

// Observe reports the resource's process: alive (its pid with its start
// time, not a zombie) is Exists true, with the applied spec as State and
// NotReady while the health check fails; a process that exited is Exists
// false, so that the engine starts it again. Without a recorded pid (a
// start whose answer was lost) it finds the process by the resource ID in
// its environment. It never signals anything. Errors: /proc unreadable
// (retryable).
func (p *Provider) Observe(ctx context.Context, req provider.Request) (provider.Observation, error) {
	id, hash, err := p.locate(req)
	if err != nil {
		return provider.Observation{}, provider.Retryable(provider.OpFailed(provider.OpObserve, req.ID, err))
	}
	if id.pid == 0 {
		return provider.Observation{}, nil
	}
	s, err := parseSpec(req.Spec)
	if err != nil {
		// The recorded spec is broken: say what runs, without a health check.
		s = spec{}
	}
	if hash == "" {
		hash = s.startHash()
	}
	obs := provider.Observation{Exists: true, State: stateOf(req.Spec), Outputs: outputs(id, s)}
	obs.Private = p.private(req.ID, id, hash, s)
	obs.NotReady = p.checkHealth(ctx, req, s)
	return obs, nil
}

// locate finds the live process of req: the one its Private names, the
// one this provider started for it, or one whose environment names it.
func (p *Provider) locate(req provider.Request) (procID, string, error) {
	if id, ok := privateID(req.Private); ok {
		alive, err := running(id)
		if err != nil {
			return procID{}, "", err
		}
		if alive {
			return id, req.Private[privHash], nil
		}
	}
	p.mu.Lock()
	t := p.procs[req.ID]
	var mine procID
	var hash string
	if t != nil {
		mine, hash = t.id, t.hash
	}
	p.mu.Unlock()
	if mine.pid != 0 {
		if alive, err := running(mine); err == nil && alive {
			return mine, hash, nil
		}
	}
	found, err := findMarked(req.ID, p.instance)
	if err != nil || len(found) == 0 {
		return procID{}, "", err
	}
	return found[0], "", nil
}

func privateID(priv map[string]string) (procID, bool) {
	pid, err1 := strconv.Atoi(priv[privPID])
	start, err2 := strconv.ParseUint(priv[privStart], 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 {
		return procID{}, false
	}
	return procID{pid: pid, start: start}, true
}

// stateOf is the applied spec, copied: a process cannot be read back
// otherwise, and one alive by pid and start time is the one started.
func stateOf(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return provider.CanonicalMap(m)
}

func outputs(id procID, s spec) map[string]any {
	out := map[string]any{"pid": int64(id.pid)}
	if s.health != nil && s.health.port > 0 {
		out["port"] = int64(s.health.port)
	}
	return out
}

// Create starts the process described by req.Spec, detached, and returns
// its pid; NotReady until the health check passes. A retry with the same
// IdempotencyKey returns the process the first started. While the process
// is in a crash loop it starts nothing and returns a retryable error
// beginning "CrashLoop:" until the backoff ends (the engine is notified
// then). Errors: a spec that cannot run (terminal, naming the field: a
// command not found in PATH or not executable, a log file that cannot be
// opened, a dir that is not a directory, an environment variable not
// set); a start that failed for want of resources (retryable).
func (p *Provider) Create(ctx context.Context, req provider.Request) (provider.Result, error) {
	s, err := parseSpec(req.Spec)
	if err != nil {
		return provider.Result{}, provider.OpFailed(provider.OpCreate, req.ID, err)
	}
	if id, ok := p.startedBy(req.ID, req.IdempotencyKey); ok {
		return p.result(ctx, req, id, s), nil
	}
	p.reaped(ctx, req.ID)
	if err := p.crashLoop(req.ID, s); err != nil {
		return provider.Result{}, err
	}
	id, err := p.start(req, s)
	if err != nil {
		return provider.Result{}, provider.OpFailed(provider.OpCreate, req.ID, err)
	}
	return p.result(ctx, req, id, s), nil
}

// result is the answer for the process id running s.
func (p *Provider) result(ctx context.Context, req provider.Request, id procID, s spec) provider.Result {
	return provider.Result{
		Outputs:  outputs(id, s),
		Private:  p.private(req.ID, id, s.startHash(), s),
		NotReady: p.checkHealth(ctx, req, s),
	}
}

// Update restarts the process when a field it was started with changed
// (command, args, env, dir, log, shell): the old process group is stopped
// gracefully (its stop signal, its grace period, then SIGKILL) and the new
// one started. A change of health, stopSignal or stopTimeout alone takes
// effect without a restart. A retry with the same IdempotencyKey returns
// the process the first started. Errors: as Create's, and a process group
// that cannot be signalled (terminal).
func (p *Provider) Update(ctx context.Context, req provider.Request) (provider.Result, error) {
	s, err := parseSpec(req.Spec)
	if err != nil {
		return provider.Result{}, provider.OpFailed(provider.OpUpdate, req.ID, err)
	}
	if id, ok := p.startedBy(req.ID, req.IdempotencyKey); ok {
		return p.result(ctx, req, id, s), nil
	}
	cur, hash, err := p.locate(req)
	if err != nil {
		return provider.Result{}, provider.Retryable(provider.OpFailed(provider.OpUpdate, req.ID, err))
	}
	if cur.pid != 0 && hash == s.startHash() {
		p.mu.Lock()
		t := p.track(req.ID)
		t.stopSignal, t.stopTimeout = s.stopSignal, s.stopTimeout
		p.mu.Unlock()
		return p.result(ctx, req, cur, s), nil
	}
	if err := p.stopAll(ctx, req, s); err != nil {
		return provider.Result{}, provider.OpFailed(provider.OpUpdate, req.ID, err)
	}
	p.mu.Lock()
	p.track(req.ID).forget() // a new spec: its exits are its own
	p.mu.Unlock()
	id, err := p.start(req, s)
	if err != nil {
		return provider.Result{}, provider.OpFailed(provider.OpUpdate, req.ID, err)
	}
	return p.result(ctx, req, id, s), nil
}

// Delete stops the process group gracefully: the stop signal, the grace
// period, then SIGKILL. A process already gone is no error. Errors: a
// process group that cannot be signalled (terminal), /proc unreadable
// (retryable).
func (p *Provider) Delete(ctx context.Context, req provider.Request) error {
	s, err := parseSpec(req.Spec)
	if err != nil {
		s = spec{stopSignal: syscall.SIGTERM, stopTimeout: DefaultStopTimeout}
	}
	if err := p.stopAll(ctx, req, s); err != nil {
		return provider.OpFailed(provider.OpDelete, req.ID, err)
	}
	p.mu.Lock()
	if t := p.procs[req.ID]; t != nil {
		t.forget()
		t.id = procID{}
	}
	p.mu.Unlock()
	return nil
}

// stopAll stops every process of the resource: the one Private names,
// the one this provider started, and any whose environment names it (left
// by a start whose answer was lost). Each is stopped as it was started to
// be (its stopSignal and stopTimeout), or as s says when that is unknown.
func (p *Provider) stopAll(ctx context.Context, req provider.Request, s spec) error {
	sig, grace := s.stopSignal, s.stopTimeout
	if ps, pg, ok := parseStop(req.Private[privStop]); ok {
		sig, grace = ps, pg
	}
	targets := map[procID]bool{}
	if id, ok := privateID(req.Private); ok {
		targets[id] = true
	}
	var reaped chan struct{} // of the child this provider started, when one runs
	p.mu.Lock()
	if t := p.procs[req.ID]; t != nil {
		if t.id.pid != 0 {
			targets[t.id] = true
			if t.stopSignal != 0 {
				sig, grace = t.stopSignal, t.stopTimeout
			}
			if t.child {
				reaped = t.done
			}
		}
		t.stopping = true
	}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		if t := p.procs[req.ID]; t != nil {
			t.stopping = false
		}
		p.mu.Unlock()
	}()
	found, err := findMarked(req.ID, p.instance)
	if err != nil {
		return provider.Retryable(err)
	}
	for _, id := range found {
		targets[id] = true
	}
	for id := range targets {
		killed, err := stopGroup(ctx, id, sig, grace)
		if err != nil {
			if errors.Is(err, syscall.EPERM) {
				return provider.Terminal(err)
			}
			return provider.Retryable(err)
		}
		if killed {
			p.log.Warn("process did not stop within its grace period: killed", "resource", req.ID, "pid", id.pid, "signal", sig.String(), "grace", grace)
		}
	}
	// A stopped child is a zombie until its reaper records the exit: wait
	// for that while the stop is still under way, so that the exit is not
	// taken for a crash (logged, counted towards a crash loop).
	if reaped != nil {
		select {
		case <-reaped:
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

func formatStop(sig syscall.Signal, grace time.Duration) string {
	for name, s := range signals {
		if s == sig {
			return name + " " + grace.String()
		}
	}
	return "SIGTERM " + grace.String()
}

func parseStop(v string) (syscall.Signal, time.Duration, bool) {
	name, g, ok := strings.Cut(v, " ")
	if !ok {
		return 0, 0, false
	}
	sig, ok := signals[name]
	d, err := time.ParseDuration(g)
	return sig, d, ok && err == nil
}

// private is the Private of the process id of resource rid.
func (p *Provider) private(rid string, id procID, hash string, s spec) map[string]string {
	priv := map[string]string{
		privPID:   strconv.Itoa(id.pid),
		privStart: strconv.FormatUint(id.start, 10),
		privHash:  hash,
	}
	if s.stopSignal != 0 {
		priv[privStop] = formatStop(s.stopSignal, s.stopTimeout)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if t := p.procs[rid]; t != nil {
		t.crashPrivate(priv)
	}
	return priv
}

// checkEnv is the environment of a health check: the process's, without
// the variables that name the resource, so that the check's process is
// never taken for the resource's.
func (p *Provider) checkEnv(s spec) ([]string, error) { return p.env("", s) }

// env returns the environment of a process of resource rid: the inherited
// variables, spec.env expanded, and the variables that name the resource
// (none when rid is empty).
func (p *Provider) env(rid string, s spec) ([]string, error) {
	var env []string
	for _, k := range inherited {
		if v, ok := p.lookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	if _, ok := p.lookupEnv("PATH"); !ok {
		env = append(env, "PATH=/usr/local/bin:/usr/bin:/bin")
	}
	for _, k := range provider.SortedKeys(s.env) {
		v, _, err := provider.ExpandEnv(s.env[k], p.lookupEnv)
		if err != nil {
			return nil, provider.Terminal(fmt.Errorf("spec.env.%s: %w", k, err))
		}
		env = append(env, k+"="+v)
	}
	if rid == "" {
		return env, nil
	}
	env = append(env, EnvResource+"="+rid)
	if p.instance != "" {
		env = append(env, EnvInstance+"="+p.instance)
	}
	return env, nil
}

// start starts the process of s for req, detached: a session of its own
// (so converge's terminal and its stop reach it not), stdin from
// /dev/null, stdout and stderr appended to the log file. A goroutine
// reaps it and reports its exit.
func (p *Provider) start(req provider.Request, s spec) (procID, error) {
	env, err := p.env(req.ID, s)
	if err != nil {
		return procID{}, err
	}
	path, argv, err := s.argv(env)
	if err != nil {
		return procID{}, err
	}
	dir := s.dir
	if dir == "" {
		dir = "/"
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		if err == nil {
			err = errors.New("not a directory")
		}
		return procID{}, provider.Terminal(fmt.Errorf("spec.dir: %w", err))
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return procID{}, err
	}
	defer devnull.Close()
	out := devnull
	if s.log != "" {
		// Not through a symbolic link: one planted in a shared directory
		// would have converge append to a file of someone else's choice.
		f, err := os.OpenFile(s.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o640)
		if errors.Is(err, syscall.ELOOP) {
			return procID{}, provider.Terminal(fmt.Errorf("spec.log: %s is a symbolic link, which converge does not follow: name the file itself", s.log))
		}
		if err != nil {
			return procID{}, provider.Terminal(fmt.Errorf("spec.log: %w", err))
		}
		defer f.Close()
		out = f
	}
	proc, err := os.StartProcess(path, argv, &os.ProcAttr{
		Dir:   dir,
		Env:   env,
		Files: []*os.File{devnull, out, out},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.ENOMEM) {
			return procID{}, provider.Retryable(fmt.Errorf("start %s: %w", path, err))
		}
		return procID{}, provider.Terminal(fmt.Errorf("spec.command: start %s: %w", path, err))
	}
	id, err := identify(proc.Pid)
	if err != nil {
		// It is our child: /proc shows it until it is reaped, below.
		id = procID{pid: proc.Pid}
	}
	now := time.Now()
	p.mu.Lock()
	t := p.track(req.ID)
	t.id, t.child, t.key, t.hash, t.started = id, true, req.IdempotencyKey, s.startHash(), now
	t.stopSignal, t.stopTimeout = s.stopSignal, s.stopTimeout
	t.spec = req.Spec
	t.logPath = s.log
	done := make(chan struct{})
	t.done = done
	p.mu.Unlock()
	p.log.Info("process started", "resource", req.ID, "pid", id.pid, "command", path)
	go func() {
		defer close(done)
		st, err := waitProcess(proc)
		how := "exited"
		if err != nil {
			how = "exited: " + err.Error()
		} else {
			how = describeExit(st)
		}
		p.exited(req.ID, id, how)
	}()
	p.wake()
	return id, nil
}

// waitProcess is (*os.Process).Wait; tests replace it to make a reaper late.
var waitProcess = (*os.Process).Wait

func describeExit(st *os.ProcessState) string {
	ws, ok := st.Sys().(syscall.WaitStatus)
	switch {
	case !ok:
		return st.String()
	case ws.Signaled():
		return fmt.Sprintf("killed by signal %d (%s)", int(ws.Signal()), ws.Signal())
	case ws.Exited():
		return fmt.Sprintf("exit status %d", ws.ExitStatus())
	}
	return st.String()
}

// reaped waits until the exit of the last process this provider started
// for rid is recorded, when it is dead (a zombie) but not reaped yet: an
// Observe may see it gone a moment before, and its exit must count.
func (p *Provider) reaped(ctx context.Context, rid string) {
	p.mu.Lock()
	t := p.procs[rid]
	var done chan struct{}
	var id procID
	if t != nil && t.child && t.id.pid != 0 {
		done, id = t.done, t.id
	}
	p.mu.Unlock()
	if done == nil {
		return
	}
	if alive, err := running(id); err != nil || alive {
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	case <-time.After(time.Second):
	}
}

// startedBy returns the live process this provider started for rid with
// key, for a retried call.
func (p *Provider) startedBy(rid, key string) (procID, bool) {
	if key == "" {
		return procID{}, false
	}
	p.mu.Lock()
	t := p.procs[rid]
	var id procID
	if t != nil && t.key == key {
		id = t.id
	}
	p.mu.Unlock()
	if id.pid == 0 {
		return procID{}, false
	}
	alive, err := running(id)
	return id, err == nil && alive
}

// Close stops the provider's timers. The processes go on running: a
// converge that stops or restarts leaves them be, and finds them again.
func (p *Provider) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.procs {
		if t.timer != nil {
			t.timer.Stop()
			t.timer = nil
		}
	}
	return nil
}

var (
	_ provider.Provider  = (*Provider)(nil)
	_ provider.Validator = (*Provider)(nil)
	_ provider.Notifier  = (*Provider)(nil)
	_ provider.Watcher   = (*Provider)(nil)
	_ provider.Closer    = (*Provider)(nil)
)
