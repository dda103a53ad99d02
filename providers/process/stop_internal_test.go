package process

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/convergehq/converge/provider"
)

// syncBuffer is a bytes.Buffer safe for the provider's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestStopIsNoCrash: the exit of a process that an update (a restart) or
// a delete stopped is no crash: the stop returns only once the reaper has
// recorded the exit, while the stop is still under way. Otherwise a late
// reaper (a loaded machine) records it after the stop, where it is taken
// for a crash: logged as an exit, counted towards a crash loop. The
// reaper here records each exit 300ms after the process is gone, long
// after the stop sees the zombie.
func TestStopIsNoCrash(t *testing.T) {
	var late atomic.Int32
	waitProcess = func(p *os.Process) (*os.ProcessState, error) {
		st, err := p.Wait()
		time.Sleep(300 * time.Millisecond)
		late.Add(1)
		return st, err
	}
	t.Cleanup(func() { waitProcess = (*os.Process).Wait })

	var logs syncBuffer
	p := New(WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	schema := p.Schemas()[0]
	req := func(args ...any) provider.Request {
		spec, err := schema.Apply(provider.CanonicalMap(map[string]any{"command": "sleep", "args": args}))
		if err != nil {
			t.Fatal(err)
		}
		return provider.Request{ID: Kind + "/stopped", Kind: Kind, Name: "stopped", Spec: spec, IdempotencyKey: strconv.Itoa(int(time.Now().UnixNano()))}
	}
	var pids []int
	t.Cleanup(func() {
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	pidOf := func(res provider.Result) int {
		pid, err := strconv.Atoi(res.Private[privPID])
		if err != nil {
			t.Fatalf("Private %v: no pid", res.Private)
		}
		pids = append(pids, pid)
		return pid
	}
	crashes := func() (int, string) {
		p.mu.Lock()
		defer p.mu.Unlock()
		tr := p.procs[Kind+"/stopped"]
		return len(tr.exits), tr.lastExit
	}

	ctx := context.Background()
	first := req("3600")
	res, err := p.Create(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	pidOf(res)
	second := req("3601")
	second.Private = res.Private
	if res, err = p.Update(ctx, second); err != nil {
		t.Fatal(err)
	}
	pidOf(res)
	if got := late.Load(); got != 1 {
		t.Errorf("Update returned with %d exits reaped; want 1, the old process's", got)
	}
	if n, last := crashes(); n != 0 || res.Private[privExits] != "" {
		t.Errorf("after a restart: %d exits (last %q), Private exits %q; want none", n, last, res.Private[privExits])
	}
	second.Private = res.Private
	if err := p.Delete(ctx, second); err != nil {
		t.Fatal(err)
	}
	if got := late.Load(); got != 2 {
		t.Errorf("Delete returned with %d exits reaped; want 2", got)
	}
	if n, last := crashes(); n != 0 {
		t.Errorf("after a delete: %d exits (last %q); want none", n, last)
	}
	if log := logs.String(); strings.Contains(log, "process exited") {
		t.Errorf("a stop was logged as an exit:\n%s", log)
	}
}
