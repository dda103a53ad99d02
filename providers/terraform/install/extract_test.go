package install

import (
	"archive/zip"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/convergehq/converge/provider"
)

func TestExtractRefuses(t *testing.T) {
	exe := entry{name: "terraform-provider-random_v1.0.0_x5", body: script(random, "1.0.0"), mode: 0o755}
	tests := map[string]struct {
		entries []entry
		raw     func(t *testing.T) []byte // instead of entries
		opts    Options
		wantErr string
		escapee string // a path, relative to the cache's parent, that must not appear
	}{
		"zip slip": {
			entries: []entry{exe, {name: "../../../../../../escaped", body: []byte("x")}},
			wantErr: "would land outside", escapee: "escaped",
		},
		"zip slip inside a name": {
			entries: []entry{exe, {name: "docs/../../escaped", body: []byte("x")}},
			wantErr: "would land outside",
		},
		"absolute name": {
			entries: []entry{exe, {name: "/tmp/escaped-absolute", body: []byte("x")}},
			wantErr: "would land outside",
		},
		"backslash name": {
			entries: []entry{exe, {name: `..\escaped`, body: []byte("x")}},
			wantErr: "would land outside",
		},
		"symbolic link": {
			entries: []entry{exe, {name: "link", body: []byte("/etc/passwd"), mode: fs.ModeSymlink | 0o777}},
			wantErr: "is a symbolic link",
		},
		"device file": {
			entries: []entry{exe, {name: "dev", mode: fs.ModeDevice | 0o644}},
			wantErr: "not a regular file",
		},
		"named pipe": {
			entries: []entry{exe, {name: "fifo", mode: fs.ModeNamedPipe | 0o644}},
			wantErr: "not a regular file",
		},
		"duplicate entry": {
			entries: []entry{exe, {name: "LICENSE", body: []byte("a")}, {name: "LICENSE", body: []byte("b")}},
			wantErr: "appears twice",
		},
		"a file and a directory of one name": {
			entries: []entry{exe, {name: "docs", body: []byte("a")}, {name: "docs/", mode: fs.ModeDir | 0o755}},
			wantErr: "appears twice",
		},
		"names that differ only in case": {
			entries: []entry{exe, {name: "LICENSE", body: []byte("a")}, {name: "license", body: []byte("b")}},
			wantErr: "appears twice",
		},
		"entry over its limit": {
			entries: []entry{exe, {name: "big", body: make([]byte, 4096)}},
			opts:    Options{MaxEntryBytes: 1024},
			wantErr: "more than the limit of 1024",
		},
		"entries over the total": {
			entries: []entry{exe, {name: "a", body: make([]byte, 900)}, {name: "b", body: make([]byte, 900)}},
			opts:    Options{MaxEntryBytes: 1000, MaxTotalBytes: 1500},
			wantErr: "add up to more than the limit of 1500",
		},
		"a bomb: 16 MiB of zeros": {
			entries: []entry{exe, {name: "zeros", body: make([]byte, 16<<20)}},
			opts:    Options{MaxEntryBytes: 1 << 20},
			wantErr: "more than the limit",
		},
		"not a zip": {
			raw:     func(*testing.T) []byte { return []byte("this is not a zip file") },
			wantErr: "not a valid zip",
		},
		"no executable in it": {
			entries: []entry{{name: "LICENSE", body: []byte("MIT")}},
			wantErr: "holds no executable",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			var data []byte
			if tc.raw != nil {
				data = tc.raw(t)
			} else {
				data = zipBytes(t, tc.entries)
			}
			typeDir := filepath.Join(dir, random.Host, random.Namespace, random.Type)
			if err := os.MkdirAll(typeDir, 0o755); err != nil {
				t.Fatal(err)
			}
			zipPath := filepath.Join(typeDir, "terraform-provider-random_1.0.0_"+Platform+".zip")
			if err := os.WriteFile(zipPath, data, 0o644); err != nil {
				t.Fatal(err)
			}
			base := t.TempDir()
			cache := filepath.Join(base, "a", "b", "c", "cache")
			opts := tc.opts
			opts.Dirs, opts.CacheDir = []string{dir}, cache
			pkg, err := find(t, opts, random, "")
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Find = %+v, %v; want an error with %q", pkg, err, tc.wantErr)
			}
			if c, _ := provider.Classify(err); c != provider.ClassTerminal {
				t.Errorf("error class %v, want terminal", c)
			}
			if tc.wantErr != "holds no executable" && !errors.Is(err, ErrUnsafeArchive) {
				t.Errorf("error %v does not wrap ErrUnsafeArchive", err)
			}
			if tc.escapee != "" {
				if _, err := os.Lstat(filepath.Join(base, tc.escapee)); err == nil {
					t.Errorf("%s was written outside the cache", tc.escapee)
				}
			}
			if _, err := os.Lstat("/tmp/escaped-absolute"); err == nil {
				t.Errorf("/tmp/escaped-absolute was written")
			}
			// Nothing is left in the cache: no extraction, no temporary
			// directory.
			versionDir := filepath.Join(cache, random.Host, random.Namespace, random.Type, "1.0.0")
			if tc.wantErr != "holds no executable" {
				left, _ := os.ReadDir(versionDir)
				if len(left) != 0 {
					t.Errorf("left in the cache after a refusal: %v", left)
				}
			}
		})
	}
}

func TestExtractExecutableBitAndReuse(t *testing.T) {
	dir := t.TempDir()
	entries := []entry{
		// Mode 0644 in the zip: the executable bit must still be set.
		{name: "terraform-provider-random_v3.6.2_x5", body: script(random, "3.6.2"), mode: 0o644},
		{name: "LICENSE", body: []byte("MIT License\n")},
		{name: "docs/README.md", body: []byte("hello\n")},
	}
	mkPacked(t, dir, random, "3.6.2", Platform, entries)
	cache := t.TempDir()
	opts := Options{Dirs: []string{dir}, CacheDir: cache}
	first, err := find(t, opts, random, "")
	if err != nil {
		t.Fatal(err)
	}
	wantDir := filepath.Join(cache, random.Host, random.Namespace, random.Type, "3.6.2", Platform)
	if first.Dir != wantDir || !first.Packed {
		t.Fatalf("extracted into %s (packed %v); want %s", first.Dir, first.Packed, wantDir)
	}
	fi, err := os.Stat(first.Executable)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		t.Errorf("executable mode %v has no executable bit", fi.Mode())
	}
	if lic, _ := os.Stat(filepath.Join(first.Dir, "LICENSE")); lic.Mode().Perm() != 0o644 {
		t.Errorf("LICENSE mode %v; want 0644", lic.Mode().Perm())
	}
	if got := run(t, first); got != "random 3.6.2" {
		t.Errorf("the extracted executable prints %q", got)
	}

	// A second call reuses the extraction: the same file, not a new one.
	second, err := find(t, opts, random, "")
	if err != nil {
		t.Fatal(err)
	}
	fi2, err := os.Stat(second.Executable)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(fi, fi2) {
		t.Errorf("the second call extracted again instead of reusing %s", first.Dir)
	}

	// A tampered extraction is replaced by a fresh one.
	if err := os.WriteFile(first.Executable, []byte("#!/bin/sh\necho tampered\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	third, err := find(t, opts, random, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, third); got != "random 3.6.2" {
		t.Errorf("after tampering the executable prints %q; want a fresh extraction", got)
	}
	if h, _ := HashDir(third.Dir); h != third.H1() {
		t.Errorf("the fresh extraction hashes %s; want %s", h, third.H1())
	}
	// No temporary or old directories are left beside it.
	left, err := os.ReadDir(filepath.Dir(third.Dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 {
		t.Errorf("beside the extraction: %v; want it alone", left)
	}
}

func TestExtractNeedsCacheDir(t *testing.T) {
	dir := t.TempDir()
	mkPacked(t, dir, random, "3.6.2", Platform, nil)
	_, err := find(t, Options{Dirs: []string{dir}}, random, "")
	if err == nil || !strings.Contains(err.Error(), "no cache directory") {
		t.Fatalf("Find without a cache dir: %v", err)
	}
}

// A zip whose header understates an entry's size is caught while reading.
func TestExtractLyingHeader(t *testing.T) {
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	body := script(random, "1.0.0")
	f, err := w.CreateRaw(&zip.FileHeader{
		Name: "terraform-provider-random_v1.0.0", Method: zip.Store,
		CompressedSize64: uint64(len(body)), UncompressedSize64: 4, CRC32: 0,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.Write(body)
	w.Close()
	zipPath := filepath.Join(t.TempDir(), "x.zip")
	os.WriteFile(zipPath, b.Bytes(), 0o644)
	out := t.TempDir()
	err = extractZip(t.Context(), zipPath, out, "random", limits{entry: 1 << 20, total: 1 << 20})
	if !errors.Is(err, ErrUnsafeArchive) {
		t.Fatalf("extractZip of an entry larger than its header says: %v; want ErrUnsafeArchive", err)
	}
}

// Finds that race to extract one package all get a whole, runnable
// extraction.
func TestExtractConcurrent(t *testing.T) {
	dir := t.TempDir()
	mkPacked(t, dir, random, "3.6.2", Platform, nil)
	opts := Options{Dirs: []string{dir}, CacheDir: t.TempDir(), Logger: quiet}
	const n = 8
	errs := make(chan error, n)
	pkgs := make(chan Package, n)
	for range n {
		go func() {
			pkg, err := Find(t.Context(), opts, random, "")
			errs <- err
			pkgs <- pkg
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
		pkg := <-pkgs
		if pkg.Executable != "" {
			if got := run(t, pkg); got != "random 3.6.2" {
				t.Errorf("prints %q", got)
			}
		}
	}
	left, _ := os.ReadDir(filepath.Join(opts.CacheDir, random.Host, random.Namespace, random.Type, "3.6.2"))
	if len(left) != 1 {
		t.Errorf("in the cache: %v; want one extraction", left)
	}
}
