package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The daemon's reaction to a manifest edit: `converge run` over 1,000 file
// resources in ten manifest files; one resource's content is edited in its
// manifest (written to a temporary file and renamed over it, as editors
// and git do), and the time is taken from the write to the managed file
// holding the new content.

const (
	reactionFiles     = 10
	reactionPerFile   = 100
	reactionResources = reactionFiles * reactionPerFile
)

// reactionManifest is manifest file f, with resource edited (its index in
// the file, -1 for none) given content version v.
func reactionManifest(f, edited, v int) string {
	var b strings.Builder
	for i := range reactionPerFile {
		content := fmt.Sprintf("file %d-%d", f, i)
		if i == edited {
			content = fmt.Sprintf("file %d-%d v%d", f, i, v)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		fmt.Fprintf(&b, "kind: file.File\nmetadata: {name: f%d-%d}\nspec: {path: f%d-%d.txt, content: %q}\n", f, i, f, i, content+"\n")
	}
	return b.String()
}

type reactionDaemon struct {
	dir, manifests, root string
	stderr               *syncBuffer
}

func startReactionDaemon(tb testing.TB, extra ...string) *reactionDaemon {
	tb.Helper()
	dir := tb.TempDir()
	d := &reactionDaemon{dir: dir, manifests: filepath.Join(dir, "manifests"), root: filepath.Join(dir, "root"), stderr: &syncBuffer{}}
	for _, sub := range []string{d.manifests, d.root} {
		if err := os.Mkdir(sub, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	for f := range reactionFiles {
		if err := os.WriteFile(filepath.Join(d.manifests, fmt.Sprintf("m%d.yaml", f)), []byte(reactionManifest(f, -1, 0)), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	args := append([]string{"run", "--listen", "", "--resync", "1h", "-f", d.manifests, "--root", d.root, "--state", filepath.Join(dir, "state.db")}, extra...)
	cmd := exec.Command(binary, args...)
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start converge run: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	last := filepath.Join(d.root, fmt.Sprintf("f%d-%d.txt", reactionFiles-1, reactionPerFile-1))
	deadline := time.Now().Add(60 * time.Second)
	for {
		if n, _ := os.ReadDir(d.root); len(n) == reactionResources {
			if _, err := os.Stat(last); err == nil {
				break
			}
		}
		select {
		case err := <-done:
			tb.Fatalf("converge run exited: %v\n%s", err, d.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("not converged within 60s\n%s", d.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // the daemon's own writes settle
	return d
}

// edit changes resource (f, i) to version v and returns how long until its
// file holds it, polled every 0.2 ms.
func (d *reactionDaemon) edit(f, i, v int, bound time.Duration) (time.Duration, error) {
	path := filepath.Join(d.manifests, fmt.Sprintf("m%d.yaml", f))
	tmp := filepath.Join(d.manifests, fmt.Sprintf(".m%d.yaml.tmp", f))
	if err := os.WriteFile(tmp, []byte(reactionManifest(f, i, v)), 0o644); err != nil {
		return 0, err
	}
	want := []byte(fmt.Sprintf("file %d-%d v%d\n", f, i, v))
	target := filepath.Join(d.root, fmt.Sprintf("f%d-%d.txt", f, i))
	start := time.Now()
	if err := os.Rename(tmp, path); err != nil {
		return 0, err
	}
	for {
		if b, err := os.ReadFile(target); err == nil && bytes.Equal(b, want) {
			return time.Since(start), nil
		}
		if time.Since(start) > bound {
			return 0, fmt.Errorf("resource f%d-%d not converged within %s", f, i, bound)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// BenchmarkManifestEdit reports the time from a manifest edit of one
// resource among 1,000 to the object changed, under `converge run` with
// its default --debounce and with the 300 ms it had before: p50, p99 and
// the longest, in milliseconds.
func BenchmarkManifestEdit(b *testing.B) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"default", nil},
		{"debounce=300ms", []string{"--debounce", "300ms"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			d := startReactionDaemon(b, tc.args...)
			took := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for n := range b.N {
				t, err := d.edit(n%reactionFiles, (n*7)%reactionPerFile, n+1, 10*time.Second)
				if err != nil {
					b.Fatalf("edit %d: %v\n%s", n, err, d.stderr.String())
				}
				took = append(took, t)
				b.StopTimer()
				time.Sleep(50 * time.Millisecond) // as between two edits by a person
				b.StartTimer()
			}
			b.StopTimer()
			reportLatencies(b, took, 0.5, 0.99)
		})
	}
}
