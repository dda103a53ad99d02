package file

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/convergehq/converge/provider"
)

// sparse makes a file of size zero bytes at root/name without writing them.
func sparse(t testing.TB, root, name string, size int64) {
	t.Helper()
	f, err := os.Create(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// allocated returns how many bytes fn allocated.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// zeroSum is the hex SHA-256 of size zero bytes.
func zeroSum(size int64) string {
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for ; size > 0; size -= int64(len(buf)) {
		h.Write(buf[:min(int64(len(buf)), size)])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestObserveLargeFileStreams: a file much larger than what is declared is
// observed with a small buffer, never read into memory whole.
func TestObserveLargeFileStreams(t *testing.T) {
	const size = 200 << 20
	p, root, _ := newTestProvider(t)
	sparse(t, root, "big", size)
	req := request(KindFile, "big", map[string]any{"path": "big", "content": "small", "mode": "0644"})
	var obs provider.Observation
	var err error
	n := allocated(func() { obs, err = p.Observe(context.Background(), req) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("observing a %d MiB file allocated %d bytes", size>>20, n)
	if n > 4<<20 {
		t.Errorf("observing a %d MiB file allocated %d MiB; want under 4 MiB", size>>20, n>>20)
	}
	if got := obs.Outputs["size"]; got != int64(size) {
		t.Errorf("outputs.size = %v; want %d", got, size)
	}
	if got, want := obs.Outputs["sha256"], zeroSum(size); got != want {
		t.Errorf("outputs.sha256 = %v; want %s", got, want)
	}
	content, _ := obs.State["content"].(string)
	if content == "small" || len(content) > 200 || !strings.Contains(content, "209715200 bytes") {
		t.Errorf("state.content = %.80q; want a short description that differs from the spec", content)
	}
}

// TestObserveMatchingFileDoesNotCopyIt: a file holding exactly the declared
// content is compared while streamed; the state holds the spec's own
// string, not a second copy.
func TestObserveMatchingFileDoesNotCopyIt(t *testing.T) {
	const size = 16 << 20
	p, root, _ := newTestProvider(t)
	content := strings.Repeat("converge", size/8)
	if err := os.WriteFile(filepath.Join(root, "f"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	req := request(KindFile, "f", map[string]any{"path": "f", "content": content, "mode": "0644"})
	var obs provider.Observation
	var err error
	n := allocated(func() { obs, err = p.Observe(context.Background(), req) })
	if err != nil {
		t.Fatal(err)
	}
	if n > 2<<20 {
		t.Errorf("observing a matching %d MiB file allocated %d MiB; want under 2 MiB", size>>20, n>>20)
	}
	if obs.State["content"] != content {
		t.Errorf("state.content differs from the matching content")
	}
	sum := sha256.Sum256([]byte(content))
	if obs.Outputs["sha256"] != hex.EncodeToString(sum[:]) || obs.Outputs["size"] != int64(size) {
		t.Errorf("outputs = %v", obs.Outputs)
	}
}

// TestObserveShowsSmallDifferingContent: a small file that differs is shown
// as it is, so that a diff says what changed; a large one by size and hash.
func TestObserveShowsSmallDifferingContent(t *testing.T) {
	p, root, _ := newTestProvider(t)
	tests := []struct {
		name, on, spec string
		want           func(string) bool
	}{
		{"small, differing", "broken\n", "fixed\n", func(s string) bool { return s == "broken\n" }},
		{"small, a prefix of the spec", "fix", "fixed\n", func(s string) bool { return s == "fix" }},
		{"small, longer than the spec", "fixed\nmore", "fixed\n", func(s string) bool { return s == "fixed\nmore" }},
		{"small, differing after a matching beginning", "fixed\nbroken\n", "fixed\nfixed\n", func(s string) bool { return s == "fixed\nbroken\n" }},
		{"empty", "", "x", func(s string) bool { return s == "" }},
		{"64 KiB", strings.Repeat("a", 64<<10), "x", func(s string) bool { return len(s) == 64<<10 }},
		{"just over 64 KiB", strings.Repeat("a", 64<<10+1), "x", func(s string) bool { return strings.HasPrefix(s, "(65537 bytes, sha256 ") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(root, "f"), []byte(tt.on), 0o644); err != nil {
				t.Fatal(err)
			}
			obs, err := p.Observe(context.Background(), request(KindFile, "f", map[string]any{"path": "f", "content": tt.spec}))
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := obs.State["content"].(string); !tt.want(got) {
				t.Errorf("state.content = %.80q", got)
			}
			if obs.Outputs["size"] != int64(len(tt.on)) {
				t.Errorf("outputs.size = %v; want %d", obs.Outputs["size"], len(tt.on))
			}
		})
	}
}

// BenchmarkObserveLargeFile observes a 100 MB file that differs from its
// spec: B/op is what one observe allocates, whatever the file's size.
func BenchmarkObserveLargeFile(b *testing.B) {
	const size = 100 << 20
	root := b.TempDir()
	p, err := New(root)
	if err != nil {
		b.Fatal(err)
	}
	sparse(b, p.Root(), "big", size)
	req := request(KindFile, "big", map[string]any{"path": "big", "content": "small", "mode": "0644"})
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Observe(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

func TestContentLimit(t *testing.T) {
	p, root, _ := newTestProvider(t)
	over := strings.Repeat("x", MaxContent+1)
	errs := p.ValidateSpec(KindFile, map[string]any{"path": "f", "content": over})
	if len(errs) != 1 || errs[0].Field != "spec.content" || errs[0].Msg != "content is 67108865 bytes; a file.File holds at most 67108864 (64 MiB)" {
		t.Errorf("ValidateSpec(content of 64 MiB + 1) = %v; want one spec.content error", errs)
	}
	if errs := p.ValidateSpec(KindFile, map[string]any{"path": "f", "content": over[1:]}); len(errs) != 0 {
		t.Errorf("ValidateSpec(content of 64 MiB) = %v; want none", errs)
	}
	_, err := p.Create(context.Background(), request(KindFile, "f", map[string]any{"path": "f", "content": over}))
	if classOf(err) != "terminal" || !strings.Contains(err.Error(), "at most 67108864") {
		t.Errorf("Create with content over the limit = %v (class %s); want terminal", err, classOf(err))
	}
	if got := entries(t, root); len(got) != 0 {
		t.Errorf("root holds %v; want nothing written", got)
	}
}
