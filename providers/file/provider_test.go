package file

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/provider"
)

// newTestProvider returns a provider on a fresh root and a sibling directory
// outside the root that tests check stays untouched.
func newTestProvider(t *testing.T) (p *Provider, root, outside string) {
	t.Helper()
	base := t.TempDir()
	root, outside = filepath.Join(base, "root"), filepath.Join(base, "outside")
	for _, d := range []string{root, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p, err := New(root)
	if err != nil {
		t.Fatalf("New(%q): %v", root, err)
	}
	return p, p.Root(), outside
}

func request(kind, name string, spec map[string]any) provider.Request {
	return provider.Request{ID: kind + "/" + name, Kind: kind, Name: name, Spec: spec}
}

func classOf(err error) string {
	if err == nil {
		return "nil"
	}
	c, _ := provider.Classify(err)
	return c.String()
}

// entries lists the names in dir, sorted.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, de := range des {
		names = append(names, de.Name())
	}
	sort.Strings(names)
	return names
}

func mkdirs(t *testing.T, root string, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNew(t *testing.T) {
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mkdirs(t, base, "real")
	if err := os.Symlink("real", filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "plain"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(base)
	tests := []struct {
		name     string
		root     string
		wantRoot string
		wantErr  string
	}{
		{name: "absolute", root: filepath.Join(base, "real"), wantRoot: filepath.Join(base, "real")},
		{name: "relative is made absolute", root: "real", wantRoot: filepath.Join(base, "real")},
		{name: "symlink is resolved", root: filepath.Join(base, "link"), wantRoot: filepath.Join(base, "real")},
		{name: "missing", root: filepath.Join(base, "missing"), wantErr: "no such file"},
		{name: "not a directory", root: filepath.Join(base, "plain"), wantErr: "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.root)
			checkErr(t, err, tt.wantErr)
			if err != nil {
				return
			}
			if got := p.Root(); got != tt.wantRoot {
				t.Errorf("Root() = %q; want %q", got, tt.wantRoot)
			}
		})
	}
}

func TestSchemas(t *testing.T) {
	p, _, _ := newTestProvider(t)
	type field struct {
		Type               provider.Type
		Required, ForceNew bool
		Default            any
		Normalized         bool
		Described          bool
	}
	type schema struct {
		Fields  map[string]field
		Outputs []string
	}
	got := map[string]schema{}
	for _, s := range p.Schemas() {
		fs := map[string]field{}
		for n, f := range s.Fields {
			fs[n] = field{f.Type, f.Required, f.ForceNew, f.Default, f.Normalize != nil, f.Description != ""}
		}
		got[s.Kind] = schema{fs, s.Outputs}
	}
	path := field{Type: provider.String, Required: true, ForceNew: true, Normalized: true, Described: true}
	mode := func(def string) field {
		return field{Type: provider.Any, Default: def, Normalized: true, Described: true}
	}
	want := map[string]schema{
		"file.Directory": {map[string]field{"path": path, "mode": mode("0755")}, []string{"path"}},
		"file.File": {map[string]field{
			"path":    path,
			"content": {Type: provider.String, Default: "", Described: true},
			"mode":    mode("0644"),
		}, []string{"path", "sha256", "size"}},
		"file.Symlink": {map[string]field{
			"path":   path,
			"target": {Type: provider.String, Required: true, Described: true},
		}, []string{"path", "target"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Schemas() mismatch (-want +got):\n%s", diff)
	}
	if _, err := provider.NewRegistry(p); err != nil {
		t.Errorf("NewRegistry(file provider): %v", err)
	}
}

func TestSchemaApplyAndCheck(t *testing.T) {
	p, _, _ := newTestProvider(t)
	reg, err := provider.NewRegistry(p)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := reg.Schema(KindFile)
	got, err := s.Apply(map[string]any{"path": "a", "mode": int64(420)})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	want := map[string]any{"path": "a", "content": "", "mode": "0644"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Apply mismatch (-want +got):\n%s", diff)
	}
	errs := s.Check(map[string]any{"path": "a", "mode": int64(644)}, provider.IsUnknown)
	if len(errs) != 1 || errs[0].Field != "spec.mode" || !strings.Contains(errs[0].Msg, "ambiguous") {
		t.Errorf("Check(mode: 644) = %v; want one ambiguous spec.mode error", errs)
	}
}

func TestValidateSpec(t *testing.T) {
	p, root, outside := newTestProvider(t)
	ref := "${file.Directory/www.outputs.path}"
	tests := []struct {
		name string
		kind string
		spec map[string]any
		want []string // "field: substring"
	}{
		{name: "relative", kind: KindFile, spec: map[string]any{"path": "site/index.html"}},
		{name: "absolute inside", kind: KindDirectory, spec: map[string]any{"path": filepath.Join(root, "site")}},
		{name: "dotdot staying inside", kind: KindFile, spec: map[string]any{"path": "a/../b"}},
		{name: "dotdot leading out", kind: KindFile, spec: map[string]any{"path": "a/../../x"}, want: []string{"spec.path: is outside the root"}},
		{name: "plain dotdot", kind: KindDirectory, spec: map[string]any{"path": ".."}, want: []string{"spec.path: is outside the root"}},
		{name: "absolute outside", kind: KindFile, spec: map[string]any{"path": filepath.Join(outside, "x")}, want: []string{"spec.path: is outside the root"}},
		{name: "empty", kind: KindFile, spec: map[string]any{"path": ""}, want: []string{"spec.path: path is empty"}},
		{name: "root itself for file", kind: KindFile, spec: map[string]any{"path": "."}, want: []string{"spec.path: is the root"}},
		{name: "root itself for symlink", kind: KindSymlink, spec: map[string]any{"path": root, "target": "x"}, want: []string{"spec.path: is the root"}},
		{name: "root itself for directory", kind: KindDirectory, spec: map[string]any{"path": "./"}, want: []string{"spec.path: is the root"}},
		{name: "unknown path skipped", kind: KindFile, spec: map[string]any{"path": provider.Unknown{Expr: ref + "/../../x"}}},
		{name: "reference as written skipped", kind: KindFile, spec: map[string]any{"path": ref + "/../../../x"}},
		{name: "missing path left to the schema", kind: KindFile, spec: map[string]any{}},
		{name: "symlink target inside", kind: KindSymlink, spec: map[string]any{"path": "site/current", "target": "../releases/v2"}},
		{name: "symlink target absolute inside", kind: KindSymlink, spec: map[string]any{"path": "l", "target": filepath.Join(root, "x")}},
		{name: "symlink target to root", kind: KindSymlink, spec: map[string]any{"path": "a/l", "target": ".."}},
		{name: "symlink target relative out", kind: KindSymlink, spec: map[string]any{"path": "a/l", "target": "../../etc"}, want: []string{"spec.target: leads outside the root"}},
		{name: "symlink target absolute out", kind: KindSymlink, spec: map[string]any{"path": "l", "target": "/etc/passwd"}, want: []string{"spec.target: is outside the root"}},
		{name: "symlink target out with unknown path", kind: KindSymlink, spec: map[string]any{"path": provider.Unknown{Expr: ref}, "target": "/etc"}, want: []string{"spec.target: is outside the root"}},
		{name: "symlink relative target with unknown path skipped", kind: KindSymlink, spec: map[string]any{"path": provider.Unknown{Expr: ref}, "target": "../../.."}},
		{name: "symlink target unknown", kind: KindSymlink, spec: map[string]any{"path": "l", "target": provider.Unknown{Expr: ref}}},
		{name: "symlink target empty", kind: KindSymlink, spec: map[string]any{"path": "l", "target": ""}, want: []string{"spec.target: target is empty"}},
		{name: "symlink target out and back in along the root's path", kind: KindSymlink, spec: map[string]any{"path": "l", "target": "../" + filepath.Base(root) + "/x"}},
		{name: "symlink target climbing through a link to be made", kind: KindSymlink, spec: map[string]any{"path": "passwd", "target": "x1/x2/x3/x4/x5/up/../../../../../../etc/passwd"}, want: []string{`spec.target: has ".." after a name`}},
		{name: "symlink target with dotdot after a name, lexically harmless", kind: KindSymlink, spec: map[string]any{"path": "l", "target": "a/../b"}, want: []string{`spec.target: has ".." after a name`}},
		{name: "symlink target absolute with dotdot", kind: KindSymlink, spec: map[string]any{"path": "l", "target": root + "/a/../b"}, want: []string{`spec.target: has ".." after a name`}},
		{name: "both bad", kind: KindSymlink, spec: map[string]any{"path": "../l", "target": "/etc"}, want: []string{"spec.path: is outside the root", "spec.target: is outside the root"}},
		{name: "unknown kind", kind: "file.Socket", spec: map[string]any{"path": "x"}, want: []string{"kind: unknown kind"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := p.ValidateSpec(tt.kind, tt.spec)
			if len(errs) != len(tt.want) {
				t.Fatalf("ValidateSpec = %v; want %d errors matching %q", errs, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				field, sub, _ := strings.Cut(w, ": ")
				if errs[i].Field != field || !strings.Contains(errs[i].Msg, sub) {
					t.Errorf("error %d = %v; want %s containing %q", i, errs[i], field, sub)
				}
			}
		})
	}
}

// TestValidateSpecResolvesTheLiveTree: a symlink target is resolved on the
// tree as it is, following the links already there as the kernel would.
func TestValidateSpecResolvesTheLiveTree(t *testing.T) {
	p, root, outside := newTestProvider(t)
	mkdirs(t, root, "x1/x2/x3/x4/x5", "data/real")
	symlink(t, "../../../../..", filepath.Join(root, "x1/x2/x3/x4/x5/up"))
	// Lexically inside (root/etc), really outside: up leads to the root.
	symlink(t, "x1/x2/x3/x4/x5/up/../../../../../../etc", filepath.Join(root, "door"))
	symlink(t, outside, filepath.Join(root, "out"))
	symlink(t, "data/real", filepath.Join(root, "rel"))
	symlink(t, "loop2", filepath.Join(root, "loop1"))
	symlink(t, "loop1", filepath.Join(root, "loop2"))
	tests := []struct {
		name string
		spec map[string]any
		want string // substring of the spec.target message; "" for none
	}{
		{"through a hand-made link that climbs out", map[string]any{"path": "l", "target": "door/passwd"}, "through the symbolic links door and x1/x2/x3/x4/x5/up"},
		{"through a hand-made link leading out", map[string]any{"path": "l", "target": "out/secret"}, "through the symbolic link out"},
		{"absolute through a link leading out", map[string]any{"path": "l", "target": filepath.Join(root, "out/secret")}, "through the symbolic link out"},
		{"through a link that stays inside", map[string]any{"path": "l", "target": "x1/x2/x3/x4/x5/up/data"}, ""},
		{"from a link's real directory", map[string]any{"path": "rel/l", "target": "../../x1"}, ""},
		{"climbing out of a link's real directory", map[string]any{"path": "rel/l", "target": "../../../x"}, "leads outside the root"},
		{"through itself", map[string]any{"path": "self", "target": "self/x"}, "loops"},
		{"into a loop", map[string]any{"path": "l", "target": "loop1/x"}, "loops"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := p.ValidateSpec(KindSymlink, tt.spec)
			if tt.want == "" {
				if len(errs) != 0 {
					t.Errorf("ValidateSpec = %v; want no error", errs)
				}
				return
			}
			if len(errs) != 1 || errs[0].Field != "spec.target" || !strings.Contains(errs[0].Msg, tt.want) {
				t.Errorf("ValidateSpec = %v; want one spec.target error containing %q", errs, tt.want)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name       string
		kind       string
		dirs       []string // created by hand first
		create     map[string]any
		wantCreate provider.Observation
		update     map[string]any
		wantUpdate provider.Observation
	}{
		{
			name:       "directory",
			kind:       KindDirectory,
			dirs:       []string{"site"},
			create:     map[string]any{"path": "site/www", "mode": "0755"},
			wantCreate: provider.Observation{Exists: true, State: map[string]any{"path": "site/www", "mode": "0755"}, Outputs: map[string]any{"path": "site/www"}},
			update:     map[string]any{"path": "site/www", "mode": "2770"},
			wantUpdate: provider.Observation{Exists: true, State: map[string]any{"path": "site/www", "mode": "2770"}, Outputs: map[string]any{"path": "site/www"}},
		},
		{
			name:       "directory with default mode and unclean path",
			kind:       KindDirectory,
			create:     map[string]any{"path": "./www/"},
			wantCreate: provider.Observation{Exists: true, State: map[string]any{"path": "./www/", "mode": "0755"}, Outputs: map[string]any{"path": "www"}},
			update:     map[string]any{"path": "./www/", "mode": "0700"},
			wantUpdate: provider.Observation{Exists: true, State: map[string]any{"path": "./www/", "mode": "0700"}, Outputs: map[string]any{"path": "www"}},
		},
		{
			name:   "file",
			kind:   KindFile,
			dirs:   []string{"site/www"},
			create: map[string]any{"path": "site/www/index.html", "content": "hello\n", "mode": "0644"},
			wantCreate: provider.Observation{Exists: true,
				State:   map[string]any{"path": "site/www/index.html", "content": "hello\n", "mode": "0644"},
				Outputs: map[string]any{"path": "site/www/index.html", "sha256": "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03", "size": int64(6)}},
			update: map[string]any{"path": "site/www/index.html", "content": "", "mode": "0600"},
			wantUpdate: provider.Observation{Exists: true,
				State:   map[string]any{"path": "site/www/index.html", "content": "", "mode": "0600"},
				Outputs: map[string]any{"path": "site/www/index.html", "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "size": int64(0)}},
		},
		{
			name:   "file with defaults and integer mode",
			kind:   KindFile,
			create: map[string]any{"path": "motd"},
			wantCreate: provider.Observation{Exists: true,
				State:   map[string]any{"path": "motd", "content": "", "mode": "0644"},
				Outputs: map[string]any{"path": "motd", "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "size": int64(0)}},
			update: map[string]any{"path": "motd", "content": "hi", "mode": int64(0o4755)},
			wantUpdate: provider.Observation{Exists: true,
				State:   map[string]any{"path": "motd", "content": "hi", "mode": "4755"},
				Outputs: map[string]any{"path": "motd", "sha256": "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4", "size": int64(2)}},
		},
		{
			name:       "symlink",
			kind:       KindSymlink,
			dirs:       []string{"site/releases/v1", "site/releases/v2"},
			create:     map[string]any{"path": "site/current", "target": "releases/v1"},
			wantCreate: provider.Observation{Exists: true, State: map[string]any{"path": "site/current", "target": "releases/v1"}, Outputs: map[string]any{"path": "site/current", "target": "releases/v1"}},
			update:     map[string]any{"path": "site/current", "target": "releases/v2"},
			wantUpdate: provider.Observation{Exists: true, State: map[string]any{"path": "site/current", "target": "releases/v2"}, Outputs: map[string]any{"path": "site/current", "target": "releases/v2"}},
		},
		{
			name:       "dangling symlink inside the root",
			kind:       KindSymlink,
			create:     map[string]any{"path": "later", "target": "not/yet"},
			wantCreate: provider.Observation{Exists: true, State: map[string]any{"path": "later", "target": "not/yet"}, Outputs: map[string]any{"path": "later", "target": "not/yet"}},
			update:     map[string]any{"path": "later", "target": "."},
			wantUpdate: provider.Observation{Exists: true, State: map[string]any{"path": "later", "target": "."}, Outputs: map[string]any{"path": "later", "target": "."}},
		},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, root, _ := newTestProvider(t)
			mkdirs(t, root, tt.dirs...)
			before := entries(t, root)
			observe := func(step string, spec map[string]any, want provider.Observation) {
				t.Helper()
				if want.Exists {
					// No link on these paths: the object is where it says.
					want.Private = map[string]string{"id": want.Outputs["path"].(string)}
				}
				got, err := p.Observe(ctx, request(tt.kind, "x", spec))
				if err != nil {
					t.Fatalf("%s: Observe: %v", step, err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s: Observe mismatch (-want +got):\n%s", step, diff)
				}
			}
			apply := func(step string, op func(context.Context, provider.Request) (provider.Result, error), spec map[string]any, want provider.Observation) {
				t.Helper()
				res, err := op(ctx, request(tt.kind, "x", spec))
				if err != nil {
					t.Fatalf("%s: %v", step, err)
				}
				if diff := cmp.Diff(want.Outputs, res.Outputs); diff != "" {
					t.Errorf("%s: outputs mismatch (-want +got):\n%s", step, diff)
				}
				observe(step, spec, want)
			}

			observe("before create", tt.create, provider.Observation{})
			apply("create", p.Create, tt.create, tt.wantCreate)
			apply("create again", p.Create, tt.create, tt.wantCreate)
			apply("update", p.Update, tt.update, tt.wantUpdate)
			apply("update again", p.Update, tt.update, tt.wantUpdate)
			for _, step := range []string{"delete", "delete again"} {
				if err := p.Delete(ctx, request(tt.kind, "x", tt.update)); err != nil {
					t.Fatalf("%s: %v", step, err)
				}
			}
			observe("after delete", tt.update, provider.Observation{})
			// No temporary file is left behind, nothing else appeared.
			if diff := cmp.Diff(before, entries(t, root)); diff != "" {
				t.Errorf("root entries after delete (-before +after):\n%s", diff)
			}
		})
	}
}

// TestOnDisk checks the objects themselves, not only what Observe says.
func TestOnDisk(t *testing.T) {
	ctx := context.Background()
	p, root, _ := newTestProvider(t)
	mkdirs(t, root, "releases/v1")
	for _, r := range []provider.Request{
		request(KindDirectory, "www", map[string]any{"path": "www", "mode": "0750"}),
		request(KindFile, "index", map[string]any{"path": filepath.Join(root, "www/index.html"), "content": "<h1>hi</h1>", "mode": "0640"}),
		request(KindSymlink, "current", map[string]any{"path": "current", "target": "releases/v1"}),
	} {
		if _, err := p.Create(ctx, r); err != nil {
			t.Fatalf("Create %s: %v", r.ID, err)
		}
	}
	type obj struct {
		Mode    fs.FileMode
		Content string
		Target  string
	}
	got := map[string]obj{}
	for _, name := range []string{"www", "www/index.html", "current"} {
		fi, err := os.Lstat(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		o := obj{Mode: fi.Mode()}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(filepath.Join(root, name))
			if err != nil {
				t.Fatal(err)
			}
			o.Content = string(b)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			o.Target, _ = os.Readlink(filepath.Join(root, name))
			o.Mode = fs.ModeSymlink
		}
		got[name] = o
	}
	want := map[string]obj{
		"www":            {Mode: fs.ModeDir | 0o750},
		"www/index.html": {Mode: 0o640, Content: "<h1>hi</h1>"},
		"current":        {Mode: fs.ModeSymlink, Target: "releases/v1"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("objects on disk (-want +got):\n%s", diff)
	}
}

// TestSymlinkedParentInsideRoot: links inside the root that stay inside are
// followed, relative or absolute; outputs keep the path as written, and a
// relative symlink target is read from the link's real directory.
func TestSymlinkedParentInsideRoot(t *testing.T) {
	ctx := context.Background()
	p, root, _ := newTestProvider(t)
	mkdirs(t, root, "data/real")
	if err := os.Symlink("data/real", filepath.Join(root, "rel")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "data/real"), filepath.Join(root, "abs")); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"rel", "abs"} {
		res, err := p.Create(ctx, request(KindFile, dir, map[string]any{"path": dir + "/f-" + dir, "content": dir}))
		if err != nil {
			t.Fatalf("Create %s/f-%s: %v", dir, dir, err)
		}
		if got, want := res.Outputs["path"], dir+"/f-"+dir; got != want {
			t.Errorf("outputs.path = %v; want %v", got, want)
		}
		link := map[string]any{"path": dir + "/up-" + dir, "target": "../../" + dir + "/f-" + dir}
		if _, err := p.Create(ctx, request(KindSymlink, dir, link)); err != nil {
			t.Fatalf("Create symlink %s: %v", link["path"], err)
		}
		b, err := os.ReadFile(filepath.Join(root, dir, "up-"+dir))
		if err != nil {
			t.Fatalf("read through the new link: %v", err)
		}
		if got := string(b); got != dir {
			t.Errorf("content through link %s = %q; want %q", link["path"], got, dir)
		}
	}
	if diff := cmp.Diff([]string{"f-abs", "f-rel", "up-abs", "up-rel"}, entries(t, filepath.Join(root, "data/real"))); diff != "" {
		t.Errorf("entries of data/real (-want +got):\n%s", diff)
	}
}

func TestPathNormalize(t *testing.T) {
	p, _, _ := newTestProvider(t)
	var pathField provider.Field
	for _, s := range p.Schemas() {
		if s.Kind == KindFile {
			pathField = s.Fields["path"]
			if !s.CreateBeforeDestroy {
				t.Errorf("file.File: CreateBeforeDestroy = false; want true (a new path never collides)")
			}
		}
	}
	tests := map[string]string{
		"site/www":                             "site/www",
		"./site/www/":                          "site/www",
		"site//www/../www":                     "site/www",
		filepath.Join(p.Root(), "site", "www"): "site/www",
		"../outside":                           "../outside", // left as written: ValidateSpec reports it
	}
	for in, want := range tests {
		got, err := pathField.Normalize(in)
		if err != nil || got != want {
			t.Errorf("Normalize(%q) = %v, %v; want %q", in, got, err, want)
		}
	}
}

// Deleting a file whose create was interrupted before the rename removes
// the temporary file the crash left, though the file itself never came to
// be; converge's temporary files of other names stay, and so do files
// merely named like converge's.
func TestDeleteClearsTemporaryFilesOfAnInterruptedCreate(t *testing.T) {
	p, root, _ := newTestProvider(t)
	left := filepath.Join(root, tempName(location{rel: "a.txt", name: "a.txt", dir: "."}))
	other := filepath.Join(root, tempName(location{rel: "b.txt", name: "b.txt", dir: "."}))
	lookalikes := []string{
		filepath.Join(root, ".a.txt.converge-tmp-123"),
		filepath.Join(root, ".a.txt.converge-ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
	}
	for _, f := range append([]string{left, other}, lookalikes...) {
		if err := os.WriteFile(f, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	req := provider.Request{ID: "file.File/a", Kind: KindFile, Name: "a", Spec: map[string]any{"path": "a.txt", "content": "x", "mode": "0644"}}
	if err := p.Delete(t.Context(), req); err != nil {
		t.Fatalf("Delete() = %v", err)
	}
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Errorf("temporary file of a.txt still there: %v", err)
	}
	for _, f := range append([]string{other}, lookalikes...) {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("%s removed: %v", filepath.Base(f), err)
		}
	}
}

// offByOne changes the last character of s.
func offByOne(s string) string {
	c := byte('A')
	if s[len(s)-1] == c {
		c = 'B'
	}
	return s[:len(s)-1] + string(c)
}

func TestIsTemp(t *testing.T) {
	real := filepath.Base(tempName(location{rel: "index.html", name: "index.html", dir: "."}))
	long := strings.Repeat("é", 127) // 254 bytes
	realLong := filepath.Base(tempName(location{rel: long, name: long, dir: "."}))
	tests := []struct {
		name, base string
		want       bool
	}{
		{real, "index.html", true},
		{real, "", true},
		{real, "other.html", false},
		{realLong, long, true},
		{realLong, "", true},
		// Planted by cmd/converge's TestLeftoverTemporaryFiles.
		{".index.html.converge-ABCDEFGHIJKLMNOPSXNRMWNPVL", "index.html", true},
		{".index.html.converge-tmp-123", "", false},
		{".index.html.converge-ABCDEFGHIJKLMNOPQRSTUVWXYZ", "", false},
		{real[1:], "", false},                                   // no leading dot
		{offByOne(real), "", false},                             // tag off by one
		{strings.Replace(real, "index", "Index", 1), "", false}, // another name
	}
	for _, tt := range tests {
		if got := isTemp(tt.name, tt.base); got != tt.want {
			t.Errorf("isTemp(%q, %q) = %v; want %v", tt.name, tt.base, got, tt.want)
		}
	}
	if len(realLong) > maxName {
		t.Errorf("temporary name of a 254-byte name is %d bytes; want at most %d", len(realLong), maxName)
	}
}

// TestWritesListADirectoryOnce: the temporary files a crash left are found
// by one listing of a directory, the first time the provider writes in it,
// not one per write (which made writing n files in one directory cost n^2);
// a leftover of a file written later in the same process still goes.
func TestWritesListADirectoryOnce(t *testing.T) {
	p, root, _ := newTestProvider(t)
	left := filepath.Join(root, tempName(location{rel: "f49.txt", name: "f49.txt", dir: "."}))
	if err := os.WriteFile(left, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		name := fmt.Sprintf("f%d", i)
		req := provider.Request{ID: "file.File/" + name, Kind: KindFile, Name: name, Spec: map[string]any{"path": name + ".txt", "content": "x", "mode": "0644"}}
		if _, err := p.Create(t.Context(), req); err != nil {
			t.Fatalf("Create(%s) = %v", name, err)
		}
	}
	if got := p.leftovers.listings; got != 1 {
		t.Errorf("the directory was listed %d times for 50 writes; want once", got)
	}
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Errorf("the temporary file a crash left for f49.txt is still there: %v", err)
	}
}
