package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestInGitTree: git is run for a revision's commit only under a
// directory that holds .git, as git itself looks for it upward.
func TestInGitTree(t *testing.T) {
	t.Setenv("GIT_DIR", "")
	dir := t.TempDir()
	sub := filepath.Join(dir, "a", "b")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if inGitTree(sub) {
		t.Fatalf("premise: %s is under a .git already", dir)
	}
	if err := os.WriteFile(filepath.Join(dir, "a", ".git"), []byte("gitdir: elsewhere\n"), 0o644); err != nil {
		t.Fatal(err) // a worktree's .git is a file
	}
	for _, d := range []string{sub, filepath.Join(dir, "a")} {
		if !inGitTree(d) {
			t.Errorf("%s: not seen under the .git above it", d)
		}
	}
	if inGitTree(dir) {
		t.Errorf("%s: a .git below is not one above", dir)
	}
	if got := gitCommit([]string{dir}); got != "" {
		t.Errorf("gitCommit outside git = %q; want none", got)
	}
}
