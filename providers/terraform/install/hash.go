package install

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/convergehq/converge/provider"
	"golang.org/x/mod/sumdb/dirhash"
)

// Hash scheme prefixes, as in .terraform.lock.hcl.
const (
	// PrefixH1 is Terraform's package hash: dirhash.Hash1 over the files of
	// the package, the same for a zip and its extraction.
	PrefixH1 = "h1:"
	// PrefixZH is the legacy zip hash: the hex SHA-256 of the zip file.
	PrefixZH = "zh:"
)

// HashDir returns the h1: hash of an unpacked package directory, as
// Terraform's PackageHashV1 does: symbolic links in dir are resolved first,
// and the hash covers the files' paths (relative to dir) and contents, not
// their modes.
func HashDir(dir string) (string, error) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", dir, err)
	}
	h, err := dirhash.HashDir(real, "", dirhash.Hash1)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", dir, err)
	}
	return h, nil
}

// HashZip returns the h1: hash of a packed package, as Terraform's
// PackageHashV1 does: dirhash.HashZip. For a zip that has no entries for
// directories (provider releases have none) it equals the HashDir of its
// extraction.
func HashZip(path string) (string, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	h, err := dirhash.HashZip(real, dirhash.Hash1)
	if err != nil {
		return "", zipError(path, err)
	}
	return h, nil
}

// HashZipLegacy returns the zh: hash of a zip file, as Terraform's
// PackageHashLegacyZipSHA does: the hex SHA-256 of the file.
func HashZipLegacy(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return PrefixZH + hex.EncodeToString(h.Sum(nil)), nil
}

// zipFilesHash returns the h1: hash of a zip's file entries only, leaving out
// entries for directories: what HashDir gives for its extraction. It is
// computed only for zips that hold directory entries, where it differs from
// HashZip.
func zipFilesHash(path string) (string, error) {
	z, err := zip.OpenReader(path)
	if err != nil {
		return "", zipError(path, err)
	}
	defer z.Close()
	var names []string
	byName := map[string]*zip.File{}
	for _, f := range z.File {
		if strings.HasSuffix(f.Name, "/") || f.Mode().IsDir() {
			continue
		}
		names = append(names, f.Name)
		byName[f.Name] = f
	}
	h, err := dirhash.Hash1(names, func(name string) (io.ReadCloser, error) { return byName[name].Open() })
	if err != nil {
		return "", zipError(path, err)
	}
	return h, nil
}

// zipHasDirEntries reports whether a zip lists any directory entries.
func zipHasDirEntries(path string) (bool, error) {
	z, err := zip.OpenReader(path)
	if err != nil {
		return false, zipError(path, err)
	}
	defer z.Close()
	for _, f := range z.File {
		if strings.HasSuffix(f.Name, "/") || f.Mode().IsDir() {
			return true, nil
		}
	}
	return false, nil
}

// zipError wraps an error met reading a zip: a malformed one is terminal
// and wraps ErrUnsafeArchive.
func zipError(path string, err error) error {
	if errors.Is(err, zip.ErrFormat) || errors.Is(err, zip.ErrAlgorithm) || errors.Is(err, zip.ErrChecksum) || errors.Is(err, zip.ErrInsecurePath) {
		return provider.Terminal(fmt.Errorf("read %s: %v: %w", path, err, ErrUnsafeArchive))
	}
	return fmt.Errorf("read %s: %w", path, err)
}
