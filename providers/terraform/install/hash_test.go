package install

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// knownH1 was computed outside Go, by the shell, for the files of
// knownPackage:
//
//	sha256sum LICENSE docs/README.md terraform-provider-random_v3.6.2_x5 > summary
//	sha256sum summary | cut -d' ' -f1 | xxd -r -p | base64
const knownH1 = "h1:CEoTXSrih6Gb3v20Mnnx+nCjMKAdgTGI0HozNO2NbwY="

var knownPackage = []entry{
	{name: "terraform-provider-random_v3.6.2_x5", body: []byte("#!/bin/sh\necho random 3.6.2\n"), mode: 0o755},
	{name: "LICENSE", body: []byte("MIT License\n")},
	{name: "docs/README.md", body: []byte("hello\n")},
}

func writeTree(t *testing.T, dir string, entries []entry) {
	t.Helper()
	for _, e := range entries {
		p := filepath.Join(dir, filepath.FromSlash(e.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		if err := os.WriteFile(p, e.body, mode); err != nil {
			t.Fatal(err)
		}
	}
}

func TestHashKnownVector(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, knownPackage)
	got, err := HashDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got != knownH1 {
		t.Errorf("HashDir = %s; want %s", got, knownH1)
	}
	// The mode is not part of the hash.
	if err := os.Chmod(filepath.Join(dir, "LICENSE"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _ := HashDir(dir); got != knownH1 {
		t.Errorf("HashDir after chmod = %s; want %s", got, knownH1)
	}
	// Through a symbolic link to the package directory.
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	if got, _ := HashDir(link); got != knownH1 {
		t.Errorf("HashDir through a link = %s; want %s", got, knownH1)
	}
	// One byte changed changes it.
	if err := os.WriteFile(filepath.Join(dir, "LICENSE"), []byte("MIT License!\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _ := HashDir(dir); got == knownH1 {
		t.Errorf("HashDir after an edit is still %s", got)
	}
}

func TestHashZipEqualsExtraction(t *testing.T) {
	data := zipBytes(t, knownPackage)
	zipPath := filepath.Join(t.TempDir(), "p.zip")
	if err := os.WriteFile(zipPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	h1, err := HashZip(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	if h1 != knownH1 {
		t.Errorf("HashZip = %s; want %s", h1, knownH1)
	}
	sum := sha256.Sum256(data)
	zh, err := HashZipLegacy(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	if want := "zh:" + hex.EncodeToString(sum[:]); zh != want {
		t.Errorf("HashZipLegacy = %s; want %s", zh, want)
	}

	// Through Find: the extraction has the archive's h1.
	dir := t.TempDir()
	mkPacked(t, dir, random, "3.6.2", Platform, knownPackage)
	pkg, err := find(t, Options{Dirs: []string{dir}, CacheDir: t.TempDir()}, random, "")
	if err != nil {
		t.Fatal(err)
	}
	ext, err := HashDir(pkg.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if ext != knownH1 || pkg.H1() != knownH1 {
		t.Errorf("extraction h1 %s, package h1 %s; want both %s", ext, pkg.H1(), knownH1)
	}
	if len(pkg.Hashes) != 2 || pkg.Hashes[1][:3] != PrefixZH {
		t.Errorf("hashes %v; want h1: and zh:", pkg.Hashes)
	}
}

// A zip that lists its directories hashes differently from its extraction
// under dirhash.HashZip (as in Terraform); the package then carries both
// h1: hashes, so that a lock made from either copy accepts it.
func TestHashZipWithDirectoryEntries(t *testing.T) {
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for range 2 { // a directory listed twice is harmless
		if _, err := w.Create("docs/"); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range knownPackage {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		h.SetMode(0o755)
		f, err := w.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(e.body)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	typeDir := filepath.Join(dir, random.Host, random.Namespace, random.Type)
	os.MkdirAll(typeDir, 0o755)
	zipPath := filepath.Join(typeDir, "terraform-provider-random_3.6.2_"+Platform+".zip")
	if err := os.WriteFile(zipPath, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	withDirs, err := HashZip(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	if withDirs == knownH1 {
		t.Fatalf("premise: a zip with a directory entry should hash differently under HashZip")
	}
	pkg, err := find(t, Options{Dirs: []string{dir}, CacheDir: t.TempDir()}, random, "")
	if err != nil {
		t.Fatal(err)
	}
	ext, _ := HashDir(pkg.Dir)
	if ext != knownH1 {
		t.Errorf("extraction h1 %s; want %s", ext, knownH1)
	}
	if len(pkg.Hashes) != 3 || !slices.Contains(pkg.Hashes, knownH1) || !slices.Contains(pkg.Hashes, withDirs) {
		t.Errorf("hashes %v; want both h1: hashes and a zh:", pkg.Hashes)
	}
}
