package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/convergehq/converge/graph"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
	"github.com/convergehq/converge/store/sqlite"
)

// independent returns n independent mem.Object manifests, in files of 1,000.
func independent(n int) map[string][]byte {
	files := map[string][]byte{}
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "---\nkind: mem.Object\nmetadata: {name: o%d}\nspec: {value: v%d, size: %d}\n", i, i, i)
		if (i+1)%1000 == 0 || i == n-1 {
			files[fmt.Sprintf("m%03d.yaml", i/1000)] = []byte(b.String())
			b.Reset()
		}
	}
	return files
}

func memRegistry(tb testing.TB, p provider.Provider) *provider.Registry {
	reg, err := provider.NewRegistry(p)
	if err != nil {
		tb.Fatal(err)
	}
	return reg
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// BenchmarkConverge100k converges 100,000 independent resources against the
// in-memory zero-latency provider, with each store, and reports resources/s.
func BenchmarkConverge100k(b *testing.B) {
	n := benchN()
	stores := map[string]func(b *testing.B) store.Store{
		"memory": func(b *testing.B) store.Store { return memory.New() },
		"sqlite": func(b *testing.B) store.Store {
			db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "state.db"))
			if err != nil {
				b.Fatal(err)
			}
			return db
		},
	}
	stores["sqlite-shared"] = stores["sqlite"]
	files := independent(n)
	defer cliGC()()
	for _, name := range []string{"memory", "sqlite", "sqlite-shared"} {
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				mem := providertest.NewMemory()
				reg := memRegistry(b, mem)
				rv, err := manifest.LoadBytes(files, reg)
				if err != nil {
					b.Fatal(err)
				}
				st := stores[name](b)
				// shared: every record write synchronous and conditional,
				// as with other writers (Options.Shared).
				e := New(reg, st, Options{Workers: benchWorkers(), Logger: quiet(), Shared: name == "sqlite-shared"})
				b.StartTimer()
				start := time.Now()
				rep, err := e.Apply(context.Background(), rv)
				elapsed := time.Since(start)
				b.StopTimer()
				if err != nil || !rep.OK() || rep.Ready != n {
					b.Fatalf("apply: %v, ready %d, failures %d", err, rep.Ready, len(rep.Failures))
				}
				if v := mem.Violations(); len(v) > 0 {
					b.Fatalf("violations: %v", v[:1])
				}
				b.ReportMetric(float64(n)/elapsed.Seconds(), "resources/s")
				st.Close()
			}
		})
	}
}

// randomDAG returns n mem.Object manifests with random dependencies: each
// resource depends on up to 3 earlier ones, chosen among a window so the
// graph has depth.
func randomDAG(n int, seed uint64) map[string][]byte {
	r := rand.New(rand.NewPCG(seed, seed))
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "---\nkind: mem.Object\nmetadata: {name: o%d}\n", i)
		if i > 0 {
			k := r.IntN(4)
			seen := map[int]bool{}
			var deps []string
			for j := 0; j < k; j++ {
				lo := i - 50
				if lo < 0 {
					lo = 0
				}
				d := lo + r.IntN(i-lo)
				if !seen[d] {
					seen[d] = true
					deps = append(deps, fmt.Sprintf("mem.Object/o%d", d))
				}
			}
			if len(deps) > 0 {
				fmt.Fprintf(&b, "dependsOn: [%s]\n", strings.Join(deps, ", "))
			}
		}
		fmt.Fprintf(&b, "spec: {value: v%d}\n", i)
	}
	return map[string][]byte{"dag.yaml": []byte(b.String())}
}

// BenchmarkSchedule2000 converges a random 2,000-resource DAG with 20 ms of
// provider latency per call and 64 calls in flight, and reports the
// makespan against the lower bound max(critical path, total work / in
// flight). The work of one resource is one observe plus one create: 40 ms.
func BenchmarkSchedule2000(b *testing.B) {
	const (
		n       = 2000
		latency = 20 * time.Millisecond
		slots   = 64
	)
	files := randomDAG(n, 42)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		mem := providertest.NewMemory()
		mem.Latency = latency
		reg := memRegistry(b, mem)
		cfg := fmt.Sprintf("---\nkind: ProviderConfig\nmetadata: {name: mem}\nspec: {maxInFlight: %d}\n", slots)
		all := map[string][]byte{"cfg.yaml": []byte(cfg)}
		for k, v := range files {
			all[k] = v
		}
		rv, err := manifest.LoadBytes(all, reg)
		if err != nil {
			b.Fatal(err)
		}
		g := manifest.BuildGraph(rv)
		per := 2 * latency
		cp, _ := g.CriticalPath(func(string) float64 { return per.Seconds() })
		work := float64(n) * per.Seconds() / slots
		bound := max(cp, work)
		e := New(reg, memory.New(), Options{Workers: slots, Logger: quiet()})
		b.StartTimer()
		start := time.Now()
		rep, err := e.Apply(context.Background(), rv)
		makespan := time.Since(start).Seconds()
		b.StopTimer()
		if err != nil || !rep.OK() {
			b.Fatalf("apply: %v, %d failures", err, len(rep.Failures))
		}
		b.ReportMetric(makespan, "makespan-s")
		b.ReportMetric(bound, "bound-s")
		b.ReportMetric(makespan/bound, "x-bound")
		_ = graph.New
	}
}

// benchN is 100,000, or CONVERGE_BENCH_N for quicker profiling runs.
func benchN() int {
	if s := os.Getenv("CONVERGE_BENCH_N"); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			return n
		}
	}
	return 100_000
}

// benchWorkers is 8 (the default of --workers), or CONVERGE_BENCH_WORKERS.
func benchWorkers() int {
	if s := os.Getenv("CONVERGE_BENCH_WORKERS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			return n
		}
	}
	return 8
}

// BenchmarkValidatePlan100k is what `converge plan` does on 100,000
// resources with references and dependencies, from an empty state: load and
// validate the manifests (schemas, references, cycles), build the graph,
// observe every resource and decide. It reports the peak resident memory
// of the process.
func BenchmarkValidatePlan100k(b *testing.B) {
	n := benchN()
	files := map[string][]byte{}
	var sb strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "---\nkind: mem.Object\nmetadata:\n  name: o%d\n  labels: {team: t%d}\n", i, i%10)
		switch {
		case i%1000 == 0:
			fmt.Fprintf(&sb, "spec:\n  value: root-%d\n  size: %d\n", i, i)
		case i%3 == 0:
			fmt.Fprintf(&sb, "dependsOn: [mem.Object/o%d]\nspec:\n  value: \"${mem.Object/o%d.outputs.id}/v%d\"\n  size: %d\n", max(0, i-1-i%7), i-1, i, i)
		default:
			fmt.Fprintf(&sb, "spec:\n  value: \"${mem.Object/o%d.outputs.value}-%d\"\n  zone: eu\n", i-1, i)
		}
		if (i+1)%1000 == 0 || i == n-1 {
			files[fmt.Sprintf("m%03d.yaml", i/1000)] = []byte(sb.String())
			sb.Reset()
		}
	}
	mem := providertest.NewMemory()
	reg := memRegistry(b, mem)
	defer cliGC()()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rv, err := manifest.LoadBytes(files, reg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := manifest.BuildGraph(rv).Order(); err != nil {
			b.Fatal(err)
		}
		e := New(reg, memory.New(), Options{Logger: quiet()})
		p, err := e.Plan(context.Background(), rv)
		if err != nil {
			b.Fatal(err)
		}
		if got := p.Summary().Create; got != n {
			b.Fatalf("plan creates %d; want %d", got, n)
		}
	}
	b.StopTimer()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB")
	}
}

// cliGC sets the collector as cmd/converge does (tuneGC in main.go), unless
// GOGC is set, and returns the function that restores it.
func cliGC() func() {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	old := debug.SetGCPercent(400)
	return func() { debug.SetGCPercent(old) }
}
