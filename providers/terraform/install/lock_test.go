package install

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/convergehq/converge/provider"
	"github.com/google/go-cmp/cmp"
)

func TestLockWriteRead(t *testing.T) {
	dir := t.TempDir()
	mkUnpacked(t, dir, random, "3.6.2", Platform)
	mkPacked(t, dir, local, "2.5.1", Platform, nil)
	opts := Options{Dirs: []string{dir}, CacheDir: t.TempDir()}
	var l Lock
	for _, c := range []struct {
		src        Source
		constraint string
	}{{random, "~> 3.6"}, {local, ">= 2.0, < 3.0"}} {
		pkg, err := find(t, opts, c.src, c.constraint)
		if err != nil {
			t.Fatal(err)
		}
		l.Set(pkg, c.constraint)
	}
	path := filepath.Join(t.TempDir(), LockFile)
	if err := l.Write(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	rh, _ := HashDir(filepath.Join(dir, random.Host, random.Namespace, random.Type, "3.6.2", Platform))
	zipPath := filepath.Join(dir, local.Host, local.Namespace, local.Type, "terraform-provider-local_2.5.1_"+Platform+".zip")
	lh, _ := HashZip(zipPath)
	lz, _ := HashZipLegacy(zipPath)
	want := fmt.Sprintf(`{
  "format": 1,
  "providers": {
    "registry.terraform.io/hashicorp/local": {
      "constraints": ">= 2.0, < 3.0",
      "hashes": [
        "%s",
        "%s"
      ],
      "version": "2.5.1"
    },
    "registry.terraform.io/hashicorp/random": {
      "constraints": "~> 3.6",
      "hashes": [
        "%s"
      ],
      "version": "3.6.2"
    }
  }
}
`, lh, lz, rh)
	if diff := cmp.Diff(want, text); diff != "" {
		t.Errorf("converge.lock (-want +got):\n%s", diff)
	}

	back, err := ReadLock(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(l.Encode()), string(back.Encode())); diff != "" {
		t.Errorf("read back (-wrote +read):\n%s", diff)
	}
	if got := back.Sources(); !slices.Equal(got, []string{local.String(), random.String()}) {
		t.Errorf("Sources = %v", got)
	}
	// Both are taken with the lock.
	opts.Lock = back
	for _, src := range []Source{random, local} {
		if _, err := find(t, opts, src, ""); err != nil {
			t.Errorf("Find %s with the lock: %v", src, err)
		}
	}
}

func TestReadLock(t *testing.T) {
	dir := t.TempDir()
	l, err := ReadLock(filepath.Join(dir, LockFile))
	if l != nil || err != nil {
		t.Fatalf("ReadLock of a missing file = %v, %v; want nil, nil", l, err)
	}
	tests := map[string]string{
		"not JSON":       `{"format": 1, "providers": {`,
		"unknown field":  `{"format": 1, "providers": {}, "extra": true}`,
		"other format":   `{"format": 2, "providers": {}}`,
		"short source":   `{"format": 1, "providers": {"hashicorp/random": {"version": "1.0.0", "hashes": ["h1:x"]}}}`,
		"bad source":     `{"format": 1, "providers": {"a/b/c/d": {"version": "1.0.0", "hashes": ["h1:x"]}}}`,
		"bad version":    `{"format": 1, "providers": {"registry.terraform.io/hashicorp/random": {"version": "one", "hashes": ["h1:x"]}}}`,
		"short version":  `{"format": 1, "providers": {"registry.terraform.io/hashicorp/random": {"version": "1.0", "hashes": ["h1:x"]}}}`,
		"no hashes":      `{"format": 1, "providers": {"registry.terraform.io/hashicorp/random": {"version": "1.0.0", "hashes": []}}}`,
		"odd hash":       `{"format": 1, "providers": {"registry.terraform.io/hashicorp/random": {"version": "1.0.0", "hashes": ["md5:x"]}}}`,
		"bad constraint": `{"format": 1, "providers": {"registry.terraform.io/hashicorp/random": {"version": "1.0.0", "constraints": "~> x", "hashes": ["h1:x"]}}}`,
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), LockFile)
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			l, err := ReadLock(p)
			if !errors.Is(err, ErrInvalid) || l != nil {
				t.Fatalf("ReadLock = %v, %v; want ErrInvalid", l, err)
			}
			if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "converge providers lock") {
				t.Errorf("the error names neither the file nor the fix: %v", err)
			}
		})
	}
}

func TestFindWithLock(t *testing.T) {
	dir := t.TempDir()
	old := mkUnpacked(t, dir, random, "3.6.0", Platform)
	mkUnpacked(t, dir, random, "3.7.0", Platform) // newer, installed later
	zipPath := mkPacked(t, dir, local, "2.5.1", Platform, nil)
	oldHash, err := HashDir(old)
	if err != nil {
		t.Fatal(err)
	}
	zh, _ := HashZipLegacy(zipPath)
	zipH1, _ := HashZip(zipPath)
	lockWith := func(entries map[Source]LockedProvider) *Lock {
		l := &Lock{path: "/work/converge.lock", providers: map[string]LockedProvider{}}
		for src, lp := range entries {
			l.providers[src.String()] = lp
		}
		return l
	}
	tests := map[string]struct {
		lock       *Lock
		src        Source
		constraint string
		wantVer    string
		wantErr    error
		wantMsg    []string
	}{
		"the locked version, not the newest": {
			lock: lockWith(map[Source]LockedProvider{random: {Version: "3.6.0", Hashes: []string{oldHash}}}),
			src:  random, constraint: "~> 3.6", wantVer: "3.6.0",
		},
		"a lock made elsewhere: the zh: hash of a packed one is enough": {
			lock: lockWith(map[Source]LockedProvider{local: {Version: "2.5.1", Hashes: []string{"h1:other-platform", zh}}}),
			src:  local, wantVer: "2.5.1",
		},
		"a packed one matched by h1:": {
			lock: lockWith(map[Source]LockedProvider{local: {Version: "2.5.1", Hashes: []string{zipH1}}}),
			src:  local, wantVer: "2.5.1",
		},
		"locked version outside the constraint": {
			lock: lockWith(map[Source]LockedProvider{random: {Version: "3.6.0", Hashes: []string{oldHash}}}),
			src:  random, constraint: ">= 3.7",
			wantErr: ErrLockStale,
			wantMsg: []string{"3.6.0", `">= 3.7"`, "run `converge providers lock` again"},
		},
		"provider missing from the lock": {
			lock:    lockWith(map[Source]LockedProvider{local: {Version: "2.5.1", Hashes: []string{zh}}}),
			src:     random,
			wantErr: ErrNotLocked,
			wantMsg: []string{"registry.terraform.io/hashicorp/random is not in /work/converge.lock", "run `converge providers lock`"},
		},
		"locked version not installed": {
			lock:    lockWith(map[Source]LockedProvider{random: {Version: "3.5.0", Hashes: []string{oldHash}}}),
			src:     random,
			wantErr: ErrNotFound,
			wantMsg: []string{"version 3.5.0 (locked in /work/converge.lock)", "3.7.0 " + Platform, "3.6.0 " + Platform},
		},
		"hash differs": {
			lock:    lockWith(map[Source]LockedProvider{random: {Version: "3.6.0", Hashes: []string{"h1:AAAA", "zh:0000"}}}),
			src:     random,
			wantErr: ErrHashMismatch,
			wantMsg: []string{old, "h1:AAAA, zh:0000", oldHash, "/work/converge.lock"},
		},
		"packed hash differs: refused before extracting": {
			lock:    lockWith(map[Source]LockedProvider{local: {Version: "2.5.1", Hashes: []string{"h1:AAAA"}}}),
			src:     local,
			wantErr: ErrHashMismatch,
			wantMsg: []string{zipPath, "h1:AAAA", zipH1, zh},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cache := t.TempDir()
			pkg, err := find(t, Options{Dirs: []string{dir}, CacheDir: cache, Lock: tc.lock}, tc.src, tc.constraint)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Find = %s, %v; want %v", pkg.Version, err, tc.wantErr)
				}
				if c, _ := provider.Classify(err); c != provider.ClassTerminal {
					t.Errorf("error class %v, want terminal", c)
				}
				for _, m := range tc.wantMsg {
					if !strings.Contains(err.Error(), m) {
						t.Errorf("the error does not say %q:\n%v", m, err)
					}
				}
				if left, _ := os.ReadDir(cache); len(left) != 0 {
					t.Errorf("extracted despite the error: %v", left)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if pkg.Version != tc.wantVer {
				t.Errorf("Find = %s; want %s", pkg.Version, tc.wantVer)
			}
		})
	}
}

func TestLockRefusesAModifiedBinary(t *testing.T) {
	dir := t.TempDir()
	pkgDir := mkUnpacked(t, dir, random, "3.6.2", Platform)
	opts := Options{Dirs: []string{dir}}
	pkg, err := find(t, opts, random, "~> 3.6")
	if err != nil {
		t.Fatal(err)
	}
	var l Lock
	l.Set(pkg, "~> 3.6")
	lockPath := filepath.Join(t.TempDir(), LockFile)
	if err := l.Write(lockPath); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pkg.Executable, []byte("#!/bin/sh\necho evil\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	opts.Lock, err = ReadLock(lockPath)
	if err != nil {
		t.Fatal(err)
	}
	_, err = find(t, opts, random, "~> 3.6")
	if !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("Find after the binary changed: %v; want ErrHashMismatch", err)
	}
	now, _ := HashDir(pkgDir)
	for _, m := range []string{pkgDir, pkg.H1(), now, lockPath} {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("the error does not say %q:\n%v", m, err)
		}
	}
}

func TestLockSet(t *testing.T) {
	p := func(v string, hashes ...string) Package { return Package{Source: random, Version: v, Hashes: hashes} }
	var l Lock
	l.Set(p("3.6.0", "h1:linux"), "~> 3.6")
	l.Set(p("3.6.0", "h1:darwin", "h1:linux"), "~> 3.6") // another platform's hash joins
	got, _ := l.Get(random)
	if want := (LockedProvider{Constraints: "~> 3.6", Hashes: []string{"h1:darwin", "h1:linux"}, Version: "3.6.0"}); !cmp.Equal(got, want) {
		t.Errorf("same version: %+v; want %+v", got, want)
	}
	l.Set(p("3.7.0", "h1:new"), " ~> 3.7 ") // a new version replaces
	got, _ = l.Get(random)
	if want := (LockedProvider{Constraints: "~> 3.7", Hashes: []string{"h1:new"}, Version: "3.7.0"}); !cmp.Equal(got, want) {
		t.Errorf("new version: %+v; want %+v", got, want)
	}
	if err := l.Check(p("3.7.0", "h1:new")); err != nil {
		t.Errorf("Check of the locked package: %v", err)
	}
	if err := l.Check(p("3.6.0", "h1:linux")); !errors.Is(err, ErrLockStale) {
		t.Errorf("Check of another version: %v; want ErrLockStale", err)
	}
}

// failAfter writes the first n bytes it is given, then fails, like a disk
// that fills up or a process killed mid-write.
type failAfter struct {
	w       io.Writer
	n       int
	written int
}

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n-f.written {
		p = p[:f.n-f.written]
		m, _ := f.w.Write(p)
		f.written += m
		return m, errors.New("injected write failure")
	}
	m, err := f.w.Write(p)
	f.written += m
	return m, err
}

func TestLockWriteIsAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, LockFile)
	var old Lock
	old.Set(Package{Source: random, Version: "3.6.0", Hashes: []string{"h1:old"}}, "~> 3.6")
	if err := old.Write(path); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)

	var next Lock
	next.Set(Package{Source: random, Version: "3.7.0", Hashes: []string{"h1:new"}}, "~> 3.7")
	data := next.Encode()
	var injected *failAfter
	err := writeAtomic(path, data, func(w io.Writer) io.Writer {
		injected = &failAfter{w: w, n: len(data) / 2}
		return injected
	})
	if err == nil || !strings.Contains(err.Error(), "injected write failure") {
		t.Fatalf("writeAtomic with a failing writer: %v", err)
	}
	if injected == nil || injected.written == 0 || injected.written >= len(data) {
		t.Fatalf("premise: the failure should come mid-write; wrote %v of %d bytes", injected, len(data))
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(before) {
		t.Errorf("the old lock changed after a failed write:\n%s", after)
	}
	if l, err := ReadLock(path); err != nil || l == nil {
		t.Errorf("the old lock no longer reads: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left in the directory: %v; want the lock alone", entries)
	}

	// A write that succeeds replaces it whole.
	if err := next.Write(path); err != nil {
		t.Fatal(err)
	}
	after, _ = os.ReadFile(path)
	if string(after) != string(data) {
		t.Errorf("after a good write: %s", after)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v; want 0644", fi.Mode().Perm())
	}
}

func TestLockWriteIntoMissingDir(t *testing.T) {
	var l Lock
	err := l.Write(filepath.Join(t.TempDir(), "missing", LockFile))
	if err == nil {
		t.Fatal("Write into a missing directory succeeded")
	}
}
