package install

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

var (
	random = Source{Host: DefaultHost, Namespace: "hashicorp", Type: "random"}
	local  = Source{Host: DefaultHost, Namespace: "hashicorp", Type: "local"}
)

// quiet is a logger that drops everything.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// script is the executable a fake provider package holds: it prints its
// type and version.
func script(src Source, version string) []byte {
	return []byte("#!/bin/sh\necho " + src.Type + " " + version + "\n")
}

// mkUnpacked lays out an unpacked package in dir and returns its directory.
func mkUnpacked(t *testing.T, dir string, src Source, version, osArch string) string {
	t.Helper()
	pkg := filepath.Join(dir, src.Host, src.Namespace, src.Type, version, osArch)
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(pkg, "terraform-provider-"+src.Type+"_v"+version+"_x5")
	if err := os.WriteFile(exe, script(src, version), 0o755); err != nil {
		t.Fatal(err)
	}
	return pkg
}

// entry is one member of a test zip.
type entry struct {
	name string
	body []byte
	mode fs.FileMode // 0: 0644
}

// packageEntries are the entries of a well-formed provider zip.
func packageEntries(src Source, version string) []entry {
	return []entry{
		{name: "terraform-provider-" + src.Type + "_v" + version + "_x5", body: script(src, version), mode: 0o755},
		{name: "LICENSE", body: []byte("MIT License\n")},
	}
}

// zipBytes builds a zip of entries.
func zipBytes(t testing.TB, entries []entry) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h.SetMode(mode)
		f, err := w.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// mkPacked writes a packed package into dir and returns the zip's path.
func mkPacked(t *testing.T, dir string, src Source, version, osArch string, entries []entry) string {
	t.Helper()
	if entries == nil {
		entries = packageEntries(src, version)
	}
	typeDir := filepath.Join(dir, src.Host, src.Namespace, src.Type)
	if err := os.MkdirAll(typeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(typeDir, "terraform-provider-"+src.Type+"_"+version+"_"+osArch+".zip")
	if err := os.WriteFile(p, zipBytes(t, entries), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// isolate points HOME and the XDG and Terraform variables at empty temporary
// directories, so that no real plugin directory is searched.
func isolate(t *testing.T) (home string) {
	t.Helper()
	home = t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("XDG_DATA_DIRS", filepath.Join(home, "nonexistent-share"))
	t.Setenv("TF_PLUGIN_CACHE_DIR", "")
	t.Setenv(EnvPluginDir, "")
	return home
}

func find(t *testing.T, opts Options, src Source, constraint string) (Package, error) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	return Find(context.Background(), opts, src, constraint)
}
