package manifest

import (
	"runtime"
	"testing"
)

// TestFlowListCostIsLinear: loading a flow list line of 480 KB costs at
// most 10 times what one of 60 KB costs, in allocations and in bytes
// allocated (8 times when linear; a cost quadratic in the line's length
// would be 64 times). Allocations are deterministic, so the test does not
// depend on the machine's speed; BenchmarkFlowList gives the times. It
// catches work that allocates as it goes quadratic (a list copied at every
// item); a quadratic scan that allocates nothing, such as counting each
// column from the start of the line, shows only in the benchmark.
func TestFlowListCostIsLinear(t *testing.T) {
	reg := testRegistry(t)
	type cost struct{ allocs, bytes float64 }
	measure := func(kb int) cost {
		src, _ := flowListDoc(flowListItems(kb))
		// The premise: the fast parser reads the line, without falling
		// back to yaml.v3.
		var p fastParser
		if _, ok := fastDocs(&p, src); !ok {
			t.Fatalf("the fast parser fell back on a %d KB flow list", kb)
		}
		in := map[string][]byte{"a.yaml": []byte(src)}
		load := func() {
			if _, err := LoadBytes(in, reg); err != nil {
				t.Fatal(err)
			}
		}
		allocs := testing.AllocsPerRun(3, load)
		// Bytes: the least of a few runs, so that a stray allocation of the
		// runtime does not count.
		bytes := -1.0
		for range 3 {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			load()
			runtime.ReadMemStats(&after)
			if b := float64(after.TotalAlloc - before.TotalAlloc); bytes < 0 || b < bytes {
				bytes = b
			}
		}
		return cost{allocs, bytes}
	}
	small, medium, large := measure(60), measure(120), measure(480)
	t.Logf("allocations 60/120/480 KB: %.0f / %.0f / %.0f; bytes: %.0f / %.0f / %.0f",
		small.allocs, medium.allocs, large.allocs, small.bytes, medium.bytes, large.bytes)
	for _, c := range []struct {
		what              string
		small, med, large float64
	}{
		{"allocations", small.allocs, medium.allocs, large.allocs},
		{"bytes allocated", small.bytes, medium.bytes, large.bytes},
	} {
		if c.small <= 0 {
			t.Fatalf("premise: loading 60 KB made no %s", c.what)
		}
		if r := c.large / c.small; r > 10 {
			t.Errorf("%s: 480 KB costs %.1f times 60 KB; want at most 10 (8 when linear)", c.what, r)
		}
		if r := c.med / c.small; r > 2.5 {
			t.Errorf("%s: 120 KB costs %.1f times 60 KB; want at most 2.5 (2 when linear)", c.what, r)
		}
	}
}

// TestFlowListColumnsAreCountedOnce: the columns of a long flow list's
// items are counted resuming from the last one, so the bytes counted stay
// about the line's length. Counting each from the start of the line (a
// regression that allocates nothing, so that the test above misses it)
// counts the line once per item: about 10,000 times here.
func TestFlowListColumnsAreCountedOnce(t *testing.T) {
	src, _ := flowListDoc(flowListItems(480))
	var p fastParser
	if _, ok := fastDocs(&p, src); !ok {
		t.Fatal("premise: the fast parser fell back on the 480 KB flow list")
	}
	if p.scanned == 0 || p.scanned > 2*len(src) {
		t.Errorf("column counted %d bytes of a %d-byte source; want at most twice its length (and the premise that it counted any)", p.scanned, len(src))
	}
}
