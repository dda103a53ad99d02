package manifest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// benchFiles returns n resources over files files: file.File resources each
// with one dependsOn and one reference to earlier resources (acyclic),
// labels, a policy and a few spec fields.
func benchFiles(n, files int) map[string][]byte {
	out := make(map[string][]byte, files)
	per := n / files
	for f := range files {
		var b strings.Builder
		for j := range per {
			i := f*per + j
			fmt.Fprintf(&b, "---\napiVersion: converge/v1\nkind: file.File\nmetadata:\n  name: f%06d\n  labels: {app: bench, shard: s%d}\n", i, f)
			if i > 0 {
				fmt.Fprintf(&b, "dependsOn: [file.File/f%06d]\n", i/2)
			}
			b.WriteString("policy: {drift: alert}\nspec:\n")
			fmt.Fprintf(&b, "  path: /srv/site/f%06d.html\n  mode: \"0644\"\n", i)
			if i > 1 {
				fmt.Fprintf(&b, "  content: \"after ${file.File/f%06d.outputs.sha256}\"\n", i-1)
			} else {
				b.WriteString("  content: hello\n")
			}
			b.WriteString("  owner: {user: www, group: www}\n")
		}
		out[fmt.Sprintf("m/%03d.yaml", f)] = []byte(b.String())
	}
	return out
}

func BenchmarkLoad100k(b *testing.B) { benchLoad(b, 100000, 100) }

func BenchmarkLoadBytes10k(b *testing.B) { benchLoad(b, 10000, 10) }

// benchLoad loads n resources spread over files files. Besides time and
// allocations it reports MB-alloc/op (bytes allocated per load) and
// MB-heap-peak: the heap memory the runtime held at its peak, which bounds
// the live heap (HeapSys never shrinks; memory returned to the OS stays
// counted in it).
func benchLoad(b *testing.B, n, files int) {
	in := benchFiles(n, files)
	reg := testRegistry(b)
	var size int
	for _, f := range in {
		size += len(f)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for b.Loop() {
		rv, err := LoadBytes(in, reg)
		if err != nil {
			b.Fatalf("LoadBytes: %v", err)
		}
		if len(rv.Resources) != n {
			b.Fatalf("got %d resources; want %d", len(rv.Resources), n)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/(1<<20), "MB-alloc/op")
	b.ReportMetric(float64(after.HeapSys)/(1<<20), "MB-heap-peak")
}
