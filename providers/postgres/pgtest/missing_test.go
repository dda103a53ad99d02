package pgtest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB that records Skipf and Fatalf and stops the
// goroutine, as the real ones do.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestMissingBinaries: without binaries Start skips, saying why, and
// fails instead when CONVERGE_REQUIRE_POSTGRES=1.
func TestMissingBinaries(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	old := debianBins
	debianBins = t.TempDir() + "/*/bin"
	t.Cleanup(func() { debianBins = old })
	run := func() *recorder {
		r := &recorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Start(r)
		}()
		<-done
		return r
	}
	t.Setenv(RequireEnv, "")
	if r := run(); r.failed != "" || !strings.Contains(r.skipped, "no PostgreSQL binaries found") {
		t.Errorf("without binaries: skipped %q, failed %q; want a skip saying none were found", r.skipped, r.failed)
	}
	t.Setenv(RequireEnv, "1")
	if r := run(); r.skipped != "" || !strings.Contains(r.failed, "no PostgreSQL binaries found") || !strings.Contains(r.failed, RequireEnv) {
		t.Errorf("without binaries, %s=1: skipped %q, failed %q; want a failure", RequireEnv, r.skipped, r.failed)
	}
}

// TestFindBinDebian: with nothing on PATH, the binaries are found in
// Debian's layout when it is there.
func TestFindBinDebian(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	dir, err := FindBin()
	if err != nil {
		t.Skipf("no Debian layout here: %v", err)
	}
	if !strings.HasPrefix(dir, "/usr/lib/postgresql/") {
		t.Errorf("FindBin() = %s; want a /usr/lib/postgresql/*/bin", dir)
	}
}
