package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// realPath is path with its symbolic links evaluated (the temporary
// directory may be behind one).
func realPath(t *testing.T, path string) string {
	t.Helper()
	dir, err := filepath.EvalSymlinks(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, filepath.Base(path))
}

// The state remembers the root it was first used with: a command that
// would act on another root refuses, naming both and how to move the
// root; a symbolic link to the root is the same root; converge state
// set-root moves it deliberately.
func TestStateRemembersRoot(t *testing.T) {
	e := newEnv(t)
	files := map[string]string{"a.txt": "a"}
	e.write(filesSet(files))
	e.mustRun(0, "apply")
	root := realPath(t, e.root)
	other := realPath(t, t.TempDir())
	// "." is other, so that a refusal that did not happen would not write
	// into the package directory.
	t.Chdir(other)

	for _, sub := range [][]string{{"apply"}, {"plan"}, {"drift"}, {"destroy", "--yes"}, {"rollback"}, {"status"}} {
		for _, rootArgs := range [][]string{{"--root", other}, nil} {
			if sub[0] == "status" && rootArgs == nil {
				continue // status does not use the root: it checks only a --root given
			}
			args := append(append(append([]string{}, sub...), "-f", e.manifests, "--state", e.state), rootArgs...)
			r := cli(nil, args...)
			if r.code != 1 {
				t.Errorf("converge %s: got exit %d; want 1\n%s", strings.Join(args, " "), r.code, r)
				continue
			}
			want := []string{"belongs to root " + root, other, "converge state set-root"}
			if rootArgs == nil {
				want = append(want, "the default")
			}
			for _, w := range want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("converge %s: stderr lacks %q:\n%s", strings.Join(args, " "), w, r.stderr)
				}
			}
		}
	}
	if diff := cmp.Diff(fileTree(files), tree(t, e.root)); diff != "" {
		t.Errorf("the root after the refused commands (-want +got):\n%s", diff)
	}
	if got := tree(t, other); len(got) != 0 {
		t.Errorf("the refused commands wrote into the other root: %v", got)
	}

	// Commands that do not use the root do not need it...
	for _, sub := range []string{"status", "events", "history"} {
		if r := cli(nil, sub, "--state", e.state); r.code != 0 || !strings.Contains(r.stderr, "root "+root) {
			t.Errorf("converge %s without --root: %s", sub, r)
		}
	}
	// ...and a symbolic link to the root is the root.
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(e.root, link); err != nil {
		t.Fatal(err)
	}
	if r := cli(nil, "apply", "-f", e.manifests, "--state", e.state, "--root", link); r.code != 0 {
		t.Errorf("apply with a symbolic link to the root: %s", r)
	}

	// Moving the root deliberately.
	r := cli(nil, "state", "set-root", other, "--state", e.state)
	if r.code != 0 || !strings.Contains(r.stdout, "from "+root+" to "+other) {
		t.Fatalf("state set-root: %s", r)
	}
	if r := cli(nil, "apply", "-f", e.manifests, "--state", e.state, "--root", other); r.code != 0 {
		t.Errorf("apply with the moved root: %s", r)
	}
	if diff := cmp.Diff(fileTree(files), tree(t, other)); diff != "" {
		t.Errorf("the moved root after apply (-want +got):\n%s", diff)
	}
	if r := e.run("apply"); r.code != 1 || !strings.Contains(r.stderr, "belongs to root "+other) {
		t.Errorf("apply with the old root after set-root: %s", r)
	}
	if r := cli(nil, "state", "set-root", filepath.Join(other, "missing"), "--state", e.state); r.code != 1 {
		t.Errorf("state set-root to a missing directory: %s", r)
	}
}

// Every command that uses the state names it on stderr, before anything
// else it prints there; stdout stays clean for JSON.
func TestCommandsNameTheirState(t *testing.T) {
	e := newEnv(t)
	e.write(filesSet(map[string]string{"a.txt": "a"}))
	state := realPath(t, e.state)
	root := realPath(t, e.root)

	// Before the state exists, plan says so.
	if r := e.mustRun(0, "plan"); !strings.HasPrefix(r.stderr, "state: "+state+" (none yet)") {
		t.Errorf("plan on a missing state: stderr %q; want it to start with the state, none yet", r.stderr)
	}
	header := "state: " + state + " (root " + root + ")\n"
	for _, sub := range [][]string{
		{"apply"}, {"plan"}, {"status"}, {"events"}, {"history"}, {"drift"},
		{"status", "-o", "json"}, {"plan", "-o", "json"}, {"history", "-o", "json"}, {"events", "-o", "json"}, {"apply", "-o", "json"},
	} {
		r := e.mustRun(map[string]int{"plan": 0, "drift": 0}[sub[0]], sub...)
		if !strings.HasPrefix(r.stderr, header) {
			t.Errorf("converge %s: stderr %q; want it to start with %q", strings.Join(sub, " "), r.stderr, header)
		}
		if len(sub) == 3 {
			var v any
			if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
				t.Errorf("converge %s: stdout is not JSON: %v\n%s", strings.Join(sub, " "), err, r.stdout)
			}
		}
	}
	// graph draws the manifests: it only borrows the phases for colours.
	if r := e.mustRun(0, "graph"); r.stderr != "" {
		t.Errorf("graph wrote to stderr: %q", r.stderr)
	}
	// With JSON logs, the header is a JSON log line too.
	r := e.mustRun(0, "apply", "--log-format", "json")
	for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Errorf("apply --log-format json: stderr line %q is not JSON", line)
		}
	}
	if !strings.Contains(r.stderr, `"msg":"state","path":"`+state+`","root":"`+root+`"`) {
		t.Errorf("apply --log-format json does not name the state:\n%s", r.stderr)
	}
}

// Commands that need a state refuse a missing one, without creating it;
// plan shows everything to create.
func TestMissingState(t *testing.T) {
	e := newEnv(t)
	e.write(filesSet(map[string]string{"a.txt": "a"}))
	state := realPath(t, e.state)
	for _, sub := range [][]string{{"status"}, {"events"}, {"history"}, {"destroy", "--yes"}, {"rollback"}, {"drift"}} {
		r := e.run(sub...)
		if r.code != 1 || !strings.Contains(r.stderr, "error: no state file at "+state) {
			t.Errorf("converge %s on a missing state: %s", strings.Join(sub, " "), r)
		}
		if _, err := os.Stat(e.state); !os.IsNotExist(err) {
			t.Fatalf("converge %s created the state file (stat: %v)", strings.Join(sub, " "), err)
		}
	}
	if r := e.mustRun(0, "plan"); !strings.Contains(r.stdout, "+ file.File/a-txt") {
		t.Errorf("plan on a missing state: %s", r)
	}
	if _, err := os.Stat(e.state); !os.IsNotExist(err) {
		t.Errorf("plan created the state file (stat: %v)", err)
	}
}

// A file at the state path that is not a converge state is refused, left
// alone, and never read as an empty state.
func TestForeignStateFile(t *testing.T) {
	e := newEnv(t)
	e.write(filesSet(map[string]string{"a.txt": "a"}))
	if err := os.WriteFile(e.state, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"apply", "plan", "status", "destroy"} {
		r := e.run(sub, "--yes")
		if sub != "destroy" {
			r = e.run(sub)
		}
		if r.code != 1 || !strings.Contains(r.stderr, "is empty (0 bytes): not a converge state file") {
			t.Errorf("converge %s on an empty file: %s", sub, r)
		}
	}
	if fi, err := os.Stat(e.state); err != nil || fi.Size() != 0 {
		t.Errorf("the empty file after the refusals: %v, %v; want it left empty", fi, err)
	}
	if got := tree(t, e.root); len(got) != 0 {
		t.Errorf("a command acted on an empty state file: %v", got)
	}
}

// --history-limit keeps the newest revisions, plus the target and the last
// known good one however old they are; 0 keeps them all.
func TestHistoryLimit(t *testing.T) {
	e := newEnv(t)
	var hashes []string
	apply := func(i int, args ...string) {
		t.Helper()
		e.write(filesSet(map[string]string{"a.txt": fmt.Sprint("v", i)}))
		e.mustRun(0, append([]string{"apply"}, args...)...)
		h := e.history()
		hashes = append(hashes, h[len(h)-1].Hash)
	}
	kept := func() []string {
		var out []string
		for _, h := range e.history() {
			out = append(out, h.Hash)
		}
		return out
	}
	for i := range 4 {
		apply(i, "--history-limit", "0")
	}
	if got := len(kept()); got != 4 {
		t.Fatalf("--history-limit 0 kept %d revisions; want all 4", got)
	}
	// Back to the first: it is the target and, converged last, the last
	// known good one.
	e.mustRun(0, "rollback", hashes[0][:12])
	apply(4, "--history-limit", "1")
	if diff := cmp.Diff([]string{hashes[0], hashes[4]}, kept()); diff != "" {
		t.Errorf("history after a new revision with --history-limit 1 (-want +got):\n%s", diff)
	}
	apply(5, "--history-limit", "1")
	if diff := cmp.Diff([]string{hashes[4], hashes[5]}, kept()); diff != "" {
		t.Errorf("history after another (-want +got):\n%s", diff)
	}
	// The default is 100.
	for i := 6; i < 9; i++ {
		apply(i)
	}
	if got := len(kept()); got != 5 {
		t.Errorf("the default limit kept %d revisions; want 5", got)
	}
	if r := e.run("apply", "--history-limit", "-1"); r.code != 1 || !strings.Contains(r.stderr, "--history-limit -1") {
		t.Errorf("apply --history-limit -1: %s", r)
	}
}

// TestStateForget: forget drops a resource's record and leaves its object;
// the next apply takes the object over again; an unknown ID forgets
// nothing.
func TestStateForget(t *testing.T) {
	e := applied(t)
	before := tree(t, e.root)
	r := e.mustRun(1, "state", "forget", "file.File/index", "file.File/nope")
	if !strings.Contains(r.stderr, "file.File/nope: the state records no such resource") {
		t.Errorf("forget of an unknown ID: %s", r)
	}
	if st := e.mustRun(0, "status", "file.File/index", "-o", "json"); !strings.Contains(st.stdout, `"id": "file.File/index"`) {
		t.Errorf("an unknown ID among those named forgot the others:\n%s", st)
	}
	r = e.mustRun(0, "state", "forget", "file.File/index")
	if !strings.Contains(r.stdout, "Forgot file.File/index: converge no longer manages its object, which is left as it is.") {
		t.Errorf("forget: %s", r)
	}
	if d := cmp.Diff(before, tree(t, e.root)); d != "" {
		t.Errorf("forget changed the tree:\n%s", d)
	}
	if st := e.mustRun(0, "status", "file.File/index"); !strings.Contains(st.stdout, "Pending") || !strings.Contains(st.stdout, "not reconciled yet") {
		t.Errorf("status of a forgotten resource the target declares: %s; want it Pending", st)
	}
	ap := e.mustRun(0, "apply")
	if !strings.Contains(ap.stderr, "exists and matches the manifests: now managed by converge") {
		t.Errorf("the apply after forget did not take the object over again:\n%s", ap)
	}
}
