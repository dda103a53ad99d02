package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// binary is the converge command, built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "converge-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "converge")
	build := exec.Command("go", "build", "-o", binary, "github.com/convergehq/converge/cmd/converge")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "build converge: %v\n", err)
		return 1
	}
	return m.Run()
}

// files is how many files the tree holds besides the one edited.
const files = 20

// manifests declare a directory site holding index.html (the file edited
// by hand) and files more.
func manifests() string {
	var b strings.Builder
	b.WriteString("kind: file.Directory\nmetadata: {name: site}\nspec: {path: site}\n")
	b.WriteString("---\nkind: file.File\nmetadata: {name: index}\ndependsOn: [file.Directory/site]\nspec: {path: site/index.html, content: \"" + content + "\\n\"}\n")
	for i := range files {
		fmt.Fprintf(&b, "---\nkind: file.File\nmetadata: {name: f%d}\ndependsOn: [file.Directory/site]\nspec: {path: site/f%d.txt, content: \"file %d\\n\"}\n", i, i, i)
	}
	return b.String()
}

const content = "hello from converge"

// want is index.html as declared.
var want = []byte(content + "\n")

// syncBuffer is a bytes.Buffer safe for the process's writes and the
// test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// daemon is a `converge run --resync 1h` on a fresh tree, converged.
type daemon struct {
	root   string
	index  string // the managed file edited by hand
	stderr *syncBuffer
}

func startDaemon(tb testing.TB) *daemon {
	tb.Helper()
	dir := tb.TempDir()
	d := &daemon{root: filepath.Join(dir, "root"), stderr: &syncBuffer{}}
	d.index = filepath.Join(d.root, "site", "index.html")
	for _, sub := range []string{"manifests", "root", "state"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "manifests", "site.yaml"), []byte(manifests()), 0o644); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(binary, "run", "--listen", "", "--resync", "1h",
		"-f", filepath.Join(dir, "manifests"), "--root", d.root, "--state", filepath.Join(dir, "state", "state.db"))
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start converge run: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tb.Cleanup(func() {
		// As on Ctrl-C: the daemon finishes its calls and exits 0.
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("converge run: %v\n--- stderr\n%s", err, d.stderr.String())
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			tb.Errorf("converge run did not stop within 10s of SIGINT\n--- stderr\n%s", d.stderr.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !d.restored() {
		select {
		case err := <-done:
			tb.Fatalf("converge run exited: %v\n--- stderr\n%s", err, d.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("converge run did not converge within 30s\n--- stderr\n%s", d.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Let the daemon settle: its own writes are notified too.
	time.Sleep(200 * time.Millisecond)
	return d
}

// restored reports whether index.html holds what the manifests declare,
// with its mode.
func (d *daemon) restored() bool {
	b, err := os.ReadFile(d.index)
	if err != nil || !bytes.Equal(b, want) {
		return false
	}
	fi, err := os.Stat(d.index)
	return err == nil && fi.Mode().Perm() == 0o644
}

// heal applies edit and returns how long until index.html is restored,
// polling it every millisecond, or an error after bound.
func (d *daemon) heal(edit func(string) error, bound time.Duration) (time.Duration, error) {
	if err := edit(d.index); err != nil {
		return 0, err
	}
	start := time.Now()
	for !d.restored() {
		if time.Since(start) > bound {
			return 0, fmt.Errorf("not restored within %s", bound)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start), nil
}

// edits are the ways a person changes a managed file by hand.
var edits = []struct {
	name string
	edit func(path string) error
}{
	{"written", func(path string) error { return os.WriteFile(path, []byte("defaced\n"), 0o644) }},
	{"appended", func(path string) error {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		if _, err := f.WriteString("<script>\n"); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}},
	{"chmod", func(path string) error { return os.Chmod(path, 0o600) }},
	{"renamed-over", func(path string) error {
		tmp := filepath.Join(filepath.Dir(path), ".index.html.swp")
		if err := os.WriteFile(tmp, []byte("saved from vim\n"), 0o644); err != nil {
			return err
		}
		return os.Rename(tmp, path)
	}},
	{"deleted", os.Remove},
}

// TestDaemonHealsHandEditsWithoutAResync: with --resync 1h, every hand
// edit of a managed file is undone within healBound. Only the provider's
// notifications can do that: the next resync is an hour away.
func TestDaemonHealsHandEditsWithoutAResync(t *testing.T) {
	const healBound = 10 * time.Second
	d := startDaemon(t)
	for _, e := range edits {
		took, err := d.heal(e.edit, healBound)
		if err != nil {
			t.Fatalf("%s: %v\n--- stderr\n%s", e.name, err, d.stderr.String())
		}
		t.Logf("%s: restored in %s", e.name, took.Round(100*time.Microsecond))
		time.Sleep(50 * time.Millisecond)
	}
}

// BenchmarkHeal edits a managed file by hand b.N times, one sub-benchmark
// per kind of edit, under `converge run --resync 1h`, and reports the time
// from the edit until the file's content and mode are restored (polled
// every millisecond): p50, p90 and the longest, in milliseconds.
func BenchmarkHeal(b *testing.B) {
	for _, e := range edits {
		b.Run(e.name, func(b *testing.B) {
			d := startDaemon(b)
			took := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t, err := d.heal(e.edit, 10*time.Second)
				if err != nil {
					b.Fatalf("edit %d: %v\n--- stderr\n%s", i, err, d.stderr.String())
				}
				took = append(took, t)
				// The daemon settles before the next edit, as between two
				// edits by a person.
				b.StopTimer()
				time.Sleep(20 * time.Millisecond)
				b.StartTimer()
			}
			b.StopTimer()
			reportLatencies(b, took, 0.5, 0.9)
		})
	}
}

// reportLatencies reports the quantiles qs of took, and the longest, in
// milliseconds (p50-ms, p99-ms, max-ms), instead of ns/op.
func reportLatencies(b *testing.B, took []time.Duration, qs ...float64) {
	slices.Sort(took)
	ms := func(q float64) float64 {
		return float64(took[int(q*float64(len(took)-1))]) / float64(time.Millisecond)
	}
	for _, q := range qs {
		b.ReportMetric(ms(q), fmt.Sprintf("p%g-ms", 100*q))
	}
	b.ReportMetric(ms(1), "max-ms")
	b.ReportMetric(0, "ns/op")
}
