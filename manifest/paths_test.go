package manifest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// mkTree builds a directory: "name/" is a directory, "name -> target" a
// symlink, anything else a file holding a file.Directory manifest named
// after the file (a.yaml: file.Directory/a).
func mkTree(t *testing.T, entries ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, e := range entries {
		var err error
		switch name, target, isLink := strings.Cut(e, " -> "); {
		case isLink:
			p := filepath.Join(root, name)
			if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				err = os.Symlink(target, p)
			}
		case strings.HasSuffix(e, "/"):
			err = os.MkdirAll(filepath.Join(root, e), 0o755)
		default:
			p := filepath.Join(root, e)
			base := filepath.Base(e)
			doc := "kind: file.Directory\nmetadata: {name: " + strings.TrimSuffix(base, filepath.Ext(base)) + "}\nspec: {path: /x}\n"
			if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				err = os.WriteFile(p, []byte(doc), 0o644)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestLoadFollowsSymlinks(t *testing.T) {
	tests := map[string]struct {
		entries []string
		paths   []string // below the root
		// want is every resource and the file it was read from; wantErrs
		// the errors, when Load must fail.
		want     []string
		wantErrs []string
		// wantWatch is what WatchPaths returns, relative to the root ("."
		// is the root).
		wantWatch []string
	}{
		"symlink to a directory as the path": {
			entries:   []string{"releases/v1/a.yaml", "releases/v1/sub/b.yml", "releases/v2/c.yaml", "current -> releases/v1"},
			paths:     []string{"current"},
			want:      []string{"file.Directory/a current/a.yaml", "file.Directory/b current/sub/b.yml"},
			wantWatch: []string{".", "releases/v1", "releases/v1/sub"},
		},
		"chain of symlinks as the path": {
			entries:   []string{"releases/v1/a.yaml", "links/next -> ../releases/v1", "current -> links/next"},
			paths:     []string{"current"},
			want:      []string{"file.Directory/a current/a.yaml"},
			wantWatch: []string{".", "links", "releases/v1"},
		},
		"symlink to a directory inside the directory": {
			entries:   []string{"m/a.yaml", "shared/b.yaml", "m/shared -> ../shared", "m/.hidden -> ../shared"},
			paths:     []string{"m"},
			want:      []string{"file.Directory/a m/a.yaml", "file.Directory/b m/shared/b.yaml"},
			wantWatch: []string{".", "m", "shared"},
		},
		"symlinks to files, picked by their own names": {
			entries:   []string{"m/a.yaml", "lib/b.txt", "lib/c.yaml", "m/b.yaml -> ../lib/b.txt", "m/c -> ../lib/c.yaml"},
			paths:     []string{"m"},
			want:      []string{"file.Directory/a m/a.yaml", "file.Directory/b m/b.yaml"},
			wantWatch: []string{".", "lib", "m"},
		},
		"symlink to a file as the path": {
			entries:   []string{"lib/a.txt", "m/prod -> ../lib/a.txt"},
			paths:     []string{"m/prod"},
			want:      []string{"file.Directory/a m/prod"},
			wantWatch: []string{"lib", "m"},
		},
		"the same directory reached twice is read once": {
			entries:   []string{"m/a.yaml", "x/one -> ../m", "x/two -> ../m"},
			paths:     []string{"x", "m"},
			want:      []string{"file.Directory/a x/one/a.yaml"},
			wantWatch: []string{".", "m", "x"},
		},
		"the same file through two paths": {
			entries:   []string{"m/a.yaml", "m/again.yaml -> a.yaml", "n -> m"},
			paths:     []string{"m/a.yaml", "n"},
			want:      []string{"file.Directory/a m/a.yaml"},
			wantWatch: []string{".", "m"},
		},
		"broken symlinks": {
			entries: []string{"m/a.yaml", "m/gone.yaml -> missing.yaml", "m/dir -> ../nowhere", "m/.hidden.yaml -> missing.yaml", "top -> nothing"},
			paths:   []string{"m", "top"},
			wantErrs: []string{
				"m/dir: broken symlink to ../nowhere: stat: no such file or directory",
				"m/gone.yaml: broken symlink to missing.yaml: stat: no such file or directory",
				"top: broken symlink to nothing: stat: no such file or directory",
			},
			wantWatch: []string{".", "m"},
		},
		"symlinks leading to each other": {
			entries: []string{"m/a.yaml", "m/x -> y", "m/y -> x"},
			paths:   []string{"m"},
			wantErrs: []string{
				"m/x: symlink loop: stat: too many levels of symbolic links",
				"m/y: symlink loop: stat: too many levels of symbolic links",
			},
			wantWatch: []string{".", "m"},
		},
		"symlink to an ancestor": {
			entries:   []string{"m/a.yaml", "m/sub/b.yaml", "m/sub/self -> ..", "m/sub/here -> ."},
			paths:     []string{"m"},
			wantErrs:  []string{"m/sub/here: symlink loop: m/sub/here leads back to m/sub", "m/sub/self: symlink loop: m/sub/self leads back to m"},
			wantWatch: []string{".", "m", "m/sub"},
		},
		"symlink to an ancestor as the path": {
			entries:   []string{"m/a.yaml", "m/up -> ../m"},
			paths:     []string{"m/up"},
			wantErrs:  []string{"m/up/up: symlink loop: m/up/up leads back to m/up"},
			wantWatch: []string{"m"},
		},
		"empty directory": {
			entries:   []string{"m/", "m/.git/config.yaml"},
			paths:     []string{"m"},
			wantWatch: []string{".", "m"},
		},
	}
	reg := testRegistry(t)
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			root := mkTree(t, tt.entries...)
			real, err := filepath.EvalSymlinks(root)
			if err != nil {
				t.Fatal(err)
			}
			rel := func(s string) string {
				s = strings.ReplaceAll(s, root+string(filepath.Separator), "")
				return strings.ReplaceAll(s, real+string(filepath.Separator), "")
			}
			var paths []string
			for _, p := range tt.paths {
				paths = append(paths, filepath.Join(root, p))
			}

			rv, err := Load(paths, reg)
			var gotErrs []string
			var list ErrorList
			if errors.As(err, &list) {
				for _, e := range list {
					gotErrs = append(gotErrs, rel(e.Error()))
				}
			} else if err != nil {
				t.Fatalf("Load() error = %v; want an ErrorList", err)
			}
			if diff := cmp.Diff(tt.wantErrs, gotErrs); diff != "" {
				t.Errorf("Load() errors mismatch (-want +got):\n%s", diff)
			}
			if err == nil {
				got := []string{}
				for _, r := range rv.Resources {
					got = append(got, r.ID+" "+rel(r.Source.File))
				}
				want := append([]string{}, tt.want...)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("Load() resources mismatch (-want +got):\n%s", diff)
				}
			}

			dirs, err := WatchPaths(paths)
			if (err != nil) != (tt.wantErrs != nil) {
				t.Errorf("WatchPaths() error = %v; want an error: %v", err, tt.wantErrs != nil)
			}
			var gotWatch []string
			for _, d := range dirs {
				if d == real {
					gotWatch = append(gotWatch, ".")
					continue
				}
				if !filepath.IsAbs(d) || !strings.HasPrefix(d, real+string(filepath.Separator)) {
					gotWatch = append(gotWatch, d) // outside the tree: shown whole
					continue
				}
				gotWatch = append(gotWatch, filepath.ToSlash(rel(d)))
			}
			if diff := cmp.Diff(tt.wantWatch, gotWatch); diff != "" {
				t.Errorf("WatchPaths() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLoadFromPipe checks a path that leads to no file, a pipe (as
// /dev/stdin does), is read.
func TestLoadFromPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		w.Write([]byte(dirDoc))
		w.Close()
	}()
	p := fmt.Sprintf("/proc/self/fd/%d", r.Fd())
	if _, err := os.Stat(p); err != nil {
		t.Skipf("no %s: %v", p, err)
	}
	rv, err := Load([]string{p}, testRegistry(t))
	if err != nil || len(rv.Resources) != 1 {
		t.Fatalf("Load(%s) = %v, %v; want the resource", p, rv, err)
	}
}
