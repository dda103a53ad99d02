package reliability

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/convergehq/converge/cloudsim"
	"github.com/convergehq/converge/manifest"
)

// BenchmarkCloudApp2000 runs the converge binary against cloudsim with 20 ms
// of latency per call: a 2,000-resource app (200 three-tier units) with 64
// calls in flight. It reports the makespan against the lower bound
// max(critical path, total work / in flight), where one resource's work is
// an observe and a create; the calls per resource of a second apply that
// has nothing to change; and converge's own CPU time per resource (the
// child process's, cloudsim runs in the test process). Workers are twice
// the in-flight cap, so that a worker recording an intent does not leave a
// slot idle.
func BenchmarkCloudApp2000(b *testing.B) {
	for _, latency := range []time.Duration{20 * time.Millisecond, 50 * time.Millisecond} {
		b.Run("latency="+latency.String(), func(b *testing.B) { benchCloudApp(b, latency) })
	}
}

func benchCloudApp(b *testing.B, latency time.Duration) {
	const (
		units = 200
		slots = 64
	)
	for i := 0; i < b.N; i++ {
		s := newSimB(b, cloudsim.Config{Seed: 9, Faults: cloudsim.Faults{Latency: cloudsim.Duration(latency)}})
		files, _ := app(units, "{maxInFlight: 64, timeout: 10s}")
		work := b.TempDir()
		dir := filepath.Join(work, "m")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for name, data := range files {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		reg := registry(b, s.srv.URL)
		rv, err := manifest.LoadBytes(files, reg)
		if err != nil {
			b.Fatal(err)
		}
		per := 2 * latency
		cp, _ := manifest.BuildGraph(rv).CriticalPath(func(string) float64 { return per.Seconds() })
		bound := max(cp, float64(len(rv.Resources))*per.Seconds()/slots)

		args := []string{"apply", "-o", "json", "-f", dir, "--state", filepath.Join(work, "state.db"), "--cloud-url", s.srv.URL, "--root", work, "--workers", "128"}
		b.StartTimer()
		seconds, cpu := runApply(b, args)
		b.StopTimer()
		before := s.Audit().Requests
		again, _ := runApply(b, args)
		steady := float64(s.Audit().Requests-before) / float64(len(rv.Resources))
		b.ReportMetric(seconds, "makespan-s")
		b.ReportMetric(bound, "bound-s")
		b.ReportMetric(seconds/bound, "x-bound")
		b.ReportMetric(steady, "calls/resource-unchanged")
		b.ReportMetric(float64(cpu.Microseconds())/float64(len(rv.Resources)), "cpu-µs/resource")
		b.ReportMetric(again, "unchanged-apply-s")
	}
}

// runApply runs the converge binary and returns the apply's own duration
// (from its JSON report) and the child's CPU time.
func runApply(b *testing.B, args []string) (float64, time.Duration) {
	b.Helper()
	cmd := exec.Command(converged, args...)
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("converge %v: %v\n%s", args[0], err, tail(out))
	}
	var rep struct {
		Seconds  float64 `json:"seconds"`
		Failures []any   `json:"failures"`
	}
	if err := json.Unmarshal(out, &rep); err != nil || len(rep.Failures) > 0 {
		b.Fatalf("report: %v\n%s", err, tail(out))
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return rep.Seconds, cpu
}

func newSimB(b *testing.B, cfg cloudsim.Config) *sim {
	b.Helper()
	s := newSimNoCleanup(b, cfg)
	b.Cleanup(s.srv.Close)
	return s
}
