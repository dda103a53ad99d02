package manifest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// How the loader finds manifest files below the -f paths:
//   - A path is a file (read whatever its name) or a directory, read
//     recursively for .yaml and .yml files; names starting with "." are
//     skipped, files and directories alike (.git, .converge, .#swap.yaml).
//   - Symlinks are followed, to files and to directories, whether they are
//     the path itself (-f current, current -> releases/v1) or inside a
//     directory. A link inside a directory is picked by its own name, as a
//     file is.
//   - A symlink whose target is missing is an error naming the link, and so
//     is a loop: a link leading back to a directory being read (dir/self ->
//     ..), or links leading to each other (a -> b -> a).
//   - A file or directory reached twice (two links to it, or a path given
//     twice) is read once, under the first name it was reached by: paths in
//     the order given, directories in name order, depth first.
//   - Files are read in sorted order of those names.

// walker collects the manifest files below some paths.
type walker struct {
	watching bool // collect the directories to watch (WatchPaths)

	errs  ErrorList
	names []string        // manifest files, by the names they were reached by
	files map[string]bool // their real paths
	dirs  map[string]bool // real paths of the directories read
	watch map[string]bool // real paths of the directories to watch
	chain []visit         // the directories being read, outermost first
}

// visit is a directory being read.
type visit struct {
	path string
	info fs.FileInfo
}

func newWalker(watching bool) *walker {
	return &walker{watching: watching, files: map[string]bool{}, dirs: map[string]bool{}, watch: map[string]bool{}}
}

func (w *walker) errorf(file, format string, args ...any) {
	w.errs = append(w.errs, &Error{File: file, Msg: fmt.Sprintf(format, args...)})
}

// path adds the manifest files at the -f path p.
func (w *walker) path(p string) {
	abs, err := filepath.Abs(p)
	if err != nil {
		w.errorf(p, "%v", err)
		return
	}
	if w.watching {
		// The parent sees p created, removed, or replaced as a whole
		// (renamed over, swapped for a symlink).
		w.watchReal(filepath.Dir(abs))
	}
	linfo, lerr := os.Lstat(p)
	if lerr == nil && linfo.Mode()&fs.ModeSymlink != 0 {
		w.watchLink(abs)
	}
	info, err := os.Stat(p)
	if err != nil {
		if lerr == nil && linfo.Mode()&fs.ModeSymlink != 0 {
			w.linkError(p, err)
			return
		}
		w.errorf(p, "%s", describeIOError(err))
		return
	}
	real := realPath(abs)
	if info.IsDir() {
		w.dir(p, real, info)
		return
	}
	// A file named on the command line is read whatever its name and type
	// (-f /dev/stdin works).
	w.file(p, real)
}

// dir adds the manifest files below directory p, whose real path is real.
func (w *walker) dir(p, real string, info fs.FileInfo) {
	for _, v := range w.chain {
		if os.SameFile(v.info, info) {
			w.errorf(p, "symlink loop: %s leads back to %s", p, v.path)
			return
		}
	}
	if w.dirs[real] {
		return // read already, through another path
	}
	w.dirs[real] = true
	w.watchReal(real)
	entries, err := os.ReadDir(p)
	if err != nil {
		w.errorf(p, "%s", describeIOError(err))
		// ReadDir returns the entries it read before the error.
	}
	w.chain = append(w.chain, visit{path: p, info: info})
	defer func() { w.chain = w.chain[:len(w.chain)-1] }()
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		child, childReal := filepath.Join(p, name), filepath.Join(real, name)
		switch t := e.Type(); {
		case t&fs.ModeSymlink != 0:
			w.link(child, childReal)
		case t.IsDir():
			info, err := e.Info()
			if err != nil {
				w.errorf(child, "%s", describeIOError(err))
				continue
			}
			w.dir(child, childReal, info)
		case !isManifestName(name):
		case !t.IsRegular():
			w.errorf(child, "is not a regular file (%s)", t.Type())
		default:
			w.file(child, childReal)
		}
	}
}

// link adds what the symlink p inside a directory leads to; at is its
// path in the real directory.
func (w *walker) link(p, at string) {
	w.watchLink(at)
	info, err := os.Stat(p)
	if err != nil {
		w.linkError(p, err)
		return
	}
	real := realPath(at)
	switch {
	case info.IsDir():
		w.dir(p, real, info)
	case !isManifestName(filepath.Base(p)):
	case !info.Mode().IsRegular():
		w.errorf(p, "is a symlink to %s, which is not a regular file (%s)", real, info.Mode().Type())
	default:
		w.file(p, real)
	}
}

// file adds the manifest file p, whose real path is real.
func (w *walker) file(p, real string) {
	w.watchReal(filepath.Dir(real))
	if w.files[real] {
		return
	}
	w.files[real] = true
	w.names = append(w.names, p)
}

// realPath returns the absolute path abs, which Stat follows, with its
// symlinks evaluated; abs itself for what has no such path (/dev/stdin
// leads to a pipe).
func realPath(abs string) string {
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real
	}
	return abs
}

// linkError reports the symlink p whose target could not be read.
func (w *walker) linkError(p string, err error) {
	if errors.Is(err, syscall.ELOOP) {
		w.errorf(p, "symlink loop: %s", describeIOError(err))
		return
	}
	target, rerr := os.Readlink(p)
	if rerr != nil {
		w.errorf(p, "%s", describeIOError(err))
		return
	}
	w.errorf(p, "broken symlink to %s: %s", target, describeIOError(err))
}

// watchReal records directory dir, after following its symlinks, as one to
// watch.
func (w *walker) watchReal(dir string) {
	if !w.watching {
		return
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		w.watch[real] = true
	}
}

// maxLinkHops bounds how far watchLink follows a chain of symlinks.
const maxLinkHops = 40

// watchLink records the directory of every symlink on the chain that
// starts at link: retargeting any of them is a change.
func (w *walker) watchLink(link string) {
	if !w.watching {
		return
	}
	for range maxLinkHops {
		w.watchReal(filepath.Dir(link))
		target, err := os.Readlink(link)
		if err != nil {
			return
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(link), target)
		}
		info, err := os.Lstat(target)
		if err != nil || info.Mode()&fs.ModeSymlink == 0 {
			return
		}
		link = target
	}
}

func isManifestName(name string) bool {
	ext := filepath.Ext(name)
	return ext == ".yaml" || ext == ".yml"
}

// WatchPaths returns the directories a watcher must watch to see every
// change to what Load(paths) reads, as real paths (symlinks followed),
// sorted: every directory Load reads, the directory holding every manifest
// file (a symlink's target included), the directory holding every symlink
// on the way (so that retargeting a link is seen), and the parent of every
// path (so that a path created, removed or replaced as a whole is seen).
// It reads no file. The error is an ErrorList of the problems Load would
// report on finding files (broken symlinks, loops, unreadable directories);
// the directories are returned even then, as far as they could be found.
func WatchPaths(paths []string) ([]string, error) {
	w := newWalker(true)
	for _, p := range paths {
		w.path(p)
	}
	dirs := make([]string, 0, len(w.watch))
	for d := range w.watch {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	if len(w.errs) > 0 {
		return dirs, w.errs
	}
	return dirs, nil
}

// readPaths reads every manifest file below paths, sorted by name, within
// MaxFileBytes and MaxTotalBytes: once the files read add up to more, the
// file that crossed the limit is an error and the files after it are not
// read.
func readPaths(paths []string) ([]file, ErrorList) {
	w := newWalker(false)
	for _, p := range paths {
		w.path(p)
	}
	errs := w.errs
	sort.Strings(w.names)
	files := make([]file, 0, len(w.names))
	left := MaxTotalBytes
	for _, name := range w.names {
		data, err, total := readFile(name, left)
		if err != nil {
			errs = append(errs, err)
			if total {
				break
			}
			continue
		}
		left -= int64(len(data))
		files = append(files, file{name: name, data: data})
	}
	return files, errs
}

// readFile reads the manifest file name, with left bytes left of
// MaxTotalBytes; total reports an error for being over that.
func readFile(name string, left int64) (data []byte, e *Error, total bool) {
	f, err := os.Open(name)
	if err != nil {
		return nil, &Error{File: name, Msg: describeIOError(err)}, false
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.Mode().IsRegular() {
		if e, total := sizeError(name, info.Size(), left); e != nil {
			return nil, e, total
		}
	}
	// Read one byte past the limits, to know they are passed: the size
	// Stat gave can change, and a stream (-f /dev/stdin) has none.
	data, err = io.ReadAll(io.LimitReader(f, min(MaxFileBytes, left)+1))
	if err != nil {
		return nil, &Error{File: name, Msg: describeIOError(err)}, false
	}
	if e, total := sizeError(name, int64(len(data)), left); e != nil {
		return nil, e, total
	}
	return data, nil, false
}
