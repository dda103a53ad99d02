package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkIdleAndRestart: `converge run` with 10,000 converged file
// resources and the default resync. It reports the daemon's CPU use over
// an idle window (CONVERGE_BENCH_IDLE, default 60s; the target is stated
// over 5m) as a share of one core, then restarts the daemon with one
// resource more in the manifests and reports how long after the start the
// new resource's file exists.
func BenchmarkIdleAndRestart(b *testing.B) {
	const n = 10000
	window := 60 * time.Second
	if v := os.Getenv("CONVERGE_BENCH_IDLE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("CONVERGE_BENCH_IDLE: %v", err)
		}
		window = d
	}
	for range b.N {
		dir := b.TempDir()
		manifests, root := filepath.Join(dir, "m"), filepath.Join(dir, "root")
		for _, d := range []string{manifests, root} {
			if err := os.Mkdir(d, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		write := func(name string, from, to int) {
			var s strings.Builder
			for i := from; i < to; i++ {
				fmt.Fprintf(&s, "---\nkind: file.File\nmetadata: {name: f%05d}\nspec: {path: f%05d.txt, content: \"file %d\\n\"}\n", i, i, i)
			}
			if err := os.WriteFile(filepath.Join(manifests, name), []byte(s.String()), 0o644); err != nil {
				b.Fatal(err)
			}
		}
		for f := range 10 {
			write(fmt.Sprintf("m%d.yaml", f), f*n/10, (f+1)*n/10)
		}
		args := []string{"run", "--listen", "", "-f", manifests, "--root", root, "--state", filepath.Join(dir, "state.db")}
		start := func() (*exec.Cmd, *syncBuffer) {
			cmd := exec.Command(binary, args...)
			out := &syncBuffer{}
			cmd.Stderr = out
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			return cmd, out
		}
		stop := func(cmd *exec.Cmd) {
			_ = cmd.Process.Signal(os.Interrupt)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		}
		waitFor := func(path string, bound time.Duration, out *syncBuffer) time.Duration {
			t0 := time.Now()
			for {
				if _, err := os.Stat(path); err == nil {
					return time.Since(t0)
				}
				if time.Since(t0) > bound {
					b.Fatalf("%s not created within %s\n%s", path, bound, out.String())
				}
				time.Sleep(time.Millisecond)
			}
		}
		cmd, out := start()
		waitFor(filepath.Join(root, fmt.Sprintf("f%05d.txt", n-1)), 2*time.Minute, out)
		time.Sleep(2 * time.Second) // the last writes and their notifications settle
		cpu0 := cpuTime(b, cmd.Process.Pid)
		t0 := time.Now()
		b.ResetTimer()
		time.Sleep(window)
		share := (cpuTime(b, cmd.Process.Pid) - cpu0).Seconds() / time.Since(t0).Seconds()
		b.StopTimer()
		stop(cmd)

		write("new.yaml", n, n+1)
		cmd, out = start()
		took := waitFor(filepath.Join(root, fmt.Sprintf("f%05d.txt", n)), time.Minute, out)
		stop(cmd)
		b.ReportMetric(100*share, "idle-%core")
		b.ReportMetric(took.Seconds(), "restart-new-s")
		b.ReportMetric(0, "ns/op")
	}
}

// cpuTime is the user and system CPU time of process pid so far.
func cpuTime(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / hz
}
