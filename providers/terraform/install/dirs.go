package install

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
)

// EnvPluginDir names the environment variable that lists plugin directories,
// separated by the OS list separator (':' on Unix, ';' on Windows). They are
// searched after the --plugin-dir ones and before the defaults.
const EnvPluginDir = "CONVERGE_PLUGIN_DIR"

// DefaultDirs returns the directories Terraform and OpenTofu search by
// default, in order, read from the environment now. On Linux and macOS:
//
//	~/.terraform.d/plugins                    (Terraform and OpenTofu)
//	$XDG_DATA_HOME/terraform/plugins          (default ~/.local/share)
//	$XDG_DATA_DIRS/terraform/plugins, each    (default /usr/local/share:/usr/share)
//	~/.local/share/opentofu/plugins           (OpenTofu)
//	$XDG_DATA_HOME/opentofu/plugins           (when XDG_DATA_HOME is set elsewhere)
//	$XDG_DATA_DIRS/opentofu/plugins, each
//	~/Library/Application Support/io.terraform/plugins and
//	/Library/Application Support/io.terraform/plugins   (macOS only)
//	$TF_PLUGIN_CACHE_DIR                      (when set)
//
// On Windows: %APPDATA%\terraform.d\plugins, %APPDATA%\HashiCorp\Terraform\plugins
// and $TF_PLUGIN_CACHE_DIR. Relative XDG entries are ignored, as the XDG
// specification says. Directories that do not exist are kept.
func DefaultDirs() []string {
	var dirs []string
	add := func(elem ...string) { dirs = append(dirs, filepath.Join(elem...)) }
	home, _ := os.UserHomeDir()

	if runtime.GOOS == "windows" {
		if appData := os.Getenv("APPDATA"); appData != "" {
			add(appData, "terraform.d", "plugins")
			add(appData, "HashiCorp", "Terraform", "plugins")
		}
	} else {
		defaultDataHome := ""
		if home != "" {
			add(home, ".terraform.d", "plugins")
			defaultDataHome = filepath.Join(home, ".local", "share")
		}
		dataHome := defaultDataHome
		if v := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(v) {
			dataHome = v
		}
		dataDirs := []string{"/usr/local/share", "/usr/share"}
		if v := os.Getenv("XDG_DATA_DIRS"); v != "" {
			dataDirs = nil
			for _, d := range filepath.SplitList(v) {
				if filepath.IsAbs(d) {
					dataDirs = append(dataDirs, d)
				}
			}
		}
		if dataHome != "" {
			add(dataHome, "terraform", "plugins")
		}
		for _, d := range dataDirs {
			add(d, "terraform", "plugins")
		}
		// OpenTofu always searches the default data home and, when
		// XDG_DATA_HOME points elsewhere, that one too.
		if defaultDataHome != "" {
			add(defaultDataHome, "opentofu", "plugins")
		}
		if dataHome != "" && dataHome != defaultDataHome {
			add(dataHome, "opentofu", "plugins")
		}
		for _, d := range dataDirs {
			add(d, "opentofu", "plugins")
		}
		if runtime.GOOS == "darwin" {
			if home != "" {
				add(home, "Library", "Application Support", "io.terraform", "plugins")
			}
			add("/Library", "Application Support", "io.terraform", "plugins")
		}
	}
	if v := os.Getenv("TF_PLUGIN_CACHE_DIR"); v != "" {
		add(v)
	}
	return dedupe(dirs)
}

// Dirs returns the directories to search, in order: pluginDirs (the
// --plugin-dir flags), then the CONVERGE_PLUGIN_DIR entries, then
// DefaultDirs. Relative paths are made absolute; a directory named twice is
// kept where it first appears. Directories that do not exist are kept (see
// CheckDirs to tell them apart).
func Dirs(pluginDirs []string) []string {
	dirs := append([]string(nil), pluginDirs...)
	for _, d := range filepath.SplitList(os.Getenv(EnvPluginDir)) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	return dedupe(append(dirs, DefaultDirs()...))
}

func dedupe(dirs []string) []string {
	seen := make(map[string]bool, len(dirs))
	out := make([]string, 0, len(dirs))
	for _, d := range dirs {
		if d == "" {
			continue
		}
		if abs, err := filepath.Abs(d); err == nil {
			d = abs
		}
		d = filepath.Clean(d)
		if seen[d] {
			continue
		}
		seen[d] = true
		out = append(out, d)
	}
	return out
}

// DirStatus says what a search directory is, for listings.
type DirStatus struct {
	Dir    string `json:"dir"`
	Exists bool   `json:"exists"`
	// Problem is empty for a readable directory; otherwise it says why the
	// directory is skipped: "does not exist", "not a directory", or the
	// error met reading it.
	Problem string `json:"problem,omitempty"`
}

// CheckDirs reports, for each directory, whether it exists and can be
// searched.
func CheckDirs(dirs []string) []DirStatus {
	out := make([]DirStatus, 0, len(dirs))
	for _, d := range dirs {
		st := DirStatus{Dir: d}
		fi, err := os.Stat(d)
		switch {
		case os.IsNotExist(err):
			st.Problem = "does not exist"
		case err != nil:
			st.Exists = true
			st.Problem = err.Error()
		case !fi.IsDir():
			st.Exists = true
			st.Problem = "not a directory"
		default:
			st.Exists = true
			if f, err := os.Open(d); err != nil {
				st.Problem = err.Error()
			} else {
				if _, err := f.ReadDir(1); err != nil && !errors.Is(err, io.EOF) {
					st.Problem = err.Error()
				}
				f.Close()
			}
		}
		out = append(out, st)
	}
	return out
}
