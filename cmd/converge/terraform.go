package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/providers/terraform"
	"github.com/convergehq/converge/providers/terraform/install"
)

// lockFileName is the lock converge providers lock writes beside the
// manifests.
const lockFileName = "converge.lock"

// lockPath is --lock-file, or converge.lock in the directory of the first
// -f (the directory itself, or a file's).
func (g *globals) lockPath() string {
	if g.lockFile != "" {
		return g.lockFile
	}
	if len(g.files) == 0 {
		return lockFileName
	}
	first := g.files[0]
	if fi, err := os.Stat(first); err == nil && fi.IsDir() {
		return filepath.Join(first, lockFileName)
	}
	return filepath.Join(filepath.Dir(first), lockFileName)
}

// pluginCache is where packed providers are extracted.
func pluginCache() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "converge", "plugins")
	}
	return filepath.Join(os.TempDir(), "converge-plugins")
}

// installOptions says where providers are found, and the lock when there
// is one (locked false: ignore it, as converge providers lock does).
func (g *globals) installOptions(log *slog.Logger, locked bool) (install.Options, error) {
	opts := install.Options{Dirs: install.Dirs(g.pluginDirs), CacheDir: pluginCache(), Logger: log}
	if !locked {
		return opts, nil
	}
	lock, err := install.ReadLock(g.lockPath())
	if err != nil {
		return opts, fmt.Errorf("%s: %w", g.lockPath(), err)
	}
	opts.Lock = lock
	return opts, nil
}

// startTerraform finds the Terraform provider d names in the plugin
// directories (pinned by converge.lock when it exists) and starts it.
func (g *globals) startTerraform(ctx context.Context, d manifest.Declared, log *slog.Logger) (provider.Provider, error) {
	src, err := install.ParseSource(d.Plugin)
	if err != nil {
		return nil, &manifest.Error{File: d.Source.File, Line: d.Source.Line, Resource: manifest.KindProviderConfig + "/" + d.Name, Field: "spec.source", Msg: err.Error()}
	}
	opts, err := g.installOptions(log, true)
	if err != nil {
		return nil, err
	}
	pkg, err := install.Find(ctx, opts, src, d.Version)
	if err != nil {
		return nil, &manifest.Error{File: d.Source.File, Line: d.Source.Line, Resource: manifest.KindProviderConfig + "/" + d.Name, Field: findField(ctx, opts.Dirs, src, d, err), Msg: err.Error()}
	}
	p, err := terraform.Start(ctx, terraform.Options{
		Name: d.Name, Type: src.Type, Source: src.String(), Path: pkg.Executable,
		Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("start %s %s (%s): %w", src, pkg.Version, pkg.Executable, err)
	}
	return p, nil
}

// findField is the field a failed install.Find of d is about: spec.version
// when the constraint is invalid, or when versions of the source are
// installed and none meets it; spec.source otherwise.
func findField(ctx context.Context, dirs []string, src install.Source, d manifest.Declared, err error) string {
	if d.Version == "" {
		return "spec.source"
	}
	if errors.Is(err, install.ErrInvalid) {
		return "spec.version"
	}
	if errors.Is(err, install.ErrNotFound) {
		pkgs, lerr := install.List(ctx, dirs)
		if lerr != nil {
			return "spec.source"
		}
		for _, p := range pkgs {
			if p.Source == src {
				return "spec.version"
			}
		}
	}
	return "spec.source"
}
