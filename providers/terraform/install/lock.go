package install

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/convergehq/converge/provider"
	version "github.com/hashicorp/go-version"
)

// LockFile is the lock's file name.
const LockFile = "converge.lock"

// lockFormat is the version of the lock file's format.
const lockFormat = 1

// Lock is the content of converge.lock: for each provider the version
// chosen, the constraint it was chosen under and its hashes. The zero Lock
// is empty and ready to use. A Lock is not safe for concurrent use.
//
// The file is JSON with sorted keys, two-space indents, one hash per line
// and a trailing newline, so that a change reads well in a diff and the
// standard library reads it without a hand-written parser:
//
//	{
//	  "format": 1,
//	  "providers": {
//	    "registry.terraform.io/hashicorp/random": {
//	      "constraints": "~> 3.6",
//	      "hashes": [
//	        "h1:...",
//	        "zh:..."
//	      ],
//	      "version": "3.6.2"
//	    }
//	  }
//	}
type Lock struct {
	path      string
	providers map[string]LockedProvider
}

// LockedProvider is one provider's entry in the lock. Its fields are in
// name order so that the file's keys are sorted.
type LockedProvider struct {
	Constraints string   `json:"constraints"`
	Hashes      []string `json:"hashes"`
	Version     string   `json:"version"`
}

type lockFile struct {
	Format    int                       `json:"format"`
	Providers map[string]LockedProvider `json:"providers"`
}

// ReadLock reads a lock file. A missing file is no lock: nil, nil. A file
// that cannot be parsed, or names a provider or version badly, is a
// terminal error wrapping ErrInvalid.
func ReadLock(path string) (*Lock, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read lock: %w", err)
	}
	bad := func(format string, args ...any) (*Lock, error) {
		return nil, provider.Terminal(fmt.Errorf("%s: %s (%s to write it again): %w", path, fmt.Sprintf(format, args...), lockHint, ErrInvalid))
	}
	var f lockFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return bad("%v", err)
	}
	if f.Format != lockFormat {
		return bad("format %d, want %d", f.Format, lockFormat)
	}
	l := &Lock{path: path, providers: map[string]LockedProvider{}}
	for key, lp := range f.Providers {
		src, err := ParseSource(key)
		if err != nil {
			return bad("%v", err)
		}
		if src.String() != key {
			return bad("provider %q is not written in full as %q", key, src)
		}
		v, err := version.NewVersion(lp.Version)
		if err != nil {
			return bad("provider %s: version %q: %v", key, lp.Version, err)
		}
		if normalVersion(v) != lp.Version {
			return bad("provider %s: version %q is not written as %q", key, lp.Version, normalVersion(v))
		}
		if _, err := parseConstraint(lp.Constraints); err != nil {
			return bad("provider %s: %v", key, err)
		}
		if len(lp.Hashes) == 0 {
			return bad("provider %s has no hashes", key)
		}
		for _, h := range lp.Hashes {
			if !strings.HasPrefix(h, PrefixH1) && !strings.HasPrefix(h, PrefixZH) {
				return bad("provider %s: hash %q is neither h1: nor zh:", key, h)
			}
		}
		lp.Hashes = sortedUnique(lp.Hashes)
		l.providers[key] = lp
	}
	return l, nil
}

func (l *Lock) name() string {
	if l.path == "" {
		return LockFile
	}
	return l.path
}

// Get returns the entry for src.
func (l *Lock) Get(src Source) (LockedProvider, bool) {
	lp, ok := l.providers[src.String()]
	lp.Hashes = slices.Clone(lp.Hashes)
	return lp, ok
}

// Sources returns the locked providers' addresses, sorted.
func (l *Lock) Sources() []string {
	out := make([]string, 0, len(l.providers))
	for k := range l.providers {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Set locks p's provider to p's version under constraint. When the same
// version was locked already its hashes are kept beside p's (they may be
// other platforms'); another version replaces the entry.
func (l *Lock) Set(p Package, constraint string) {
	if l.providers == nil {
		l.providers = map[string]LockedProvider{}
	}
	key := p.Source.String()
	hashes := slices.Clone(p.Hashes)
	if old, ok := l.providers[key]; ok && old.Version == p.Version {
		hashes = append(hashes, old.Hashes...)
	}
	l.providers[key] = LockedProvider{
		Constraints: strings.TrimSpace(constraint),
		Hashes:      sortedUnique(hashes),
		Version:     p.Version,
	}
}

// Check returns nil when p is what the lock allows: its provider is
// locked, at p's version, and one of p's hashes is a locked one. Errors are
// terminal and wrap ErrNotLocked, ErrLockStale or ErrHashMismatch.
func (l *Lock) Check(p Package) error {
	lp, ok := l.providers[p.Source.String()]
	if !ok {
		return provider.Terminal(fmt.Errorf("provider %s is not in %s: %s to add it: %w", p.Source, l.name(), lockHint, ErrNotLocked))
	}
	if lp.Version != p.Version {
		return provider.Terminal(fmt.Errorf("provider %s: %s locks version %s, not %s (%s): %s to change it: %w", p.Source, l.name(), lp.Version, p.Version, p.Path(), lockHint, ErrLockStale))
	}
	for _, h := range p.Hashes {
		if slices.Contains(lp.Hashes, h) {
			return nil
		}
	}
	return provider.Terminal(fmt.Errorf("provider %s %s at %s has hash %s, none of those locked in %s (%s); it is not the package that was locked. If you trust it, %s again: %w",
		p.Source, p.Version, p.Path(), strings.Join(p.Hashes, ", "), l.name(), strings.Join(lp.Hashes, ", "), lockHint, ErrHashMismatch))
}

// Encode returns the lock file's bytes.
func (l *Lock) Encode() []byte {
	f := lockFile{Format: lockFormat, Providers: l.providers}
	if f.Providers == nil {
		f.Providers = map[string]LockedProvider{}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // keep "~> 3.6" readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		panic(err) // maps of strings and slices always encode
	}
	return b.Bytes()
}

// Write writes the lock to path atomically: into a temporary file in the
// same directory, synced, then renamed over path. A failure at any point
// leaves the old file as it was.
func (l *Lock) Write(path string) error {
	return writeAtomic(path, l.Encode(), nil)
}

// writeAtomic writes data to path through a temporary file. wrap, for
// tests, stands between the temporary file and what writes to it.
func writeAtomic(path string, data []byte, wrap func(io.Writer) io.Writer) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	var w io.Writer = f
	if wrap != nil {
		w = wrap(f)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	ok = true
	syncDir(dir)
	return nil
}
