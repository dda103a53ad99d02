package file

import (
	"errors"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeTree is a file system for the resolver: "/" marks a directory,
// "-> target" a symbolic link, anything else a regular file. Parents are
// implied (they are directories).
type fakeTree map[string]string

func (t fakeTree) lookup(rel string) (entry, error) {
	v, ok := t[rel]
	if !ok {
		prefix := rel + "/"
		for k := range t {
			if strings.HasPrefix(k, prefix) {
				return entry{kind: entryDir}, nil
			}
		}
		return entry{kind: entryAbsent}, nil
	}
	switch {
	case v == "/":
		return entry{kind: entryDir}, nil
	case strings.HasPrefix(v, "-> "):
		return entry{kind: entryLink, target: strings.TrimPrefix(v, "-> ")}, nil
	}
	return entry{kind: entryOther}, nil
}

// hostile is the example of a target that stays inside the root when read
// lexically and leaves it when resolved: up leads to the root, and the
// ".." after it then climb above the root.
var hostile = fakeTree{
	"x1/x2/x3/x4/x5":    "/",
	"x1/x2/x3/x4/x5/up": "-> ../../../../..",
}

func TestResolve(t *testing.T) {
	const root = "/srv/site"
	tests := map[string]struct {
		tree    fakeTree
		start   string
		path    string
		want    resolution
		wantErr error
	}{
		"plain directories": {
			tree: fakeTree{"a/b": "/"}, start: ".", path: "a/b",
			want: resolution{rel: "a/b", exists: true, isDir: true},
		},
		"missing tail is taken as written": {
			tree: fakeTree{"a": "/"}, start: ".", path: "a/x/y",
			want: resolution{rel: "a/x/y"},
		},
		"a regular file": {
			tree: fakeTree{"a/f": "data"}, start: "a", path: "f",
			want: resolution{rel: "a/f", exists: true},
		},
		"below a regular file nothing exists": {
			tree: fakeTree{"a/f": "data"}, start: ".", path: "a/f/x",
			want: resolution{rel: "a/f/x"},
		},
		"relative from the start directory": {
			tree: fakeTree{"site/releases/v2": "/"}, start: "site", path: "releases/v2",
			want: resolution{rel: "site/releases/v2", exists: true, isDir: true},
		},
		"leading dotdot climbs from the start directory": {
			tree: fakeTree{"a/b": "/", "shared": "/"}, start: "a/b", path: "../../shared",
			want: resolution{rel: "shared", exists: true, isDir: true},
		},
		"dotdot after a link applies to its target": {
			tree: fakeTree{"a/b/c": "/", "l": "-> a/b/c"}, start: ".", path: "l/../x",
			want: resolution{rel: "a/b/x", via: []string{"l"}},
		},
		"dotdot after a missing name climbs back to where things exist": {
			tree: fakeTree{"a/b": "/", "up": "-> a/b"}, start: ".", path: "nothing/../up/x",
			want: resolution{rel: "a/b/x", via: []string{"up"}},
		},
		"chain of links": {
			tree: fakeTree{"d": "/", "l1": "-> l2", "l2": "-> l3", "l3": "-> d"}, start: ".", path: "l1",
			want: resolution{rel: "d", exists: true, isDir: true, via: []string{"l1", "l2", "l3"}},
		},
		"absolute inside": {
			tree: fakeTree{"a/b": "/"}, start: "x", path: "/srv/site/a/b",
			want: resolution{rel: "a/b", exists: true, isDir: true},
		},
		"absolute link inside": {
			tree: fakeTree{"a/b": "/", "x/l": "-> /srv/site/a"}, start: "x", path: "l/b",
			want: resolution{rel: "a/b", exists: true, isDir: true, via: []string{"x/l"}},
		},
		"out and back in along the root's own path": {
			tree: fakeTree{"x": "/"}, start: ".", path: "../site/x",
			want: resolution{rel: "x", exists: true, isDir: true},
		},
		"absolute with dotdot back into the root": {
			tree: fakeTree{"a": "/"}, start: ".", path: "/srv/site/../site/a",
			want: resolution{rel: "a", exists: true, isDir: true},
		},
		"the root": {
			start: "a", path: "..",
			want: resolution{rel: ".", exists: true, isDir: true},
		},
		"the hostile example": {
			tree: hostile, start: ".", path: "x1/x2/x3/x4/x5/up/../../../../../../etc/passwd",
			want: resolution{escaped: true, outside: "/etc/passwd", via: []string{"x1/x2/x3/x4/x5/up"}},
		},
		"the hostile example through its own link": {
			tree: hostile.with("passwd", "-> x1/x2/x3/x4/x5/up/../../../../../../etc/passwd"), start: ".", path: "passwd",
			// The link being written is part of the tree it is checked in.
			want: resolution{escaped: true, outside: "/etc/passwd", via: []string{"passwd", "x1/x2/x3/x4/x5/up"}},
		},
		"dotdot above the root": {
			tree: fakeTree{"a": "/"}, start: "a", path: "../../etc",
			want: resolution{escaped: true, outside: "/srv/etc"},
		},
		"ending above the root": {
			start: ".", path: "..",
			want: resolution{escaped: true, outside: "/srv"},
		},
		"absolute outside": {
			start: ".", path: "/etc/passwd",
			want: resolution{escaped: true, outside: "/etc/passwd"},
		},
		"absolute sibling of the root": {
			start: ".", path: "/srv/site2/x",
			want: resolution{escaped: true, outside: "/srv/site2/x"},
		},
		"a hand-made link leading out": {
			tree: fakeTree{"out": "-> /etc"}, start: ".", path: "out/passwd",
			want: resolution{escaped: true, outside: "/etc/passwd", via: []string{"out"}},
		},
		"a dangling link leading out": {
			tree: fakeTree{"later": "-> ../../outside/later"}, start: ".", path: "later/x",
			want: resolution{escaped: true, outside: "/outside/later/x", via: []string{"later"}},
		},
		"a relative link leading out from deeper": {
			tree: fakeTree{"a/b": "-> ../../outside"}, start: ".", path: "a/b/c",
			want: resolution{escaped: true, outside: "/srv/outside/c", via: []string{"a/b"}},
		},
		"loop": {
			tree: fakeTree{"a": "-> b", "b": "-> a"}, start: ".", path: "a/x",
			wantErr: syscall.ELOOP,
		},
		"self loop": {
			tree: fakeTree{"l": "-> l"}, start: ".", path: "l",
			wantErr: syscall.ELOOP,
		},
		"forty links are fine": {
			tree: chain(40), start: ".", path: "l0",
			want: resolution{rel: "end", exists: true, isDir: true, via: chainNames(40)},
		},
		"forty-one are a loop": {
			tree: chain(41), start: ".", path: "l0",
			wantErr: syscall.ELOOP,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := resolve(root, tt.start, tt.path, tt.tree.lookup)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("resolve(%q) = %+v, %v; want error %v", tt.path, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("resolve(%q): %v", tt.path, err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(resolution{})); diff != "" {
				t.Errorf("resolve(%q) mismatch (-want +got):\n%s", tt.path, diff)
			}
		})
	}
}

// chain returns a tree where l0 -> l1 -> ... -> l(n-1) -> end.
func chain(n int) fakeTree {
	t := fakeTree{"end": "/"}
	for i := 0; i < n; i++ {
		next := "end"
		if i < n-1 {
			next = "l" + strconv.Itoa(i+1)
		}
		t["l"+strconv.Itoa(i)] = "-> " + next
	}
	return t
}

// chainNames returns l0 ... l(n-1).
func chainNames(n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, "l"+strconv.Itoa(i))
	}
	return out
}

// with returns a copy of t with one more entry.
func (t fakeTree) with(rel, v string) fakeTree {
	c := fakeTree{rel: v}
	for k, v := range t {
		c[k] = v
	}
	return c
}

func TestTargetSyntax(t *testing.T) {
	tests := map[string]string{ // target: substring of the message, "" for fine
		"releases/v2":              "",
		"../releases/v2":           "",
		"../../shared":             "",
		"./x":                      "",
		"a//b/":                    "",
		"/srv/site/a":              "",
		"..":                       "",
		"":                         "target is empty",
		"a\x00b":                   `target "a\x00b" contains a NUL byte`,
		"a/../b":                   `has ".." after a name`,
		"x1/x2/up/../../..":        `has ".." after a name`,
		"../a/..":                  `has ".." after a name`,
		"/srv/site/../etc":         `has ".." after a name`,
		"/..":                      `has ".." after a name`,
		strings.Repeat("a/", 2048): "a symbolic link holds at most 4095",
	}
	for target, want := range tests {
		got := targetSyntax(target)
		if want == "" && got != "" || !strings.Contains(got, want) {
			t.Errorf("targetSyntax(%.40q) = %q; want %q", target, got, want)
		}
	}
}
