package file

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/convergehq/converge/provider"
)

// Every operation opens the root afresh: os.Root refuses any lookup that
// would leave it, even if the tree changes after locate checked it.
func (p *Provider) openRoot() (*os.Root, error) {
	r, err := os.OpenRoot(p.root)
	if err != nil {
		return nil, classify("open root "+p.root, err)
	}
	return r, nil
}

// lstat returns what is at loc without following a final symbolic link, or
// nil when nothing is there.
func lstat(r *os.Root, loc location) (fs.FileInfo, error) {
	fi, err := r.Lstat(loc.name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, classify("lstat "+show(loc.rel), err)
	}
	return fi, nil
}

// typeName names what an fs.FileMode is, for conflict messages.
func typeName(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "an object of another type"
}

// wrongType is the conflict for an object of another type than declared.
func wrongType(loc location, want string, fi fs.FileInfo) error {
	return provider.Conflictf("%s is %s, not %s; converge will not replace it", show(loc.rel), typeName(fi.Mode()), want)
}

// tempName returns a fresh name next to loc for an atomic replace.
func tempName(loc location) string {
	return filepath.Join(loc.dir, "."+tempStem(filepath.Base(loc.name))+".converge-"+rand.Text())
}

// tempStem is base as it appears in the names of its temporary files:
// base itself, or, when the temporary name would be longer than a file
// name may be, its beginning and a hash of the whole.
func tempStem(base string) string {
	max := maxName - len(".") - len(".converge-") - 26
	if len(base) <= max {
		return base
	}
	sum := sha256.Sum256([]byte(base))
	cut := max - len("~") - 8
	for cut > 0 && !utf8.RuneStart(base[cut]) {
		cut--
	}
	return base[:cut] + "~" + hex.EncodeToString(sum[:4])
}

// isTemp reports whether name is one of converge's temporary files (for
// base, when base is not empty): "." + base + ".converge-" + 26 characters
// of base32, as rand.Text makes them.
func isTemp(name, base string) bool {
	if !strings.HasPrefix(name, ".") {
		return false
	}
	i := strings.LastIndex(name, ".converge-")
	if i < 1 || (base != "" && name[1:i] != tempStem(base)) {
		return false
	}
	tail := name[i+len(".converge-"):]
	if len(tail) != 26 {
		return false
	}
	for _, c := range tail {
		if !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// removeTemps removes the temporary files and links a crashed write left
// in dir (for base only, when base is not empty), never directories, and
// returns how many other entries dir holds.
func removeTemps(r *os.Root, dir, base string) (others int, err error) {
	d, err := r.Open(dir)
	if err != nil {
		return 0, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return 0, err
	}
	for _, n := range names {
		if !isTemp(n, base) {
			others++
			continue
		}
		p := filepath.Join(dir, n)
		if fi, err := r.Lstat(p); err == nil && !fi.IsDir() {
			if err := r.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				others++
			}
		} else {
			others++
		}
	}
	return others, nil
}

// syncDir fsyncs the directory dir (relative to the root) so that a rename,
// creation or removal in it is durable.
func syncDir(r *os.Root, dir string) error {
	d, err := r.Open(dir)
	if err != nil {
		return classify("open directory "+dir+" to sync it", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return classify("sync directory "+dir, err)
	}
	return nil
}

// writeAtomic replaces loc with a regular file holding data with mode bits
// m: write a temporary file in the same directory, fsync it, chmod it,
// rename it over loc, fsync the directory. The temporary file is removed on
// failure.
func writeAtomic(r *os.Root, loc location, data []byte, m uint32) (err error) {
	_, _ = removeTemps(r, loc.dir, filepath.Base(loc.name)) // left by a crash
	tmp := tempName(loc)
	f, err := r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return classify("create temporary file for "+show(loc.rel), err)
	}
	defer func() {
		if err != nil {
			_ = f.Close() // may already be closed; the write error matters
			_ = r.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return classify("write "+show(loc.rel), err)
	}
	if err := f.Sync(); err != nil {
		return classify("sync "+show(loc.rel), err)
	}
	if err := f.Chmod(fileMode(m)); err != nil {
		return classify("chmod "+show(loc.rel), err)
	}
	if err := f.Close(); err != nil {
		return classify("close "+show(loc.rel), err)
	}
	if err := r.Rename(tmp, loc.name); err != nil {
		return classify("rename temporary file over "+show(loc.rel), err)
	}
	return syncDir(r, loc.dir)
}

// symlinkAtomic points loc at target: a temporary link in the same
// directory renamed over loc, then the directory fsynced.
func symlinkAtomic(r *os.Root, loc location, target string) error {
	_, _ = removeTemps(r, loc.dir, filepath.Base(loc.name)) // left by a crash
	tmp := tempName(loc)
	if err := r.Symlink(target, tmp); err != nil {
		return classify("create temporary symlink for "+show(loc.rel), err)
	}
	if err := r.Rename(tmp, loc.name); err != nil {
		_ = r.Remove(tmp)
		return classify("rename temporary symlink over "+show(loc.rel), err)
	}
	return syncDir(r, loc.dir)
}

// chmodDir sets the mode of the directory at loc through a descriptor.
func chmodDir(r *os.Root, loc location, m uint32) error {
	d, err := r.OpenFile(loc.name, os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return classify("open directory "+show(loc.rel), err)
	}
	err = d.Chmod(fileMode(m))
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return classify("chmod "+show(loc.rel), err)
	}
	return nil
}

// remove deletes the object at loc if it is of the declared kind.
func (p *Provider) remove(kind string, loc location) error {
	r, err := p.openRoot()
	if err != nil {
		return err
	}
	defer r.Close()
	if kind != KindDirectory {
		// A crash during a write leaves a temporary file even when the
		// object itself never came to be.
		_, _ = removeTemps(r, loc.dir, filepath.Base(loc.name))
	}
	fi, err := lstat(r, loc)
	if err != nil || fi == nil {
		return err
	}
	switch kind {
	case KindDirectory:
		if !fi.IsDir() {
			return wrongType(loc, "a directory", fi)
		}
	case KindFile:
		if !fi.Mode().IsRegular() {
			return wrongType(loc, "a regular file", fi)
		}
	case KindSymlink:
		if fi.Mode()&fs.ModeSymlink == 0 {
			return wrongType(loc, "a symbolic link", fi)
		}
	}
	if err := r.Remove(loc.name); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if kind == KindDirectory && (errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST)) {
			// Temporary files a crash left behind are converge's own.
			if others, terr := removeTemps(r, loc.name, ""); terr == nil && others == 0 {
				if err := r.Remove(loc.name); err == nil || errors.Is(err, fs.ErrNotExist) {
					return syncDir(r, loc.dir)
				}
			}
			return notEmpty(r, loc)
		}
		return classify("remove "+show(loc.rel), err)
	}
	return syncDir(r, loc.dir)
}

// notEmpty is the retryable error for removing a directory that still holds
// entries.
func notEmpty(r *os.Root, loc location) error {
	d, err := r.Open(loc.name)
	if err != nil {
		return provider.Retryable(fmt.Errorf("directory %s is not empty", show(loc.rel)))
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return provider.Retryable(fmt.Errorf("directory %s is not empty", show(loc.rel)))
	}
	return provider.Retryable(fmt.Errorf("directory %s is not empty: %d entries", show(loc.rel), len(names)))
}
