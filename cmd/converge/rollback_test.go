package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/store"
)

// filesSet declares one file per name with its content, in one manifest.
func filesSet(files map[string]string) map[string]string {
	var b strings.Builder
	for name, content := range files {
		id := strings.NewReplacer(".", "-", "/", "-").Replace(name)
		fmt.Fprintf(&b, "---\nkind: file.File\nmetadata: {name: %s}\nspec: {path: %q, content: %q}\n", id, name, content)
	}
	return map[string]string{"files.yaml": b.String()}
}

func fileTree(files map[string]string) map[string]node {
	out := map[string]node{}
	for name, content := range files {
		out[name] = fileNode(0o644, content)
	}
	return out
}

type historyRow struct {
	store.Revision
	Target        bool `json:"target"`
	LastKnownGood bool `json:"lastKnownGood"`
}

func (e *env) history() []historyRow {
	e.t.Helper()
	r := e.mustRun(0, "history", "-o", "json")
	var rows []historyRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		e.t.Fatalf("history -o json: %v\n%s", err, r.stdout)
	}
	return rows
}

func states(rows []historyRow) []string {
	var out []string
	for _, r := range rows {
		s := string(r.State)
		if r.Target {
			s += " target"
		}
		if r.LastKnownGood {
			s += " lkg"
		}
		out = append(out, s)
	}
	return out
}

func TestDriftCommand(t *testing.T) {
	e := newEnv(t)
	e.write(map[string]string{"m.yaml": `
kind: file.File
metadata: {name: fixed}
spec: {path: fixed.txt, content: v1}
---
kind: file.File
metadata: {name: watched}
policy: {drift: alert}
spec: {path: watched.txt, content: v1}
---
kind: file.File
metadata: {name: ignored}
policy: {drift: ignore}
spec: {path: ignored.txt, content: v1}
`})
	e.mustRun(0, "apply")
	if r := e.mustRun(0, "drift"); !strings.Contains(r.stdout, "No drift") {
		t.Errorf("drift on a converged set: %s", r)
	}
	for _, n := range []string{"fixed.txt", "watched.txt", "ignored.txt"} {
		if err := os.WriteFile(filepath.Join(e.root, n), []byte("hand edit"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before := tree(t, e.root)
	r := e.mustRun(2, "drift", "-o", "json")
	var out struct {
		Drifted []struct {
			ID, Policy, Reason string
		}
		Count int
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("drift -o json: %v\n%s", err, r.stdout)
	}
	var got []string
	for _, d := range out.Drifted {
		got = append(got, d.ID+" "+d.Policy+" "+d.Reason)
	}
	want := []string{"file.File/fixed correct drifted", "file.File/watched alert drifted"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("drifted (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, tree(t, e.root)); diff != "" {
		t.Errorf("drift changed files (-before +after):\n%s", diff)
	}
	if r := e.mustRun(2, "drift"); !strings.Contains(r.stdout, `content: "hand edit" -> "v1"`) {
		t.Errorf("drift text does not show the change:\n%s", r.stdout)
	}
	// The global default applies to resources without a policy.
	if r := e.mustRun(2, "drift", "--drift", "ignore", "-o", "json"); !strings.Contains(r.stdout, `"count": 1`) {
		t.Errorf("drift --drift ignore: want only the alert resource:\n%s", r.stdout)
	}
	// Errors are exit 1, not 2.
	e.write(map[string]string{"bad.yaml": "kind: file.Nope\nmetadata: {name: x}\nspec: {}\n"})
	e.mustRun(1, "drift")
}

func TestHistoryAndRollback(t *testing.T) {
	e := newEnv(t)
	v1 := map[string]string{"a.txt": "a1", "b.txt": "b1"}
	v2 := map[string]string{"a.txt": "a2", "c.txt": "c2"}
	e.write(filesSet(v1))
	e.mustRun(0, "apply")
	e.write(filesSet(v2))
	e.mustRun(0, "apply")
	if diff := cmp.Diff([]string{"converged", "converged target lkg"}, states(e.history())); diff != "" {
		t.Errorf("history after two applies (-want +got):\n%s", diff)
	}

	// Roll back by hand to the last known good other than the target.
	r := e.mustRun(0, "rollback")
	if diff := cmp.Diff(fileTree(v1), tree(t, e.root)); diff != "" {
		t.Errorf("tree after rollback (-want +got):\n%s\n%s", diff, r)
	}
	if diff := cmp.Diff([]string{"converged target lkg", "rolled-back"}, states(e.history())); diff != "" {
		t.Errorf("history after rollback (-want +got):\n%s", diff)
	}
	st := e.mustRun(0, "status")
	if !strings.Contains(st.stdout, "Target revision: ") {
		t.Errorf("status does not show the target:\n%s", st.stdout)
	}

	// The manifests did not change: apply stays on the rolled-back-to revision.
	r = e.mustRun(0, "apply")
	if !strings.Contains(r.stderr, "staying on revision") {
		t.Errorf("apply after a rollback does not say it stays:\n%s", r)
	}
	if diff := cmp.Diff(fileTree(v1), tree(t, e.root)); diff != "" {
		t.Errorf("tree after apply with unchanged manifests (-want +got):\n%s", diff)
	}

	// The manifests change: the new revision is targeted.
	v3 := map[string]string{"a.txt": "a3"}
	e.write(filesSet(v3))
	e.mustRun(0, "apply")
	if diff := cmp.Diff(fileTree(v3), tree(t, e.root)); diff != "" {
		t.Errorf("tree after new manifests (-want +got):\n%s", diff)
	}

	// Naming a revision: by a prefix of its hash.
	hist := e.history()
	first := hist[0].Hash
	e.mustRun(0, "rollback", first[:8])
	if diff := cmp.Diff(fileTree(v1), tree(t, e.root)); diff != "" {
		t.Errorf("tree after rollback to %s (-want +got):\n%s", first[:8], diff)
	}
	if r := e.run("rollback", "zz"); r.code != 1 || !strings.Contains(r.stderr, "at least 4 characters") {
		t.Errorf("rollback zz: %s", r)
	}
	if r := e.run("rollback", "ffffffff"); r.code != 1 || !strings.Contains(r.stderr, "no such revision") {
		t.Errorf("rollback ffffffff: %s", r)
	}
}

// A kill -9 during an automatic rollback, followed by a restart, completes
// the rollback: the end state is exactly the last known good one.
func TestAutoRollbackSurvivesKill(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("CONVERGE_KILL_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("CONVERGE_KILL_SEED=%q: %v", v, err)
		}
	}
	t.Logf("kill delays seeded with %d (replay with CONVERGE_KILL_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	e := newEnv(t)
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(e.root, "out")); err != nil {
		t.Fatal(err)
	}
	v1, v2 := map[string]string{}, map[string]string{}
	for i := range 120 {
		v1[fmt.Sprintf("f%03d.txt", i)] = fmt.Sprintf("one %d", i)
		v2[fmt.Sprintf("f%03d.txt", i)] = fmt.Sprintf("two %d", i)
	}
	for i := range 30 {
		v2[fmt.Sprintf("new%02d.txt", i)] = "new"
	}
	v2["out/fails.txt"] = "behind a symlink that leads out: fails terminally"
	e.write(filesSet(v1))
	e.bin(0, "apply")

	e.write(filesSet(v2))
	kills := 4
	if testing.Short() {
		kills = 2
	}
	for i := range kills {
		p := start(t, append([]string{"apply", "--rollback", "auto"}, e.globalArgs()...)...)
		delay := time.Duration(20+rng.IntN(400)) * time.Millisecond
		select {
		case <-p.done:
			t.Logf("run %d finished before the kill at %s (exit %d)", i, delay, p.code())
		case <-time.After(delay):
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
			t.Logf("run %d killed after %s", i, delay)
		}
	}
	final := bin(t, append([]string{"apply", "--rollback", "auto"}, e.globalArgs()...)...)
	if final.code != 0 && final.code != 1 {
		t.Fatalf("final apply: %s", final)
	}
	want := fileTree(v1)
	want["out"] = linkNode(outside)
	if diff := cmp.Diff(want, tree(t, e.root)); diff != "" {
		t.Errorf("tree after the rollback completed (-want +got):\n%s\n%s", diff, final)
	}
	hist := e.history()
	var failed, target int
	for _, h := range hist {
		if h.State == store.RevisionFailed {
			failed++
		}
		if h.Target && h.LastKnownGood {
			target++
		}
	}
	if failed != 1 || target != 1 {
		t.Errorf("history %v; want the new revision failed and the old one the target and last known good", states(hist))
	}
}

// converge rollback beside a running daemon hands it the new target.
func TestRollbackBesideDaemon(t *testing.T) {
	e := newEnv(t)
	v1 := map[string]string{"a.txt": "a1"}
	v2 := map[string]string{"a.txt": "a2", "b.txt": "b2"}
	e.write(filesSet(v1))
	e.bin(0, "apply")
	e.write(filesSet(v2))
	p := start(t, append([]string{"run", "--resync", "1s"}, e.globalArgs()...)...)
	defer func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		<-p.done
	}()
	eventually(t, 20*time.Second, "the daemon converges v2", treeIs(e.root, fileTree(v2)))
	eventually(t, 10*time.Second, "v2 recorded converged", func() string {
		if got := states(e.history()); !cmp.Equal(got, []string{"converged", "converged target lkg"}) {
			return fmt.Sprint(got)
		}
		return ""
	})
	r := bin(t, append([]string{"rollback"}, e.globalArgs()...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "the running converge converges it") {
		t.Fatalf("rollback beside the daemon: %s", r)
	}
	eventually(t, 20*time.Second, "the daemon converges v1", treeIs(e.root, fileTree(v1)))
}

// After a destroy nothing is the target: status says so.
func TestStatusAfterDestroy(t *testing.T) {
	e := newEnv(t)
	e.write(filesSet(map[string]string{"a.txt": "a"}))
	e.mustRun(0, "apply")
	e.mustRun(0, "destroy", "--yes")
	r := e.mustRun(0, "status")
	// The manifests are still given (-f): their resource is pending again.
	if strings.Contains(r.stdout, "Target revision") || !strings.Contains(r.stdout, "not reconciled yet") {
		t.Errorf("status after destroy:\n%s", r.stdout)
	}
}

// Events last seen longer ago than --events-retention are deleted.
func TestEventsRetention(t *testing.T) {
	e := newEnv(t)
	e.write(filesSet(map[string]string{"a.txt": "a"}))
	e.mustRun(0, "apply")
	if r := e.mustRun(0, "events", "-o", "json"); !strings.Contains(r.stdout, `"Created"`) {
		t.Fatalf("events after apply: %s", r.stdout)
	}
	e.mustRun(0, "apply", "--events-retention", "1ns")
	if r := e.mustRun(0, "events", "-o", "json"); strings.Contains(r.stdout, `"Created"`) {
		t.Errorf("events after a prune of everything older than 1ns: %s", r.stdout)
	}
	// 0 keeps everything.
	e.write(filesSet(map[string]string{"a.txt": "b"}))
	e.mustRun(0, "apply", "--events-retention", "0")
	e.mustRun(0, "apply", "--events-retention", "0")
	if r := e.mustRun(0, "events", "-o", "json"); !strings.Contains(r.stdout, `"Updated"`) {
		t.Errorf("events with retention 0: %s", r.stdout)
	}
}

// A resource that cannot be observed does not hide the rest of the plan:
// it is listed as an error, the others as usual, and plan exits 1.
func TestPlanListsWhatItCannotObserve(t *testing.T) {
	e := newEnv(t)
	e.write(map[string]string{"m.yaml": `
kind: file.File
metadata: {name: a}
spec: {path: a.txt, content: a}
---
kind: http.Resource
metadata: {name: api}
spec:
  url: http://127.0.0.1:1/v1/widgets
  body: {name: api}
  adoptBy: name
`})
	r := e.run("plan")
	if r.code != 1 {
		t.Fatalf("plan: %s", r)
	}
	for _, want := range []string{"+ file.File/a", "Could not observe", "http.Resource/api", "Incomplete: 1 could not be observed."} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan output lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "the plan is incomplete") {
		t.Errorf("plan stderr: %s", r.stderr)
	}
}
