package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The root stays open across calls: many operations open it once.
func TestRootOpenedOnce(t *testing.T) {
	p, root, _ := newTestProvider(t)
	ctx := context.Background()
	mkdirs(t, root, "d")
	for i := range 20 {
		req := request(KindFile, "f", map[string]any{"path": "d/f.txt", "content": string(rune('a' + i))})
		if _, err := p.Create(ctx, req); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Observe(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	if got := p.held.opens; got != 1 {
		t.Errorf("the root was opened %d times over 40 operations; want 1", got)
	}
}

// A root moved away and made anew between calls: the provider acts on the
// new directory at the root path and never writes into the old one.
func TestRootReplacedBetweenCalls(t *testing.T) {
	p, root, _ := newTestProvider(t)
	ctx := context.Background()
	a := request(KindFile, "a", map[string]any{"path": "a.txt", "content": "one\n"})
	if _, err := p.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	if obs, err := p.Observe(ctx, a); err != nil || !obs.Exists {
		t.Fatalf("Observe before the swap = %+v, %v; want it to exist", obs, err)
	}
	// The premise: the root is held open, so a stale handle could act on
	// the old directory.
	if p.held.opens != 1 || p.held.cur == nil {
		t.Fatalf("the root is not held open (opened %d times)", p.held.opens)
	}

	old := root + ".old"
	if err := os.Rename(root, old); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}

	// The new root is empty: a.txt is not there.
	obs, err := p.Observe(ctx, a)
	if err != nil || obs.Exists {
		t.Fatalf("Observe after the swap = %+v, %v; want nothing there", obs, err)
	}
	a.Spec["content"] = "two\n"
	if _, err := p.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	b := request(KindFile, "b", map[string]any{"path": "b.txt", "content": "bee\n"})
	if _, err := p.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	dir := request(KindDirectory, "d", map[string]any{"path": "d"})
	if _, err := p.Create(ctx, dir); err != nil {
		t.Fatal(err)
	}

	if diff := cmp.Diff([]string{"a.txt", "b.txt", "d"}, entries(t, root)); diff != "" {
		t.Errorf("new root (-want +got):\n%s", diff)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "a.txt")); string(got) != "two\n" {
		t.Errorf("new root a.txt = %q; want %q", got, "two\n")
	}
	if diff := cmp.Diff([]string{"a.txt"}, entries(t, old)); diff != "" {
		t.Errorf("old root was written to (-want +got):\n%s", diff)
	}
	if got, _ := os.ReadFile(filepath.Join(old, "a.txt")); string(got) != "one\n" {
		t.Errorf("old root a.txt = %q; want it untouched (%q)", got, "one\n")
	}
	if err := p.Delete(ctx, b); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a.txt", "d"}, entries(t, root)); diff != "" {
		t.Errorf("new root after deleting b (-want +got):\n%s", diff)
	}
	if p.held.opens != 2 {
		t.Errorf("the root was opened %d times; want 2 (once more after the swap)", p.held.opens)
	}
}

// A root that is gone is an error, and a root made again is used.
func TestRootRemovedAndRemade(t *testing.T) {
	p, root, _ := newTestProvider(t)
	ctx := context.Background()
	a := request(KindFile, "a", map[string]any{"path": "a.txt", "content": "one\n"})
	if _, err := p.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Create(ctx, a); err == nil {
		t.Fatal("Create with the root gone succeeded; want an error")
	}
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Create(ctx, a); err != nil {
		t.Fatalf("Create once the root is made again: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "a.txt")); string(got) != "one\n" {
		t.Errorf("a.txt = %q; want %q", got, "one\n")
	}
}

// An operation that holds the old root when it is replaced finishes on it;
// the old root is closed once the last such operation is done.
func TestRootReplacedDuringCall(t *testing.T) {
	p, root, _ := newTestProvider(t)
	r1, done1, err := p.openRoot()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(root, root+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	r2, done2, err := p.openRoot()
	if err != nil {
		t.Fatal(err)
	}
	defer done2()
	if r1 == r2 {
		t.Fatal("the replaced root was handed out again")
	}
	if _, err := r1.Stat("."); err != nil {
		t.Fatalf("the old root was closed while an operation held it: %v", err)
	}
	done1()
	if _, err := r1.Stat("."); err == nil {
		t.Error("the old root is still open after its last user was done")
	}
	if _, err := r2.Stat("."); err != nil {
		t.Errorf("the new root: %v", err)
	}
}

// Temporary files a crash left in the new root are removed by its writes:
// what was listed of the old root is forgotten.
func TestRootReplacedLeftoversListedAgain(t *testing.T) {
	p, root, _ := newTestProvider(t)
	ctx := context.Background()
	a := request(KindFile, "a", map[string]any{"path": "a.txt", "content": "one\n"})
	if _, err := p.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(root, root+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(root, filepath.Base(tempName(location{rel: "a.txt", name: "a.txt", dir: "."})))
	if err := os.WriteFile(tmp, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a.txt"}, entries(t, root)); diff != "" {
		t.Errorf("new root (-want +got):\n%s", diff)
	}
}

// clean gives every path the answer of its full computation (joined to
// the root, cleaned and made relative again), the paths it takes as they
// are included.
func TestCleanPaths(t *testing.T) {
	p, root, _ := newTestProvider(t)
	long := strings.Repeat("n", maxName+1)
	tests := map[string]struct{ want, err string }{
		"a":                  {want: "a"},
		"a/b/c.txt":          {want: "a/b/c.txt"},
		"./a/b":              {want: "a/b"},
		"a//b/":              {want: "a/b"},
		"a/./b/../c":         {want: "a/c"},
		"..a/b":              {want: "..a/b"},
		"a/..b":              {want: "a/..b"},
		root + "/x/y":        {want: "x/y"},
		"..":                 {err: "outside the root"},
		"../x":               {err: "outside the root"},
		"a/../../x":          {err: "outside the root"},
		".":                  {err: "is the root"},
		"a/..":               {err: "is the root"},
		root:                 {err: "is the root"},
		"/elsewhere":         {err: "outside the root"},
		"":                   {err: "path is empty"},
		"a\x00b":             {err: "NUL byte"},
		"d/" + long + "/f":   {err: "a file name holds at most 255"},
		"d/" + long[1:]:      {want: "d/" + long[1:]},
		long[1:] + "/" + "f": {want: long[1:] + "/f"},
	}
	for path, tt := range tests {
		got, err := p.clean(path)
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("clean(%q) = %q, %v; want an error with %q", path, got, err, tt.err)
			}
		case err != nil || got != tt.want:
			t.Errorf("clean(%q) = %q, %v; want %q", path, got, err, tt.want)
		}
	}
}

// Operations running while the root is replaced again and again each act
// on one root or the other, never fail for it, and the old roots are
// closed once their operations are done (go test -race checks the rest).
func TestRootReplacedUnderLoad(t *testing.T) {
	p, root, _ := newTestProvider(t)
	ctx := context.Background()
	stop := make(chan struct{})
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := request(KindFile, fmt.Sprintf("f%d", w), map[string]any{"path": fmt.Sprintf("f%d.txt", w), "content": "x\n"})
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := p.Create(ctx, req); err != nil && !strings.Contains(err.Error(), "no such file or directory") {
					errs <- err
					return
				}
				if _, err := p.Observe(ctx, req); err != nil && !strings.Contains(err.Error(), "no such file or directory") {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range 20 {
		if err := os.Rename(root, fmt.Sprintf("%s.%d", root, i)); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(root, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("an operation failed while the root was replaced: %v", err)
	}
	p.held.mu.Lock()
	opens := p.held.opens
	p.held.mu.Unlock()
	if opens < 2 {
		t.Errorf("the root was opened %d times over 20 replacements; want it reopened", opens)
	}
	a := request(KindFile, "a", map[string]any{"path": "a.txt", "content": "last\n"})
	if _, err := p.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "a.txt")); string(got) != "last\n" {
		t.Errorf("a.txt in the last root = %q; want %q", got, "last\n")
	}
}
