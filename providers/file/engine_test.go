package file_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/providers/file"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
)

// harness runs the engine with the file provider on a fresh root, one
// Apply per step with a fresh engine over one store, as consecutive
// `converge apply` runs do. Backoff is the engine's default (1s, doubling):
// a test that must not wait for retries notices.
type harness struct {
	t    *testing.T
	root string
	reg  *provider.Registry
	st   store.Store
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	p, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := provider.NewRegistry(p)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, root: p.Root(), reg: reg, st: memory.New()}
}

func (h *harness) load(manifests string) (*manifest.Revision, error) {
	return manifest.LoadBytes(map[string][]byte{"m.yaml": []byte(manifests)}, h.reg)
}

func (h *harness) mustLoad(manifests string) *manifest.Revision {
	h.t.Helper()
	rv, err := h.load(manifests)
	if err != nil {
		h.t.Fatalf("load: %v", err)
	}
	return rv
}

// apply converges rv (nil destroys) within timeout and returns the report
// and how long it took.
func (h *harness) apply(rv *manifest.Revision, timeout time.Duration) (engine.Report, time.Duration) {
	h.t.Helper()
	e := engine.New(h.reg, h.st, engine.Options{Workers: 4, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := e.Load(ctx); err != nil {
		h.t.Fatal(err)
	}
	start := time.Now()
	rep, err := e.Apply(ctx, rv)
	if err != nil {
		h.t.Fatalf("apply: %v (report %+v)", err, rep)
	}
	return rep, time.Since(start)
}

func (h *harness) mustConverge(rv *manifest.Revision) {
	h.t.Helper()
	if rep, _ := h.apply(rv, 20*time.Second); !rep.OK() {
		h.t.Fatalf("apply did not converge: %+v", rep.Failures)
	}
}

// tree lists every path under the root: file content, "-> target" for
// links, "/" for directories.
func (h *harness) tree() map[string]string {
	h.t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(h.root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(h.root, p)
		switch {
		case rel == ".":
		case d.Type()&os.ModeSymlink != 0:
			t, _ := os.Readlink(p)
			out[rel] = "-> " + t
		case d.IsDir():
			out[rel] = "/"
		default:
			b, _ := os.ReadFile(p)
			out[rel] = string(b)
		}
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// chain declares the directories x1 ... x5, each in the one before.
const chain = `
kind: file.Directory
metadata: {name: x1}
spec: {path: x1}
---
kind: file.Directory
metadata: {name: x2}
spec: {path: "${file.Directory/x1.outputs.path}/x2"}
---
kind: file.Directory
metadata: {name: x3}
spec: {path: "${file.Directory/x2.outputs.path}/x3"}
---
kind: file.Directory
metadata: {name: x4}
spec: {path: "${file.Directory/x3.outputs.path}/x4"}
---
kind: file.Directory
metadata: {name: x5}
spec: {path: "${file.Directory/x4.outputs.path}/x5"}
---
kind: file.Symlink
metadata: {name: up}
spec: {path: "${file.Directory/x5.outputs.path}/up", target: ../../../../..}
`

// TestEngineRefusesATargetClimbingThroughALink is the hostile example: up
// leads back to the root, and passwd's ".." after it climb above the root
// to /etc/passwd, though the target read lexically is root/etc/passwd.
func TestEngineRefusesATargetClimbingThroughALink(t *testing.T) {
	h := newHarness(t)
	m := chain + `---
kind: file.Symlink
metadata: {name: passwd}
spec: {path: passwd, target: x1/x2/x3/x4/x5/up/../../../../../../etc/passwd}
`
	rv, err := h.load(m)
	if err == nil {
		rep, _ := h.apply(rv, 20*time.Second)
		real, _ := filepath.EvalSymlinks(filepath.Join(h.root, "passwd"))
		t.Fatalf("the revision loaded and applied (failures %+v); passwd resolves to %q", rep.Failures, real)
	}
	msg := err.Error()
	for _, want := range []string{"file.Symlink/passwd", "spec.target", `has ".." after a name`} {
		if !strings.Contains(msg, want) {
			t.Errorf("load error %q; want it to contain %q", msg, want)
		}
	}
	// The rest of it is fine, and up leads to the root, inside.
	h.mustConverge(h.mustLoad(chain))
	if real, err := filepath.EvalSymlinks(filepath.Join(h.root, "x1/x2/x3/x4/x5/up")); err != nil || real != h.root {
		t.Errorf("up resolves to %q, %v; want the root %s", real, err, h.root)
	}
}

// TestEngineRefusesATargetLeadingOutThroughAHandMadeLink: the revision is
// valid when loaded; a link made by hand before it is applied makes the
// target lead out. The create fails terminally, promptly, and nothing is
// written.
func TestEngineRefusesATargetLeadingOutThroughAHandMadeLink(t *testing.T) {
	h := newHarness(t)
	h.mustConverge(h.mustLoad(chain))
	rv := h.mustLoad(chain + `---
kind: file.Symlink
metadata: {name: l}
spec: {path: l, target: door/x}
`)
	// Dangling; lexically root/nowhere, really /nowhere: the kernel
	// follows up first.
	if err := os.Symlink("x1/x2/x3/x4/x5/up/../../../../../../nowhere", filepath.Join(h.root, "door")); err != nil {
		t.Fatal(err)
	}
	rep, took := h.apply(rv, 20*time.Second)
	if len(rep.Failures) != 1 || rep.Failures[0].ID != "file.Symlink/l" || rep.Failures[0].Phase != store.PhaseFailed ||
		!strings.Contains(rep.Failures[0].Message, "outside the root") {
		t.Errorf("failures = %+v; want file.Symlink/l Failed, outside the root", rep.Failures)
	}
	if took > 5*time.Second {
		t.Errorf("apply took %s; want a prompt terminal failure", took)
	}
	if _, err := os.Lstat(filepath.Join(h.root, "l")); !os.IsNotExist(err) {
		t.Errorf("l was created: %v", err)
	}
}

// TestEngineNULIsAValidationError: a NUL byte, which no system call takes,
// is refused when the manifests load, naming the resource and the field.
func TestEngineNULIsAValidationError(t *testing.T) {
	h := newHarness(t)
	for field, m := range map[string]string{
		"spec.path":   "kind: file.File\nmetadata: {name: f}\nspec: {path: \"a\\0b\", content: x}\n",
		"spec.target": "kind: file.Symlink\nmetadata: {name: l}\nspec: {path: l, target: \"a\\0b\"}\n",
	} {
		_, err := h.load(m)
		if err == nil || !strings.Contains(err.Error(), field+": ") || !strings.Contains(err.Error(), "NUL byte") {
			t.Errorf("load %s with a NUL byte: %v; want an error naming %s", field, err, field)
		}
	}
}

const site = `
kind: file.Directory
metadata: {name: site}
spec: {path: site}
---
kind: file.Directory
metadata: {name: www}
spec: {path: "${file.Directory/site.outputs.path}/www"}
---
kind: file.File
metadata: {name: index}
spec: {path: "${file.Directory/www.outputs.path}/index.html", content: hi}
---
kind: file.File
metadata: {name: top}
spec: {path: "${file.Directory/site.outputs.path}/top.txt", content: top}
`

// TestEngineDestroyStopsPromptlyAtForeignEntries: destroy deletes
// everything it can and reports, within seconds, the directory it cannot
// delete and what in it is someone else's; it does not retry for minutes.
// Once the entry is gone, destroy finishes.
func TestEngineDestroyStopsPromptlyAtForeignEntries(t *testing.T) {
	h := newHarness(t)
	h.mustConverge(h.mustLoad(site))
	if err := os.WriteFile(filepath.Join(h.root, "site/www/other.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, took := h.apply(nil, 15*time.Second)
	if took > 5*time.Second {
		t.Errorf("destroy took %s; want a prompt report", took)
	}
	var www *engine.Failure
	for i, f := range rep.Failures {
		if f.ID == "file.Directory/www" {
			www = &rep.Failures[i]
		}
	}
	want := "delete file.Directory/www: not deleted: site/www holds other.txt, which converge does not manage"
	if www == nil || www.Phase != store.PhaseFailed || !strings.Contains(www.Message, want) {
		t.Errorf("failures = %+v; want file.Directory/www Failed: %s", rep.Failures, want)
	}
	got := h.tree()
	wantTree := map[string]string{"site": "/", "site/www": "/", "site/www/other.txt": "mine"}
	if len(got) != len(wantTree) || got["site/www/other.txt"] != "mine" || got["site/top.txt"] != "" || got["site/www/index.html"] != "" {
		t.Errorf("tree after destroy = %v; want %v", got, wantTree)
	}
	if err := os.Remove(filepath.Join(h.root, "site/www/other.txt")); err != nil {
		t.Fatal(err)
	}
	h.mustConverge(nil)
	if got := h.tree(); len(got) != 0 {
		t.Errorf("tree after the second destroy = %v; want nothing", got)
	}
}

// TestEngineRemovedDirectoryStopsPromptlyAtForeignEntries: the same for a
// directory removed from the manifests.
func TestEngineRemovedDirectoryStopsPromptlyAtForeignEntries(t *testing.T) {
	h := newHarness(t)
	h.mustConverge(h.mustLoad(site))
	if err := os.WriteFile(filepath.Join(h.root, "site/www/other.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, doc := range strings.Split(site, "---") {
		if !strings.Contains(doc, "name: www") && !strings.Contains(doc, "name: index") {
			kept = append(kept, doc)
		}
	}
	rep, took := h.apply(h.mustLoad(strings.Join(kept, "---")), 15*time.Second)
	if took > 5*time.Second {
		t.Errorf("apply took %s; want a prompt report", took)
	}
	if len(rep.Failures) != 1 || rep.Failures[0].ID != "file.Directory/www" || !strings.Contains(rep.Failures[0].Message, "holds other.txt, which converge does not manage") {
		t.Errorf("failures = %+v; want only file.Directory/www, naming other.txt", rep.Failures)
	}
	if _, err := os.Stat(filepath.Join(h.root, "site/www/index.html")); !os.IsNotExist(err) {
		t.Errorf("index.html still there: %v", err)
	}
}

// releases is a file whose path goes through a managed symlink.
const releases = `
kind: file.Directory
metadata: {name: releases}
spec: {path: releases}
---
kind: file.Directory
metadata: {name: v1}
spec: {path: "${file.Directory/releases.outputs.path}/v1"}
---
kind: file.Directory
metadata: {name: v2}
spec: {path: "${file.Directory/releases.outputs.path}/v2"}
---
kind: file.Symlink
metadata: {name: current}
spec: {path: current, target: "${file.Directory/VERSION.outputs.path}"}
---
kind: file.File
metadata: {name: cfg}
spec: {path: "${file.Symlink/current.outputs.path}/app.conf", content: "port = 80\n"}
`

// TestEngineRetargetedSymlinkMovesTheFileBehindIt: retargeting a link that
// a managed file's path goes through moves the file (a replace): it is
// written where the path now leads, the one converge wrote before is
// deleted, and destroy then succeeds.
func TestEngineRetargetedSymlinkMovesTheFileBehindIt(t *testing.T) {
	h := newHarness(t)
	h.mustConverge(h.mustLoad(strings.ReplaceAll(releases, "VERSION", "v1")))
	want := map[string]string{"releases": "/", "releases/v1": "/", "releases/v2": "/", "current": "-> releases/v1", "releases/v1/app.conf": "port = 80\n"}
	if diff := cmp.Diff(want, h.tree()); diff != "" {
		t.Fatalf("tree (-want +got):\n%s", diff)
	}
	h.mustConverge(h.mustLoad(strings.ReplaceAll(releases, "VERSION", "v2")))
	want = map[string]string{"releases": "/", "releases/v1": "/", "releases/v2": "/", "current": "-> releases/v2", "releases/v2/app.conf": "port = 80\n"}
	if diff := cmp.Diff(want, h.tree()); diff != "" {
		t.Errorf("tree after retargeting current (-want +got):\n%s", diff)
	}
	// Applying again changes nothing.
	e := engine.New(h.reg, h.st, engine.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := e.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	p, err := e.Plan(context.Background(), h.mustLoad(strings.ReplaceAll(releases, "VERSION", "v2")))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range p.Actions {
		if a.Type.Mutating() {
			t.Errorf("plan after converging: %s %s (%s); want nothing to do", a.Type, a.ID, a.Reason)
		}
	}
	if rep, took := h.apply(nil, 15*time.Second); !rep.OK() || took > 5*time.Second {
		t.Fatalf("destroy: %+v in %s", rep.Failures, took)
	}
	if got := h.tree(); len(got) != 0 {
		t.Errorf("tree after destroy = %v; want nothing", got)
	}
}

// TestEngineReplaceOntoTheSameFileKeepsIt: a new path that leads to the
// very file converge wrote (through a link made by hand) is the same
// object: the replace must not delete it as the old one.
func TestEngineReplaceOntoTheSameFileKeepsIt(t *testing.T) {
	h := newHarness(t)
	m := `
kind: file.Directory
metadata: {name: a}
spec: {path: a}
---
kind: file.File
metadata: {name: x}
dependsOn: [file.Directory/a]
spec: {path: DIR/x, content: "x\n"}
`
	h.mustConverge(h.mustLoad(strings.ReplaceAll(m, "DIR", "a")))
	if err := os.Symlink("a", filepath.Join(h.root, "b")); err != nil {
		t.Fatal(err)
	}
	h.mustConverge(h.mustLoad(strings.ReplaceAll(m, "DIR", "b")))
	if b, err := os.ReadFile(filepath.Join(h.root, "a/x")); err != nil || string(b) != "x\n" {
		t.Errorf("a/x = %q, %v; want the file kept", b, err)
	}
}
