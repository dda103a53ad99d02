package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/convergehq/converge/examples/custom-provider/kv"
	"github.com/convergehq/converge/provider"
)

// TestEmbedRunsAsADaemon: the embedded controller converges the manifests,
// follows an edit through the manifest watch, keeps its state in SQLite,
// and stops when its context ends.
func TestEmbedRunsAsADaemon(t *testing.T) {
	dir := t.TempDir()
	write := func(value string) {
		t.Helper()
		m := "kind: kv.Entry\nmetadata: {name: db}\nspec: {key: db-host, value: " + value + "}\n" +
			"---\nkind: kv.Entry\nmetadata: {name: dsn}\nspec: {key: dsn, value: \"postgres://${kv.Entry/db.outputs.key}/v${kv.Entry/db.outputs.version}\"}\n"
		if err := os.WriteFile(filepath.Join(dir, "m.yaml"), []byte(m), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	value := func(p *kv.Provider, key string) string {
		obs, err := p.Observe(context.Background(), provider.Request{Spec: map[string]any{"key": key}})
		if err != nil || !obs.Exists {
			return ""
		}
		v, _ := obs.State["value"].(string)
		return v
	}
	eventually := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10 s", what)
			}
		}
	}
	write("db1.internal")
	state := filepath.Join(t.TempDir(), "embed.db")
	p := &kv.Provider{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	pr, pw := io.Pipe()
	go func() { _, _ = io.Copy(io.Discard, bufio.NewReader(pr)) }()
	go func() {
		done <- run(ctx, config{dir: dir, state: state, resync: time.Hour, kv: p, log: slog.New(slog.NewTextHandler(pw, nil))})
	}()
	eventually("first converge", func() bool { return value(p, "dsn") == "postgres://db-host/v1" })
	write("db2.internal")
	eventually("the edit followed", func() bool {
		return value(p, "db-host") == "db2.internal" && value(p, "dsn") == "postgres://db-host/v2"
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
	pw.Close()
	if fi, err := os.Stat(state); err != nil || fi.Size() == 0 {
		t.Fatalf("no state at %s: %v", state, err)
	}
}

// TestEmbedSize keeps the example under 120 lines of Go, not counting
// blank lines and comments.
func TestEmbedSize(t *testing.T) {
	b, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "//") {
			n++
		}
	}
	if n >= 120 {
		t.Errorf("examples/embed/main.go has %d lines of code; the example promises under 120", n)
	}
	t.Logf("%d lines of code", n)
}
