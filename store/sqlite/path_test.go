package sqlite_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/convergehq/converge/store/sqlite"
)

// Every name of one state file takes the one lock: a second read-write
// Open through a symbolic link (to the file or to a directory on its way)
// fails like a second Open by the same name.
func TestLockFollowsSymlinks(t *testing.T) {
	tests := map[string]struct {
		// first and second are opened in this order, relative to a
		// directory holding real/ and the links made by setup.
		first, second string
	}{
		"real, then link":                       {"real/s.db", "link.db"},
		"link, then real":                       {"link.db", "real/s.db"},
		"real, then through a linked directory": {"real/s.db", "dirlink/s.db"},
		"linked directory, then real":           {"dirlink/s.db", "real/s.db"},
		"link, then linked directory":           {"link.db", "dirlink/s.db"},
	}
	for name, tt := range tests {
		for _, exists := range []bool{true, false} {
			t.Run(name+map[bool]string{true: ", state exists", false: ", state created by the first"}[exists], func(t *testing.T) {
				dir := t.TempDir()
				if err := os.Mkdir(filepath.Join(dir, "real"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(filepath.Join("real", "s.db"), filepath.Join(dir, "link.db")); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink("real", filepath.Join(dir, "dirlink")); err != nil {
					t.Fatal(err)
				}
				if exists {
					mustClose(t, open(t, filepath.Join(dir, "real", "s.db")))
				}
				first := open(t, filepath.Join(dir, tt.first))
				_, err := sqlite.Open(t.Context(), filepath.Join(dir, tt.second))
				var locked *sqlite.LockedError
				if !errors.As(err, &locked) {
					t.Fatalf("Open(%s) while %s is open = %v; want a *sqlite.LockedError", tt.second, tt.first, err)
				}
				if !strings.Contains(err.Error(), "in use by another converge process") {
					t.Errorf("Open(%s) error = %q; want it to say the state is in use", tt.second, err)
				}
				mustClose(t, first)
				mustClose(t, open(t, filepath.Join(dir, tt.second)))
			})
		}
	}
}

// A hard link is a second name of the same file, and SQLite keeps its
// journal beside the name: a state file with more than one name is
// refused, whichever name is used, so two processes never write it
// through two names.
func TestHardLinkedStateIsRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")
	hard := filepath.Join(dir, "h.db")
	first := open(t, path)
	if err := os.Link(path, hard); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{hard, path} {
		for _, opts := range [][]sqlite.Option{nil, {sqlite.ReadOnly()}, {sqlite.Shared()}} {
			db, err := sqlite.Open(t.Context(), p, opts...)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%s, %d options) of a state file with two names = nil error; want one", p, len(opts))
			}
			var locked *sqlite.LockedError
			if !errors.As(err, &locked) && !strings.Contains(err.Error(), "has 2 names (hard links)") {
				t.Errorf("Open(%s) error = %q; want it to say the file has 2 names", p, err)
			}
		}
	}
	mustClose(t, first)
	if err := os.Remove(hard); err != nil {
		t.Fatal(err)
	}
	mustClose(t, open(t, path))
}
