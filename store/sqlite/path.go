package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ResolvePath returns the file a state path names: absolute, with every
// symbolic link evaluated, so that every name of one state file gives one
// path (and so one lock). For a file that does not exist yet, the links of
// its directory are evaluated, and a dangling link is followed to the file
// it would create. The directory must exist.
func ResolvePath(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	for range 40 { // as many links as Linux follows
		real, err := filepath.EvalSymlinks(abs)
		if err == nil {
			return real, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		fi, lerr := os.Lstat(abs)
		if lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			// A dangling link: the file it names does not exist yet.
			target, err := os.Readlink(abs)
			if err != nil {
				return "", err
			}
			if !filepath.IsAbs(target) {
				target = filepath.Join(filepath.Dir(abs), target)
			}
			abs = target
			continue
		}
		dir, err := filepath.EvalSymlinks(filepath.Dir(abs))
		if err != nil {
			return "", err
		}
		return filepath.Join(dir, filepath.Base(abs)), nil
	}
	return "", fmt.Errorf("%s: too many levels of symbolic links", path)
}

// checkNames refuses a state file with more than one name: SQLite keeps
// the write-ahead log and its index beside the name, and the lock is taken
// beside it too, so two processes writing one file through two hard links
// would neither exclude each other nor see each other's log.
func checkNames(fi fs.FileInfo, name string) error {
	if n := linkCount(fi); n > 1 {
		return fmt.Errorf("state file %s has %d names (hard links): one state file must have one name, or two converge processes could write it at once through two names; remove the other names (find / -samefile %s)", name, n, name)
	}
	return nil
}
