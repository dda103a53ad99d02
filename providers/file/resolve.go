package file

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// maxLinkHops bounds how many symbolic links one resolution follows, as
// the kernel bounds symlink chains (ELOOP after 40).
const maxLinkHops = 40

// entryKind is what the resolver learns of one name.
type entryKind int

const (
	entryAbsent entryKind = iota // nothing there (or below a non-directory)
	entryDir
	entryLink
	entryOther // a regular file, a device, a socket...
)

// entry is what is at one path: its kind and, for a link, its target.
type entry struct {
	kind   entryKind
	target string
}

// lookupFunc reports what is at rel, a link-free path relative to the root,
// without following a final symbolic link. The live one reads through an
// os.Root; tests pass a map.
type lookupFunc func(rel string) (entry, error)

// resolution is where a path leads.
type resolution struct {
	// rel is the real path relative to the root ("." for the root itself),
	// with every symbolic link resolved; meaningful when !escaped.
	rel string
	// exists reports whether every component exists; isDir whether the
	// final one is a directory.
	exists, isDir bool
	// escaped reports that the path leads outside the root; outside is
	// where, as far as it can be told without reading outside.
	escaped bool
	outside string
	// via are the symbolic links followed, in order, relative to the root.
	via []string
}

// resolve resolves path as the kernel would, starting from start, a real
// directory relative to the root ("." for the root): component by component,
// following every symbolic link it meets inside the root (a ".." after a
// link applies to where the link leads, never lexically) and counting hops
// (ELOOP after maxLinkHops). Above the root, only the root's own real path
// leads back in ("../site/x" from the top of /srv/site); any other name up
// there, or a path ending there, leads outside. Below a name that does not
// exist (or is not a directory) the rest is taken as written, as a later
// mkdir would make it, until a ".." climbs back to where things exist.
// resolve reads nothing outside the root.
func resolve(root, start, path string, look lookupFunc) (resolution, error) {
	rc := components(root)
	var (
		cur      []string // the current directory, below the root
		up       int      // levels above the root, when > 0 (cur is empty)
		via      []string
		absentAt = -1 // len(cur) where the first missing name was appended
		lastKind = entryDir
	)
	todo := split(path)
	if filepath.IsAbs(path) {
		up = len(rc)
	} else if start != "." && start != "" {
		cur = split(start)
	}
	outside := func(rest ...string) resolution {
		parts := append([]string{string(filepath.Separator)}, rc[:len(rc)-up]...)
		parts = append(append(parts, rest...), todo...)
		return resolution{escaped: true, outside: filepath.Join(parts...), via: via}
	}
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		if c == "" || c == "." {
			continue
		}
		if up > 0 {
			switch {
			case c == "..":
				if up < len(rc) {
					up++
				}
			case c == rc[len(rc)-up]:
				up-- // back down the root's own path
			default:
				return outside(c), nil
			}
			continue
		}
		if c == ".." {
			switch {
			case len(cur) > 0:
				cur = cur[:len(cur)-1]
				if absentAt >= 0 && len(cur) <= absentAt {
					absentAt = -1
				}
			case len(rc) > 0:
				up = 1
			}
			lastKind = entryDir
			continue
		}
		if absentAt < 0 && lastKind == entryOther {
			absentAt = len(cur) // below a regular file
		}
		if absentAt >= 0 {
			cur = append(cur, c)
			continue
		}
		rel := filepath.Join(append(append([]string{}, cur...), c)...)
		e, err := look(rel)
		if err != nil {
			return resolution{}, err
		}
		switch e.kind {
		case entryLink:
			if len(via) == maxLinkHops {
				return resolution{}, &fs.PathError{Op: "resolve", Path: path, Err: syscall.ELOOP}
			}
			via = append(via, rel)
			if filepath.IsAbs(e.target) {
				cur, up = nil, len(rc)
			}
			// A relative target is read from the link's directory: cur.
			todo = append(split(e.target), todo...)
		case entryDir:
			cur = append(cur, c)
			lastKind = entryDir
		case entryOther:
			cur = append(cur, c)
			lastKind = entryOther
		default:
			absentAt = len(cur)
			cur = append(cur, c)
		}
	}
	if up > 0 {
		return outside(), nil
	}
	res := resolution{rel: ".", exists: absentAt < 0, via: via}
	if len(cur) > 0 {
		res.rel = filepath.Join(cur...)
	}
	res.isDir = res.exists && lastKind == entryDir
	return res, nil
}

// split returns the components of a slash-separated path, empty ones
// included (resolve skips them).
func split(path string) []string {
	return strings.Split(strings.Trim(path, string(filepath.Separator)), string(filepath.Separator))
}

// components returns the non-empty components of path.
func components(path string) []string {
	var out []string
	for _, c := range split(path) {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// liveLookup reads the file system through r. overlay holds links as they
// are about to be (the link being written), which win over what is there.
func liveLookup(r *os.Root, overlay map[string]string) lookupFunc {
	return func(rel string) (entry, error) {
		if t, ok := overlay[rel]; ok {
			return entry{kind: entryLink, target: t}, nil
		}
		fi, err := r.Lstat(rel)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return entry{kind: entryAbsent}, nil
		}
		if err != nil {
			return entry{}, err
		}
		switch {
		case fi.IsDir():
			return entry{kind: entryDir}, nil
		case fi.Mode()&fs.ModeSymlink != 0:
			t, err := r.Readlink(rel)
			if err != nil {
				return entry{}, fmt.Errorf("readlink %s: %w", rel, err)
			}
			return entry{kind: entryLink, target: t}, nil
		}
		return entry{kind: entryOther}, nil
	}
}

// dotDotAfterName reports whether a symlink target has a ".." after a name
// ("a/../b", "/srv/x/.."). Such a ".." applies to wherever the name leads,
// and a symbolic link made there later (by converge or anyone) can move
// it, even outside the root. Leading ".." components ("../../shared") are
// fine: they climb from the link's own directory, which is real.
func dotDotAfterName(target string) bool {
	named := filepath.IsAbs(target)
	for _, c := range split(target) {
		switch c {
		case "", ".":
		case "..":
			if named {
				return true
			}
		default:
			named = true
		}
	}
	return false
}
