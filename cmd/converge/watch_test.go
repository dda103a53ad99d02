package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// quickstartFiles returns examples/quickstart's manifests with release
// written instead of "release 1\n".
func quickstartFiles(t *testing.T, release string) map[string]string {
	t.Helper()
	src := filepath.Join("..", "..", "examples", "quickstart")
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, ent := range ents {
		b, err := os.ReadFile(filepath.Join(src, ent.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[ent.Name()] = strings.Replace(string(b), `content: "release 1\n"`, `content: "`+strings.TrimSuffix(release, "\n")+`\n"`, 1)
	}
	if !strings.Contains(out["assets.yaml"], `content: "`+strings.TrimSuffix(release, "\n")+`\n"`) {
		t.Fatal("examples/quickstart/assets.yaml no longer declares release 1")
	}
	return out
}

func writeDir(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.email=t@example.com", "-c", "user.name=t", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestDaemonFollowsReplacedManifests: the daemon follows the manifests
// through every way a deploy replaces them: rm -rf and mkdir, a directory
// swapped for a symlink (blue/green), an editor's atomic rename, a git
// checkout of another branch, and a real edit amid constant churn.
func TestDaemonFollowsReplacedManifests(t *testing.T) {
	e := newEnv(t)
	m := e.manifests
	writeDir(t, m, quickstartFiles(t, "release 1\n"))
	d := start(t, append([]string{"run", "--resync", "1h", "--debounce", "200ms"}, e.globalArgs()...)...)
	eventually(t, 15*time.Second, "initial converge", treeIs(e.root, quickstartTree("release 1\n")))

	// rm -rf m && mkdir m
	if err := os.RemoveAll(m); err != nil {
		t.Fatal(err)
	}
	writeDir(t, m, quickstartFiles(t, "release 2\n"))
	eventually(t, 15*time.Second, "rm -rf and mkdir followed", treeIs(e.root, quickstartTree("release 2\n")))

	// Blue/green: mv m m.old && ln -s m.new m
	writeDir(t, m+".new", quickstartFiles(t, "release 3\n"))
	if err := os.Rename(m, m+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Base(m)+".new", m); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "directory swapped for a symlink followed", treeIs(e.root, quickstartTree("release 3\n")))

	// An editor's atomic rename inside the linked directory.
	tmp := filepath.Join(m+".new", ".assets.yaml.tmp")
	if err := os.WriteFile(tmp, []byte(quickstartFiles(t, "release 4\n")["assets.yaml"]), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(m+".new", "assets.yaml")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "atomic rename followed", treeIs(e.root, quickstartTree("release 4\n")))

	// git checkout of another branch.
	repo := m + ".new"
	git(t, repo, "init", "-q")
	git(t, repo, "add", ".")
	git(t, repo, "commit", "-qm", "release 4")
	git(t, repo, "checkout", "-qb", "release-5")
	writeDir(t, repo, map[string]string{"assets.yaml": quickstartFiles(t, "release 5\n")["assets.yaml"]})
	git(t, repo, "commit", "-qam", "release 5")
	git(t, repo, "checkout", "-q", "main")
	eventually(t, 15*time.Second, "checkout of main followed", treeIs(e.root, quickstartTree("release 4\n")))
	git(t, repo, "checkout", "-q", "release-5")
	eventually(t, 15*time.Second, "checkout of release-5 followed", treeIs(e.root, quickstartTree("release 5\n")))

	// Constant churn: a swap file every 100 ms, and a manifest rewritten
	// with the same content every 100 ms: a real edit still lands, within
	// the bounded delay (10 x 200 ms, at least 1 s) plus a load.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		churn := quickstartFiles(t, "release 5\n")["site.yaml"]
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			_ = os.WriteFile(filepath.Join(repo, ".assets.yaml.swp"), []byte(strings.Repeat("x", i)), 0o644)
			_ = os.WriteFile(filepath.Join(repo, "4913"), nil, 0o644)
			_ = os.WriteFile(filepath.Join(repo, "site.yaml"), []byte(churn), 0o644)
		}
	}()
	time.Sleep(500 * time.Millisecond)
	writeDir(t, repo, map[string]string{"assets.yaml": quickstartFiles(t, "release 6\n")["assets.yaml"]})
	eventually(t, 10*time.Second, "edit amid churn followed", treeIs(e.root, quickstartTree("release 6\n")))
	close(stop)
	wg.Wait()

	if d.exited() {
		t.Fatalf("the daemon exited:\n%s", d.stderr.String())
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	if got := d.code(); got != 0 {
		t.Errorf("daemon exit %d\n%s", got, d.stderr.String())
	}
}

// TestDaemonSIGHUPReloads: SIGHUP reloads the manifests (it used to kill
// the daemon), even when no file event would.
func TestDaemonSIGHUPReloads(t *testing.T) {
	e := newEnv(t)
	writeDir(t, e.manifests, quickstartFiles(t, "release 1\n"))
	// A debounce of an hour: only SIGHUP reloads within the test.
	d := start(t, append([]string{"run", "--resync", "1h", "--debounce", "1h"}, e.globalArgs()...)...)
	eventually(t, 15*time.Second, "initial converge", treeIs(e.root, quickstartTree("release 1\n")))
	writeDir(t, e.manifests, quickstartFiles(t, "release 2\n"))
	time.Sleep(1500 * time.Millisecond)
	if why := treeIs(e.root, quickstartTree("release 1\n"))(); why != "" {
		t.Fatalf("premise: the edit was applied without SIGHUP:\n%s", why)
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "SIGHUP reload", treeIs(e.root, quickstartTree("release 2\n")))
	if d.exited() {
		t.Fatalf("SIGHUP killed the daemon:\n%s", d.stderr.String())
	}
	if !strings.Contains(d.stderr.String(), "SIGHUP: reloading the manifests") {
		t.Errorf("the daemon did not log the reload:\n%s", d.stderr.String())
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	if got := d.code(); got != 0 {
		t.Errorf("daemon exit %d\n%s", got, d.stderr.String())
	}
}

// TestDaemonSIGTERMWhileLoading: SIGTERM is served at once while a large
// manifest set is being parsed.
func TestDaemonSIGTERMWhileLoading(t *testing.T) {
	e := newEnv(t)
	writeDir(t, e.manifests, quickstartFiles(t, "release 1\n"))
	d := start(t, append([]string{"run", "--resync", "1h", "--debounce", "0s", "--log-level", "debug"}, e.globalArgs()...)...)
	eventually(t, 15*time.Second, "initial converge", treeIs(e.root, quickstartTree("release 1\n")))

	// 150,000 resources take seconds to load on a small machine.
	var b strings.Builder
	for i := range 150000 {
		b.WriteString("---\nkind: file.Directory\nmetadata: {name: big" + itoa(i) + "}\nspec: {path: big/" + itoa(i) + "}\n")
	}
	big := filepath.Join(e.manifests, "big.yaml")
	tmp := filepath.Join(e.manifests, ".big.yaml.tmp")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, big); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "reload started", func() string {
		if !strings.Contains(d.stderr.String(), "reloading the manifests") {
			return "no reload yet"
		}
		return ""
	})
	sent := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the daemon did not exit within 20 s of SIGTERM")
	}
	took := time.Since(sent)
	logs := d.stderr.String()
	if strings.Contains(logs, "manifests loaded") {
		t.Fatalf("premise: the load finished before SIGTERM landed (%s); make the set larger", took)
	}
	if got := d.code(); got != 0 {
		t.Errorf("daemon exit %d\n%s", got, logs)
	}
	if took > 2*time.Second {
		t.Errorf("the daemon took %s to exit after SIGTERM while loading", took)
	}
}

// TestSymlinkedManifestPath: -f current, with current -> releases/v1,
// loads the release (it used to load nothing, and apply then deleted
// everything), and an apply after a swap of the link converges the new
// release.
func TestSymlinkedManifestPath(t *testing.T) {
	e := newEnv(t)
	rel := filepath.Join(filepath.Dir(e.manifests), "releases")
	writeDir(t, filepath.Join(rel, "v1"), quickstartFiles(t, "release 1\n"))
	writeDir(t, filepath.Join(rel, "v2"), quickstartFiles(t, "release 2\n"))
	current := filepath.Join(filepath.Dir(e.manifests), "current")
	if err := os.Symlink(filepath.Join("releases", "v1"), current); err != nil {
		t.Fatal(err)
	}
	args := func(sub ...string) []string {
		return append(sub, "-f", current, "--root", e.root, "--state", e.state)
	}
	r := cli(nil, args("validate")...)
	if r.code != 0 || !strings.Contains(r.stdout, "7 resources are valid") {
		t.Fatalf("validate -f current:\n%s", r)
	}
	if r := cli(nil, args("apply")...); r.code != 0 {
		t.Fatalf("apply -f current:\n%s", r)
	}
	if why := treeIs(e.root, quickstartTree("release 1\n"))(); why != "" {
		t.Fatal(why)
	}
	if err := os.Remove(current); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("releases", "v2"), current); err != nil {
		t.Fatal(err)
	}
	if r := cli(nil, args("apply")...); r.code != 0 {
		t.Fatalf("apply -f current after the swap:\n%s", r)
	}
	if why := treeIs(e.root, quickstartTree("release 2\n"))(); why != "" {
		t.Fatal(why)
	}
}
