package process

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/convergehq/converge/provider"
)

// How the engine hears at once that a process exited or its health
// changed (provider.Notifier, provider.Watcher):
//   - a process this provider started is its child: a goroutine waits for
//     it (reaping it, so it never stays a zombie) and has its exit status;
//   - a process found again after converge restarted is not: Notify
//     watches it through a pidfd (pidfd_open(2), Linux 5.3), which polls
//     readable when the process exits, all of them in one poll(2) with an
//     eventfd that wakes it when the watched set changes. A pidfd names
//     the process, not the pid, so a reused pid cannot fool it. Where
//     pidfd_open is missing, /proc is looked at every fallbackPoll
//     instead. The exit status of such a process is unknown;
//   - while Notify runs, the health check of each watched process runs
//     every interval, and a change from what the engine last heard is
//     notified;
//   - the end of a crash-loop backoff is notified by a timer.

// pidfdOpen is unix.PidfdOpen; tests replace it to take the /proc path.
var pidfdOpen = unix.PidfdOpen

// fallbackPoll is how often /proc is read for processes without a pidfd.
const fallbackPoll = 250 * time.Millisecond

// probeTick is how often the prober looks for checks that are due.
const probeTick = 100 * time.Millisecond

// Watch notes the process of a record, so that its exit is noticed, and
// takes its crash history from Private after a restart. It returns at once.
func (p *Provider) Watch(req provider.Request) {
	p.mu.Lock()
	t := p.track(req.ID)
	t.watched = true
	t.seed(req.Private)
	if t.hash == "" {
		t.hash = req.Private[privHash] // what the exits on record ran
	}
	if req.Spec != nil {
		t.spec = req.Spec
	}
	if id, ok := privateID(req.Private); ok && t.id != id && t.gone != id {
		// A process an earlier converge started (or whose exit this
		// provider has not seen): watch it while it runs. /proc answers
		// at once.
		if alive, _ := running(id); alive && (!t.child || t.id.pid == 0) {
			t.id, t.child, t.hash = id, false, req.Private[privHash]
			if sig, grace, ok := parseStop(req.Private[privStop]); ok {
				t.stopSignal, t.stopTimeout = sig, grace
			}
		}
	}
	p.mu.Unlock()
	p.wake()
}

// Unwatch forgets the resource: converge no longer manages it.
func (p *Provider) Unwatch(id string) {
	p.mu.Lock()
	if t := p.procs[id]; t != nil {
		t.forget()
		delete(p.procs, id)
	}
	p.mu.Unlock()
	p.wake()
}

func (p *Provider) wake() {
	p.mu.Lock()
	poke := p.poke
	p.mu.Unlock()
	if poke != nil {
		poke()
	}
}

// Notify tells the engine of the exits and health changes of the watched
// processes until ctx is done (see the comment at the top of notify.go).
func (p *Provider) Notify(ctx context.Context, changed func(id string)) error {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return err
	}
	defer unix.Close(efd)
	poke := func() {
		var one = [8]byte{1}
		_, _ = unix.Write(efd, one[:])
	}
	p.mu.Lock()
	p.changed, p.poke = changed, poke
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.changed, p.poke = nil, nil
		p.mu.Unlock()
	}()
	stop := context.AfterFunc(ctx, poke)
	defer stop()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.probe(ctx)
	}()
	defer wg.Wait()
	p.watch(ctx, efd)
	return nil
}

// pidWatch is one process watched through a pidfd (fd -1: through /proc).
type pidWatch struct {
	id procID
	fd int
}

// watch polls the pidfds of the adopted processes until ctx is done.
func (p *Provider) watch(ctx context.Context, efd int) {
	watches := map[string]*pidWatch{}
	defer func() {
		for _, w := range watches {
			if w.fd >= 0 {
				unix.Close(w.fd)
			}
		}
	}()
	for ctx.Err() == nil {
		// What to watch: the running processes that are not our children.
		want := map[string]procID{}
		p.mu.Lock()
		for rid, t := range p.procs {
			if t.watched && !t.child && t.id.pid != 0 {
				want[rid] = t.id
			}
		}
		p.mu.Unlock()
		for rid, w := range watches {
			if want[rid] != w.id {
				if w.fd >= 0 {
					unix.Close(w.fd)
				}
				delete(watches, rid)
			}
		}
		var gone []string
		for rid, id := range want {
			if _, ok := watches[rid]; ok {
				continue
			}
			fd, err := pidfdOpen(id.pid, 0)
			if err != nil && !errors.Is(err, unix.ESRCH) {
				fd = -1 // no pidfd here: /proc it is
			}
			// The pid may have been reused before it was opened: the
			// start time says whether the pidfd names our process.
			if alive, _ := running(id); !alive || errors.Is(err, unix.ESRCH) {
				if fd >= 0 {
					unix.Close(fd)
				}
				gone = append(gone, rid)
				continue
			}
			watches[rid] = &pidWatch{id: id, fd: fd}
		}
		for _, rid := range gone {
			p.exited(rid, want[rid], "exited (status unknown: started by an earlier converge)")
		}

		fds := []unix.PollFd{{Fd: int32(efd), Events: unix.POLLIN}}
		rids := []string{""}
		timeout := -1
		for rid, w := range watches {
			if w.fd < 0 {
				timeout = int(fallbackPoll / time.Millisecond)
				continue
			}
			fds = append(fds, unix.PollFd{Fd: int32(w.fd), Events: unix.POLLIN})
			rids = append(rids, rid)
		}
		if _, err := unix.Poll(fds, timeout); err != nil && !errors.Is(err, unix.EINTR) {
			p.log.Error("poll the watched processes", "err", err)
			time.Sleep(fallbackPoll)
		}
		if fds[0].Revents != 0 {
			var buf [8]byte
			_, _ = unix.Read(efd, buf[:])
		}
		for i := 1; i < len(fds); i++ {
			if fds[i].Revents == 0 {
				continue
			}
			w := watches[rids[i]]
			unix.Close(w.fd)
			delete(watches, rids[i])
			p.exited(rids[i], w.id, "exited (status unknown: started by an earlier converge)")
		}
		for rid, w := range watches {
			if w.fd < 0 {
				if alive, err := running(w.id); err == nil && !alive {
					delete(watches, rid)
					p.exited(rid, w.id, "exited (status unknown: started by an earlier converge)")
				}
			}
		}
	}
}

// probe runs the due health checks of the watched processes until ctx is
// done, and notifies a result that differs from what the engine heard.
func (p *Provider) probe(ctx context.Context) {
	tick := time.NewTicker(probeTick)
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now()
		type due struct {
			rid  string
			spec map[string]any
		}
		var run []due
		p.mu.Lock()
		for rid, t := range p.procs {
			if !t.watched || t.id.pid == 0 || t.probing || t.spec == nil || now.Before(t.nextHC) {
				continue
			}
			t.probing = true
			run = append(run, due{rid, t.spec})
		}
		p.mu.Unlock()
		for _, d := range run {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.probeOne(ctx, d.rid, d.spec)
			}()
		}
	}
}

func (p *Provider) probeOne(ctx context.Context, rid string, m map[string]any) {
	s, err := parseSpec(m)
	result := 0
	interval := DefaultHealthInterval
	if err == nil && s.health != nil {
		interval = s.health.interval
		env, err := p.checkEnv(s)
		result = 1
		if err != nil || s.health.check(ctx, env, s.dir) != nil {
			result = -1
		}
	}
	p.mu.Lock()
	t := p.procs[rid]
	notify := false
	if t != nil {
		t.probing = false
		t.nextHC = time.Now().Add(interval)
		if result != 0 && t.reported != 0 && result != t.reported && ctx.Err() == nil {
			t.reported = result // the engine hears of it now: once
			notify = true
		}
	}
	f := p.changed
	p.mu.Unlock()
	if notify && f != nil {
		f(rid)
	}
}
