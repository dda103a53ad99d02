package install

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/convergehq/converge/provider"
	version "github.com/hashicorp/go-version"
)

// Options say where Find looks and what it may take.
type Options struct {
	// Dirs are searched in order; empty means Dirs(nil).
	Dirs []string
	// CacheDir receives the extractions of packed packages, in the
	// unpacked layout. Needed only when the package chosen is packed.
	CacheDir string
	// Lock, when not nil, pins each provider to its locked version and
	// hashes.
	Lock *Lock
	// MaxEntryBytes and MaxTotalBytes bound what one zip entry and a whole
	// zip may extract to; zero means DefaultMaxEntryBytes and
	// DefaultMaxTotalBytes.
	MaxEntryBytes, MaxTotalBytes int64
	// Logger receives what was skipped while searching; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Package is one installed provider package.
type Package struct {
	Source  Source `json:"source"`
	Version string `json:"version"` // normalised: 3.7.0, 1.2.0-beta1
	OSArch  string `json:"os_arch"` // linux_amd64
	// Dir is the unpacked package directory: where it was found or, for a
	// packed one that Find chose, its extraction in the cache. Empty for a
	// packed package that List found.
	Dir string `json:"dir,omitempty"`
	// Executable is the provider's program in Dir.
	Executable string `json:"executable,omitempty"`
	Packed     bool   `json:"packed"`
	// Archive is the zip file of a packed package.
	Archive string `json:"archive,omitempty"`
	// Hashes are h1: and, for a packed package, zh:, sorted.
	Hashes []string `json:"hashes"`
	// FoundIn is the search directory the package was found in.
	FoundIn string `json:"found_in"`
}

// Path is where the package was found: its zip file when packed, else its
// directory.
func (p Package) Path() string {
	if p.Packed {
		return p.Archive
	}
	return p.Dir
}

// H1 returns the package's h1: hash, or "" if it has none.
func (p Package) H1() string {
	for _, h := range p.Hashes {
		if strings.HasPrefix(h, PrefixH1) {
			return h
		}
	}
	return ""
}

// Find returns the installed package of src to use under constraint (a
// Terraform version constraint; empty allows any version) for the running
// platform. Without a lock the newest allowed version wins; with one, the
// locked version is the only one taken and its hashes must match. A packed
// package is checked, then extracted into opts.CacheDir.
//
// Errors are terminal when the user must act: ErrInvalid (constraint),
// ErrNotFound (the message lists every directory searched and the versions
// found there), ErrNotLocked, ErrLockStale, ErrHashMismatch,
// ErrUnsafeArchive. Reading or extracting may also fail with I/O errors.
func Find(ctx context.Context, opts Options, src Source, constraint string) (Package, error) {
	cons, err := parseConstraint(constraint)
	if err != nil {
		return Package{}, err
	}
	dirs := opts.Dirs
	if len(dirs) == 0 {
		dirs = Dirs(nil)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}

	var locked *LockedProvider
	if opts.Lock != nil {
		lp, ok := opts.Lock.Get(src)
		if !ok {
			return Package{}, provider.Terminal(fmt.Errorf("provider %s is not in %s: %s to add it: %w", src, opts.Lock.name(), lockHint, ErrNotLocked))
		}
		v, err := version.NewVersion(lp.Version)
		if err != nil {
			return Package{}, provider.Terminal(fmt.Errorf("%s: provider %s: version %q: %v: %w", opts.Lock.name(), src, lp.Version, err, ErrInvalid))
		}
		if !cons.allows(v) {
			return Package{}, provider.Terminal(fmt.Errorf("provider %s: version %s locked in %s does not satisfy the constraint %s: %s again: %w", src, lp.Version, opts.Lock.name(), cons, lockHint, ErrLockStale))
		}
		locked = &lp
	}

	var scans []scanResult
	var best *candidate
	for _, d := range dirs {
		if err := ctx.Err(); err != nil {
			return Package{}, err
		}
		res := scanDir(d, &src)
		for _, s := range res.skipped {
			log.Debug("provider search skipped an entry", "dir", d, "provider", src.String(), "reason", s)
		}
		scans = append(scans, res)
		for i := range res.cands {
			c := &res.cands[i]
			if c.osArch != Platform {
				continue
			}
			if locked != nil {
				if normalVersion(c.version) != locked.Version {
					continue
				}
			} else if !cons.allows(c.version) {
				continue
			}
			// Candidates come newest first, unpacked before packed, and
			// directories in order: only a strictly newer one replaces.
			if best == nil || c.version.GreaterThan(best.version) {
				best = c
			}
		}
	}
	if best == nil {
		want := cons.String()
		if locked != nil {
			want = fmt.Sprintf("version %s (locked in %s)", locked.Version, opts.Lock.name())
		}
		return Package{}, provider.Terminal(fmt.Errorf("%w: no package of %s matches %s for %s; searched:\n%s\nPut one in one of these directories as HOST/NAMESPACE/TYPE/VERSION/OS_ARCH/terraform-provider-TYPE_vVERSION or HOST/NAMESPACE/TYPE/terraform-provider-TYPE_VERSION_OS_ARCH.zip, or name another with --plugin-dir",
			ErrNotFound, src, want, Platform, describeScans(scans)))
	}

	pkg, contentH1, err := hashCandidate(*best, opts.limits())
	if err != nil {
		return Package{}, err
	}
	if opts.Lock != nil {
		if err := opts.Lock.Check(pkg); err != nil {
			return Package{}, err
		}
	}
	if best.packed {
		if opts.CacheDir == "" {
			return Package{}, fmt.Errorf("provider %s %s is packed (%s) and no cache directory was given to extract it into", src, pkg.Version, best.path)
		}
		dir, err := unpack(ctx, *best, opts.CacheDir, contentH1, opts.limits())
		if err != nil {
			return Package{}, err
		}
		exe, err := findExecutable(dir, src.Type, strings.HasPrefix(best.osArch, "windows_"))
		if err != nil {
			return Package{}, provider.Terminal(fmt.Errorf("provider %s %s: the archive %s holds no executable: %w", src, pkg.Version, best.path, err))
		}
		pkg.Dir, pkg.Executable = dir, exe
	}
	log.Debug("provider found", "provider", src.String(), "version", pkg.Version, "path", pkg.Path(), "packed", pkg.Packed)
	return pkg, nil
}

// hashCandidate returns the package for c with its hashes, and the h1: hash
// its extraction must have (for unpacked packages, its own).
func hashCandidate(c candidate, lim limits) (Package, string, error) {
	pkg := Package{
		Source: c.src, Version: normalVersion(c.version), OSArch: c.osArch,
		Packed: c.packed, FoundIn: c.foundIn,
	}
	if !c.packed {
		pkg.Dir, pkg.Executable = c.path, c.exe
		h1, err := HashDir(c.path)
		if err != nil {
			return pkg, "", err
		}
		pkg.Hashes = []string{h1}
		return pkg, h1, nil
	}
	pkg.Archive = c.path
	if err := checkZip(c.path, lim); err != nil {
		return pkg, "", err
	}
	h1, err := HashZip(c.path)
	if err != nil {
		return pkg, "", err
	}
	zh, err := HashZipLegacy(c.path)
	if err != nil {
		return pkg, "", err
	}
	content := h1
	if dirs, err := zipHasDirEntries(c.path); err != nil {
		return pkg, "", err
	} else if dirs {
		if content, err = zipFilesHash(c.path); err != nil {
			return pkg, "", err
		}
	}
	pkg.Hashes = sortedUnique([]string{h1, content, zh})
	return pkg, content, nil
}

// describeScans lists each directory searched with the versions found in it.
func describeScans(scans []scanResult) string {
	var b strings.Builder
	for _, s := range scans {
		fmt.Fprintf(&b, "  %s: ", s.dir)
		switch {
		case s.problem != "":
			b.WriteString(s.problem)
		case len(s.cands) == 0:
			b.WriteString("no versions")
		default:
			var vs []string
			for _, c := range s.cands {
				v := normalVersion(c.version) + " " + c.osArch
				if c.packed {
					v += " (zip)"
				}
				vs = append(vs, v)
			}
			b.WriteString(strings.Join(vs, ", "))
		}
		if len(s.skipped) > 0 {
			fmt.Fprintf(&b, " (skipped: %s)", strings.Join(s.skipped, "; "))
		}
		b.WriteString("\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// List returns every package found in dirs, for every platform, in
// directory order, then by source, newest version first. Each has its
// hashes; packed ones are not extracted. Directories that are missing or
// unreadable are skipped (CheckDirs says which). A package found but not
// hashed is left out and its error joined into the one returned with the
// rest.
func List(ctx context.Context, dirs []string) ([]Package, error) {
	var out []Package
	var errs []error
	for _, d := range dirs {
		res := scanDir(d, nil)
		for _, c := range res.cands {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			pkg, _, err := hashCandidate(c, Options{}.limits())
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, pkg)
		}
	}
	return out, errors.Join(errs...)
}

func sortedUnique(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	out = slices.Compact(out)
	for len(out) > 0 && out[0] == "" {
		out = out[1:]
	}
	return out
}
