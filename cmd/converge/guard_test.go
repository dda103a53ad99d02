package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestEmptyManifestsRefused: apply, plan and run on manifests that declare
// nothing, over a state that manages resources, refuse and say how many
// resources would go and how to mean it; --allow-empty means it.
func TestEmptyManifestsRefused(t *testing.T) {
	e := applied(t)
	want := tree(t, e.root)
	if len(want) == 0 {
		t.Fatal("premise: the applied site is empty")
	}
	for _, name := range []string{"site.yaml", "old.yaml"} {
		if _, err := os.Stat(filepath.Join(e.manifests, name)); err == nil {
			e.remove(name)
		}
	}
	if ents, _ := os.ReadDir(e.manifests); len(ents) != 0 {
		t.Fatalf("premise: the manifest directory still holds %d entries", len(ents))
	}
	for _, sub := range [][]string{{"apply"}, {"plan"}, {"run", "--resync", "1h"}} {
		r := e.mustRun(1, sub...)
		for _, s := range []string{"the manifests declare no resources, but the state manages 5", "--allow-empty", "file.Directory/site"} {
			if !strings.Contains(r.stderr, s) {
				t.Errorf("converge %s: the error does not say %q:\n%s", sub[0], s, r)
			}
		}
		if got := tree(t, e.root); !cmp.Equal(got, want) {
			t.Fatalf("converge %s on empty manifests changed the tree: %s", sub[0], cmp.Diff(want, got))
		}
	}
	e.mustRun(0, "apply", "--allow-empty")
	if got := tree(t, e.root); len(got) != 0 {
		t.Errorf("apply --allow-empty left %v", got)
	}
}

// manyFiles declares n files in one directory, one manifest file each.
func manyFiles(e *env, n int) {
	e.write(map[string]string{"dir.yaml": "kind: file.Directory\nmetadata: {name: d}\nspec: {path: d}\n"})
	for i := range n {
		name := "f" + itoa(i)
		e.write(map[string]string{name + ".yaml": "kind: file.File\nmetadata: {name: " + name + "}\ndependsOn: [file.Directory/d]\nspec: {path: d/" + name + ".txt, content: x}\n"})
	}
}

// TestApplyHoldsMassDeletion: a revision that deletes more than
// --max-delete of the managed resources is refused, status and events say
// what it would delete and how to release it, and --allow-delete (or a
// higher limit) releases it.
func TestApplyHoldsMassDeletion(t *testing.T) {
	e := newEnv(t)
	manyFiles(e, 5) // 6 resources
	e.mustRun(0, "apply")
	before := tree(t, e.root)
	for i := range 4 {
		e.remove("f" + itoa(i) + ".yaml") // 4 of 6: over 50%
	}
	r := e.mustRun(1, "apply")
	for _, s := range []string{"would delete 4 of the 6 resources converge manages (file.File/f0, file.File/f1, file.File/f2, file.File/f3)", "--max-delete 50%", "converge apply --allow-delete"} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("apply: the error does not say %q:\n%s", s, r)
		}
	}
	if got := tree(t, e.root); !cmp.Equal(got, before) {
		t.Fatalf("a held apply changed the tree: %s", cmp.Diff(before, got))
	}
	st := e.mustRun(0, "status")
	if !strings.Contains(st.stdout, "Held revision: ") || !strings.Contains(st.stdout, "would delete 4 of the 6") {
		t.Errorf("status does not show the held revision:\n%s", st)
	}
	ev := e.mustRun(0, "events")
	if !strings.Contains(ev.stdout, "DeletionHeld") {
		t.Errorf("events do not show DeletionHeld:\n%s", ev)
	}
	e.mustRun(1, "apply", "--max-delete", "3")
	e.mustRun(0, "apply", "--max-delete", "4")
	if got := tree(t, e.root); len(got) != 2 {
		t.Errorf("after apply --max-delete 4: got %v; want d, d/f4.txt", got)
	}
	st = e.mustRun(0, "status")
	if strings.Contains(st.stdout, "Held revision") {
		t.Errorf("status still shows a held revision after it was applied:\n%s", st)
	}

	// --allow-delete releases any share.
	manyFiles(e, 5)
	e.mustRun(0, "apply")
	for i := range 5 {
		e.remove("f" + itoa(i) + ".yaml")
	}
	e.mustRun(1, "apply")
	e.mustRun(0, "apply", "--allow-delete")
	if got := tree(t, e.root); len(got) != 1 {
		t.Errorf("after apply --allow-delete: got %v; want only d", got)
	}
}

// TestDaemonHoldsMassDeletion: the daemon does not target a manifest
// change that deletes most of what it manages, records DeletionHeld, and
// converges it once apply --allow-delete releases it beside the daemon.
func TestDaemonHoldsMassDeletion(t *testing.T) {
	e := newEnv(t)
	manyFiles(e, 5)
	d := start(t, append([]string{"run", "--resync", "300ms", "--debounce", "50ms"}, e.globalArgs()...)...)
	eventually(t, 15*time.Second, "initial converge", func() string {
		got, err := readTree(e.root)
		if err != nil {
			return err.Error() // the daemon is writing
		}
		for i := range 5 {
			if _, ok := got["d/f"+itoa(i)+".txt"]; !ok {
				return "no d/f" + itoa(i) + ".txt yet"
			}
		}
		if len(got) != 6 {
			return "tree has " + itoa(len(got)) + " entries (a write in progress)"
		}
		return ""
	})
	before := tree(t, e.root)
	for i := range 4 {
		e.remove("f" + itoa(i) + ".yaml")
	}
	eventually(t, 15*time.Second, "DeletionHeld event", func() string {
		if r := bin(t, "events", "--state", e.state); !strings.Contains(r.stdout, "DeletionHeld") {
			return "no DeletionHeld event:\n" + r.stdout + d.stderr.String()
		}
		return ""
	})
	time.Sleep(time.Second) // resyncs come and go
	if got := tree(t, e.root); !cmp.Equal(got, before) {
		t.Fatalf("the daemon deleted a held revision's resources: %s", cmp.Diff(before, got))
	}
	st := bin(t, "status", "--state", e.state)
	if !strings.Contains(st.stdout, "Held revision: ") || !strings.Contains(st.stdout, "converge apply --allow-delete") {
		t.Errorf("status does not say the revision is held and how to release it:\n%s", st)
	}
	r := e.bin(0, "apply", "--allow-delete")
	if !strings.Contains(r.stdout, "the running converge converges it") {
		t.Errorf("apply --allow-delete beside the daemon:\n%s", r)
	}
	eventually(t, 15*time.Second, "released deletion", func() string {
		got, err := readTree(e.root)
		if err != nil {
			return err.Error() // the daemon is deleting
		}
		if n := len(got); n != 2 {
			return "tree has " + itoa(n) + " entries; want 2\n" + d.stderr.String()
		}
		return ""
	})
	if d.exited() {
		t.Fatalf("the daemon exited:\n%s", d.stderr.String())
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	if got := d.code(); got != 0 {
		t.Errorf("daemon exit %d\n%s", got, d.stderr.String())
	}
}

// TestDaemonEmptyManifests: every manifest removed under a running daemon
// keeps the current revision, with an EmptyManifests warning.
func TestDaemonEmptyManifests(t *testing.T) {
	e := newEnv(t)
	copyQuickstart(t, e)
	d := start(t, append([]string{"run", "--resync", "300ms", "--debounce", "50ms"}, e.globalArgs()...)...)
	eventually(t, 15*time.Second, "initial converge", treeIs(e.root, quickstartTree("release 1\n")))
	ents, err := os.ReadDir(e.manifests)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range ents {
		e.remove(ent.Name())
	}
	eventually(t, 15*time.Second, "EmptyManifests event", func() string {
		if r := bin(t, "events", "--state", e.state); !strings.Contains(r.stdout, "EmptyManifests") {
			return "no EmptyManifests event:\n" + r.stdout
		}
		return ""
	})
	time.Sleep(time.Second)
	if got := tree(t, e.root); !cmp.Equal(got, quickstartTree("release 1\n")) {
		t.Fatalf("the daemon acted on empty manifests: %s", cmp.Diff(quickstartTree("release 1\n"), got))
	}
	if !strings.Contains(d.stderr.String(), "declare no resources: keeping the current revision") {
		t.Errorf("the daemon's log does not say it kept the revision:\n%s", d.stderr.String())
	}
}

// TestDestroyRefusesAnotherRootBeforeAsking: destroy against a state that
// belongs to another root refuses before it asks for a confirmation.
func TestDestroyRefusesAnotherRootBeforeAsking(t *testing.T) {
	e := applied(t)
	other := t.TempDir()
	r := cli(strings.NewReader("yes\n"), "destroy", "--root", other, "--state", e.state)
	if r.code != 1 || !strings.Contains(r.stderr, "belongs to root") {
		t.Fatalf("destroy with another root:\n%s", r)
	}
	if strings.Contains(r.stdout, "Type yes") {
		t.Errorf("destroy asked for a confirmation before refusing:\n%s", r)
	}
	if len(tree(t, e.root)) == 0 {
		t.Error("the tree was deleted")
	}
}
