package process_test

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/providers/process"
)

// BenchmarkExitNotice measures how long after a kill -9 the engine is told
// (Notify's changed is called), for a process this provider started (its
// child, reaped by Wait) and for one a new provider found again (watched
// through a pidfd).
func BenchmarkExitNotice(b *testing.B) {
	for _, adopted := range []bool{false, true} {
		name := "child"
		if adopted {
			name = "adopted"
		}
		b.Run(name, func(b *testing.B) {
			f := newFixture(b)
			t := b
			watcher := f.p
			if adopted {
				watcher = process.New(process.WithInstance(f.backend))
			}
			notified := make(chan string, 16)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- watcher.Notify(ctx, func(id string) { notified <- id }) }()
			defer func() { cancel(); <-done }()

			var total time.Duration
			for i := 0; i < b.N; i++ {
				req := f.req(fmt.Sprintf("bench-%d", i), map[string]any{"command": "sleep", "args": []any{"3600"}})
				res, err := f.p.Create(context.Background(), req)
				if err != nil {
					b.Fatal(err)
				}
				req.Private = res.Private
				watcher.Watch(req)
				time.Sleep(5 * time.Millisecond) // the watcher takes the pidfd
				pid := pidOf(t, req)
				began := time.Now()
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					b.Fatal(err)
				}
			wait:
				for {
					select {
					case id := <-notified:
						if id == req.ID {
							break wait
						}
					case <-time.After(10 * time.Second):
						b.Fatal("no notification within 10s")
					}
				}
				total += time.Since(began)
				watcher.Unwatch(req.ID)
			}
			b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/notice")
		})
	}
}

// BenchmarkObserve measures one Observe: of a live process by its pid and
// start time, and of a resource with no process, which reads the
// environment of every process of the user to find one started for it.
func BenchmarkObserve(b *testing.B) {
	f := newFixture(b)
	live := f.create(f.req("live", map[string]any{"command": "sleep", "args": []any{"3600"}}))
	absent := f.req("absent", map[string]any{"command": "sleep", "args": []any{"3600"}})
	for name, req := range map[string]provider.Request{"alive": live, "absent": absent} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := f.p.Observe(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	entries, _ := os.ReadDir("/proc")
	b.Logf("%d entries in /proc", len(entries))
}
