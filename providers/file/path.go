package file

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/convergehq/converge/provider"
)

// errNoParent matches (errors.Is) a missing parent directory: Observe
// reports the object absent, Delete succeeds, Create and Update return it as
// a retryable error.
var errNoParent = errors.New("parent directory does not exist")

// noParentError is a missing parent directory, named relative to the root.
type noParentError struct{ dir string }

func (e *noParentError) Error() string {
	return fmt.Sprintf("parent directory %s does not exist (declare a file.Directory and depend on it)", show(e.dir))
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
	// root itself).
	dir string
}

// maxName is the longest file name the file systems converge runs on
// accept (NAME_MAX).
const maxName = 255

// clean returns p cleaned and relative to the root, or an error if it is
// empty, holds a NUL byte or a name longer than maxName, escapes the root
// or is the root itself. It only looks at the string.
func (p *Provider) clean(path string) (string, error) {
	if path == "" {
		return "", errors.New("path is empty")
	}
	if strings.IndexByte(path, 0) >= 0 {
		return "", fmt.Errorf("path %s contains a NUL byte", quote(path))
	}
	if c := longName(path); c != "" {
		return "", fmt.Errorf("name %s... in the path is %d bytes; a file name holds at most %d", quote(c[:32]), len(c), maxName)
	}
	if !filepath.IsAbs(path) && filepath.Clean(path) == path && path != "." && path != ".." && !strings.HasPrefix(path, ".."+string(filepath.Separator)) {
		// Relative, clean and not climbing out: it is its own answer
		// (the common case, and every canonical path).
		return path, nil
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

// longName returns the first name in path longer than maxName, or "".
func longName(path string) string {
	start := 0
	for i := 0; i <= len(path); i++ {
		if i == len(path) || path[i] == filepath.Separator {
			if i-start > maxName {
				return path[start:i]
			}
			start = i + 1
		}
	}
	return ""
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
// parent directory's real location, resolved as the kernel would. An escape
// is terminal; a missing parent is errNoParent (wrapped with the parent's
// name, retryable); a parent that is not a directory is retryable.
func (p *Provider) locate(path string) (location, error) {
	rt := p.opRoot()
	defer rt.close()
	return p.locateIn(rt, path)
}

// locateIn is locate through the root of an operation.
func (p *Provider) locateIn(rt *opRoot, path string) (location, error) {
	rel, err := p.clean(path)
	if err != nil {
		return location{}, provider.Terminal(err)
	}
	r, err := rt.get()
	if err != nil {
		return location{}, err
	}
	parentRel := filepath.Dir(rel)
	res, err := resolve(p.root, ".", parentRel, liveLookup(r, nil))
	if err != nil {
		return location{}, classify("resolve parent of "+show(rel), err)
	}
	if res.escaped {
		return location{}, provider.Terminalf("parent directory %s of %s leads outside the root to %s through a symbolic link; converge never follows it", show(parentRel), show(rel), res.outside)
	}
	if !res.exists {
		return location{}, provider.Retryable(&noParentError{dir: filepath.ToSlash(parentRel)})
	}
	if !res.isDir {
		return location{}, provider.Retryable(fmt.Errorf("parent %s of %s is not a directory", show(parentRel), show(rel)))
	}
	base := filepath.Base(rel)
	return location{rel: rel, name: filepath.Join(res.rel, base), dir: res.rel}, nil
}

// maxTarget is the longest symlink target the kernel stores (PATH_MAX - 1).
const maxTarget = 4095

// targetSyntax checks a symlink target as a string and returns what is
// wrong with it, or "".
func targetSyntax(target string) string {
	switch {
	case target == "":
		return "target is empty"
	case strings.IndexByte(target, 0) >= 0:
		return fmt.Sprintf("target %s contains a NUL byte", quote(target))
	case len(target) > maxTarget:
		return fmt.Sprintf("target is %d bytes; a symbolic link holds at most %d", len(target), maxTarget)
	case dotDotAfterName(target):
		return fmt.Sprintf(`target %s has ".." after a name: the kernel applies it to wherever that name leads, and a symbolic link there can lead it out of the root; put every ".." first ("../../shared") or write the target without it`, quote(target))
	}
	return ""
}

// targetOutside is the message for a target whose resolution res leaves
// the root.
func (p *Provider) targetOutside(target string, res resolution) string {
	switch {
	case len(res.via) > 0:
		return fmt.Sprintf("target %s resolves to %s, outside the root %s, through %s", quote(target), res.outside, p.root, links(res.via))
	case filepath.IsAbs(target):
		return fmt.Sprintf("target %s is outside the root %s", quote(target), p.root)
	}
	return fmt.Sprintf("target %s, relative to the link's directory, leads outside the root %s", quote(target), p.root)
}

// checkTarget checks that the symlink target, read from the real directory
// holding the link, resolves inside the root as the kernel would resolve it
// once the link is written: following every link on the way (the link
// itself included, with its new target), dangling or not.
func (p *Provider) checkTarget(rt *opRoot, loc location, target string) error {
	if msg := targetSyntax(target); msg != "" {
		return provider.Terminalf("symlink %s: %s", show(loc.rel), msg)
	}
	r, err := rt.get()
	if err != nil {
		return err
	}
	res, err := resolve(p.root, loc.dir, target, liveLookup(r, map[string]string{loc.name: target}))
	if err != nil {
		return classify("resolve target of symlink "+show(loc.rel), err)
	}
	if res.escaped {
		return provider.Terminalf("symlink %s: %s", show(loc.rel), p.targetOutside(target, res))
	}
	return nil
}

// links names the symbolic links a resolution followed: "the symbolic link
// a", "the symbolic links a, b and c", at most four of them.
func links(via []string) string {
	names := make([]string, 0, 4)
	for i, v := range via {
		if len(via) > 4 && i == 2 {
			names = append(names, fmt.Sprintf("%d more", len(via)-3))
			names = append(names, show(via[len(via)-1]))
			break
		}
		names = append(names, show(v))
	}
	if len(names) == 1 {
		return "the symbolic link " + names[0]
	}
	return "the symbolic links " + strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// quote returns s in double quotes, escaped, for messages.
func quote(s string) string { return strconv.Quote(s) }

// show returns a path for a message: as is, or quoted and escaped when it
// holds a newline, a control character or anything else not printable.
func show(s string) string {
	if strings.IndexFunc(s, notPrintable) >= 0 {
		return strconv.Quote(s)
	}
	return s
}
