package file

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/convergehq/converge/provider"
)

// maxLinkHops bounds how many dangling symbolic links resolve follows, as
// the kernel bounds symlink chains.
const maxLinkHops = 40

// errNoParent matches (errors.Is) a missing parent directory: Observe
// reports the object absent, Delete succeeds, Create and Update return it as
// a retryable error.
var errNoParent = errors.New("parent directory does not exist")

// noParentError is a missing parent directory, named relative to the root.
type noParentError struct{ dir string }

func (e *noParentError) Error() string {
	return fmt.Sprintf("parent directory %s does not exist (declare a file.Directory and depend on it)", e.dir)
}

func (e *noParentError) Is(target error) bool { return target == errNoParent }

// location is a spec path checked against the root.
type location struct {
	// rel is the cleaned path relative to the root, as written by the user
	// once cleaned: "site/www". It is what messages and outputs show.
	rel string
	// name is the path relative to the root with the parent's symbolic links
	// resolved: what os.Root operations use.
	name string
	// dir is the real parent directory relative to the root ("." for the
	// root itself), and abs the real absolute path of the object.
	dir, abs string
}

// clean returns p cleaned and relative to the root, or an error if it is
// empty, escapes the root or is the root itself. It only looks at the string.
func (p *Provider) clean(path string) (string, error) {
	if path == "" {
		return "", errors.New("path is empty")
	}
	abs := path
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(p.root, abs)
	}
	abs = filepath.Clean(abs)
	rel, ok := p.inside(abs)
	if !ok {
		return "", fmt.Errorf("path %q is outside the root %s", path, p.root)
	}
	if rel == "." {
		return "", fmt.Errorf("path %q is the root %s itself; name an object below it", path, p.root)
	}
	return rel, nil
}

// inside reports whether the absolute, clean path abs lies in the root (or is
// the root) and returns it relative to the root.
func (p *Provider) inside(abs string) (string, bool) {
	rel, err := filepath.Rel(p.root, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return rel, true
}

// locate checks path for an operation: the lexical checks of clean, then the
// parent directory's real location. An escape is terminal; a missing parent
// is errNoParent (wrapped with the parent's name, retryable); a parent that
// is not a directory is retryable.
func (p *Provider) locate(path string) (location, error) {
	rel, err := p.clean(path)
	if err != nil {
		return location{}, provider.Terminal(err)
	}
	parentRel := filepath.Dir(rel)
	real, exists, err := p.resolve(filepath.Join(p.root, parentRel))
	if err != nil {
		return location{}, classify("resolve parent of "+rel, err)
	}
	dir, ok := p.inside(real)
	if !ok {
		return location{}, provider.Terminalf("parent directory %s of %s leads outside the root to %s through a symbolic link; converge never follows it", parentRel, rel, real)
	}
	if !exists {
		return location{}, provider.Retryable(&noParentError{dir: filepath.ToSlash(parentRel)})
	}
	fi, err := os.Stat(real)
	if err != nil {
		return location{}, classify("stat parent of "+rel, err)
	}
	if !fi.IsDir() {
		return location{}, provider.Retryable(fmt.Errorf("parent %s of %s is not a directory", parentRel, rel))
	}
	base := filepath.Base(rel)
	return location{rel: rel, name: filepath.Join(dir, base), dir: dir, abs: filepath.Join(real, base)}, nil
}

// checkTarget checks that the symlink target, read relative to the real
// directory holding the link, resolves inside the root, following existing
// symbolic links (dangling ones included) on the way.
func (p *Provider) checkTarget(loc location, target string) error {
	if target == "" {
		return provider.Terminalf("symlink %s: target is empty", loc.rel)
	}
	abs := target
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(p.root, loc.dir, abs)
	}
	abs = filepath.Clean(abs)
	if _, ok := p.inside(abs); !ok {
		return provider.Terminalf("symlink %s: target %q is outside the root %s", loc.rel, target, p.root)
	}
	real, _, err := p.resolve(abs)
	if err != nil {
		return classify("resolve target of symlink "+loc.rel, err)
	}
	if _, ok := p.inside(real); !ok {
		return provider.Terminalf("symlink %s: target %q resolves to %s, outside the root %s, through a symbolic link", loc.rel, target, real, p.root)
	}
	return nil
}

// resolve returns the real location of the absolute path abs: the longest
// existing prefix with every symbolic link resolved (filepath.EvalSymlinks),
// then the rest as written. Dangling links are followed as strings, so a
// link to a not-yet-existing place outside the root is still seen as leading
// out. exists reports whether the whole path exists.
func (p *Provider) resolve(abs string) (real string, exists bool, err error) {
	cur, rest := abs, ""
	for hops := 0; ; {
		r, err := filepath.EvalSymlinks(cur)
		if err == nil {
			return filepath.Join(r, rest), rest == "", nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", false, err
		}
		if fi, lerr := os.Lstat(cur); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			// A dangling link: follow its text.
			if hops++; hops > maxLinkHops {
				return "", false, fmt.Errorf("resolve %s: too many levels of symbolic links", abs)
			}
			t, err := os.Readlink(cur)
			if err != nil {
				return "", false, err
			}
			if !filepath.IsAbs(t) {
				t = filepath.Join(filepath.Dir(cur), t)
			}
			cur = filepath.Clean(t)
			continue
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return filepath.Join(cur, rest), false, nil
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}
