package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/provider"
)

// TestEscapes runs every operation on specs that would touch something
// outside the root, bypassing ValidateSpec as a stale or hostile spec would.
// Each must fail terminally and leave the outside untouched.
func TestEscapes(t *testing.T) {
	all := []string{"observe", "create", "update", "delete"}
	mutations := []string{"create", "update"}
	tests := []struct {
		name    string
		setup   func(t *testing.T, root, outside string)
		kind    string
		spec    func(root, outside string) map[string]any
		ops     []string
		wantMsg string
	}{
		{
			name:    "dotdot path",
			kind:    KindFile,
			spec:    func(_, _ string) map[string]any { return map[string]any{"path": "../outside/x", "content": "x"} },
			ops:     all,
			wantMsg: "outside the root",
		},
		{
			name:    "absolute path outside",
			kind:    KindDirectory,
			spec:    func(_, outside string) map[string]any { return map[string]any{"path": filepath.Join(outside, "d")} },
			ops:     all,
			wantMsg: "outside the root",
		},
		{
			name:    "the root itself",
			kind:    KindDirectory,
			spec:    func(root, _ string) map[string]any { return map[string]any{"path": root} },
			ops:     all,
			wantMsg: "is the root",
		},
		{
			name:    "hand-made symlinked directory leading out",
			setup:   func(t *testing.T, root, outside string) { symlink(t, outside, filepath.Join(root, "out")) },
			kind:    KindFile,
			spec:    func(_, _ string) map[string]any { return map[string]any{"path": "out/x", "content": "x"} },
			ops:     all,
			wantMsg: "leads outside the root",
		},
		{
			name: "relative hand-made link leading out, deeper path",
			setup: func(t *testing.T, root, _ string) {
				mkdirs(t, root, "a")
				symlink(t, "../../outside", filepath.Join(root, "a/b"))
			},
			kind:    KindDirectory,
			spec:    func(_, _ string) map[string]any { return map[string]any{"path": "a/b/c/d"} },
			ops:     all,
			wantMsg: "leads outside the root",
		},
		{
			name: "dangling hand-made link leading out",
			setup: func(t *testing.T, root, outside string) {
				symlink(t, filepath.Join(outside, "later"), filepath.Join(root, "d"))
			},
			kind:    KindSymlink,
			spec:    func(_, _ string) map[string]any { return map[string]any{"path": "d/l", "target": "x"} },
			ops:     all,
			wantMsg: "leads outside the root",
		},
		{
			name:    "symlink target relative out",
			kind:    KindSymlink,
			spec:    func(_, _ string) map[string]any { return map[string]any{"path": "l", "target": "../outside"} },
			ops:     mutations,
			wantMsg: "outside the root",
		},
		{
			name:    "symlink target absolute out",
			kind:    KindSymlink,
			spec:    func(_, outside string) map[string]any { return map[string]any{"path": "l", "target": outside} },
			ops:     mutations,
			wantMsg: "outside the root",
		},
		{
			name:    "symlink target through a link leading out",
			setup:   func(t *testing.T, root, outside string) { symlink(t, outside, filepath.Join(root, "out")) },
			kind:    KindSymlink,
			spec:    func(_, _ string) map[string]any { return map[string]any{"path": "l", "target": "out/secret"} },
			ops:     mutations,
			wantMsg: "resolves to",
		},
		{
			name: "symlink target through a dangling link leading out",
			setup: func(t *testing.T, root, outside string) {
				symlink(t, filepath.Join(outside, "later"), filepath.Join(root, "dl"))
			},
			kind:    KindSymlink,
			spec:    func(_, _ string) map[string]any { return map[string]any{"path": "l", "target": "dl"} },
			ops:     mutations,
			wantMsg: "resolves to",
		},
		{
			// up leads to the root, so the ".." after it climb above it;
			// read lexically, the target is root/etc/passwd.
			name:    "symlink target climbing through a link",
			setup:   makeHostile,
			kind:    KindSymlink,
			spec:    func(_, _ string) map[string]any { return map[string]any{"path": "passwd", "target": hostileTarget} },
			ops:     mutations,
			wantMsg: `has ".." after a name`,
		},
		{
			name: "symlink target through a hand-made dangling link that climbs through another",
			setup: func(t *testing.T, root, outside string) {
				makeHostile(t, root, outside)
				symlink(t, "x1/x2/x3/x4/x5/up/../../../../../../nowhere", filepath.Join(root, "door"))
			},
			kind:    KindSymlink,
			spec:    func(_, _ string) map[string]any { return map[string]any{"path": "l", "target": "door/x"} },
			ops:     mutations,
			wantMsg: "through the symbolic links door and x1/x2/x3/x4/x5/up",
		},
		{
			name: "parent through a hand-made dangling link that climbs through another",
			setup: func(t *testing.T, root, outside string) {
				makeHostile(t, root, outside)
				symlink(t, "x1/x2/x3/x4/x5/up/../../../../../../nowhere", filepath.Join(root, "door"))
			},
			kind:    KindFile,
			spec:    func(_, _ string) map[string]any { return map[string]any{"path": "door/f", "content": "x"} },
			ops:     all,
			wantMsg: "leads outside the root",
		},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, root, outside := newTestProvider(t)
			if tt.setup != nil {
				tt.setup(t, root, outside)
			}
			before := entries(t, root)
			req := request(tt.kind, "x", tt.spec(root, outside))
			for _, op := range tt.ops {
				var err error
				switch op {
				case "observe":
					_, err = p.Observe(ctx, req)
				case "create":
					_, err = p.Create(ctx, req)
				case "update":
					_, err = p.Update(ctx, req)
				case "delete":
					err = p.Delete(ctx, req)
				}
				if got := classOf(err); got != "terminal" {
					t.Errorf("%s: error %v has class %s; want terminal", op, err, got)
				} else if !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("%s: error %q; want it to contain %q", op, err, tt.wantMsg)
				}
			}
			if got := entries(t, outside); len(got) != 0 {
				t.Errorf("outside the root now holds %v; want nothing", got)
			}
			if diff := cmp.Diff(before, entries(t, root)); diff != "" {
				t.Errorf("root entries changed (-before +after):\n%s", diff)
			}
		})
	}
}

// hostileTarget stays inside the root when read lexically and leads to
// /etc/passwd when resolved, once makeHostile made x1/x2/x3/x4/x5/up lead
// to the root (for roots less than 6 levels deep).
const hostileTarget = "x1/x2/x3/x4/x5/up/../../../../../../etc/passwd"

func makeHostile(t *testing.T, root, _ string) {
	t.Helper()
	mkdirs(t, root, "x1/x2/x3/x4/x5")
	symlink(t, "../../../../..", filepath.Join(root, "x1/x2/x3/x4/x5/up"))
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func TestMissingParent(t *testing.T) {
	tests := []struct {
		kind    string
		spec    map[string]any
		wantMsg string
	}{
		{KindFile, map[string]any{"path": "site/www/index.html", "content": "x"}, "parent directory site/www does not exist (declare a file.Directory and depend on it)"},
		{KindDirectory, map[string]any{"path": "site/www"}, "parent directory site does not exist (declare a file.Directory and depend on it)"},
		{KindSymlink, map[string]any{"path": "a/b/c", "target": "x"}, "parent directory a/b does not exist (declare a file.Directory and depend on it)"},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			p, root, _ := newTestProvider(t)
			req := request(tt.kind, "x", tt.spec)
			obs, err := p.Observe(ctx, req)
			if err != nil || obs.Exists {
				t.Errorf("Observe = %+v, %v; want absent and no error", obs, err)
			}
			for name, op := range map[string]func(context.Context, provider.Request) (provider.Result, error){"create": p.Create, "update": p.Update} {
				_, err := op(ctx, req)
				if got := classOf(err); got != "retryable" {
					t.Errorf("%s: class %s (%v); want retryable", name, got, err)
				}
				if want := name + " " + req.ID + ": " + tt.wantMsg; err == nil || err.Error() != want {
					t.Errorf("%s: error %v; want %q", name, err, want)
				}
			}
			if err := p.Delete(ctx, req); err != nil {
				t.Errorf("Delete = %v; want nil (nothing there)", err)
			}
			if got := entries(t, root); len(got) != 0 {
				t.Errorf("root holds %v; want nothing created implicitly", got)
			}
		})
	}
}

func TestParentIsAFile(t *testing.T) {
	p, root, _ := newTestProvider(t)
	if err := os.WriteFile(filepath.Join(root, "site"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := p.Create(context.Background(), request(KindFile, "x", map[string]any{"path": "site/index.html"}))
	if got := classOf(err); got != "retryable" || !strings.Contains(err.Error(), "site") {
		t.Errorf("Create under a file: %v (class %s); want a retryable error naming site", err, got)
	}
}

func TestWrongType(t *testing.T) {
	makeDir := func(t *testing.T, path string) { mkdirs(t, filepath.Dir(path), filepath.Base(path)) }
	makeFile := func(t *testing.T, path string) {
		if err := os.WriteFile(path, []byte("theirs"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	makeLink := func(t *testing.T, path string) { symlink(t, ".", path) }
	tests := []struct {
		name    string
		make    func(t *testing.T, path string)
		kind    string
		spec    map[string]any
		wantMsg string
	}{
		{"directory where a file is declared", makeDir, KindFile, map[string]any{"path": "x", "content": "c"}, "x is a directory, not a regular file"},
		{"symlink where a file is declared", makeLink, KindFile, map[string]any{"path": "x"}, "x is a symbolic link, not a regular file"},
		{"file where a symlink is declared", makeFile, KindSymlink, map[string]any{"path": "x", "target": "y"}, "x is a regular file, not a symbolic link"},
		{"file where a directory is declared", makeFile, KindDirectory, map[string]any{"path": "x"}, "x is a regular file, not a directory"},
		{"symlink where a directory is declared", makeLink, KindDirectory, map[string]any{"path": "x"}, "x is a symbolic link, not a directory"},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, root, _ := newTestProvider(t)
			tt.make(t, filepath.Join(root, "x"))
			before, err := os.Lstat(filepath.Join(root, "x"))
			if err != nil {
				t.Fatal(err)
			}
			req := request(tt.kind, "x", tt.spec)
			_, errObserve := p.Observe(ctx, req)
			_, errCreate := p.Create(ctx, req)
			_, errUpdate := p.Update(ctx, req)
			errDelete := p.Delete(ctx, req)
			for op, err := range map[string]error{"observe": errObserve, "create": errCreate, "update": errUpdate, "delete": errDelete} {
				if got := classOf(err); got != "conflict" || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("%s: %v (class %s); want a conflict containing %q", op, err, got, tt.wantMsg)
				}
			}
			after, err := os.Lstat(filepath.Join(root, "x"))
			if err != nil {
				t.Fatalf("the object was removed: %v", err)
			}
			if before.Mode() != after.Mode() || before.ModTime() != after.ModTime() {
				t.Errorf("the object changed: %v %v -> %v %v", before.Mode(), before.ModTime(), after.Mode(), after.ModTime())
			}
			if got, want := entries(t, root), []string{"x"}; !cmp.Equal(got, want) {
				t.Errorf("root entries = %v; want %v", got, want)
			}
		})
	}
}

func TestObserveNeverFollowsAFileSymlinkOut(t *testing.T) {
	p, root, outside := newTestProvider(t)
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	symlink(t, secret, filepath.Join(root, "x"))
	obs, err := p.Observe(context.Background(), request(KindFile, "x", map[string]any{"path": "x"}))
	if got := classOf(err); got != "conflict" {
		t.Errorf("Observe = %+v, %v (class %s); want a conflict", obs, err, got)
	}
	if obs.State != nil {
		t.Errorf("Observe state = %v; want none", obs.State)
	}
}

// TestDeleteNonEmptyDirectory: a directory holding entries converge does
// not manage is not deleted, promptly (terminal, not retried with backoff),
// naming them; the temporary files converge left in it go anyway.
func TestDeleteNonEmptyDirectory(t *testing.T) {
	ctx := context.Background()
	p, root, _ := newTestProvider(t)
	mkdirs(t, root, "site/www/a", "site/www/b")
	crashed := tempName(location{rel: "site/www/index.html", name: "site/www/index.html", dir: "site/www"})
	writeFile(t, filepath.Join(root, crashed), "partial")
	req := request(KindDirectory, "www", map[string]any{"path": "site/www"})
	err := p.Delete(ctx, req)
	if got := classOf(err); got != "terminal" {
		t.Errorf("Delete class %s (%v); want terminal", got, err)
	}
	if want := "delete file.Directory/www: not deleted: site/www holds a/ and b/, which converge does not manage"; err == nil || err.Error() != want {
		t.Errorf("Delete = %v; want %q", err, want)
	}
	if got, want := entries(t, filepath.Join(root, "site/www")), []string{"a", "b"}; !cmp.Equal(got, want) {
		t.Errorf("entries after a refused delete = %v; want %v (the temporary file removed)", got, want)
	}
	for _, d := range []string{"site/www/a", "site/www/b"} {
		if err := os.Remove(filepath.Join(root, d)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Delete(ctx, req); err != nil {
		t.Errorf("Delete of the emptied directory: %v", err)
	}
	if got := entries(t, filepath.Join(root, "site")); len(got) != 0 {
		t.Errorf("site holds %v; want nothing", got)
	}
}

func TestDeleteDirectoryNamesAFewForeignEntries(t *testing.T) {
	tests := map[string]struct {
		files []string
		want  string
	}{
		"one":   {[]string{"other.txt"}, "holds other.txt, which"},
		"three": {[]string{"c", "a", "b"}, "holds a, b and c, which"},
		"many":  {[]string{"e", "d", "c", "b", "a"}, "holds a, b, c and 2 more, which"},
		"odd":   {[]string{"new\nline"}, `holds "new\nline", which`},
		"look-alikes": {
			[]string{".index.html.converge-tmp-123", ".index.html.converge-ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
			"holds .index.html.converge-ABCDEFGHIJKLMNOPQRSTUVWXYZ and .index.html.converge-tmp-123, which",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			p, root, _ := newTestProvider(t)
			mkdirs(t, root, "www")
			for _, f := range tt.files {
				writeFile(t, filepath.Join(root, "www", f), "theirs")
			}
			err := p.Delete(context.Background(), request(KindDirectory, "www", map[string]any{"path": "www"}))
			if got := classOf(err); got != "terminal" || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Delete = %v (class %s); want terminal containing %q", err, got, tt.want)
			}
			if got := entries(t, filepath.Join(root, "www")); len(got) != len(tt.files) {
				t.Errorf("www holds %v; want %v untouched", got, tt.files)
			}
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAtomicRewrite rewrites a large file again and again while a reader
// reads it in a loop: every read sees one whole version.
func TestAtomicRewrite(t *testing.T) {
	ctx := context.Background()
	p, root, _ := newTestProvider(t)
	const size = 4 << 20
	versions := [][]byte{bytes.Repeat([]byte("a"), size), bytes.Repeat([]byte("b"), size/2)}
	spec := func(i int) map[string]any { return map[string]any{"path": "big", "content": string(versions[i%2])} }
	if _, err := p.Create(ctx, request(KindFile, "big", spec(0))); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var reads int
	var bad []string
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			b, err := os.ReadFile(filepath.Join(root, "big"))
			reads++
			switch {
			case err != nil:
				bad = append(bad, err.Error())
			case !bytes.Equal(b, versions[0]) && !bytes.Equal(b, versions[1]):
				bad = append(bad, fmt.Sprintf("partial content: %d bytes", len(b)))
			}
			select {
			case <-done:
				return
			default:
			}
		}
	}()
	for i := 1; i <= 20; i++ {
		if _, err := p.Update(ctx, request(KindFile, "big", spec(i))); err != nil {
			t.Errorf("Update %d: %v", i, err)
		}
	}
	close(done)
	wg.Wait()
	if len(bad) > 0 {
		t.Errorf("%d of %d reads saw a broken file; first: %s", len(bad), reads, bad[0])
	}
	if got, want := entries(t, root), []string{"big"}; !cmp.Equal(got, want) {
		t.Errorf("root entries = %v; want %v (no temporary files left)", got, want)
	}
}

func TestClassify(t *testing.T) {
	pathErr := func(errno syscall.Errno) error { return &fs.PathError{Op: "open", Path: "site/x", Err: errno} }
	tests := []struct {
		name      string
		err       error
		wantClass string
		wantMsg   string
	}{
		{"EACCES", pathErr(syscall.EACCES), "terminal", "write site/x: permission denied: open site/x"},
		{"EPERM", pathErr(syscall.EPERM), "terminal", "permission denied"},
		{"read-only file system", pathErr(syscall.EROFS), "terminal", "read-only"},
		{"ENAMETOOLONG", pathErr(syscall.ENAMETOOLONG), "terminal", "file name too long"},
		{"ELOOP", pathErr(syscall.ELOOP), "terminal", "more than 40 symbolic links"},
		{"ENOSPC", pathErr(syscall.ENOSPC), "retryable", "write site/x: open site/x: no space left on device"},
		{"EDQUOT", pathErr(syscall.EDQUOT), "retryable", "quota"},
		{"os.Root escape", &fs.PathError{Op: "openat", Path: "x", Err: errors.New("path escapes from parent")}, "terminal", "escapes"},
		{"other", pathErr(syscall.EIO), "retryable", "input/output error"},
		{"already classified", provider.Conflictf("theirs"), "conflict", "theirs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := classify("write site/x", tt.err)
			if got := classOf(err); got != tt.wantClass {
				t.Errorf("class = %s; want %s", got, tt.wantClass)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q; want it to contain %q", err, tt.wantMsg)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("error %q does not wrap %q", err, tt.err)
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	ctx := context.Background()
	p, _, _ := newTestProvider(t)
	tests := []struct {
		name    string
		req     provider.Request
		wantMsg string
	}{
		{"unknown kind", request("file.Socket", "x", map[string]any{"path": "x"}), "unknown kind"},
		{"unresolved path", request(KindFile, "x", map[string]any{"path": provider.Unknown{Expr: "${a/b.outputs.path}"}}), "not resolved yet"},
		{"path not a string", request(KindFile, "x", map[string]any{"path": int64(3)}), "must be a string"},
		{"bad mode", request(KindFile, "x", map[string]any{"path": "x", "mode": "0999"}), "spec.mode"},
		{"empty symlink target", request(KindSymlink, "x", map[string]any{"path": "x", "target": ""}), "target is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.Create(ctx, tt.req)
			if got := classOf(err); got != "terminal" || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Create = %v (class %s); want terminal containing %q", err, got, tt.wantMsg)
			}
			if !strings.HasPrefix(err.Error(), "create "+tt.req.ID+": ") {
				t.Errorf("error %q does not name the operation and resource", err)
			}
		})
	}
}

func TestCanceledContext(t *testing.T) {
	p, root, _ := newTestProvider(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Create(ctx, request(KindFile, "x", map[string]any{"path": "x"}))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Create with a canceled context = %v; want context.Canceled", err)
	}
	if got := entries(t, root); len(got) != 0 {
		t.Errorf("root holds %v; want nothing", got)
	}
}

// TestOddPathsAreValidationErrors: what no file system call can take is
// refused by ValidateSpec, naming the field.
func TestOddPathsAreValidationErrors(t *testing.T) {
	p, _, _ := newTestProvider(t)
	long := strings.Repeat("n", 256)
	tests := []struct {
		name string
		kind string
		spec map[string]any
		want string // "field: substring", "" for fine
	}{
		{"NUL in a file path", KindFile, map[string]any{"path": "a\x00b"}, `spec.path: path "a\x00b" contains a NUL byte`},
		{"NUL in a directory path", KindDirectory, map[string]any{"path": "d/\x00"}, "spec.path: contains a NUL byte"},
		{"NUL in a symlink path", KindSymlink, map[string]any{"path": "\x00", "target": "x"}, "spec.path: contains a NUL byte"},
		{"NUL in a symlink target", KindSymlink, map[string]any{"path": "l", "target": "x\x00"}, `spec.target: target "x\x00" contains a NUL byte`},
		{"empty", KindFile, map[string]any{"path": ""}, "spec.path: path is empty"},
		{"only a slash", KindDirectory, map[string]any{"path": "/"}, `spec.path: path "/" is outside the root`},
		{"only dots", KindDirectory, map[string]any{"path": "a/../.."}, "spec.path: is outside the root"},
		{"a name of 256 bytes", KindFile, map[string]any{"path": "d/" + long}, "spec.path: is 256 bytes; a file name holds at most 255"},
		{"a name of 255 bytes", KindFile, map[string]any{"path": "d/" + long[1:]}, ""},
		{"a target longer than a link holds", KindSymlink, map[string]any{"path": "l", "target": strings.Repeat("t/", 2048)}, "spec.target: a symbolic link holds at most 4095"},
		{"a newline", KindFile, map[string]any{"path": "a\nb"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := p.ValidateSpec(tt.kind, tt.spec)
			if tt.want == "" {
				if len(errs) != 0 {
					t.Errorf("ValidateSpec = %v; want none", errs)
				}
				return
			}
			field, sub, _ := strings.Cut(tt.want, ": ")
			if len(errs) != 1 || errs[0].Field != field || !strings.Contains(errs[0].Msg, sub) {
				t.Errorf("ValidateSpec = %v; want one %s error containing %q", errs, field, sub)
			}
		})
	}
}

// TestOddPathsAtRunTime: specs that bypassed validation fail terminally,
// never retried forever; long names and newlines work.
func TestOddPathsAtRunTime(t *testing.T) {
	ctx := context.Background()
	p, root, _ := newTestProvider(t)
	long := strings.Repeat("n", 256)
	for _, tt := range []struct {
		name string
		req  provider.Request
		want string
	}{
		{"NUL in a path", request(KindFile, "x", map[string]any{"path": "a\x00b", "content": "x"}), "contains a NUL byte"},
		{"NUL in a target", request(KindSymlink, "x", map[string]any{"path": "l", "target": "a\x00"}), "contains a NUL byte"},
		{"a name of 256 bytes", request(KindDirectory, "x", map[string]any{"path": long}), "at most 255"},
		{"a target with dotdot after a name", request(KindSymlink, "x", map[string]any{"path": "l", "target": "a/../b"}), `".." after a name`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.Create(ctx, tt.req)
			if got := classOf(err); got != "terminal" || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Create = %v (class %s); want terminal containing %q", err, got, tt.want)
			}
		})
	}
	// The longest names work for every kind, temporary files included.
	name := long[1:]
	for _, r := range []provider.Request{
		request(KindDirectory, "d", map[string]any{"path": name}),
		request(KindFile, "f", map[string]any{"path": name + "/" + name, "content": "x"}),
		request(KindSymlink, "l", map[string]any{"path": name + "/" + name[1:] + "l", "target": name}),
		request(KindFile, "nl", map[string]any{"path": "a\nb", "content": "x"}),
	} {
		if _, err := p.Create(ctx, r); err != nil {
			t.Errorf("Create %s: %v", r.ID, err)
		}
		if _, err := p.Update(ctx, r); err != nil {
			t.Errorf("Update %s: %v", r.ID, err)
		}
	}
	if got, want := entries(t, filepath.Join(root, name)), []string{name[1:] + "l", name}; !cmp.Equal(got, want) {
		t.Errorf("entries = %v; want %v", got, want)
	}
	// A name with a newline is printed escaped: a message is one line.
	_, err := p.Create(ctx, request(KindFile, "x", map[string]any{"path": "new\nline/f"}))
	if want := `create file.File/x: parent directory "new\nline" does not exist`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Create under a missing parent with a newline = %v; want it to begin %s", err, want)
	}
	if err := os.Mkdir(filepath.Join(root, "dir\nx"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = p.Create(ctx, request(KindFile, "x", map[string]any{"path": "dir\nx"}))
	if got := classOf(err); got != "conflict" || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), `"dir\nx" is a directory`) {
		t.Errorf("Create over a directory with a newline = %v (class %s); want a one-line conflict naming \"dir\\nx\"", err, got)
	}
}

// TestMovedObject: the record's id says where converge made an object;
// observe and delete go there, not where the path leads now.
func TestMovedObject(t *testing.T) {
	ctx := context.Background()
	p, root, _ := newTestProvider(t)
	mkdirs(t, root, "v1", "v2")
	symlink(t, "v1", filepath.Join(root, "current"))
	spec := map[string]any{"path": "current/app.conf", "content": "c", "mode": "0644"}
	res, err := p.Create(ctx, request(KindFile, "cfg", spec))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"id": "v1/app.conf"}, res.Private); diff != "" {
		t.Fatalf("Create private (-want +got):\n%s", diff)
	}
	old := request(KindFile, "cfg", spec)
	old.Private = res.Private
	retarget := func(to string) {
		t.Helper()
		if err := os.Remove(filepath.Join(root, "current")); err != nil {
			t.Fatal(err)
		}
		symlink(t, to, filepath.Join(root, "current"))
	}
	retarget("v2")

	obs, err := p.Observe(ctx, old)
	if err != nil || !obs.Exists || obs.State["path"] != "v1/app.conf" || obs.Private["id"] != "v1/app.conf" {
		t.Errorf("Observe after the move = %+v, %v; want the object at v1/app.conf, state.path saying so", obs, err)
	}
	if _, err := p.Update(ctx, old); classOf(err) != "retryable" || !strings.Contains(err.Error(), "current/app.conf now leads to v2/app.conf, not where converge made the object (v1/app.conf)") {
		t.Errorf("Update after the move = %v (class %s); want a retryable error saying where", err, classOf(err))
	}
	res2, err := p.Create(ctx, request(KindFile, "cfg", spec))
	if err != nil || res2.Private["id"] != "v2/app.conf" {
		t.Fatalf("Create at the new place = %+v, %v", res2, err)
	}
	// Deleting the replaced object deletes it, not the new one the path
	// leads to now.
	if err := p.Delete(ctx, old); err != nil {
		t.Fatal(err)
	}
	if got, want := entries(t, filepath.Join(root, "v1")), []string{}; !cmp.Equal(got, want) {
		t.Errorf("v1 holds %v; want nothing", got)
	}
	if got, want := entries(t, filepath.Join(root, "v2")), []string{"app.conf"}; !cmp.Equal(got, want) {
		t.Errorf("v2 holds %v; want %v", got, want)
	}
	// Once gone, observe looks at the path as written again.
	if obs, err := p.Observe(ctx, old); err != nil || !obs.Exists || obs.State["path"] != "current/app.conf" || obs.Private["id"] != "v2/app.conf" {
		t.Errorf("Observe of the gone object = %+v, %v; want what is at current/app.conf", obs, err)
	}
	// A record whose directory became a link names nothing: deleting it
	// must not follow the link to the file there.
	if err := os.Remove(filepath.Join(root, "v1")); err != nil {
		t.Fatal(err)
	}
	symlink(t, "v2", filepath.Join(root, "v1"))
	if err := p.Delete(ctx, old); err != nil {
		t.Errorf("Delete through a directory replaced by a link = %v; want nil (gone)", err)
	}
	if got, want := entries(t, filepath.Join(root, "v2")), []string{"app.conf"}; !cmp.Equal(got, want) {
		t.Errorf("v2 holds %v; want %v", got, want)
	}
}
