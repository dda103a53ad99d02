package reliability

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/convergehq/converge/cloudsim"
)

var converged string // the converge binary, built once by TestMain

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "converge-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	converged = filepath.Join(dir, "converge")
	build := exec.Command("go", "build", "-o", converged, "github.com/convergehq/converge/cmd/converge")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build converge:", err)
		return 1
	}
	return m.Run()
}

// 4. kill -9 of `converge run` at 20 random moments while it converges 300
// resources, each followed by a restart: the end state is exact, with zero
// duplicates and zero leaks.
func TestKillDuringRun(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("kill delays seeded with %d", seed)
	rng := rand.New(rand.NewPCG(seed, 4))
	kills := 20
	if testing.Short() {
		kills = 6
	}
	s := newSim(t, cloudsim.Config{Seed: 4, Faults: cloudsim.Faults{Latency: cloudsim.Duration(time.Millisecond)}})
	files, expect := app(units, "{maxInFlight: 16}")
	if err := s.Expect(expect); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	manifests := filepath.Join(work, "manifests")
	if err := os.MkdirAll(manifests, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(manifests, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"-f", manifests, "--state", filepath.Join(work, "state.db"), "--cloud-url", s.srv.URL, "--root", work}
	killed := 0
	for i := 0; i < kills; i++ {
		cmd := exec.Command(converged, append([]string{"run", "--resync", "1s", "--backoff-base", "50ms", "--backoff-max", "1s"}, args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(30+rng.IntN(400)) * time.Millisecond
		time.Sleep(delay)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		killed++
	}
	start := time.Now()
	final := exec.Command(converged, append([]string{"apply", "--timeout", "2m", "--backoff-base", "50ms", "--backoff-max", "1s"}, args...)...)
	out, err := final.CombinedOutput()
	if err != nil {
		t.Fatalf("final apply: %v\n%s", err, tail(out))
	}
	a := s.Audit()
	checkAudit(t, a)
	if n := total(a.Live); n != 10*units {
		t.Errorf("live objects = %d; want %d", n, 10*units)
	}
	// And a second apply changes nothing.
	again, err := exec.Command(converged, append([]string{"apply", "-o", "json"}, args...)...).Output()
	if err != nil || !bytes.Contains(again, []byte(`"creates": 0`)) || !bytes.Contains(again, []byte(`"updates": 0`)) || !bytes.Contains(again, []byte(`"deletes": 0`)) {
		t.Errorf("apply after convergence: %v\n%s", err, again)
	}
	figure(t, "kill-run", map[string]any{"kills": killed, "resources": 10 * units, "finalApplySeconds": time.Since(start).Seconds(),
		"duplicates": len(a.Duplicates), "leaks": len(a.Leaks), "missing": len(a.Missing), "overlaps": a.Overlaps, "creates": a.ByMethod["POST"]})
}

func tail(b []byte) string {
	if len(b) > 3000 {
		return "..." + string(b[len(b)-3000:])
	}
	return string(b)
}
