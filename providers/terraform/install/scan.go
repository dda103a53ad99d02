package install

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	version "github.com/hashicorp/go-version"
)

// Platform is the GOOS_GOARCH of the running program: the only platform
// whose packages Find chooses.
const Platform = runtime.GOOS + "_" + runtime.GOARCH

// candidate is one package found in a search directory.
type candidate struct {
	src     Source
	version *version.Version
	osArch  string
	packed  bool
	path    string // the OS_ARCH directory, or the zip file
	exe     string // unpacked: the executable
	foundIn string // the search directory
}

// scanResult is what one search directory holds.
type scanResult struct {
	dir   string
	cands []candidate
	// problem is why the directory itself could not be searched.
	problem string
	// skipped says what was found but left out, and why.
	skipped []string
}

// scanDir reads a directory in the filesystem-mirror layout. With only
// non-nil, just that provider's directory is read. Host, namespace and type
// directory names are compared without regard to case, as Terraform does.
func scanDir(dir string, only *Source) scanResult {
	res := scanResult{dir: dir}
	fi, err := os.Stat(dir)
	switch {
	case os.IsNotExist(err):
		res.problem = "does not exist"
		return res
	case err != nil:
		res.problem = err.Error()
		return res
	case !fi.IsDir():
		res.problem = "not a directory"
		return res
	}
	hosts, err := subdirs(dir)
	if err != nil {
		res.problem = err.Error()
		return res
	}
	for _, h := range hosts {
		host := strings.ToLower(h)
		if only != nil && host != only.Host {
			continue
		}
		if checkHost(host) != nil {
			continue
		}
		hostDir := filepath.Join(dir, h)
		namespaces, err := subdirs(hostDir)
		if err != nil {
			res.skipped = append(res.skipped, err.Error())
			continue
		}
		for _, n := range namespaces {
			ns := strings.ToLower(n)
			if (only != nil && ns != only.Namespace) || checkPart(ns) != nil {
				continue
			}
			nsDir := filepath.Join(hostDir, n)
			types, err := subdirs(nsDir)
			if err != nil {
				res.skipped = append(res.skipped, err.Error())
				continue
			}
			for _, t := range types {
				typ := strings.ToLower(t)
				if (only != nil && typ != only.Type) || checkPart(typ) != nil {
					continue
				}
				src := Source{Host: host, Namespace: ns, Type: typ}
				res.scanType(src, filepath.Join(nsDir, t))
			}
		}
	}
	sort.SliceStable(res.cands, func(i, j int) bool {
		a, b := res.cands[i], res.cands[j]
		if a.src != b.src {
			return a.src.String() < b.src.String()
		}
		if !a.version.Equal(b.version) {
			return a.version.GreaterThan(b.version)
		}
		if a.osArch != b.osArch {
			return a.osArch < b.osArch
		}
		return !a.packed && b.packed
	})
	return res
}

// scanType reads HOST/NAMESPACE/TYPE: VERSION directories and zip files.
func (res *scanResult) scanType(src Source, typeDir string) {
	entries, err := os.ReadDir(typeDir)
	if err != nil {
		res.skipped = append(res.skipped, err.Error())
		return
	}
	zipPrefix := "terraform-provider-" + src.Type + "_"
	for _, e := range entries {
		p := filepath.Join(typeDir, e.Name())
		fi, err := os.Stat(p) // follows symbolic links
		if err != nil {
			res.skipped = append(res.skipped, err.Error())
			continue
		}
		if fi.IsDir() {
			res.scanVersion(src, p, e.Name())
			continue
		}
		name := strings.ToLower(e.Name())
		if !fi.Mode().IsRegular() || !strings.HasPrefix(name, zipPrefix) || !strings.HasSuffix(name, ".zip") {
			continue
		}
		parts := strings.Split(strings.TrimSuffix(e.Name()[len(zipPrefix):], ".zip"), "_")
		if len(parts) != 3 {
			res.skipped = append(res.skipped, fmt.Sprintf("%s: not named terraform-provider-%s_VERSION_OS_ARCH.zip", p, src.Type))
			continue
		}
		v, err := version.NewVersion(parts[0])
		if err != nil {
			res.skipped = append(res.skipped, fmt.Sprintf("%s: version %q: %v", p, parts[0], err))
			continue
		}
		res.cands = append(res.cands, candidate{
			src: src, version: v, osArch: parts[1] + "_" + parts[2],
			packed: true, path: p, foundIn: res.dir,
		})
	}
}

// scanVersion reads HOST/NAMESPACE/TYPE/VERSION: one OS_ARCH directory per
// platform, each holding the executable.
func (res *scanResult) scanVersion(src Source, versionDir, name string) {
	v, err := version.NewVersion(name)
	if err != nil {
		res.skipped = append(res.skipped, fmt.Sprintf("%s: version %q: %v", versionDir, name, err))
		return
	}
	platforms, err := subdirs(versionDir)
	if err != nil {
		res.skipped = append(res.skipped, err.Error())
		return
	}
	for _, pl := range platforms {
		pkgDir := filepath.Join(versionDir, pl)
		exe, err := findExecutable(pkgDir, src.Type, strings.HasPrefix(pl, "windows_"))
		if err != nil {
			res.skipped = append(res.skipped, err.Error())
			continue
		}
		res.cands = append(res.cands, candidate{
			src: src, version: v, osArch: pl, path: pkgDir, exe: exe, foundIn: res.dir,
		})
	}
}

// findExecutable returns the provider's executable in a package directory:
// the first regular file, in name order, whose name starts with
// terraform-provider-TYPE (and, for Windows, ends in .exe).
func findExecutable(pkgDir, typ string, windows bool) (string, error) {
	entries, err := os.ReadDir(pkgDir)
	if err != nil {
		return "", err
	}
	prefix := "terraform-provider-" + typ
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(strings.ToLower(name), prefix) {
			continue
		}
		if windows && !strings.HasSuffix(strings.ToLower(name), ".exe") {
			continue
		}
		p := filepath.Join(pkgDir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: no file named %s* in it", pkgDir, prefix)
}

// subdirs returns the names of the directories in dir (symbolic links to
// directories included), in name order.
func subdirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
			continue
		}
		if e.Type()&os.ModeSymlink != 0 {
			if fi, err := os.Stat(filepath.Join(dir, e.Name())); err == nil && fi.IsDir() {
				out = append(out, e.Name())
			}
		}
	}
	return out, nil
}
