package file_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/convergehq/converge/engine"
)

// healBound is how long a hand edit may stay: generous for a shared
// machine, and nothing like the resync that never comes here.
const healBound = 10 * time.Second

// TestEngineHealsHandEditsAtOnce: a running engine with the file provider
// corrects hand edits without any resync (it never calls ResyncAll), and
// its own writes, which the provider also notifies, do not keep it busy.
func TestEngineHealsHandEditsAtOnce(t *testing.T) {
	h := newHarness(t)
	rv := h.mustLoad(`
kind: file.Directory
metadata: {name: site}
spec: {path: site}
---
kind: file.File
metadata: {name: index}
dependsOn: [file.Directory/site]
spec: {path: site/index.html, content: "hello\n"}
---
kind: file.Symlink
metadata: {name: current}
dependsOn: [file.Directory/site]
spec: {path: current, target: site}
`)
	e := engine.New(h.reg, h.st, engine.Options{Workers: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := e.SetTarget(ctx, rv); err != nil {
		t.Fatal(err)
	}
	wg := e.Start(ctx)
	defer e.Stop(wg)
	idle := func(what string) {
		t.Helper()
		wctx, wcancel := context.WithTimeout(ctx, healBound)
		defer wcancel()
		if err := e.WaitIdle(wctx); err != nil {
			t.Fatalf("%s: not idle within %s", what, healBound)
		}
	}
	idle("converging")

	// What the engine wrote is notified too; it settles after one look.
	time.Sleep(200 * time.Millisecond)
	idle("after its own writes")
	before := e.Stats()
	time.Sleep(300 * time.Millisecond)
	if after := e.Stats(); after != before {
		t.Errorf("calls while nothing changed: %+v, then %+v", before, after)
	}

	index := filepath.Join(h.root, "site", "index.html")
	edits := map[string]func() error{
		"content written": func() error { return os.WriteFile(index, []byte("defaced\n"), 0o644) },
		"chmod":           func() error { return os.Chmod(index, 0o600) },
		"deleted":         func() error { return os.Remove(index) },
		"link retargeted": func() error {
			if err := os.Symlink("elsewhere", filepath.Join(h.root, ".current.new")); err != nil {
				return err
			}
			return os.Rename(filepath.Join(h.root, ".current.new"), filepath.Join(h.root, "current"))
		},
	}
	want := map[string]string{"site": "/", "site/index.html": "hello\n", "current": "-> site"}
	for _, name := range []string{"content written", "chmod", "deleted", "link retargeted"} {
		if err := edits[name](); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		deadline := time.Now().Add(healBound)
		for !sameTree(h.tree(), want) || !mode(t, index, 0o644) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not healed within %s: %v", name, healBound, h.tree())
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
}

func sameTree(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// mode reports whether path has the permission bits perm.
func mode(t *testing.T, path string, perm os.FileMode) bool {
	t.Helper()
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().Perm() == perm
}
