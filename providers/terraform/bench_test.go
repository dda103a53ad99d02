package terraform

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/convergehq/converge/provider"
)

// BenchmarkStart measures a plugin's start: the process, go-plugin's
// handshake and the schemas (Start), then Close.
func BenchmarkStart(b *testing.B) {
	for _, proto := range protocols {
		b.Run(fmt.Sprintf("protocol%d", proto), func(b *testing.B) {
			for b.Loop() {
				p, err := Start(context.Background(), startOpts(proto, nil))
				if err != nil {
					b.Fatal(err)
				}
				_ = p.Close()
			}
		})
	}
}

// BenchmarkObserve measures one Observe (UpgradeResourceState, then
// ReadResource) of an object that exists.
func BenchmarkObserve(b *testing.B) {
	for _, proto := range protocols {
		b.Run(fmt.Sprintf("protocol%d", proto), func(b *testing.B) {
			p, _ := startTest(b, proto, nil)
			req := thingRequest("o", map[string]any{"name": "o", "tags": map[string]any{"a": "b"}})
			res, err := p.Create(b.Context(), req)
			if err != nil {
				b.Fatal(err)
			}
			req.Private = res.Private
			for b.Loop() {
				if obs, err := p.Observe(b.Context(), req); err != nil || !obs.Exists {
					b.Fatalf("Observe: %v, exists %v", err, obs.Exists)
				}
			}
		})
	}
}

// BenchmarkApply measures a create (validate, plan, apply) and an
// update as the engine makes it (PlanChange, then Update with the plan).
func BenchmarkApply(b *testing.B) {
	for _, proto := range protocols {
		b.Run(fmt.Sprintf("create/protocol%d", proto), func(b *testing.B) {
			p, _ := startTest(b, proto, nil)
			i := 0
			for b.Loop() {
				i++
				name := "c" + strconv.Itoa(i)
				if _, err := p.Create(b.Context(), thingRequest(name, map[string]any{"name": name})); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("update/protocol%d", proto), func(b *testing.B) {
			p, _ := startTest(b, proto, nil)
			req := thingRequest("u", map[string]any{"name": "u", "size": 1})
			res, err := p.Create(b.Context(), req)
			if err != nil {
				b.Fatal(err)
			}
			size := 1
			for b.Loop() {
				size++
				req.Private = res.Private
				obs, err := p.Observe(b.Context(), req)
				if err != nil {
					b.Fatal(err)
				}
				req.Spec = provider.CanonicalMap(map[string]any{"name": "u", "size": size})
				pl, err := p.PlanChange(b.Context(), provider.PlanRequest{ID: req.ID, Kind: req.Kind, Name: req.Name, Spec: req.Spec, Observed: obs, Private: res.Private})
				if err != nil || pl.Action != provider.PlanUpdate {
					b.Fatalf("PlanChange: %v %v", pl.Action, err)
				}
				req.Planned = &pl
				if res, err = p.Update(b.Context(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMemory reports the resident memory of one plugin process
// (VmRSS) after it made 100 objects.
func BenchmarkMemory(b *testing.B) {
	for b.Loop() {
		p, _ := startTest(b, 6, nil)
		for i := range 100 {
			name := "m" + strconv.Itoa(i)
			if _, err := p.Create(b.Context(), thingRequest(name, map[string]any{"name": name})); err != nil {
				b.Fatal(err)
			}
		}
		rss, err := vmRSS(p.pid())
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(rss)/(1<<20), "MiB-rss")
		_ = p.Close()
	}
}

// vmRSS reads the resident set size of pid, in bytes.
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// BenchmarkEngine1000 converges 1,000 things of one provider through the
// engine (SQLite store), then applies again with nothing to change.
func BenchmarkEngine1000(b *testing.B) {
	var docs strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&docs, "---\nkind: convergetest.thing\nmetadata: {name: t%d}\nspec: {name: t%d, size: %d, tags: {n: \"%d\"}}\n", i, i, i%7, i)
	}
	for b.Loop() {
		h := newEngineHarness(b, 6)
		rv := h.load(strings.TrimPrefix(docs.String(), "---\n"))
		start := time.Now()
		rep := h.apply(rv)
		if !rep.OK() || rep.Ready != 1000 {
			b.Fatalf("apply: %d ready, failures %v", rep.Ready, rep.Failures)
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms-create-1000")
		start = time.Now()
		rep = h.apply(rv)
		if !rep.OK() || rep.Stats.Mutations() != 0 {
			b.Fatalf("second apply: %d mutations, failures %v", rep.Stats.Mutations(), rep.Failures)
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms-noop-1000")
		if n := len(objects(b, h.dir)); n != 1000 {
			b.Fatalf("%d objects; want 1000", n)
		}
	}
}
