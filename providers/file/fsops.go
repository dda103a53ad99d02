package file

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"unicode/utf8"

	"github.com/convergehq/converge/provider"
)

// openRoot returns the root directory, open, and a function to call once
// the operation is done with it. Every operation goes through an os.Root,
// which refuses any lookup that would leave it, even if the tree changes
// after locate checked it. The root stays open for the provider's life:
// one stat of its path per operation checks that the path still names
// the directory held open, and when it names another (the root was moved
// away and a new one made, or its path now leads elsewhere) the new one
// is opened and the old one closed once no operation uses it. So an
// operation acts on what the root path names when it starts, as if it
// opened the root itself, without the cost of opening it.
func (p *Provider) openRoot() (*os.Root, func(), error) {
	fi, err := os.Stat(p.root)
	if err != nil {
		return nil, nil, classify("open root "+p.root, err)
	}
	return p.held.acquire(p.root, fi, p.leftovers.reset)
}

// opRoot is the root as one operation sees it: opened (openRoot) at its
// first use, so that a path refused by its spelling alone never touches
// the file system, and held until the operation ends (close).
type opRoot struct {
	p    *Provider
	r    *os.Root
	done func()
	err  error
}

func (p *Provider) opRoot() *opRoot { return &opRoot{p: p} }

func (o *opRoot) get() (*os.Root, error) {
	if o.r == nil && o.err == nil {
		o.r, o.done, o.err = o.p.openRoot()
	}
	return o.r, o.err
}

func (o *opRoot) close() {
	if o.done != nil {
		o.done()
		o.r, o.done = nil, nil
	}
}

// heldRoot is the open root of a Provider, shared by its operations.
type heldRoot struct {
	mu    sync.Mutex
	cur   *openDir
	opens int // times the root was opened, for tests
}

// openDir is one open root directory and the operations using it.
type openDir struct {
	r     *os.Root
	id    fileID
	users int  // operations holding it (heldRoot.mu)
	stale bool // replaced: closed when the last user is done
}

// fileID identifies a file: its device and inode numbers.
type fileID struct{ dev, ino uint64 }

func idOf(fi fs.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}, true
}

// acquire returns the open root when it is the directory fi describes
// (path's stat now), else opens path anew; replaced runs when the open
// root is replaced by another.
func (h *heldRoot) acquire(path string, fi fs.FileInfo, replaced func()) (*os.Root, func(), error) {
	id, known := idOf(fi)
	h.mu.Lock()
	defer h.mu.Unlock()
	d := h.cur
	if d == nil || !known || d.id != id {
		r, err := os.OpenRoot(path)
		if err != nil {
			return nil, nil, classify("open root "+path, err)
		}
		h.opens++
		nd := &openDir{r: r}
		// The identity of what was opened, not of the stat before: the
		// path may have changed in between.
		if fi, err := r.Stat("."); err == nil {
			nd.id, _ = idOf(fi)
		}
		if d != nil {
			d.stale = true
			if d.users == 0 {
				_ = d.r.Close()
			}
			replaced()
		}
		h.cur, d = nd, nd
	}
	d.users++
	return d.r, func() { h.release(d) }, nil
}

func (h *heldRoot) release(d *openDir) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d.users--
	if d.stale && d.users == 0 {
		_ = d.r.Close()
	}
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

// Temporary files. A write goes to ".NAME.converge-NONCETAG" next to NAME,
// then is renamed over it. NONCE is 16 random base32 characters; TAG is 10
// base32 characters of a SHA-256 over NAME and NONCE. A crash can leave such
// a file behind: the next write of NAME, its delete and the delete of the
// directory holding it remove it. Only names whose TAG checks out are
// removed: a name merely looking like one (".index.html.converge-tmp-123",
// or one with 26 random characters) is someone else's file and stays. The
// name alone says that converge made the file, so nothing has to be
// recorded before the write, and a crash at any point loses nothing.
const tempMark = ".converge-"

const (
	nonceLen = 16
	tagLen   = 10
)

// tempName returns a fresh name next to loc for an atomic replace.
func tempName(loc location) string {
	stem := tempStem(filepath.Base(loc.name))
	nonce := rand.Text()[:nonceLen]
	return filepath.Join(loc.dir, "."+stem+tempMark+nonce+tempTag(stem, nonce))
}

func tempTag(stem, nonce string) string {
	sum := sha256.Sum256([]byte("converge temporary file\x00" + stem + "\x00" + nonce))
	return base32.StdEncoding.EncodeToString(sum[:7])[:tagLen]
}

// tempStem is base as it appears in the names of its temporary files:
// base itself, or, when the temporary name would be longer than a file
// name may be, its beginning and a hash of the whole.
func tempStem(base string) string {
	max := maxName - len(".") - len(tempMark) - nonceLen - tagLen
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

// isTemp reports whether name is a temporary file converge made (for base,
// when base is not empty): its tag checks out.
func isTemp(name, base string) bool {
	i := strings.LastIndex(name, tempMark)
	if i < 1 || name[0] != '.' {
		return false
	}
	stem, tail := name[1:i], name[i+len(tempMark):]
	if len(tail) != nonceLen+tagLen || (base != "" && stem != tempStem(base)) {
		return false
	}
	return tail[nonceLen:] == tempTag(stem, tail[:nonceLen])
}

// clearTemps removes the temporary files and links converge's writes left
// in dir (those of base only, when base is not empty), never directories,
// and returns the other entries, sorted, directories with a "/" after
// their name.
func clearTemps(r *os.Root, dir, base string) (others []string, err error) {
	d, err := r.Open(dir)
	if err != nil {
		return nil, err
	}
	des, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return nil, err
	}
	for _, de := range des {
		n := de.Name()
		if isTemp(n, base) && !de.IsDir() {
			err := r.Remove(filepath.Join(dir, n))
			if err == nil || errors.Is(err, fs.ErrNotExist) {
				continue
			}
		}
		if de.IsDir() {
			n += "/"
		}
		others = append(others, n)
	}
	sort.Strings(others)
	return others, nil
}

// leftovers remembers the temporary files earlier processes' writes left
// (a crash between creating one and renaming it), so that a write removes
// those of its own file without listing the directory each time: a
// directory is listed once, the first time this process writes in it.
// This process's own writes remove their temporary file when they fail, so
// what one listing found is all there is until the process ends. (Listing
// at every write made a directory of n files cost n^2.)
type leftovers struct {
	mu       sync.Mutex
	dirs     map[string]map[string][]string // directory -> stem -> temporary names
	listings int                            // directories listed, for tests
}

// clear removes the temporary files left for base in dir.
func (l *leftovers) clear(r *os.Root, dir, base string) {
	l.mu.Lock()
	byStem, ok := l.dirs[dir]
	if !ok {
		byStem = map[string][]string{}
		l.listings++
		if d, err := r.Open(dir); err == nil {
			names, _ := d.Readdirnames(-1)
			d.Close()
			for _, n := range names {
				if stem, ok := tempStemOf(n); ok {
					byStem[stem] = append(byStem[stem], n)
				}
			}
		}
		if l.dirs == nil {
			l.dirs = map[string]map[string][]string{}
		}
		l.dirs[dir] = byStem
	}
	stem := tempStem(base)
	names := byStem[stem]
	delete(byStem, stem)
	l.mu.Unlock()
	for _, n := range names {
		if fi, err := r.Lstat(filepath.Join(dir, n)); err == nil && !fi.IsDir() {
			_ = r.Remove(filepath.Join(dir, n))
		}
	}
}

// reset forgets every directory: the root was replaced, and what was
// listed is of the old tree.
func (l *leftovers) reset() {
	l.mu.Lock()
	l.dirs = nil
	l.mu.Unlock()
}

// forget drops what is known of dir (deleted).
func (l *leftovers) forget(dir string) {
	l.mu.Lock()
	delete(l.dirs, dir)
	l.mu.Unlock()
}

// tempStemOf returns the stem of a temporary file converge made.
func tempStemOf(name string) (string, bool) {
	i := strings.LastIndex(name, tempMark)
	if i < 1 || name[0] != '.' || !isTemp(name, "") {
		return "", false
	}
	return name[1:i], true
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
func (p *Provider) writeAtomic(r *os.Root, loc location, data string, m uint32) (err error) {
	p.leftovers.clear(r, loc.dir, filepath.Base(loc.name)) // left by a crash
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
	if _, err := f.WriteString(data); err != nil {
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
func (p *Provider) symlinkAtomic(r *os.Root, loc location, target string) error {
	p.leftovers.clear(r, loc.dir, filepath.Base(loc.name)) // left by a crash
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
func (p *Provider) remove(rt *opRoot, kind string, loc location) error {
	r, err := rt.get()
	if err != nil {
		return err
	}
	if kind != KindDirectory {
		// A crash during a write leaves a temporary file even when the
		// object itself never came to be.
		p.leftovers.clear(r, loc.dir, filepath.Base(loc.name))
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
			p.leftovers.forget(loc.name)
			return removeDir(r, loc)
		}
		return classify("remove "+show(loc.rel), err)
	}
	return syncDir(r, loc.dir)
}

// removeDir removes the directory at loc, which held entries: the
// temporary files converge's writes left in it go, and if anything else is
// left it is someone else's (converge deletes what it manages inside a
// directory before the directory): a terminal error that names it.
func removeDir(r *os.Root, loc location) error {
	for attempt := 0; ; attempt++ {
		others, err := clearTemps(r, loc.name, "")
		if err != nil {
			return classify("list "+show(loc.rel), err)
		}
		if len(others) > 0 {
			return provider.Terminalf("not deleted: %s holds %s, which converge does not manage", show(loc.rel), names(others))
		}
		err = r.Remove(loc.name)
		switch {
		case err == nil || errors.Is(err, fs.ErrNotExist):
			return syncDir(r, loc.dir)
		case attempt < 2 && (errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST)):
			continue // something appeared since the listing: look again
		}
		return classify("remove "+show(loc.rel), err)
	}
}

// names lists a few of names for a message: "a", "a and b", "a, b and c",
// "a, b, c and 4 more".
func names(list []string) string {
	shown := make([]string, 0, 3)
	for i, n := range list {
		if i == 3 {
			break
		}
		shown = append(shown, show(n))
	}
	switch {
	case len(list) > 3:
		return strings.Join(shown, ", ") + fmt.Sprintf(" and %d more", len(list)-3)
	case len(shown) == 1:
		return shown[0]
	}
	return strings.Join(shown[:len(shown)-1], ", ") + " and " + shown[len(shown)-1]
}
