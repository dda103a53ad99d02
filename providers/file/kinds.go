package file

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
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

func (p *Provider) observeDirectory(rt *opRoot, loc location) (provider.Observation, error) {
	r, err := rt.get()
	if err != nil {
		return provider.Observation{}, err
	}
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

func (p *Provider) applyDirectory(rt *opRoot, loc location, spec map[string]any) (map[string]any, error) {
	m, err := specMode(spec, "0755")
	if err != nil {
		return nil, err
	}
	r, err := rt.get()
	if err != nil {
		return nil, err
	}
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

// MaxContent is the most content a file.File may declare: 64 MiB. The
// content lives in memory several times over (the manifest, the resolved
// spec, the record and its encoding in the store, a plan's diff), so
// converge is no way to ship large artifacts.
const MaxContent = 64 << 20

// shownContent is the largest differing file whose content an observation
// shows as it is; a larger one is shown by its size and hash.
const shownContent = 64 << 10

// readBuffer is how much of a file is held at once while it is observed.
const readBuffer = 64 << 10

// observeFile reads the file at loc by streaming it once through a small
// buffer: it hashes it and compares it with want, the content the spec
// declares. state.content is want itself when the file holds exactly
// that (no copy), the file's content when it differs and is small, and
// "(SIZE bytes, sha256 HEX)" otherwise. Memory is one buffer, whatever
// the file's size.
func (p *Provider) observeFile(ctx context.Context, rt *opRoot, loc location, want string) (provider.Observation, error) {
	r, err := rt.get()
	if err != nil {
		return provider.Observation{}, err
	}
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
	bufSize := readBuffer
	if n := fi.Size(); n >= 0 && n < readBuffer {
		bufSize = int(n) + 1 // one read takes it all, the byte more sees its end
	}
	var (
		h     = sha256.New()
		buf   = make([]byte, bufSize)
		size  int
		equal = true
		small []byte // the content once it differs from want, while it may be shown
		keep  = fi.Size() <= shownContent
	)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			h.Write(chunk)
			was := equal
			equal = equal && size+n <= len(want) && string(chunk) == want[size:size+n]
			if keep = keep && size+n <= shownContent; keep && !equal {
				if was {
					small = append(small, want[:size]...)
				}
				small = append(small, chunk...)
			}
			size += n
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return provider.Observation{}, classify("read "+show(loc.rel), err)
		}
		if err := ctx.Err(); err != nil {
			return provider.Observation{}, err
		}
	}
	sum := hex.EncodeToString(h.Sum(nil))
	var content string
	switch {
	case equal && size == len(want):
		content = want
	case keep && equal:
		content = want[:size] // the file is the beginning of want
	case keep:
		content = string(small)
	default:
		content = fmt.Sprintf("(%d bytes, sha256 %s)", size, sum)
		if content == want {
			content += " " // it is not what the spec says, whatever it says
		}
	}
	return provider.Observation{
		Exists:  true,
		State:   map[string]any{"content": content, "mode": formatMode(modeBits(fi.Mode()))},
		Outputs: map[string]any{"path": relPath(loc), "sha256": sum, "size": int64(size)},
	}, nil
}

func (p *Provider) applyFile(rt *opRoot, loc location, spec map[string]any) (map[string]any, error) {
	content, err := specString(spec, "content", "")
	if err != nil {
		return nil, err
	}
	if len(content) > MaxContent {
		return nil, provider.Terminal(errors.New(contentTooLarge(len(content))))
	}
	m, err := specMode(spec, "0644")
	if err != nil {
		return nil, err
	}
	r, err := rt.get()
	if err != nil {
		return nil, err
	}
	fi, err := lstat(r, loc)
	if err != nil {
		return nil, err
	}
	if fi != nil && !fi.Mode().IsRegular() {
		return nil, wrongType(loc, "a regular file", fi)
	}
	if err := p.writeAtomic(r, loc, content, m); err != nil {
		return nil, err
	}
	return map[string]any{"path": relPath(loc), "sha256": hashString(content), "size": int64(len(content))}, nil
}

// contentTooLarge is the message for content over MaxContent.
func contentTooLarge(n int) string {
	return fmt.Sprintf("content is %d bytes; a file.File holds at most %d (64 MiB)", n, MaxContent)
}

// hashString returns the hex SHA-256 of s, without copying s whole.
func hashString(s string) string {
	h := sha256.New()
	buf := make([]byte, min(len(s), readBuffer))
	for len(s) > 0 {
		n := copy(buf, s)
		h.Write(buf[:n])
		s = s[n:]
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (p *Provider) observeSymlink(rt *opRoot, loc location) (provider.Observation, error) {
	r, err := rt.get()
	if err != nil {
		return provider.Observation{}, err
	}
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

func (p *Provider) applySymlink(rt *opRoot, loc location, spec map[string]any) (map[string]any, error) {
	target, err := specString(spec, "target", "")
	if err != nil {
		return nil, err
	}
	if err := p.checkTarget(rt, loc, target); err != nil {
		return nil, err
	}
	r, err := rt.get()
	if err != nil {
		return nil, err
	}
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
	if err := p.symlinkAtomic(r, loc, target); err != nil {
		return nil, err
	}
	return out, nil
}
