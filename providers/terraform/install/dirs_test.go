package install

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDefaultDirs(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the expected lists are Linux's")
	}
	tests := map[string]struct {
		env  map[string]string
		want []string
	}{
		"nothing set": {
			env: map[string]string{"HOME": "/h"},
			want: []string{
				"/h/.terraform.d/plugins",
				"/h/.local/share/terraform/plugins",
				"/usr/local/share/terraform/plugins",
				"/usr/share/terraform/plugins",
				"/h/.local/share/opentofu/plugins",
				"/usr/local/share/opentofu/plugins",
				"/usr/share/opentofu/plugins",
			},
		},
		"XDG set, cache dir set": {
			env: map[string]string{
				"HOME": "/h", "XDG_DATA_HOME": "/data", "XDG_DATA_DIRS": "/s1:relative:/s2:",
				"TF_PLUGIN_CACHE_DIR": "/cache",
			},
			want: []string{
				"/h/.terraform.d/plugins",
				"/data/terraform/plugins",
				"/s1/terraform/plugins",
				"/s2/terraform/plugins",
				"/h/.local/share/opentofu/plugins",
				"/data/opentofu/plugins",
				"/s1/opentofu/plugins",
				"/s2/opentofu/plugins",
				"/cache",
			},
		},
		"relative XDG_DATA_HOME is ignored": {
			env: map[string]string{"HOME": "/h", "XDG_DATA_HOME": "rel", "XDG_DATA_DIRS": "/s"},
			want: []string{
				"/h/.terraform.d/plugins",
				"/h/.local/share/terraform/plugins",
				"/s/terraform/plugins",
				"/h/.local/share/opentofu/plugins",
				"/s/opentofu/plugins",
			},
		},
		"XDG_DATA_HOME at its default is searched once": {
			env: map[string]string{"HOME": "/h", "XDG_DATA_HOME": "/h/.local/share", "XDG_DATA_DIRS": "/s"},
			want: []string{
				"/h/.terraform.d/plugins",
				"/h/.local/share/terraform/plugins",
				"/s/terraform/plugins",
				"/h/.local/share/opentofu/plugins",
				"/s/opentofu/plugins",
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			for _, k := range []string{"HOME", "XDG_DATA_HOME", "XDG_DATA_DIRS", "TF_PLUGIN_CACHE_DIR"} {
				t.Setenv(k, tc.env[k])
			}
			if diff := cmp.Diff(tc.want, DefaultDirs()); diff != "" {
				t.Errorf("DefaultDirs() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDirs(t *testing.T) {
	home := isolate(t)
	t.Setenv("XDG_DATA_DIRS", "/s")
	a, b := filepath.Join(home, "a"), filepath.Join(home, "b")
	t.Setenv(EnvPluginDir, b+string(os.PathListSeparator)+a+string(os.PathListSeparator))
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	got := Dirs([]string{a, "rel/dir", a + "/", filepath.Join(home, ".terraform.d", "plugins")})
	want := []string{
		a,
		filepath.Join(wd, "rel", "dir"),
		filepath.Join(home, ".terraform.d", "plugins"), // a flag before its default place
		b,
		filepath.Join(home, ".local/share/terraform/plugins"),
		"/s/terraform/plugins",
		filepath.Join(home, ".local/share/opentofu/plugins"),
		"/s/opentofu/plugins",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Dirs (-want +got):\n%s", diff)
	}
}

func TestCheckDirs(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	loop := filepath.Join(dir, "loop")
	if err := os.Symlink(loop, loop); err != nil {
		t.Fatal(err)
	}
	got := CheckDirs([]string{dir, filepath.Join(dir, "missing"), file, loop})
	want := []DirStatus{
		{Dir: dir, Exists: true},
		{Dir: filepath.Join(dir, "missing"), Problem: "does not exist"},
		{Dir: file, Exists: true, Problem: "not a directory"},
	}
	if diff := cmp.Diff(want, got[:3]); diff != "" {
		t.Errorf("CheckDirs (-want +got):\n%s", diff)
	}
	if got[3].Problem == "" || !got[3].Exists {
		t.Errorf("a symbolic link loop: %+v; want a problem", got[3])
	}
}
