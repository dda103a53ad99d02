package install

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/convergehq/converge/provider"
)

// Default extraction limits.
const (
	DefaultMaxEntryBytes int64 = 2 << 30 // 2 GiB: the largest providers are under 1 GiB
	DefaultMaxTotalBytes int64 = 4 << 30
	maxEntries                 = 10000
)

// ErrUnsafeArchive is wrapped by the errors for a zip that cannot be read
// or that extraction refuses: an entry that would land outside the target, a symbolic link, a
// device or other special file, a duplicate, or one over a size limit.
var ErrUnsafeArchive = errors.New("unsafe provider archive")

type limits struct {
	entry, total int64
}

func (o Options) limits() limits {
	l := limits{entry: o.MaxEntryBytes, total: o.MaxTotalBytes}
	if l.entry <= 0 {
		l.entry = DefaultMaxEntryBytes
	}
	if l.total <= 0 {
		l.total = DefaultMaxTotalBytes
	}
	return l
}

// unpack makes the packed package zipPath available as a directory under
// cacheDir, in the unpacked layout (so cacheDir is itself a plugin
// directory), and returns that directory. An extraction already there is
// reused when its hash is want; otherwise the zip is extracted into a
// temporary directory beside the target, checked against want, and renamed
// into place.
func unpack(ctx context.Context, c candidate, cacheDir, want string, lim limits) (string, error) {
	target := filepath.Join(cacheDir, c.src.Host, c.src.Namespace, c.src.Type, normalVersion(c.version), c.osArch)
	if fi, err := os.Stat(target); err == nil && fi.IsDir() {
		if h, err := HashDir(target); err == nil && h == want {
			return target, nil
		}
	}
	parent := filepath.Dir(target)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("extract %s: %w", c.path, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(target)+".tmp-")
	if err != nil {
		return "", fmt.Errorf("extract %s: %w", c.path, err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	if err := extractZip(ctx, c.path, tmp, c.src.Type, lim); err != nil {
		return "", err
	}
	got, err := HashDir(tmp)
	if err != nil {
		return "", fmt.Errorf("extract %s: %w", c.path, err)
	}
	if got != want {
		return "", provider.Terminal(fmt.Errorf("extract %s: the extraction's hash %s is not the archive's %s: %w", c.path, got, want, ErrUnsafeArchive))
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("extract %s: %w", c.path, err)
	}
	// Another process may have finished the same extraction meanwhile;
	// otherwise move a stale one aside and put the new one in its place.
	var old string
	if _, err := os.Lstat(target); err == nil {
		if h, err := HashDir(target); err == nil && h == want {
			return target, nil
		}
		old = tmp + ".old"
		if err := os.Rename(target, old); err != nil {
			return "", fmt.Errorf("extract %s: replace %s: %w", c.path, target, err)
		}
	}
	if err := os.Rename(tmp, target); err != nil {
		// Another process may have put the same extraction there first.
		if h, herr := HashDir(target); herr == nil && h == want {
			return target, nil
		}
		return "", fmt.Errorf("extract %s: rename into %s: %w", c.path, target, err)
	}
	done = true
	if old != "" {
		os.RemoveAll(old)
	}
	syncDir(parent)
	return target, nil
}

// extractZip writes the entries of zipPath into dir, which must be new and
// empty. Every entry is checked before anything is written.
func extractZip(ctx context.Context, zipPath, dir, typ string, lim limits) error {
	z, err := zip.OpenReader(zipPath)
	if err != nil {
		return zipError(zipPath, err)
	}
	defer z.Close()
	if err := checkEntries(zipPath, z.File, lim); err != nil {
		return err
	}
	unsafe := func(format string, args ...any) error {
		return provider.Terminal(fmt.Errorf("extract %s: %s: %w", zipPath, fmt.Sprintf(format, args...), ErrUnsafeArchive))
	}

	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("extract %s: %w", zipPath, err)
	}
	defer root.Close()
	var total int64
	for _, f := range z.File {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("extract %s: %w", zipPath, err)
		}
		name := strings.TrimSuffix(f.Name, "/")
		if f.Mode().IsDir() || strings.HasSuffix(f.Name, "/") {
			if err := root.MkdirAll(name, 0o755); err != nil {
				return fmt.Errorf("extract %s: %w", zipPath, err)
			}
			continue
		}
		if d := path.Dir(name); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("extract %s: %w", zipPath, err)
			}
		}
		perm := fs.FileMode(0o644)
		if f.Mode()&0o111 != 0 || strings.HasPrefix(strings.ToLower(path.Base(name)), "terraform-provider-"+typ) {
			perm = 0o755
		}
		n, err := extractFile(root, f, name, perm, min(lim.entry, lim.total-total))
		total += n
		if err != nil {
			if errors.Is(err, errTooBig) {
				return unsafe("entry %q holds more than its limit (per entry %d bytes, %d in all)", f.Name, lim.entry, lim.total)
			}
			return zipError(zipPath+": entry "+f.Name, err)
		}
	}
	return nil
}

var errTooBig = errors.New("too big")

// extractFile writes one entry, refusing to write more than limit bytes
// whatever its header says, and returns how many bytes it wrote.
func extractFile(root *os.Root, f *zip.File, name string, perm fs.FileMode, limit int64) (int64, error) {
	r, err := f.Open()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	w, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(w, io.LimitReader(r, limit+1))
	if err == nil && n > limit {
		err = errTooBig
	}
	if err == nil {
		err = w.Sync()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// The umask may have taken bits from perm.
		err = root.Chmod(name, perm)
	}
	return n, err
}

// syncDir flushes a directory's entries to disk, so that a rename in it
// survives a crash. Errors are ignored: not every system can sync a
// directory.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// checkZip refuses a zip that extraction would refuse, reading only its
// directory. It runs before the zip is hashed, so that a bomb's entries are
// never decompressed: the zip reader stops at each entry's declared size.
func checkZip(zipPath string, lim limits) error {
	z, err := zip.OpenReader(zipPath)
	if err != nil {
		return zipError(zipPath, err)
	}
	defer z.Close()
	return checkEntries(zipPath, z.File, lim)
}

// checkEntries refuses entries that would land outside the extraction,
// symbolic links, special files, duplicates and entries whose declared
// sizes exceed the limits.
func checkEntries(zipPath string, files []*zip.File, lim limits) error {
	unsafe := func(format string, args ...any) error {
		return provider.Terminal(fmt.Errorf("%s: %s: %w", zipPath, fmt.Sprintf(format, args...), ErrUnsafeArchive))
	}
	if len(files) > maxEntries {
		return unsafe("%d entries, more than %d", len(files), maxEntries)
	}
	seen := map[string]bool{} // every name, lowered: one case-insensitive file system must hold them
	dirs := map[string]bool{} // the names of directory entries, which may repeat
	var declared uint64
	for _, f := range files {
		name := strings.TrimSuffix(f.Name, "/")
		mode := f.Mode()
		switch {
		case name == "" || strings.Contains(name, `\`) || strings.ContainsAny(name, "\x00\n") || !filepath.IsLocal(filepath.FromSlash(name)) || path.Clean(name) != name:
			return unsafe("entry %q would land outside the extraction", f.Name)
		case mode&fs.ModeSymlink != 0:
			return unsafe("entry %q is a symbolic link", f.Name)
		case !mode.IsDir() && !mode.IsRegular():
			return unsafe("entry %q is not a regular file (mode %s)", f.Name, mode)
		case seen[strings.ToLower(name)] && !(mode.IsDir() && dirs[strings.ToLower(name)]):
			return unsafe("entry %q appears twice", f.Name)
		case f.UncompressedSize64 > uint64(lim.entry):
			return unsafe("entry %q is %d bytes, more than the limit of %d", f.Name, f.UncompressedSize64, lim.entry)
		}
		seen[strings.ToLower(name)] = true
		if mode.IsDir() {
			dirs[strings.ToLower(name)] = true
		}
		declared += f.UncompressedSize64
		if declared > uint64(lim.total) {
			return unsafe("entries add up to more than the limit of %d bytes", lim.total)
		}
	}
	return nil
}
