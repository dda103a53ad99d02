package process_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/providers/process"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/sqlite"
)

// bound is how long a scenario may take to reach what it waits for:
// generous for a shared machine. None of these engines ever resyncs (no
// ResyncAll): what they do after converging, they do because the provider
// told them.
const bound = 15 * time.Second

// daemon is `converge run` in a test: an engine over a SQLite state in the
// test's directory, with the process provider, running until stop.
type daemon struct {
	t       *testing.T
	dir     string
	backend string // TEST_BACKEND of every process the test starts
	state   string
	policy  process.CrashLoop

	st  *sqlite.DB
	reg *provider.Registry
	e   *engine.Engine
	wg  *sync.WaitGroup
	ctx context.Context
	end context.CancelFunc
}

func newDaemon(t *testing.T) *daemon {
	t.Helper()
	d := &daemon{t: t, dir: t.TempDir(), backend: token()}
	d.state = filepath.Join(d.dir, "state.db")
	t.Cleanup(func() {
		d.stop()
		killBackend(t, d.backend)
	})
	return d
}

// start starts an engine (a new provider and store handle: a new converge)
// with manifests as its target.
func (d *daemon) start(manifests string) {
	d.t.Helper()
	st, err := sqlite.Open(context.Background(), d.state)
	if err != nil {
		d.t.Fatal(err)
	}
	p := process.New(process.WithInstance(d.backend), process.WithCrashLoop(d.policy))
	reg, err := provider.NewRegistry(p)
	if err != nil {
		d.t.Fatal(err)
	}
	d.st, d.reg = st, reg
	d.e = engine.New(reg, st, engine.Options{Workers: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	d.ctx, d.end = context.WithCancel(context.Background())
	if err := d.e.Load(d.ctx); err != nil {
		d.t.Fatal(err)
	}
	d.target(manifests)
	d.wg = d.e.Start(d.ctx)
}

// target loads manifests from a file and makes them the target.
func (d *daemon) target(manifests string) {
	d.t.Helper()
	path := filepath.Join(d.dir, "m.yaml")
	if err := os.WriteFile(path, []byte(manifests), 0o644); err != nil {
		d.t.Fatal(err)
	}
	rv, err := manifest.Load([]string{path}, d.reg)
	if err != nil {
		d.t.Fatalf("load: %v", err)
	}
	if err := d.e.SetTarget(d.ctx, rv); err != nil {
		d.t.Fatal(err)
	}
}

// stop stops the engine and closes the store: converge exits, its
// processes stay.
func (d *daemon) stop() {
	if d.e == nil {
		return
	}
	d.e.Stop(d.wg)
	d.end()
	if err := d.st.Close(); err != nil {
		d.t.Error(err)
	}
	d.e = nil
}

// record returns the record of id (zero when there is none).
func (d *daemon) record(id string) store.Record {
	for _, r := range d.e.Records() {
		if r.ID == id {
			return r
		}
	}
	return store.Record{}
}

// pid returns the pid the record of id holds, 0 when none.
func (d *daemon) pid(id string) int {
	n, _ := strconv.Atoi(d.record(id).Private["pid"])
	return n
}

// readyPID waits until id is Ready and returns its pid.
func (d *daemon) readyPID(id string) int {
	d.t.Helper()
	var r store.Record
	eventually(d.t, bound, id+" Ready", func() bool {
		r = d.record(id)
		return r.Phase == store.PhaseReady
	})
	return d.pid(id)
}

// leaders returns the pids of the group leaders of the test's processes
// (the processes converge started), by resource.
func (d *daemon) leaders() map[string][]int {
	out := map[string][]int{}
	for _, p := range procsOf(d.t, d.backend) {
		if p.pid == p.pgid {
			out[p.resource] = append(out[p.resource], p.pid)
		}
	}
	return out
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	return !strings.HasPrefix(strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[0], "Z")
}

// web is a process.Process serving HTTP on port (the test binary as a
// helper), Ready once the port answers; extra is added to its spec's env.
func (d *daemon) web(port int, extra string) string {
	return fmt.Sprintf(`
kind: process.Process
metadata: {name: web}
spec:
  command: %s
  env: {PROCESS_TEST_HELPER: http, PORT: "%d", MARKER: %s, TEST_BACKEND: %s%s}
  log: %s
  health: {tcp: %d, interval: 50ms}
  stopTimeout: 500ms
`, self(d.t), port, filepath.Join(d.dir, "marker"), d.backend, extra, filepath.Join(d.dir, "web.log"), port)
}

const webID = "process.Process/web"

func dial(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// TestReadyOnlyOnceThePortAnswers: a process that listens only after a
// while is NotReady, saying which check fails, until it listens; then the
// provider's health probe tells the engine at once (sooner than the
// engine's own 2s look again).
func TestReadyOnlyOnceThePortAnswers(t *testing.T) {
	d := newDaemon(t)
	port := freePort(t)
	d.start(d.web(port, ", DELAY: 1s"))
	var sawNotReady string
	eventually(t, bound, "web Ready", func() bool {
		r := d.record(webID)
		if r.Phase == store.PhaseReady {
			if !dial(port) {
				t.Fatalf("Ready while port %d does not answer", port)
			}
			return true
		}
		if strings.Contains(r.Message, "not ready") {
			sawNotReady = r.Message
		}
		return false
	})
	want := fmt.Sprintf("health check tcp 127.0.0.1:%d fails", port)
	if !strings.Contains(sawNotReady, want) {
		t.Errorf("while the port did not answer, the message was %q; want it to say %q", sawNotReady, want)
	}
	r := d.record(webID)
	if got := r.Outputs["port"]; fmt.Sprint(got) != strconv.Itoa(port) {
		t.Errorf("outputs.port = %v; want %d", got, port)
	}
	if pid := d.pid(webID); fmt.Sprint(r.Outputs["pid"]) != strconv.Itoa(pid) || !alive(pid) {
		t.Errorf("outputs.pid = %v, Private pid %d (alive %v); want the live process", r.Outputs["pid"], pid, alive(pid))
	}
}

// TestKilledProcessRestartsAtOnce: kill -9 of the process (first one this
// converge started, then one it found again after a restart, watched by
// pidfd) is followed by a new process without any resync.
func TestKilledProcessRestartsAtOnce(t *testing.T) {
	d := newDaemon(t)
	port := freePort(t)
	m := d.web(port, "")
	d.start(m)
	killAndWait := func(what string) {
		t.Helper()
		old := d.readyPID(webID)
		if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
			t.Fatalf("%s: kill -9 %d: %v", what, old, err)
		}
		eventually(t, bound, what+": the killed process gone", func() bool { return !alive(old) })
		began := time.Now()
		eventually(t, bound, what+": a new process, Ready", func() bool {
			r := d.record(webID)
			return r.Phase == store.PhaseReady && d.pid(webID) != old && alive(d.pid(webID)) && dial(port)
		})
		t.Logf("%s: restarted %s after the kill was seen", what, time.Since(began).Round(time.Millisecond))
		if l := d.leaders()[webID]; len(l) != 1 {
			t.Errorf("%s: processes of %s: %v; want one", what, webID, l)
		}
	}
	killAndWait("started here")

	d.stop()
	d.start(m)
	killAndWait("found again after a restart")
}

// TestCrashLoop: a command that exits at once is started three times in a
// row, then with a backoff that doubles, and the record's last error says
// CrashLoop, with the exit status and the end of the log.
func TestCrashLoop(t *testing.T) {
	d := newDaemon(t)
	d.policy = process.CrashLoop{Exits: 3, Window: time.Minute, Backoff: 200 * time.Millisecond, MaxBackoff: 2 * time.Second}
	starts := filepath.Join(d.dir, "starts")
	log := filepath.Join(d.dir, "crash.log")
	d.start(fmt.Sprintf(`
kind: process.Process
metadata: {name: crash}
spec:
  command: %s
  env: {PROCESS_TEST_HELPER: exit, STARTS: %s, TEST_BACKEND: %s}
  log: %s
`, self(t), starts, d.backend, log))
	const id = "process.Process/crash"
	var lastErr string
	eventually(t, bound, "CrashLoop in the record's last error", func() bool {
		lastErr = d.record(id).LastError
		return strings.Contains(lastErr, "CrashLoop: exited 3 times in")
	})
	for _, want := range []string{"exit status 3", "last lines of " + log, "fatal: cannot open the database", "next start in"} {
		if !strings.Contains(lastErr, want) {
			t.Errorf("last error %q does not say %q", lastErr, want)
		}
	}
	if c := d.record(id).ErrorClass; c != provider.ClassRetryable {
		t.Errorf("error class %q; want %s", c, provider.ClassRetryable)
	}

	// Count the starts over a window: without a backoff there would be
	// hundreds; with it, each gap after the third start is at least the
	// backoff, doubling.
	time.Sleep(4 * time.Second)
	times := readStarts(t, starts)
	if len(times) < 5 || len(times) > 12 {
		t.Fatalf("%d starts in about 4s (%v); want between 5 and 12 with a backoff of 200ms doubling up to 2s", len(times), times)
	}
	want := d.policy.Backoff
	for i := 3; i < len(times); i++ {
		gap := times[i].Sub(times[i-1])
		if gap < want-20*time.Millisecond { // milliseconds of the clock's rounding
			t.Errorf("gap before start %d: %s; want at least the backoff %s", i+1, gap, want)
		}
		want = min(want*2, d.policy.MaxBackoff)
	}
	t.Logf("starts at %v", gaps(times))
}

func readStarts(t *testing.T, path string) []time.Time {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []time.Time
	for _, l := range strings.Fields(string(b)) {
		ms, _ := strconv.ParseInt(l, 10, 64)
		out = append(out, time.UnixMilli(ms))
	}
	return out
}

func gaps(ts []time.Time) []string {
	var out []string
	for i := 1; i < len(ts); i++ {
		out = append(out, ts[i].Sub(ts[i-1]).Round(10*time.Millisecond).String())
	}
	return out
}

// TestHealthNeverPasses: a process whose port never answers runs, and its
// resource stays NotReady saying which check fails.
func TestHealthNeverPasses(t *testing.T) {
	d := newDaemon(t)
	port := freePort(t)
	d.start(fmt.Sprintf(`
kind: process.Process
metadata: {name: deaf}
spec:
  command: sleep
  args: ["3600"]
  env: {TEST_BACKEND: %s}
  health: {tcp: %d, interval: 50ms, timeout: 200ms}
`, d.backend, port))
	const id = "process.Process/deaf"
	want := fmt.Sprintf("not ready: health check tcp 127.0.0.1:%d fails: connect: connection refused", port)
	eventually(t, bound, "the NotReady message", func() bool { return d.record(id).Message == want })
	pid := d.pid(id)
	if !alive(pid) {
		t.Fatalf("the process %d does not run", pid)
	}
	time.Sleep(time.Second) // several checks, and one look again of the engine
	r := d.record(id)
	if r.Phase == store.PhaseReady || r.Message != want {
		t.Errorf("after a second: phase %s, message %q; want it still not ready: %q", r.Phase, r.Message, want)
	}
	if d.pid(id) != pid || !alive(pid) {
		t.Errorf("pid %d then %d: a failing health check must not restart the process", pid, d.pid(id))
	}
}

// TestRestartOfConvergeAdopts: converge stops and starts again on the same
// state while the process runs: the same process is found again, by pid
// and start time, and no second one is started.
func TestRestartOfConvergeAdopts(t *testing.T) {
	d := newDaemon(t)
	port := freePort(t)
	m := d.web(port, "")
	d.start(m)
	pid := d.readyPID(webID)
	d.stop()
	if !alive(pid) || !dial(port) {
		t.Fatalf("the process %d did not outlive converge", pid)
	}
	d.start(m)
	if err := d.e.WaitIdle(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := d.readyPID(webID); got != pid {
		t.Errorf("after the restart the record holds pid %d; want %d, the process that ran", got, pid)
	}
	if l := d.leaders()[webID]; len(l) != 1 || l[0] != pid {
		t.Errorf("processes of %s: %v; want only %d", webID, l, pid)
	}
	if st := d.e.Stats(); st.Creates != 0 || st.Updates != 0 {
		t.Errorf("the second converge made %d creates and %d updates; want none", st.Creates, st.Updates)
	}
}

// TestSpecChangeRestartsGracefully: a changed env restarts the process:
// SIGTERM first (the process writes the marker), and a process that
// ignores it is killed after stopTimeout.
func TestSpecChangeRestartsGracefully(t *testing.T) {
	for _, tt := range []struct {
		name   string
		ignore bool
		marker string
	}{
		{"stops on SIGTERM", false, "SIGTERM"},
		{"killed after stopTimeout", true, "ignored SIGTERM"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := newDaemon(t)
			port := freePort(t)
			extra := ""
			if tt.ignore {
				extra = ", IGNORE_TERM: \"1\""
			}
			d.start(d.web(port, extra+", VERSION: \"1\""))
			old := d.readyPID(webID)
			began := time.Now()
			d.target(d.web(port, extra+", VERSION: \"2\""))
			eventually(t, bound, "a new process, Ready", func() bool {
				return d.record(webID).Phase == store.PhaseReady && d.pid(webID) != old
			})
			took := time.Since(began)
			if alive(old) {
				t.Errorf("the old process %d still runs", old)
			}
			b, _ := os.ReadFile(filepath.Join(d.dir, "marker"))
			if got := strings.TrimSpace(string(b)); got != tt.marker {
				t.Errorf("the old process wrote %q; want %q", got, tt.marker)
			}
			if tt.ignore && took < 500*time.Millisecond {
				t.Errorf("restarted in %s; want the 500ms grace period first", took)
			}
			if l := d.leaders()[webID]; len(l) != 1 {
				t.Errorf("processes of %s: %v; want one", webID, l)
			}
		})
	}
}

// TestDeleteStopsTheGroup: deleting a resource whose shell started a child
// stops both; deleting again (destroying what is gone) succeeds.
func TestDeleteStopsTheGroup(t *testing.T) {
	d := newDaemon(t)
	childPID := filepath.Join(d.dir, "child.pid")
	d.start(fmt.Sprintf(`
kind: process.Process
metadata: {name: sh}
spec:
  command: "sleep 3600 & echo $! > %s; wait"
  shell: true
  env: {TEST_BACKEND: %s}
`, childPID, d.backend))
	const id = "process.Process/sh"
	shell := d.readyPID(id)
	var child int
	eventually(t, bound, "the shell's child", func() bool {
		b, _ := os.ReadFile(childPID)
		child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return child > 0 && alive(child)
	})
	if err := d.e.SetTarget(d.ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := d.e.WaitIdle(d.ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, bound, "the shell and its child gone", func() bool { return !alive(shell) && !alive(child) })
	if r := d.record(id); r.ID != "" {
		t.Errorf("record left after the delete: %+v", r)
	}
	p := process.New(process.WithInstance(d.backend))
	if err := p.Delete(context.Background(), provider.Request{ID: id, Kind: process.Kind, Name: "sh", Private: map[string]string{"pid": strconv.Itoa(shell), "start": "1"}}); err != nil {
		t.Errorf("Delete of what is gone: %v", err)
	}
}

// TestHealthChangesAreNotified: a Ready process whose check stops passing
// becomes not ready, and Ready again when it passes, each within moments:
// the provider's probe tells the engine, which never resyncs here.
func TestHealthChangesAreNotified(t *testing.T) {
	d := newDaemon(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	serve := func(l net.Listener) {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}
	go serve(l)
	d.start(fmt.Sprintf(`
kind: process.Process
metadata: {name: app}
spec:
  command: sleep
  args: ["3600"]
  env: {TEST_BACKEND: %s}
  health: {tcp: %d, interval: 50ms}
`, d.backend, port))
	const id = "process.Process/app"
	pid := d.readyPID(id)

	l.Close()
	want := fmt.Sprintf("not ready: health check tcp 127.0.0.1:%d fails", port)
	eventually(t, bound, "not ready once the port stops answering", func() bool {
		return strings.HasPrefix(d.record(id).Message, want)
	})
	l, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	defer l.Close()
	go serve(l)
	if got := d.readyPID(id); got != pid {
		t.Errorf("pid %d, then %d: a failing check must not restart the process", pid, got)
	}
}
