package process

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/convergehq/converge/provider"
)

// tracked is what the provider knows of one resource's process, in
// memory. Its fields are guarded by Provider.mu.
type tracked struct {
	id      procID        // the process; zero when none runs
	gone    procID        // the last one that exited
	child   bool          // started by this provider: Wait reports its exit
	done    chan struct{} // of a child: closed once its exit is recorded
	key     string        // IdempotencyKey of the call that started it
	hash    string        // startHash of its spec
	started time.Time     // when it started (for a crash-loop streak)
	spec    map[string]any
	logPath string

	stopSignal  syscall.Signal
	stopTimeout time.Duration
	stopping    bool // a stop is under way: the exit is no crash

	// Crash history, kept in Private too (crashPrivate, seed).
	exits    []time.Time // exits within the window, oldest first
	streak   int         // exits since the last run that lasted a window
	lastExit string      // how the last one ended
	timer    *time.Timer // notifies when a crash-loop backoff ends

	watched bool
	// reported is the health the engine last heard (1 passing, -1
	// failing, 0 unknown), probing whether a probe runs.
	reported int
	probing  bool
	nextHC   time.Time
}

// track returns the entry of rid, made if needed. p.mu must be held.
func (p *Provider) track(rid string) *tracked {
	t := p.procs[rid]
	if t == nil {
		t = &tracked{}
		p.procs[rid] = t
	}
	return t
}

// forget drops the crash history.
func (t *tracked) forget() {
	t.exits, t.streak, t.lastExit = nil, 0, ""
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
}

// crashPrivate adds the crash history to priv.
func (t *tracked) crashPrivate(priv map[string]string) {
	if len(t.exits) == 0 && t.streak == 0 {
		return
	}
	ms := make([]string, len(t.exits))
	for i, e := range t.exits {
		ms[i] = strconv.FormatInt(e.UnixMilli(), 10)
	}
	priv[privExits] = strings.Join(ms, ",")
	priv[privStreak] = strconv.Itoa(t.streak)
	if t.lastExit != "" {
		priv[privLastExit] = t.lastExit
	}
}

// seed takes the crash history from a record's Private, when the provider
// has none (after a restart of converge).
func (t *tracked) seed(priv map[string]string) {
	if len(t.exits) > 0 || t.streak > 0 || priv[privExits] == "" {
		return
	}
	for _, s := range strings.Split(priv[privExits], ",") {
		if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
			t.exits = append(t.exits, time.UnixMilli(ms))
		}
	}
	t.streak, _ = strconv.Atoi(priv[privStreak])
	t.lastExit = priv[privLastExit]
}

// exited records that process id of resource rid ended (how says how),
// unless another one replaced it or a stop asked for it, and tells the
// engine.
func (p *Provider) exited(rid string, id procID, how string) {
	p.mu.Lock()
	t := p.procs[rid]
	if t == nil || t.id != id {
		p.mu.Unlock()
		return
	}
	t.id, t.gone = procID{}, id
	crash := !t.stopping
	if crash {
		now := time.Now()
		if !t.started.IsZero() && now.Sub(t.started) >= p.policy.Window {
			t.streak = 0 // it ran long enough: a new count
		}
		t.streak++
		t.exits = append(t.exits, now)
		t.prune(now, p.policy.Window)
		t.lastExit = how
	}
	notify := p.changed
	p.mu.Unlock()
	if crash {
		p.log.Warn("process exited", "resource", rid, "pid", id.pid, "how", how)
	}
	if notify != nil {
		notify(rid)
	}
}

// prune drops the exits older than window.
func (t *tracked) prune(now time.Time, window time.Duration) {
	i := 0
	for i < len(t.exits) && now.Sub(t.exits[i]) > window {
		i++
	}
	t.exits = t.exits[i:]
}

// crashLoop returns a retryable error beginning "CrashLoop:" while the
// process of rid must wait before it starts again, and arranges for the
// engine to be told when the wait ends.
func (p *Provider) crashLoop(rid string, s spec) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.procs[rid]
	if t == nil {
		return nil
	}
	if t.hash != "" && t.hash != s.startHash() {
		t.forget() // a new spec (a fixed command, say): its exits are its own
		return nil
	}
	now := time.Now()
	t.prune(now, p.policy.Window)
	n := len(t.exits)
	if n < p.policy.Exits {
		return nil
	}
	backoff := p.policy.Backoff
	for i := p.policy.Exits; i < t.streak && backoff < p.policy.MaxBackoff; i++ {
		backoff *= 2
	}
	backoff = min(backoff, p.policy.MaxBackoff)
	last := t.exits[n-1]
	wait := last.Add(backoff).Sub(now)
	if wait <= 0 {
		return nil
	}
	if t.timer != nil {
		t.timer.Stop()
	}
	t.timer = time.AfterFunc(wait, func() { p.notify(rid) })
	msg := fmt.Sprintf("CrashLoop: exited %d times in %s (last: %s); next start in %s",
		n, now.Sub(t.exits[0]).Round(10*time.Millisecond), t.lastExit, wait.Round(10*time.Millisecond))
	if s.log != "" {
		if lines := tail(s.log, 5, 1024); lines != "" {
			msg += "; last lines of " + s.log + ":\n" + lines
		} else {
			msg += "; " + s.log + " is empty"
		}
	}
	return provider.Retryable(fmt.Errorf("%s", msg))
}

// notify tells the engine, when Notify runs, that rid may have changed.
func (p *Provider) notify(rid string) {
	p.mu.Lock()
	f := p.changed
	p.mu.Unlock()
	if f != nil {
		f(rid)
	}
}
