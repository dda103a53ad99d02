package install

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/convergehq/converge/provider"
	"github.com/google/go-cmp/cmp"
)

// otherPlatform is a platform that is never the running one.
var otherPlatform = func() string {
	if Platform == "linux_arm64" {
		return "darwin_amd64"
	}
	return "linux_arm64"
}()

// run executes a package's program and returns what it prints, proving
// that what Find returned is a runnable executable.
func run(t *testing.T, pkg Package) string {
	t.Helper()
	out, err := exec.Command(pkg.Executable).Output()
	if err != nil {
		t.Fatalf("run %s: %v", pkg.Executable, err)
	}
	return strings.TrimSpace(string(out))
}

func TestFindPrecedence(t *testing.T) {
	type pkgSpec struct {
		dir     string // a key of the dirs below
		version string
		osArch  string // "": the running platform
		packed  bool
	}
	tests := map[string]struct {
		pkgs       []pkgSpec
		constraint string
		wantDir    string
		wantVer    string
		wantPacked bool
	}{
		"a plugin dir before the defaults, same version": {
			pkgs:    []pkgSpec{{dir: "home", version: "3.6.0"}, {dir: "flag", version: "3.6.0"}},
			wantDir: "flag", wantVer: "3.6.0",
		},
		"a newer version in a later directory wins": {
			pkgs:    []pkgSpec{{dir: "flag", version: "3.6.0"}, {dir: "home", version: "3.7.0"}},
			wantDir: "home", wantVer: "3.7.0",
		},
		"the constraint keeps the newer one out": {
			pkgs:       []pkgSpec{{dir: "flag", version: "3.6.0"}, {dir: "home", version: "3.7.0"}},
			constraint: "< 3.7",
			wantDir:    "flag", wantVer: "3.6.0",
		},
		"XDG_DATA_HOME/terraform before XDG_DATA_DIRS": {
			pkgs:    []pkgSpec{{dir: "share", version: "1.0.0"}, {dir: "xdg", version: "1.0.0"}},
			wantDir: "xdg", wantVer: "1.0.0",
		},
		"OpenTofu's data home is searched": {
			pkgs:    []pkgSpec{{dir: "tofu", version: "2.0.0"}},
			wantDir: "tofu", wantVer: "2.0.0",
		},
		"TF_PLUGIN_CACHE_DIR is searched": {
			pkgs:    []pkgSpec{{dir: "cache", version: "2.1.0"}, {dir: "home", version: "2.0.0"}},
			wantDir: "cache", wantVer: "2.1.0",
		},
		"unpacked before packed in one directory": {
			pkgs:    []pkgSpec{{dir: "flag", version: "1.0.0", packed: true}, {dir: "flag", version: "1.0.0"}},
			wantDir: "flag", wantVer: "1.0.0",
		},
		"packed in an earlier directory before unpacked in a later one": {
			pkgs:    []pkgSpec{{dir: "home", version: "1.0.0"}, {dir: "flag", version: "1.0.0", packed: true}},
			wantDir: "flag", wantVer: "1.0.0", wantPacked: true,
		},
		"another platform does not count": {
			pkgs:    []pkgSpec{{dir: "flag", version: "9.0.0", osArch: otherPlatform}, {dir: "flag", version: "9.0.0", osArch: otherPlatform, packed: true}, {dir: "home", version: "1.0.0"}},
			wantDir: "home", wantVer: "1.0.0",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			home := isolate(t)
			dirs := map[string]string{
				"flag":  filepath.Join(t.TempDir(), "plugins"),
				"home":  filepath.Join(home, ".terraform.d", "plugins"),
				"xdg":   filepath.Join(home, "xdg", "terraform", "plugins"),
				"share": filepath.Join(home, "share", "terraform", "plugins"),
				"tofu":  filepath.Join(home, ".local", "share", "opentofu", "plugins"),
				"cache": filepath.Join(home, "plugin-cache"),
			}
			t.Setenv("XDG_DATA_HOME", filepath.Join(home, "xdg"))
			t.Setenv("XDG_DATA_DIRS", filepath.Join(home, "share"))
			t.Setenv("TF_PLUGIN_CACHE_DIR", dirs["cache"])
			for _, p := range tc.pkgs {
				osArch := p.osArch
				if osArch == "" {
					osArch = Platform
				}
				if p.packed {
					mkPacked(t, dirs[p.dir], random, p.version, osArch, nil)
				} else {
					mkUnpacked(t, dirs[p.dir], random, p.version, osArch)
				}
			}
			opts := Options{Dirs: Dirs([]string{dirs["flag"]}), CacheDir: t.TempDir()}
			pkg, err := find(t, opts, random, tc.constraint)
			if err != nil {
				t.Fatal(err)
			}
			if pkg.FoundIn != dirs[tc.wantDir] || pkg.Version != tc.wantVer || pkg.Packed != tc.wantPacked {
				t.Errorf("found %s %s packed=%v in %s; want %s packed=%v in %s", pkg.Source, pkg.Version, pkg.Packed, pkg.FoundIn, tc.wantVer, tc.wantPacked, dirs[tc.wantDir])
			}
			if got := run(t, pkg); got != "random "+tc.wantVer {
				t.Errorf("the executable prints %q; want %q", got, "random "+tc.wantVer)
			}
		})
	}
}

func TestFindConstraints(t *testing.T) {
	dir := t.TempDir()
	for _, v := range []string{"1.0.0", "1.2.0", "1.2.5", "1.3.0-beta1", "2.0.0", "3.7.2", "3.8.0", "3.9.1", "3.10.0-rc1", "4.0.0"} {
		mkUnpacked(t, dir, random, v, Platform)
	}
	tests := map[string]struct {
		constraint string
		want       string // "": none matches
		wantErr    error
	}{
		"empty: newest release":           {constraint: "", want: "4.0.0"},
		"pessimistic minor":               {constraint: "~> 3.9", want: "3.9.1"},
		"pessimistic patch":               {constraint: "~> 1.2.0", want: "1.2.5"},
		"pessimistic major":               {constraint: "~> 1.0", want: "1.2.5"},
		"range":                           {constraint: ">= 1.2, < 2.0", want: "1.2.5"},
		"exact":                           {constraint: "= 3.7.2", want: "3.7.2"},
		"bare version is exact":           {constraint: "3.8.0", want: "3.8.0"},
		"not equal":                       {constraint: "~> 3.8, != 3.9.1", want: "3.8.0"},
		"prerelease only when named":      {constraint: ">= 1.2.5, < 2.0", want: "1.2.5"},
		"prerelease named exactly":        {constraint: "= 1.3.0-beta1", want: "1.3.0-beta1"},
		"prerelease bare":                 {constraint: "3.10.0-rc1", want: "3.10.0-rc1"},
		"prerelease range does not reach": {constraint: ">= 3.10.0-rc0", want: "4.0.0"},
		"nothing matches":                 {constraint: "> 4.0.0", wantErr: ErrNotFound},
		"exact missing":                   {constraint: "= 3.7.3", wantErr: ErrNotFound},
		"bad constraint":                  {constraint: "~> banana", wantErr: ErrInvalid},
		"bad operator":                    {constraint: "=> 1.0", wantErr: ErrInvalid},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			pkg, err := find(t, Options{Dirs: []string{dir}}, random, tc.constraint)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Find(%q) = %s, %v; want %v", tc.constraint, pkg.Version, err, tc.wantErr)
				}
				if c, _ := provider.Classify(err); c != provider.ClassTerminal {
					t.Errorf("error class %v, want terminal", c)
				}
				return
			}
			if err != nil {
				t.Fatalf("Find(%q): %v", tc.constraint, err)
			}
			if pkg.Version != tc.want {
				t.Errorf("Find(%q) = %s; want %s", tc.constraint, pkg.Version, tc.want)
			}
		})
	}
}

func TestFindNotFoundListsDirs(t *testing.T) {
	isolate(t)
	a, b := t.TempDir(), t.TempDir()
	mkUnpacked(t, a, random, "1.0.0", Platform)
	mkUnpacked(t, a, random, "2.0.0", otherPlatform)
	mkPacked(t, b, random, "1.5.0", Platform, nil)
	mkUnpacked(t, b, local, "9.0.0", Platform) // another provider: not listed
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	_, err := find(t, Options{Dirs: []string{a, b, file, missing}}, random, "~> 3.0")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Find: %v; want ErrNotFound", err)
	}
	msg := err.Error()
	for _, want := range []string{
		`provider not installed: no package of registry.terraform.io/hashicorp/random matches "~> 3.0" for ` + Platform,
		a + ": 2.0.0 " + otherPlatform + ", 1.0.0 " + Platform,
		b + ": 1.5.0 " + Platform + " (zip)",
		file + ": not a directory",
		missing + ": does not exist",
		"--plugin-dir",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error does not say %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "9.0.0") {
		t.Errorf("the error lists another provider's version:\n%s", msg)
	}
}

func TestFindOddPaths(t *testing.T) {
	isolate(t)
	t.Run("spaces in the path", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "my plugins", "with spaces")
		mkUnpacked(t, dir, random, "3.6.2", Platform)
		mkPacked(t, dir, local, "2.5.1", Platform, nil)
		cache := filepath.Join(t.TempDir(), "cache dir")
		for _, src := range []Source{random, local} {
			pkg, err := find(t, Options{Dirs: []string{dir}, CacheDir: cache}, src, "")
			if err != nil {
				t.Fatal(err)
			}
			if got := run(t, pkg); !strings.HasPrefix(got, src.Type+" ") {
				t.Errorf("%s prints %q", pkg.Executable, got)
			}
		}
	})
	t.Run("symlinked plugin dir and package dir", func(t *testing.T) {
		real := t.TempDir()
		mkUnpacked(t, real, random, "3.6.2", Platform)
		link := filepath.Join(t.TempDir(), "link")
		if err := os.Symlink(real, link); err != nil {
			t.Fatal(err)
		}
		// A second provider whose version directory is a symbolic link, as
		// a plugin cache shared between directories may have.
		elsewhere := mkUnpacked(t, t.TempDir(), local, "2.5.1", Platform)
		typeDir := filepath.Join(real, local.Host, local.Namespace, local.Type)
		if err := os.MkdirAll(typeDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Dir(elsewhere), filepath.Join(typeDir, "2.5.1")); err != nil {
			t.Fatal(err)
		}
		for _, src := range []Source{random, local} {
			pkg, err := find(t, Options{Dirs: []string{link}}, src, "")
			if err != nil {
				t.Fatal(err)
			}
			if pkg.FoundIn != link {
				t.Errorf("FoundIn = %s; want %s", pkg.FoundIn, link)
			}
			want, err := HashDir(pkg.Dir)
			if err != nil {
				t.Fatal(err)
			}
			if pkg.H1() != want {
				t.Errorf("h1 %s; want %s", pkg.H1(), want)
			}
			run(t, pkg)
		}
	})
	t.Run("a plugin dir that is a file is skipped", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "plugins")
		if err := os.WriteFile(file, []byte("not a dir"), 0o644); err != nil {
			t.Fatal(err)
		}
		good := t.TempDir()
		mkUnpacked(t, good, random, "3.6.2", Platform)
		pkg, err := find(t, Options{Dirs: []string{file, good}}, random, "")
		if err != nil || pkg.FoundIn != good {
			t.Fatalf("Find = %+v, %v; want the package in %s", pkg, err, good)
		}
	})
	t.Run("a symbolic link loop is skipped", func(t *testing.T) {
		loop := filepath.Join(t.TempDir(), "loop")
		if err := os.Symlink(loop, loop); err != nil {
			t.Fatal(err)
		}
		good := t.TempDir()
		mkUnpacked(t, good, random, "3.6.2", Platform)
		pkg, err := find(t, Options{Dirs: []string{loop, good}}, random, "")
		if err != nil || pkg.FoundIn != good {
			t.Fatalf("Find = %+v, %v; want the package in %s", pkg, err, good)
		}
		// A loop below a plugin dir skips that entry only.
		inner := filepath.Join(good, random.Host, random.Namespace, random.Type, "7.0.0")
		if err := os.Symlink(inner, inner); err != nil {
			t.Fatal(err)
		}
		pkg, err = find(t, Options{Dirs: []string{good}}, random, "")
		if err != nil || pkg.Version != "3.6.2" {
			t.Fatalf("Find past a loop = %s, %v; want 3.6.2", pkg.Version, err)
		}
		_, err = find(t, Options{Dirs: []string{loop}}, random, "")
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "too many levels of symbolic links") {
			t.Errorf("Find in a loop only: %v; want ErrNotFound saying why", err)
		}
	})
	t.Run("directory names in another case", func(t *testing.T) {
		dir := t.TempDir()
		pkg := filepath.Join(dir, "Registry.Terraform.io", "HashiCorp", "Random", "3.6.2", Platform)
		if err := os.MkdirAll(pkg, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pkg, "terraform-provider-random_v3.6.2_x5"), script(random, "3.6.2"), 0o755); err != nil {
			t.Fatal(err)
		}
		got, err := find(t, Options{Dirs: []string{dir}}, random, "")
		if err != nil {
			t.Fatal(err)
		}
		if got.Source != random || got.Dir != pkg {
			t.Errorf("found %s at %s; want %s at %s", got.Source, got.Dir, random, pkg)
		}
	})
	t.Run("a version directory with no executable is skipped", func(t *testing.T) {
		dir := t.TempDir()
		mkUnpacked(t, dir, random, "1.0.0", Platform)
		empty := filepath.Join(dir, random.Host, random.Namespace, random.Type, "2.0.0", Platform)
		if err := os.MkdirAll(empty, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(empty, "README"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		pkg, err := find(t, Options{Dirs: []string{dir}}, random, "")
		if err != nil || pkg.Version != "1.0.0" {
			t.Fatalf("Find = %s, %v; want 1.0.0", pkg.Version, err)
		}
	})
	t.Run("a version written short is normalised", func(t *testing.T) {
		dir := t.TempDir()
		mkUnpacked(t, dir, random, "3.7", Platform)
		pkg, err := find(t, Options{Dirs: []string{dir}}, random, "= 3.7.0")
		if err != nil || pkg.Version != "3.7.0" {
			t.Fatalf("Find = %s, %v; want 3.7.0", pkg.Version, err)
		}
	})
	t.Run("the context is honoured", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := Find(ctx, Options{Dirs: []string{t.TempDir()}, Logger: quiet}, random, "")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Find with a cancelled context: %v", err)
		}
	})
}

func TestList(t *testing.T) {
	isolate(t)
	a, b := t.TempDir(), t.TempDir()
	r1 := mkUnpacked(t, a, random, "3.6.2", Platform)
	r2 := mkUnpacked(t, a, random, "3.6.2", otherPlatform)
	z := mkPacked(t, a, random, "3.7.0", Platform, nil)
	l := mkUnpacked(t, b, local, "2.5.1", Platform)
	missing := filepath.Join(t.TempDir(), "missing")
	got, err := List(context.Background(), []string{a, missing, b})
	if err != nil {
		t.Fatal(err)
	}
	h := func(p string) []string {
		t.Helper()
		var h1 string
		var err error
		if strings.HasSuffix(p, ".zip") {
			h1, err = HashZip(p)
		} else {
			h1, err = HashDir(p)
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(p, ".zip") {
			return []string{h1}
		}
		zh, err := HashZipLegacy(p)
		if err != nil {
			t.Fatal(err)
		}
		return []string{h1, zh}
	}
	exe := func(dir, src, v string) string { return filepath.Join(dir, "terraform-provider-"+src+"_v"+v+"_x5") }
	want := []Package{
		{Source: random, Version: "3.7.0", OSArch: Platform, Packed: true, Archive: z, Hashes: h(z), FoundIn: a},
	}
	pair := []Package{
		{Source: random, Version: "3.6.2", OSArch: Platform, Dir: r1, Executable: exe(r1, "random", "3.6.2"), Hashes: h(r1), FoundIn: a},
		{Source: random, Version: "3.6.2", OSArch: otherPlatform, Dir: r2, Executable: exe(r2, "random", "3.6.2"), Hashes: h(r2), FoundIn: a},
	}
	if Platform > otherPlatform {
		pair[0], pair[1] = pair[1], pair[0]
	}
	want = append(want, pair...)
	want = append(want, Package{Source: local, Version: "2.5.1", OSArch: Platform, Dir: l, Executable: exe(l, "local", "2.5.1"), Hashes: h(l), FoundIn: b})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	// The same package unpacked and packed has one h1.
	if got[0].H1() == "" || len(got[0].Hashes) != 2 || !strings.HasPrefix(got[0].Hashes[1], PrefixZH) {
		t.Errorf("packed hashes %v; want h1: and zh:", got[0].Hashes)
	}
}
