package secret

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeyEnv is the environment variable that may hold the state's sealing
// key, base64 of KeySize bytes; it takes precedence over the key file.
const KeyEnv = "CONVERGE_STATE_KEY"

// KeyPath returns where the sealing key of the state at statePath is kept:
// next to it, "state.db.key" for "state.db".
func KeyPath(statePath string) string { return statePath + ".key" }

// StateSealer returns the Sealer of the state at statePath: the key in
// $CONVERGE_STATE_KEY when set, else the key file KeyPath(statePath).
// With create, a missing key file is made (KeySize random bytes, mode
// 0600, written whole or not at all); without, a missing key file is
// (nil, nil): the state has nothing sealed that could be opened.
//
// A key file that is a symbolic link, not a regular file, readable or
// writable by its group or others, or not a key is refused: the key is
// what keeps the state's secrets.
func StateSealer(statePath string, create bool, getenv func(string) string) (*Sealer, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if v := strings.TrimSpace(getenv(KeyEnv)); v != "" {
		key, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(key) != KeySize {
			return nil, fmt.Errorf("%s: want the base64 of %d bytes (such as the output of: head -c %d /dev/urandom | base64)", KeyEnv, KeySize, KeySize)
		}
		return NewSealer(key)
	}
	path := KeyPath(statePath)
	s, err := LoadKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if !create {
			return nil, nil
		}
		if err := createKeyFile(path); err != nil {
			return nil, err
		}
		return LoadKeyFile(path)
	}
	return s, err
}

// LoadKeyFile reads the key file at path (see StateSealer for what is
// refused). A missing file is an error wrapping fs.ErrNotExist.
func LoadKeyFile(path string) (*Sealer, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("state key %s: %w", path, err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return nil, fmt.Errorf("state key %s: is a symbolic link; refusing it (keep the key itself there, mode 0600)", path)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("state key %s: is not a regular file", path)
	case fi.Mode().Perm()&0o077 != 0:
		return nil, fmt.Errorf("state key %s: mode %04o lets others read or change it; refusing it (chmod 600 %s)", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("state key %s: %w", path, err)
	}
	key, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(b)))
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("state key %s: not a key (want the base64 of %d bytes)", path, KeySize)
	}
	return NewSealer(key)
}

// createKeyFile writes a new random key to path, unless one is there
// already: it is written to a temporary file first and linked into place,
// so a reader never sees half a key and two processes never both win.
func createKeyFile(path string) error {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("state key: %w", err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".converge-key-*")
	if err != nil {
		return fmt.Errorf("state key %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("state key %s: %w", path, err)
	}
	_, err = tmp.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("state key %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("state key %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
