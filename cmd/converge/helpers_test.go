package main

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// env is one converge installation for a test: a manifest directory, the
// root the file provider manages and a state database, all temporary.
type env struct {
	t         *testing.T
	manifests string
	root      string
	state     string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{
		t:         t,
		manifests: filepath.Join(dir, "manifests"),
		root:      filepath.Join(dir, "root"),
		state:     filepath.Join(dir, "state", "state.db"),
	}
	for _, d := range []string{e.manifests, e.root, filepath.Dir(e.state)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// write writes manifest files (name -> YAML) into the manifest directory.
func (e *env) write(files map[string]string) {
	e.t.Helper()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(e.manifests, name), []byte(body), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) remove(name string) {
	e.t.Helper()
	if err := os.Remove(filepath.Join(e.manifests, name)); err != nil {
		e.t.Fatal(err)
	}
}

// globalArgs are the flags that point a command at e.
func (e *env) globalArgs() []string {
	return []string{"-f", e.manifests, "--root", e.root, "--state", e.state}
}

// result is what one CLI invocation printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

// String shows the exit code, stdout and the end of stderr (the logs).
func (r result) String() string {
	stderr := r.stderr
	if lines := strings.SplitAfter(stderr, "\n"); len(lines) > 20 {
		stderr = fmt.Sprintf("[%d lines]\n%s", len(lines)-20, strings.Join(lines[len(lines)-20:], ""))
	}
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, stderr)
}

// cli runs converge in process with the given stdin (nil: empty).
func cli(stdin io.Reader, args ...string) result {
	var out, errb bytes.Buffer
	cmd := newRootCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	cmd.SetIn(stdin)
	code := execute(cmd, args)
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// run runs converge in process against e: sub is the subcommand and its flags.
func (e *env) run(sub ...string) result {
	return cli(nil, append(sub, e.globalArgs()...)...)
}

// mustRun is run that fails the test unless the exit code is want.
func (e *env) mustRun(want int, sub ...string) result {
	e.t.Helper()
	r := e.run(sub...)
	if r.code != want {
		e.t.Fatalf("converge %s: got exit %d; want %d\n%s", strings.Join(sub, " "), r.code, want, r)
	}
	return r
}

// node describes one object of a tree: "dir 0755", "file 0644 CONTENT",
// "link TARGET".
type node string

func dirNode(mode fs.FileMode) node { return node(fmt.Sprintf("dir %04o", mode.Perm())) }
func fileNode(mode fs.FileMode, content string) node {
	return node(fmt.Sprintf("file %04o %s", mode.Perm(), content))
}
func linkNode(target string) node { return node("link " + target) }

// tree reads every object under root (not root itself), by slash path.
func tree(t *testing.T, root string) map[string]node {
	t.Helper()
	got, err := readTree(root)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// readTree is tree for a root that may be changing as it is read.
func readTree(root string) (map[string]node, error) {
	got := map[string]node{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			got[rel] = linkNode(target)
		case d.IsDir():
			got[rel] = dirNode(info.Mode())
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			got[rel] = fileNode(info.Mode(), string(b))
		default:
			got[rel] = node("other " + info.Mode().String())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read tree %s: %w", root, err)
	}
	return got, nil
}

// syncBuffer is a bytes.Buffer safe for one writer (a child process's
// output copier) and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// eventually polls cond every few milliseconds until it returns "" or the
// deadline passes, then fails with cond's last explanation.
func eventually(t testing.TB, within time.Duration, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %s", what, within, why)
		}
		<-tick.C
	}
}
