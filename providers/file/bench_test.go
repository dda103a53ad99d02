package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkObserveSmallFiles observes 1,000 small files in 10 directories,
// as a resync or a no-op plan does: one op is one Observe.
func BenchmarkObserveSmallFiles(b *testing.B) {
	p, err := New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	var reqs []map[string]any
	for c := range 10 {
		if err := os.Mkdir(filepath.Join(p.Root(), fmt.Sprintf("c%d", c)), 0o755); err != nil {
			b.Fatal(err)
		}
		for i := range 100 {
			path, content := fmt.Sprintf("c%d/f%d.txt", c, i), fmt.Sprintf("chain %d file %d\n", c, i)
			if err := os.WriteFile(filepath.Join(p.Root(), path), []byte(content), 0o644); err != nil {
				b.Fatal(err)
			}
			reqs = append(reqs, map[string]any{"path": path, "content": content, "mode": "0644"})
		}
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		obs, err := p.Observe(ctx, request(KindFile, "f", reqs[i%len(reqs)]))
		if err != nil || !obs.Exists {
			b.Fatalf("Observe = %+v, %v", obs, err)
		}
		i++
	}
}

// BenchmarkCreateSmallFile writes one small file atomically (fsynced), in
// a directory of 100: one op is one Create.
func BenchmarkCreateSmallFile(b *testing.B) {
	p, err := New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(p.Root(), "d"), 0o755); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		req := request(KindFile, "f", map[string]any{"path": fmt.Sprintf("d/f%d.txt", i%100), "content": fmt.Sprintf("content %d\n", i)})
		if _, err := p.Create(ctx, req); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
