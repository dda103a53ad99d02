package install

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
)

// A provider binary of 64 MiB; real ones run from 10 to 700 MiB.
const benchSize = 64 << 20

func benchPackage(b *testing.B) (dir string, body []byte) {
	b.Helper()
	body = make([]byte, benchSize)
	rand.Read(body)
	dir = b.TempDir()
	return dir, body
}

func BenchmarkHashDir(b *testing.B) {
	dir, body := benchPackage(b)
	pkg := filepath.Join(dir, "pkg")
	os.MkdirAll(pkg, 0o755)
	if err := os.WriteFile(filepath.Join(pkg, "terraform-provider-random_v1.0.0"), body, 0o755); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchSize)
	for b.Loop() {
		if _, err := HashDir(pkg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFindPacked measures a Find that reuses an extraction: it hashes
// the zip (h1: and zh:) and the extraction.
func BenchmarkFindPacked(b *testing.B) {
	dir, body := benchPackage(b)
	typeDir := filepath.Join(dir, random.Host, random.Namespace, random.Type)
	os.MkdirAll(typeDir, 0o755)
	data := zipBytes(b, []entry{{name: "terraform-provider-random_v1.0.0", body: body, mode: 0o755}})
	if err := os.WriteFile(filepath.Join(typeDir, "terraform-provider-random_1.0.0_"+Platform+".zip"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	opts := Options{Dirs: []string{dir}, CacheDir: b.TempDir(), Logger: quiet}
	if _, err := Find(b.Context(), opts, random, ""); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchSize)
	for b.Loop() {
		if _, err := Find(b.Context(), opts, random, ""); err != nil {
			b.Fatal(err)
		}
	}
}
