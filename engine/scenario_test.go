package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/providers/file"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
)

// fileHarness runs the engine with the real file provider in a temporary
// directory, one Apply per step, each with a fresh engine over one store,
// as consecutive `converge apply` runs do.
type fileHarness struct {
	t    *testing.T
	root string
	reg  *provider.Registry
	st   store.Store
	opts Options
}

func newFileHarness(t *testing.T) *fileHarness {
	t.Helper()
	root := t.TempDir()
	fp, err := file.New(root)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := provider.NewRegistry(fp)
	if err != nil {
		t.Fatal(err)
	}
	return &fileHarness{t: t, root: root, reg: reg, st: memory.New(), opts: Options{
		Workers: 4, BackoffBase: time.Millisecond, BackoffMax: 10 * time.Millisecond,
		Logger: testLogger(),
	}}
}

func (h *fileHarness) load(manifests string) *manifest.Revision {
	h.t.Helper()
	rv, err := manifest.LoadBytes(map[string][]byte{"m.yaml": []byte(manifests)}, h.reg)
	if err != nil {
		h.t.Fatalf("load: %v", err)
	}
	return rv
}

func (h *fileHarness) engine() *Engine {
	h.t.Helper()
	e := New(h.reg, h.st, h.opts)
	if err := e.Load(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	return e
}

// apply converges manifests ("" destroys) and returns the report.
func (h *fileHarness) apply(manifests string) (Report, Stats) {
	h.t.Helper()
	var rv *manifest.Revision
	if manifests != "" {
		rv = h.load(manifests)
	}
	e := h.engine()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rep, err := e.Apply(ctx, rv)
	if err != nil {
		h.t.Fatalf("apply: %v (report %+v)", err, rep)
	}
	return rep, e.Stats()
}

func (h *fileHarness) mustConverge(manifests string) Stats {
	h.t.Helper()
	rep, st := h.apply(manifests)
	if !rep.OK() {
		h.t.Fatalf("apply did not converge: %+v", rep.Failures)
	}
	return st
}

// tree lists every path under the root with its content (files), target
// (symlinks) or "/" (directories).
func (h *fileHarness) tree() map[string]string {
	h.t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(h.root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(h.root, p)
		if rel == "." {
			return nil
		}
		switch {
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

func (h *fileHarness) events(reason string) []store.Event {
	evs, err := h.st.ListEvents(context.Background(), store.EventFilter{})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []store.Event
	for _, e := range evs {
		if string(e.Reason) == reason {
			out = append(out, e)
		}
	}
	return out
}

const siteV1 = `
kind: file.Directory
metadata: {name: site}
spec: {path: site}
---
kind: file.Directory
metadata: {name: assets}
spec: {path: "${file.Directory/site.outputs.path}/assets"}
---
kind: file.File
metadata: {name: index}
spec:
  path: ${file.Directory/site.outputs.path}/index.html
  content: hello
---
kind: file.File
metadata: {name: style}
spec:
  path: ${file.Directory/assets.outputs.path}/style.css
  content: "body {}"
---
kind: file.File
metadata: {name: release}
spec:
  path: ${file.Directory/site.outputs.path}/release-1.txt
  content: "1"
---
kind: file.Symlink
metadata: {name: current}
dependsOn: [file.File/release]
spec:
  path: ${file.Directory/site.outputs.path}/current.txt
  target: release-1.txt
---
kind: file.File
metadata: {name: sums}
spec:
  path: ${file.Directory/site.outputs.path}/SUMS
  content: "${file.File/index.outputs.sha256} index.html"
`

func TestScenarioCreateThenNoop(t *testing.T) {
	h := newFileHarness(t)
	st := h.mustConverge(siteV1)
	if st.Creates != 7 {
		t.Errorf("creates = %d; want 7", st.Creates)
	}
	want := map[string]string{
		"site":                  "/",
		"site/assets":           "/",
		"site/assets/style.css": "body {}",
		"site/index.html":       "hello",
		"site/release-1.txt":    "1",
		"site/current.txt":      "-> release-1.txt",
		"site/SUMS":             "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 index.html",
	}
	if diff := cmp.Diff(want, h.tree()); diff != "" {
		t.Errorf("tree mismatch (-want +got):\n%s", diff)
	}
	// A second apply makes no mutating call, and writes nothing.
	st = h.mustConverge(siteV1)
	if st.Mutations() != 0 {
		t.Errorf("second apply made %d mutating calls; want 0", st.Mutations())
	}
}

func TestScenarioUpdatePropagatesThroughReferences(t *testing.T) {
	h := newFileHarness(t)
	h.mustConverge(siteV1)
	v2 := strings.Replace(siteV1, "content: hello", "content: bonjour", 1)
	st := h.mustConverge(v2)
	if st.Updates != 2 || st.Creates != 0 || st.Deletes != 0 {
		t.Errorf("calls = %+v; want 2 updates (index, then sums through its reference)", st)
	}
	tree := h.tree()
	sum := sha256.Sum256([]byte("bonjour"))
	if tree["site/index.html"] != "bonjour" || tree["site/SUMS"] != hex.EncodeToString(sum[:])+" index.html" {
		t.Errorf("index = %q, SUMS = %q", tree["site/index.html"], tree["site/SUMS"])
	}
}

func TestScenarioReplaceMovesEverything(t *testing.T) {
	h := newFileHarness(t)
	h.mustConverge(siteV1)
	v2 := strings.Replace(siteV1, "spec: {path: site}", "spec: {path: www}", 1)
	h.mustConverge(v2)
	want := map[string]string{
		"www":                  "/",
		"www/assets":           "/",
		"www/assets/style.css": "body {}",
		"www/index.html":       "hello",
		"www/release-1.txt":    "1",
		"www/current.txt":      "-> release-1.txt",
		"www/SUMS":             "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 index.html",
	}
	if diff := cmp.Diff(want, h.tree()); diff != "" {
		t.Errorf("tree after moving the site (-want +got):\n%s", diff)
	}
	recs, _ := h.st.ListRecords(context.Background())
	for _, r := range recs {
		if len(r.Deposed) > 0 || r.Phase != store.PhaseReady {
			t.Errorf("%s: phase %s, %d deposed, message %q", r.ID, r.Phase, len(r.Deposed), r.Message)
		}
	}
}

func TestScenarioDeleteDependentsFirst(t *testing.T) {
	h := newFileHarness(t)
	h.mustConverge(siteV1)
	// Remove the assets directory and the style inside it.
	var kept []string
	for _, doc := range strings.Split(siteV1, "---") {
		if strings.Contains(doc, "name: assets") || strings.Contains(doc, "name: style") {
			continue
		}
		kept = append(kept, doc)
	}
	st := h.mustConverge(strings.Join(kept, "---"))
	if st.Deletes != 2 {
		t.Errorf("deletes = %d; want 2", st.Deletes)
	}
	tree := h.tree()
	if _, ok := tree["site/assets"]; ok {
		t.Errorf("site/assets still there: %v", tree)
	}
	// Destroy removes the rest, dependents first, and nothing is left.
	rep, _ := h.apply("")
	if !rep.OK() {
		t.Fatalf("destroy: %+v", rep.Failures)
	}
	if got := h.tree(); len(got) != 0 {
		t.Errorf("after destroy: %v", got)
	}
}

func TestScenarioAdoptionAndConflict(t *testing.T) {
	h := newFileHarness(t)
	if err := os.WriteFile(filepath.Join(h.root, "same.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.root, "theirs.txt"), []byte("someone's notes"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := `
kind: file.File
metadata: {name: same}
spec: {path: same.txt, content: x}
---
kind: file.File
metadata: {name: theirs}
spec: {path: theirs.txt, content: mine}
`
	rep, st := h.apply(m)
	if st.Mutations() != 0 {
		t.Errorf("mutations = %d; want 0 (adopt one, refuse the other)", st.Mutations())
	}
	var failed []string
	for _, f := range rep.Failures {
		failed = append(failed, f.ID+" "+string(f.Phase))
	}
	if diff := cmp.Diff([]string{"file.File/theirs Failed"}, failed); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}
	if b, _ := os.ReadFile(filepath.Join(h.root, "theirs.txt")); string(b) != "someone's notes" {
		t.Errorf("someone's file was overwritten: %q", b)
	}
	if len(h.events("Adopted")) != 1 || len(h.events("Conflict")) != 1 {
		t.Errorf("events: adopted %v, conflict %v", h.events("Adopted"), h.events("Conflict"))
	}
	// Destroy forgets the adopted file and leaves it in place.
	rep, _ = h.apply("")
	if !rep.OK() {
		t.Fatalf("destroy: %+v", rep.Failures)
	}
	if _, err := os.Stat(filepath.Join(h.root, "same.txt")); err != nil {
		t.Errorf("adopted file was deleted: %v", err)
	}
}

func TestScenarioEscapesAreRejected(t *testing.T) {
	h := newFileHarness(t)
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(h.root, "out")); err != nil {
		t.Fatal(err)
	}
	// Validation catches what the text shows.
	_, err := manifest.LoadBytes(map[string][]byte{"m.yaml": []byte(`
kind: file.File
metadata: {name: a}
spec: {path: ../a.txt}
`)}, h.reg)
	if err == nil || !strings.Contains(err.Error(), "spec.path") {
		t.Errorf("load of ../a.txt: %v; want a spec.path error", err)
	}
	// The engine refuses what only the file system shows: a symlink out.
	rep, st := h.apply(`
kind: file.File
metadata: {name: b}
spec: {path: out/b.txt, content: x}
`)
	if rep.OK() || st.Creates != 0 && rep.Failures[0].Phase != store.PhaseFailed {
		t.Errorf("report %+v, stats %+v; want a terminal failure", rep, st)
	}
	entries, _ := os.ReadDir(outside)
	if len(entries) != 0 {
		t.Errorf("wrote outside the root: %v", entries)
	}
}

func TestScenarioDriftCorrectedAndAlerted(t *testing.T) {
	h := newFileHarness(t)
	m := `
kind: file.File
metadata: {name: fixed}
spec: {path: fixed.txt, content: v1}
---
kind: file.File
metadata: {name: watched}
policy: {drift: alert}
spec: {path: watched.txt, content: v1}
`
	h.mustConverge(m)
	for _, n := range []string{"fixed.txt", "watched.txt"} {
		if err := os.WriteFile(filepath.Join(h.root, n), []byte("hand edit"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rep, st := h.apply(m)
	if !rep.OK() || st.Updates != 1 {
		t.Errorf("report %+v, stats %+v; want ok with one update", rep, st)
	}
	tree := h.tree()
	if tree["fixed.txt"] != "v1" || tree["watched.txt"] != "hand edit" {
		t.Errorf("tree = %v; want fixed corrected and watched untouched", tree)
	}
	if len(rep.Drifted) != 1 || rep.Drifted[0].ID != "file.File/watched" {
		t.Errorf("drifted = %+v", rep.Drifted)
	}
	if n := len(h.events("DriftDetected")); n != 2 {
		t.Errorf("DriftDetected events = %d; want 2", n)
	}
	if n := len(h.events("DriftCorrected")); n != 1 {
		t.Errorf("DriftCorrected events = %d; want 1", n)
	}
	// Deleted out of band: recreated.
	os.Remove(filepath.Join(h.root, "fixed.txt"))
	rep, st = h.apply(m)
	if !rep.OK() || st.Creates != 1 {
		t.Errorf("after deleting by hand: report %+v, stats %+v", rep, st)
	}
}

func TestScenarioFailureBlocksOnlyDependents(t *testing.T) {
	h := newFileHarness(t)
	// "missing" has no parent directory: it keeps failing (retryable);
	// its dependent waits; the unrelated file converges.
	m := `
kind: file.File
metadata: {name: missing}
spec: {path: nodir/a.txt, content: x}
---
kind: file.File
metadata: {name: dependent}
dependsOn: [file.File/missing]
spec: {path: b.txt, content: x}
---
kind: file.File
metadata: {name: unrelated}
spec: {path: c.txt, content: x}
`
	rv := h.load(m)
	e := h.engine()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	rep, _ := e.Apply(ctx, rv)
	got := map[string]store.Phase{}
	for _, f := range rep.Failures {
		got[f.ID] = f.Phase
	}
	want := map[string]store.Phase{"file.File/missing": store.PhaseError, "file.File/dependent": store.PhaseWaiting}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}
	if h.tree()["c.txt"] != "x" {
		t.Errorf("unrelated file not created")
	}
	var msgs []string
	for _, f := range rep.Failures {
		msgs = append(msgs, f.Message)
	}
	sort.Strings(msgs)
	if !strings.Contains(strings.Join(msgs, "\n"), "waiting for file.File/missing: Error") {
		t.Errorf("messages %q do not say why the dependent waits", msgs)
	}
}

func testLogger() *slog.Logger {
	if os.Getenv("CONVERGE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// In a long-running engine, a new revision that changes a resource's
// outputs reaches every dependent through its references.
func TestScenarioRunPropagatesChangedOutputs(t *testing.T) {
	h := newFileHarness(t)
	e := h.engine()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	wg := e.Start(ctx)
	defer e.Stop(wg)
	if err := e.SetTarget(ctx, h.load(siteV1)); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.SetTarget(ctx, h.load(strings.Replace(siteV1, "content: hello", "content: bonjour", 1))); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("bonjour"))
	if got, want := h.tree()["site/SUMS"], hex.EncodeToString(sum[:])+" index.html"; got != want {
		t.Errorf("SUMS = %q; want %q", got, want)
	}
}

// The run's default drift policy applies to resources that set none.
func TestScenarioDefaultDriftPolicy(t *testing.T) {
	h := newFileHarness(t)
	m := `
kind: file.File
metadata: {name: a}
spec: {path: a.txt, content: v1}
---
kind: file.File
metadata: {name: b}
policy: {drift: correct}
spec: {path: b.txt, content: v1}
`
	h.mustConverge(m)
	for _, n := range []string{"a.txt", "b.txt"} {
		if err := os.WriteFile(filepath.Join(h.root, n), []byte("hand edit"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h.opts.DefaultDrift = manifest.DriftAlert
	rep, _ := h.apply(m)
	tree := h.tree()
	if tree["a.txt"] != "hand edit" || tree["b.txt"] != "v1" {
		t.Errorf("tree = %v; want a.txt left alone (default alert), b.txt corrected (its own policy)", tree)
	}
	if len(rep.Drifted) != 1 || rep.Drifted[0].ID != "file.File/a" {
		t.Errorf("drifted = %+v; want file.File/a", rep.Drifted)
	}
}
