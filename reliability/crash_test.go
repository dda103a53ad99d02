package reliability

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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

// killSeed is the seed of a kill loop's delays: CONVERGE_KILL_SEED when it
// is set, so that a failing run's delays can be replayed, the clock
// otherwise. It is logged either way.
func killSeed(t *testing.T) uint64 {
	t.Helper()
	if v := os.Getenv("CONVERGE_KILL_SEED"); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CONVERGE_KILL_SEED=%q: %v", v, err)
		}
		t.Logf("kill delays seeded with %d (from CONVERGE_KILL_SEED)", seed)
		return seed
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("kill delays seeded with %d (replay with CONVERGE_KILL_SEED=%d)", seed, seed)
	return seed
}

// 4. kill -9 of `converge run` at 20 random moments while it converges 300
// resources, each followed by a restart, then `apply`, against an API
// without idempotency keys (a create sent twice makes two objects): every
// object is created exactly once, the end state is exact, the next apply
// changes nothing and `destroy` leaves nothing. The app changes at every
// restart (the instances' size, the DNS records' TTL, and thirty buckets
// that replace the previous round's), so that every run has creates,
// updates and deletes to make; at least a third of the kills must land
// while one of them is in flight at the API, or the test proves nothing.
func TestKillDuringRun(t *testing.T) {
	seed := killSeed(t)
	rng := rand.New(rand.NewPCG(seed, 4))
	kills := 20
	if testing.Short() {
		kills = 6
	}
	s := newSim(t, cloudsim.Config{Seed: 4, DisableIdempotency: true, Faults: cloudsim.Faults{
		Latency: cloudsim.Duration(10 * time.Millisecond), LatencyJitter: cloudsim.Duration(10 * time.Millisecond),
	}})
	base, expect := app(units, "{maxInFlight: 16}")
	work := t.TempDir()
	manifests := filepath.Join(work, "manifests")
	if err := os.MkdirAll(manifests, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(files map[string][]byte) {
		t.Helper()
		if err := os.RemoveAll(manifests); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(manifests, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(manifests, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	args := []string{"-f", manifests, "--state", filepath.Join(work, "state.db"), "--cloud-url", s.srv.URL, "--root", work}
	churned := map[string]bool{} // bucket names some round declared
	killed, midOperation := 0, 0
	var inFlightAtKill []int
	for i := 0; i < kills; i++ {
		files, buckets := churn(base, i)
		for _, b := range buckets {
			churned[b] = true
		}
		write(files)
		cmd := exec.Command(converged, append([]string{"run", "--listen", "", "--resync", "1s", "--backoff-base", "50ms", "--backoff-max", "1s"}, args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		started := time.Now()
		// The kill lands at a random moment of the run's first 300 ms of
		// changes: it starts them about 50 ms after it starts on an idle
		// machine, later on a busy one.
		before := mutations(s.Audit())
		for mutations(s.Audit()) == before && time.Since(started) < 5*time.Second {
			time.Sleep(time.Millisecond)
		}
		delay := time.Duration(rng.IntN(300)) * time.Millisecond
		time.Sleep(delay)
		// The mutating requests in flight at the API as the kill lands:
		// creates, updates and deletes whose outcome converge will not hear.
		n := s.Audit().MutatingInFlight
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		killed++
		inFlightAtKill = append(inFlightAtKill, n)
		if n > 0 {
			midOperation++
		}
		// The server finishes what the dead process sent before the next
		// one starts, so that no overlap is blamed on the restart.
		deadline := time.Now().Add(10 * time.Second)
		for s.Audit().InFlight > 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	t.Logf("mutating requests in flight at each kill: %v", inFlightAtKill)
	if midOperation*3 < killed {
		t.Errorf("%d of %d kills landed while a create, update or delete was in flight; want at least a third", midOperation, killed)
	}

	// The original app, without the buckets: the final apply updates what
	// the last round changed and deletes the buckets it left.
	write(base)
	if err := s.Expect(expect); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	final := exec.Command(converged, append([]string{"apply", "--timeout", "2m", "--backoff-base", "50ms", "--backoff-max", "1s"}, args...)...)
	out, err := final.CombinedOutput()
	if err != nil {
		t.Fatalf("final apply: %v\n%s", err, tail(out))
	}
	finalApply := time.Since(start)
	a := s.Audit()
	checkAudit(t, a)
	if n := total(a.Live); n != 10*units {
		t.Errorf("live objects = %d; want %d", n, 10*units)
	}
	// Each object of the app was created once, each bucket at most once
	// (a round may end before converge got to it).
	creates, twice := checkCreatedOnce(t, a.Created, expect, churned)
	// And a second apply changes nothing.
	again, err := exec.Command(converged, append([]string{"apply", "-o", "json"}, args...)...).Output()
	if err != nil || !bytes.Contains(again, []byte(`"creates": 0`)) || !bytes.Contains(again, []byte(`"updates": 0`)) || !bytes.Contains(again, []byte(`"deletes": 0`)) {
		t.Errorf("apply after convergence: %v\n%s", err, again)
	}

	// destroy deletes every object: converge took the ones a kill left
	// unrecorded as its own.
	if err := s.Expect(map[string][]string{}); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(converged, append([]string{"destroy", "--yes", "--timeout", "2m", "--backoff-base", "50ms", "--backoff-max", "1s"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("destroy: %v\n%s", err, tail(out))
	}
	d := s.Audit()
	checkAudit(t, d)
	if n := total(d.Live); n != 0 {
		t.Errorf("live objects after destroy: %v", d.Live)
	}
	if diff := cmp.Diff(a.Created, d.Created); diff != "" {
		t.Errorf("objects created by destroy (-before +after):\n%s", diff)
	}
	figure(t, "kill-run", map[string]any{"kills": killed, "killsMidOperation": midOperation, "resources": 10 * units, "finalApplySeconds": finalApply.Seconds(),
		"duplicates": len(a.Duplicates), "leaks": len(a.Leaks), "missing": len(a.Missing), "overlaps": d.Overlaps, "creates": creates, "createdTwice": twice,
		"posts": d.ByMethod["POST"], "liveAfterDestroy": total(d.Live), "leaksAfterDestroy": len(d.Leaks)})
}

// mutations counts the mutating requests the API received.
func mutations(a cloudsim.Audit) int {
	return a.ByMethod["POST"] + a.ByMethod["PUT"] + a.ByMethod["PATCH"] + a.ByMethod["DELETE"]
}

// churn returns the app of restart round: the instances medium in odd
// rounds, the DNS records' TTL 61+round, and thirty buckets of the round's
// own, whose names it also returns.
func churn(base map[string][]byte, round int) (map[string][]byte, []string) {
	files := map[string][]byte{}
	for name, b := range base {
		doc := string(b)
		if round%2 == 1 {
			doc = strings.ReplaceAll(doc, "size: small", "size: medium")
		}
		files[name] = []byte(strings.ReplaceAll(doc, "ttl: 60", fmt.Sprintf("ttl: %d", 61+round)))
	}
	var b strings.Builder
	var names []string
	for k := 0; k < 30; k++ {
		name := fmt.Sprintf("churn-%02d-%d", round, k)
		names = append(names, name)
		fmt.Fprintf(&b, "---\nkind: cloud.Bucket\nmetadata: {name: %s}\nspec: {versioning: %v}\n", name, k%2 == 0)
	}
	files["churn.yaml"] = []byte(b.String())
	return files, names
}

// checkCreatedOnce fails the test unless the audit's objects created per
// kind and name hold every expected name exactly once, and otherwise only
// buckets of maybe, at most once. It returns how many objects of expect
// were created and how many names were created more than once.
func checkCreatedOnce(t testing.TB, created map[string]map[string]int, expect map[string][]string, maybe map[string]bool) (creates, twice int) {
	t.Helper()
	want := map[string]map[string]bool{}
	for kind, names := range expect {
		want[kind] = map[string]bool{}
		for _, n := range names {
			want[kind][n] = true
			if got := created[kind][n]; got != 1 {
				t.Errorf("%s %q created %d times; want exactly once", kind, n, got)
			}
			creates += created[kind][n]
		}
	}
	for kind, names := range created {
		for n, c := range names {
			if c > 1 {
				twice++
			}
			switch {
			case want[kind][n]:
			case kind == cloudsim.KindBucket && maybe[n]:
				if c > 1 {
					t.Errorf("%s %q created %d times; want at most once", kind, n, c)
				}
			default:
				t.Errorf("%s %q created %d times; want never (not declared)", kind, n, c)
			}
		}
	}
	return creates, twice
}

func tail(b []byte) string {
	if len(b) > 3000 {
		return "..." + string(b[len(b)-3000:])
	}
	return string(b)
}
