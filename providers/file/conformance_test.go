package file_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/providers/file"
)

// TestConformance runs the provider conformance suite for every kind,
// each subtest on a new root.
func TestConformance(t *testing.T) {
	kinds := map[string]struct {
		spec, updated, replaced func(name string) map[string]any
		tamper                  func(t *testing.T, root, name string)
	}{
		file.KindFile: {
			spec: func(name string) map[string]any {
				return map[string]any{"path": name + ".txt", "content": "hello " + name + "\n", "mode": "0644"}
			},
			updated: func(name string) map[string]any {
				return map[string]any{"path": name + ".txt", "content": "goodbye " + name + "\n", "mode": "0600"}
			},
			replaced: func(name string) map[string]any {
				return map[string]any{"path": name + "-moved.txt", "content": "hello " + name + "\n", "mode": "0644"}
			},
			tamper: func(t *testing.T, root, name string) {
				if err := os.WriteFile(filepath.Join(root, name+".txt"), []byte("edited by hand\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
		},
		file.KindDirectory: {
			spec:     func(name string) map[string]any { return map[string]any{"path": name, "mode": "0755"} },
			updated:  func(name string) map[string]any { return map[string]any{"path": name, "mode": "0700"} },
			replaced: func(name string) map[string]any { return map[string]any{"path": name + "-moved", "mode": "0755"} },
			tamper: func(t *testing.T, root, name string) {
				if err := os.Chmod(filepath.Join(root, name), 0o711); err != nil {
					t.Fatal(err)
				}
			},
		},
		file.KindSymlink: {
			spec: func(name string) map[string]any {
				return map[string]any{"path": name + ".link", "target": "target-a"}
			},
			updated: func(name string) map[string]any {
				return map[string]any{"path": name + ".link", "target": "target-b"}
			},
			replaced: func(name string) map[string]any {
				return map[string]any{"path": name + "-moved.link", "target": "target-a"}
			},
			tamper: func(t *testing.T, root, name string) {
				link := filepath.Join(root, name+".link")
				if err := os.Remove(link); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink("target-c", link); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for kind, k := range kinds {
		t.Run(kind, func(t *testing.T) {
			providertest.Run(t, func(t *testing.T) providertest.Harness {
				p, err := file.New(t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				root := p.Root()
				// Out of band: what the failing calls meet, and the
				// links' targets.
				for _, d := range []string{"a-directory", "target-a", "target-b", "target-c"} {
					if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.WriteFile(filepath.Join(root, "a-file"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
				gone, err := file.New(t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Remove(gone.Root()); err != nil {
					t.Fatal(err)
				}
				valid := k.spec("failing")
				with := func(key string, v any) map[string]any {
					s := map[string]any{}
					for k, v := range valid {
						s[k] = v
					}
					s[key] = v
					return s
				}
				wrongType := "a-directory"
				if kind == file.KindDirectory {
					wrongType = "a-file"
				}
				return providertest.Harness{
					Provider:         p,
					Kind:             kind,
					Spec:             k.spec,
					Updated:          k.updated,
					Replaced:         k.replaced,
					CreateIdempotent: true, // one path, one object
					ObserveFinds:     true,
					Objects:          func(t *testing.T) map[string]any { return tree(t, root) },
					Tamper: func(t *testing.T, name string, _ map[string]string) {
						k.tamper(t, root, name)
					},
					Failures: []providertest.Failure{
						{Name: "path outside the root", Spec: with("path", "../outside"), Class: provider.ClassTerminal},
						{Name: "observe of a path outside the root", Op: providertest.OpObserve, Spec: with("path", "../outside"), Class: provider.ClassTerminal},
						{Name: "another type at the path", Spec: with("path", wrongType), Class: provider.ClassConflict},
						{Name: "observe of another type at the path", Op: providertest.OpObserve, Spec: with("path", wrongType), Class: provider.ClassConflict},
						{Name: "delete of another type at the path", Op: providertest.OpDelete, Spec: with("path", wrongType), Class: provider.ClassConflict},
						{Name: "missing parent", Spec: with("path", "no-such-dir/x"), Class: provider.ClassRetryable},
						{Name: "parent is a file", Spec: with("path", "a-file/x"), Class: provider.ClassRetryable},
						{Name: "unknown kind", Kind: "file.Fifo", Spec: valid, Class: provider.ClassTerminal},
						{Name: "root gone", Op: providertest.OpObserve, Spec: valid, Provider: gone, Class: provider.ClassRetryable},
					},
				}
			})
		})
	}
}

// tree reads everything below root, out of band: each entry's type, mode,
// inode and modification time, a file's content and a link's target.
func tree(t *testing.T, root string) map[string]any {
	t.Helper()
	out := map[string]any{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == root {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		e := map[string]any{"mode": fi.Mode().String(), "mtime": fi.ModTime().UnixNano()}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			e["inode"] = st.Ino
		}
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			e["content"] = string(b)
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			e["target"] = target
		}
		out[filepath.ToSlash(rel)] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
