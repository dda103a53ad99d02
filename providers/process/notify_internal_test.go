package process

import (
	"context"
	"os/exec"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/convergehq/converge/provider"
)

// TestExitNoticedWithoutPidfd: where pidfd_open is missing, the exit of a
// process converge found again is noticed by reading /proc, and the
// engine is told. The process here is started by the test, as an earlier
// converge would have: it is not the provider's child.
func TestExitNoticedWithoutPidfd(t *testing.T) {
	for name, open := range map[string]func(int, int) (int, error){
		"pidfd": unix.PidfdOpen,
		"proc":  func(int, int) (int, error) { return -1, unix.ENOSYS },
	} {
		t.Run(name, func(t *testing.T) {
			var calls atomic.Int32
			pidfdOpen = func(pid, flags int) (int, error) { calls.Add(1); return open(pid, flags) }
			t.Cleanup(func() { pidfdOpen = unix.PidfdOpen })

			cmd := exec.Command("sleep", "3600")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			id, err := identify(cmd.Process.Pid)
			if err != nil {
				t.Fatal(err)
			}
			p := New()
			const rid = Kind + "/old"
			p.Watch(provider.Request{ID: rid, Kind: Kind, Name: "old", Private: map[string]string{
				privPID: strconv.Itoa(id.pid), privStart: strconv.FormatUint(id.start, 10)}})
			changed := make(chan string, 4)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- p.Notify(ctx, func(id string) { changed <- id }) }()
			t.Cleanup(func() { cancel(); <-done })

			deadline := time.Now().Add(10 * time.Second)
			for {
				if calls.Load() > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the watcher never looked at the process")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if err := syscall.Kill(id.pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			select {
			case got := <-changed:
				if got != rid {
					t.Errorf("changed(%q); want %q", got, rid)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the exit was not notified")
			}
			p.mu.Lock()
			last := p.procs[rid].lastExit
			p.mu.Unlock()
			if want := "exited (status unknown: started by an earlier converge)"; last != want {
				t.Errorf("last exit %q; want %q", last, want)
			}
		})
	}
}
