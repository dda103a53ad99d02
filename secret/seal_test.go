package secret

import (
	"bytes"
	"encoding/base64"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func TestSealOpen(t *testing.T) {
	s, err := NewSealer(testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	v := s.Seal("http.Resource/a headers", []byte(`{"Authorization":"Bearer hunter22"}`))
	if !IsSealed(v) || strings.Contains(v, "hunter22") {
		t.Fatalf("Seal = %q", v)
	}
	if again := s.Seal("http.Resource/a headers", []byte(`{"Authorization":"Bearer hunter22"}`)); again != v {
		t.Errorf("Seal is not deterministic: %q, then %q", v, again)
	}
	if other := s.Seal("http.Resource/b headers", []byte(`{"Authorization":"Bearer hunter22"}`)); other == v {
		t.Errorf("one value seals the same in two places")
	}
	for _, notSealed := range []string{"sealed:v1:not-ours", "sealed:v1:" + s.KeyID() + ":a b", "sealed:v2:0011aabb:AAAA", "Sealed:v1:0011aabb:AAAA"} {
		if IsSealed(notSealed) {
			t.Errorf("IsSealed(%q) = true", notSealed)
		}
	}
	got, err := s.Open(v)
	if err != nil || string(got) != `{"Authorization":"Bearer hunter22"}` {
		t.Fatalf("Open = %q, %v", got, err)
	}

	other, _ := NewSealer(testKey(2))
	if _, err := other.Open(v); !errors.Is(err, ErrWrongKey) {
		t.Errorf("Open with another key: %v; want ErrWrongKey", err)
	}
	tampered := v[:len(v)-2] + "AA"
	if tampered == v {
		tampered = v[:len(v)-2] + "BB"
	}
	for _, bad := range []string{tampered, v[:len(v)-10], "sealed:v1:" + s.KeyID() + ":!!", "plain", SealedPrefix + s.KeyID()} {
		if _, err := s.Open(bad); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
	if _, err := NewSealer([]byte("short")); err == nil {
		t.Errorf("NewSealer with a short key succeeded")
	}
}

func TestStateSealer(t *testing.T) {
	noEnv := func(string) string { return "" }
	dir := t.TempDir()
	state := filepath.Join(dir, "state.db")

	s, err := StateSealer(state, false, noEnv)
	if s != nil || err != nil {
		t.Fatalf("without create, no key file: %v, %v; want nil, nil", s, err)
	}
	s, err = StateSealer(state, true, noEnv)
	if err != nil || s == nil {
		t.Fatalf("create: %v, %v", s, err)
	}
	fi, err := os.Lstat(KeyPath(state))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", fi, err)
	}
	again, err := StateSealer(state, true, noEnv)
	if err != nil || again.KeyID() != s.KeyID() {
		t.Fatalf("second open: %v; key %s, want %s", err, again.KeyID(), s.KeyID())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %d entries; want the key file only", len(entries))
	}

	t.Run("group readable", func(t *testing.T) {
		if err := os.Chmod(KeyPath(state), 0o640); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(KeyPath(state), 0o600)
		if _, err := StateSealer(state, true, noEnv); err == nil || !strings.Contains(err.Error(), "0640") {
			t.Errorf("err = %v; want a refusal naming the mode", err)
		}
	})
	t.Run("symlink", func(t *testing.T) {
		link := filepath.Join(dir, "other.db")
		if err := os.Symlink(KeyPath(state), KeyPath(link)); err != nil {
			t.Fatal(err)
		}
		if _, err := StateSealer(link, true, noEnv); err == nil || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("err = %v; want a refusal of the link", err)
		}
	})
	t.Run("not a key", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.db")
		if err := os.WriteFile(KeyPath(bad), []byte("nope\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := StateSealer(bad, true, noEnv); err == nil {
			t.Errorf("a file that holds no key was accepted")
		}
	})
	t.Run("environment", func(t *testing.T) {
		env := func(k string) string {
			if k == KeyEnv {
				return base64.StdEncoding.EncodeToString(testKey(7))
			}
			return ""
		}
		s, err := StateSealer(filepath.Join(dir, "none.db"), true, env)
		want, _ := NewSealer(testKey(7))
		if err != nil || s.KeyID() != want.KeyID() {
			t.Fatalf("env key: %v, %v", s, err)
		}
		if _, err := os.Lstat(KeyPath(filepath.Join(dir, "none.db"))); err == nil {
			t.Errorf("a key file was created although the environment holds the key")
		}
		if _, err := StateSealer(state, true, func(string) string { return "short" }); err == nil {
			t.Errorf("a bad %s was accepted", KeyEnv)
		}
	})
}

func TestHandler(t *testing.T) {
	var buf bytes.Buffer
	r := New("hunter22")
	log := slog.New(Handler(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}), r.Redact))
	log = log.With("bound", "x hunter22")
	log.Debug("token hunter22 seen", "err", errors.New("401: hunter22"), "s", "a%20hunter22", slog.Group("g", "k", "hunter22"), "n", 3)
	log.WithGroup("grp").Info("again", "v", []byte("hunter22"))
	if strings.Contains(buf.String(), "hunter22") {
		t.Errorf("log output holds the secret:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), "n=3") || strings.Count(buf.String(), Placeholder) < 6 {
		t.Errorf("log output:\n%s", buf.String())
	}
}
