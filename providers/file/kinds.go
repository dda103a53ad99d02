package file

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/convergehq/converge/provider"
)

// relPath is outputs.path: the cleaned path relative to the root, with
// forward slashes.
func relPath(loc location) string { return filepath.ToSlash(loc.rel) }

func (p *Provider) observeDirectory(loc location) (provider.Observation, error) {
	r, err := p.openRoot()
	if err != nil {
		return provider.Observation{}, err
	}
	defer r.Close()
	fi, err := lstat(r, loc)
	if err != nil || fi == nil {
		return provider.Observation{}, err
	}
	if !fi.IsDir() {
		return provider.Observation{}, wrongType(loc, "a directory", fi)
	}
	return provider.Observation{
		Exists:  true,
		State:   map[string]any{"mode": formatMode(modeBits(fi.Mode()))},
		Outputs: map[string]any{"path": relPath(loc)},
	}, nil
}

func (p *Provider) applyDirectory(loc location, spec map[string]any) (map[string]any, error) {
	m, err := specMode(spec, "0755")
	if err != nil {
		return nil, err
	}
	r, err := p.openRoot()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	fi, err := lstat(r, loc)
	if err != nil {
		return nil, err
	}
	if fi != nil && !fi.IsDir() {
		return nil, wrongType(loc, "a directory", fi)
	}
	if fi == nil {
		// Created private, then opened up by chmodDir: never more
		// permissive than asked, whatever the umask.
		if err := r.Mkdir(loc.name, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, classify("mkdir "+show(loc.rel), err)
		}
		if err := syncDir(r, loc.dir); err != nil {
			return nil, err
		}
	}
	if err := chmodDir(r, loc, m); err != nil {
		return nil, err
	}
	return map[string]any{"path": relPath(loc)}, nil
}

func (p *Provider) observeFile(loc location) (provider.Observation, error) {
	r, err := p.openRoot()
	if err != nil {
		return provider.Observation{}, err
	}
	defer r.Close()
	fi, err := lstat(r, loc)
	if err != nil || fi == nil {
		return provider.Observation{}, err
	}
	if !fi.Mode().IsRegular() {
		return provider.Observation{}, wrongType(loc, "a regular file", fi)
	}
	// O_NONBLOCK: should a FIFO replace the file after lstat, opening it
	// must not hang; the fstat below then refuses it.
	f, err := r.OpenFile(loc.name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return provider.Observation{}, nil
	}
	if err != nil {
		return provider.Observation{}, classify("open "+show(loc.rel), err)
	}
	defer f.Close()
	fi, err = f.Stat()
	if err != nil {
		return provider.Observation{}, classify("stat "+show(loc.rel), err)
	}
	if !fi.Mode().IsRegular() {
		return provider.Observation{}, wrongType(loc, "a regular file", fi)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return provider.Observation{}, classify("read "+show(loc.rel), err)
	}
	return provider.Observation{
		Exists:  true,
		State:   map[string]any{"content": string(data), "mode": formatMode(modeBits(fi.Mode()))},
		Outputs: fileOutputs(loc, data),
	}, nil
}

func (p *Provider) applyFile(loc location, spec map[string]any) (map[string]any, error) {
	content, err := specString(spec, "content", "")
	if err != nil {
		return nil, err
	}
	m, err := specMode(spec, "0644")
	if err != nil {
		return nil, err
	}
	r, err := p.openRoot()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	fi, err := lstat(r, loc)
	if err != nil {
		return nil, err
	}
	if fi != nil && !fi.Mode().IsRegular() {
		return nil, wrongType(loc, "a regular file", fi)
	}
	data := []byte(content)
	if err := writeAtomic(r, loc, data, m); err != nil {
		return nil, err
	}
	return fileOutputs(loc, data), nil
}

func fileOutputs(loc location, data []byte) map[string]any {
	sum := sha256.Sum256(data)
	return map[string]any{
		"path":   relPath(loc),
		"sha256": hex.EncodeToString(sum[:]),
		"size":   int64(len(data)),
	}
}

func (p *Provider) observeSymlink(loc location) (provider.Observation, error) {
	r, err := p.openRoot()
	if err != nil {
		return provider.Observation{}, err
	}
	defer r.Close()
	fi, err := lstat(r, loc)
	if err != nil || fi == nil {
		return provider.Observation{}, err
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		return provider.Observation{}, wrongType(loc, "a symbolic link", fi)
	}
	target, err := r.Readlink(loc.name)
	if errors.Is(err, fs.ErrNotExist) {
		return provider.Observation{}, nil
	}
	if err != nil {
		return provider.Observation{}, classify("readlink "+show(loc.rel), err)
	}
	return provider.Observation{
		Exists:  true,
		State:   map[string]any{"target": target},
		Outputs: map[string]any{"path": relPath(loc), "target": target},
	}, nil
}

func (p *Provider) applySymlink(loc location, spec map[string]any) (map[string]any, error) {
	target, err := specString(spec, "target", "")
	if err != nil {
		return nil, err
	}
	if err := p.checkTarget(loc, target); err != nil {
		return nil, err
	}
	r, err := p.openRoot()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	fi, err := lstat(r, loc)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"path": relPath(loc), "target": target}
	if fi != nil {
		if fi.Mode()&fs.ModeSymlink == 0 {
			return nil, wrongType(loc, "a symbolic link", fi)
		}
		if cur, err := r.Readlink(loc.name); err == nil && cur == target {
			return out, nil
		}
	}
	if err := symlinkAtomic(r, loc, target); err != nil {
		return nil, err
	}
	return out, nil
}
