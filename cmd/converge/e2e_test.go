package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/controller"
	"github.com/convergehq/converge/store"
)

// binary is the converge command built once by TestMain.
var binary string

var crashSeed = flag.Uint64("crash-seed", 0, "seed of the crash tests' kill delays (0: from the clock)")

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "converge-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	defer stopEtcd() // started by the first cluster test, if any
	// No converge run of these tests serves the default API address,
	// which another process may hold: a test that serves passes --listen.
	os.Setenv("CONVERGE_LISTEN", "")
	binary = filepath.Join(dir, "converge")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "build converge: %v\n", err)
		return 1
	}
	return m.Run()
}

// proc is a converge process started in the background.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{} // closed when it exited
	err            error         // Wait's error, once done is closed
}

func start(t testing.TB, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary, args...), stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start converge %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// code is the exit code of a process that exited, -1 if a signal killed it.
func (p *proc) code() int {
	<-p.done
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		return -1
	}
	return 0
}

// bin runs the converge binary to completion.
func bin(t testing.TB, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr syncBuffer
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("converge %s: %v", strings.Join(args, " "), err)
	}
	return r
}

func (e *env) bin(want int, sub ...string) result {
	e.t.Helper()
	r := bin(e.t, append(sub, e.globalArgs()...)...)
	if r.code != want {
		e.t.Fatalf("converge %s: got exit %d; want %d\n%s", strings.Join(sub, " "), r.code, want, r)
	}
	return r
}

// statusPhases runs converge status -o json and returns every resource's phase.
func (e *env) statusPhases(withManifests bool) map[string]store.Phase {
	e.t.Helper()
	args := []string{"status", "-o", "json", "--state", e.state}
	if withManifests {
		args = append(args, "-f", e.manifests, "--root", e.root)
	}
	r := bin(e.t, args...)
	if r.code != 0 {
		e.t.Fatalf("status: %s", r)
	}
	var st struct{ Resources []controller.ResourceView }
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		e.t.Fatalf("status -o json: %v\n%s", err, r.stdout)
	}
	phases := map[string]store.Phase{}
	for _, row := range st.Resources {
		phases[row.ID] = row.Phase
	}
	return phases
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// quickstartTree is what examples/quickstart declares, release holding release.
func quickstartTree(release string) map[string]node {
	const index = "<!doctype html>\n<title>converge quickstart</title>\n<link rel=\"stylesheet\" href=\"assets/style.css\">\n<h1>Hello from converge</h1>\n"
	const style = "body { font-family: sans-serif; margin: 3em; }\n"
	return map[string]node{
		"site":                  dirNode(0o755),
		"site/assets":           dirNode(0o755),
		"site/assets/style.css": fileNode(0o644, style),
		"site/index.html":       fileNode(0o644, index),
		"site/release-1.txt":    fileNode(0o644, release),
		"site/current.txt":      linkNode("release-1.txt"),
		"site/SHA256SUMS":       fileNode(0o644, sha(index)+"  index.html\n"+sha(style)+"  assets/style.css\n"),
	}
}

func copyQuickstart(t *testing.T, e *env) {
	t.Helper()
	src := filepath.Join("..", "..", "examples", "quickstart")
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range ents {
		b, err := os.ReadFile(filepath.Join(src, ent.Name()))
		if err != nil {
			t.Fatal(err)
		}
		e.write(map[string]string{ent.Name(): string(b)})
	}
}

// treeIs returns "" when the tree under root is want, else the difference.
func treeIs(root string, want map[string]node) func() string {
	return func() string {
		got, err := readTree(root)
		if err != nil {
			return err.Error()
		}
		if diff := cmp.Diff(want, got); diff != "" {
			return "tree (-want +got):\n" + diff
		}
		return ""
	}
}

func TestDaemon(t *testing.T) {
	e := newEnv(t)
	copyQuickstart(t, e)
	d := start(t, append([]string{"run", "--resync", "1s", "--debounce", "50ms"}, e.globalArgs()...)...)
	alive := func() {
		t.Helper()
		if d.exited() {
			t.Fatalf("the daemon exited (%v)\n--- stderr\n%s", d.err, d.stderr.String())
		}
	}

	eventually(t, 10*time.Second, "initial converge", treeIs(e.root, quickstartTree("release 1\n")))
	alive()

	// Edit a manifest: the change appears on disk.
	assets, err := os.ReadFile(filepath.Join(e.manifests, "assets.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(assets), `content: "release 1\n"`, `content: "release 2\n"`, 1)
	if edited == string(assets) {
		t.Fatal("examples/quickstart/assets.yaml no longer declares release 1")
	}
	e.write(map[string]string{"assets.yaml": edited})
	eventually(t, 10*time.Second, "manifest edit applied", treeIs(e.root, quickstartTree("release 2\n")))

	// Break files by hand: the resync heals them.
	if err := os.WriteFile(filepath.Join(e.root, "site", "index.html"), []byte("broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(e.root, "site", "assets", "style.css")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "drift healed", treeIs(e.root, quickstartTree("release 2\n")))

	// An invalid manifest next to a valid edit: neither is applied, the
	// daemon logs why and keeps enforcing the previous revision.
	e.write(map[string]string{"bad.yaml": "kind: file.Nope\nmetadata:\n  name: x\nspec: {}\n"})
	e.write(map[string]string{"assets.yaml": strings.Replace(edited, `"release 2\n"`, `"release 3\n"`, 1)})
	eventually(t, 10*time.Second, "invalid manifests logged", func() string {
		if !strings.Contains(d.stderr.String(), "manifests changed but are invalid; keeping the current revision") {
			return "no error logged yet"
		}
		return ""
	})
	alive()
	if !strings.Contains(d.stderr.String(), `unknown kind \"file.Nope\"`) {
		t.Errorf("the daemon's log does not explain the problem:\n%s", d.stderr.String())
	}
	if err := os.WriteFile(filepath.Join(e.root, "site", "index.html"), []byte("broken again"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "previous revision still enforced", treeIs(e.root, quickstartTree("release 2\n")))
	alive()

	// status reads the state while the daemon holds it.
	for id, phase := range e.statusPhases(false) {
		if phase != store.PhaseReady {
			t.Errorf("status while running: %s is %s; want Ready", id, phase)
		}
	}

	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		t.Fatalf("the daemon did not exit within 5s of SIGTERM\n--- stderr\n%s", d.stderr.String())
	}
	if got := d.code(); got != 0 {
		t.Errorf("the daemon exited %d after SIGTERM; want 0\n--- stderr\n%s", got, d.stderr.String())
	}
	if !strings.Contains(d.stderr.String(), "stopped; state saved") {
		t.Errorf("the daemon did not log its shutdown:\n%s", d.stderr.String())
	}
	evs := bin(t, "events", "-o", "json", "--state", e.state)
	if !strings.Contains(evs.stdout, `"reason": "InvalidManifests"`) {
		t.Errorf("events after an invalid manifest: want an InvalidManifests event, got\n%s", evs.stdout)
	}
}

// bigSet declares dirs directories under tree/, perDir files in each that
// reference their directory, and links symlinks to some of them: the
// manifests by file name, and the tree they declare.
func bigSet(dirs, perDir, links int) (map[string]string, map[string]node) {
	files := map[string]string{}
	want := map[string]node{"tree": dirNode(0o755)}
	files["top.yaml"] = "kind: file.Directory\nmetadata: {name: tree}\nspec: {path: tree}\n"
	for d := range dirs {
		var b strings.Builder
		fmt.Fprintf(&b, "kind: file.Directory\nmetadata: {name: d%02d}\nspec:\n  path: ${file.Directory/tree.outputs.path}/d%02d\n  mode: \"0750\"\n", d, d)
		want[fmt.Sprintf("tree/d%02d", d)] = dirNode(0o750)
		for f := range perDir {
			mode := "0644"
			if f%5 == 0 {
				mode = "0600"
			}
			content := fmt.Sprintf("file %d of directory %d\n%s", f, d, strings.Repeat("x", f*37))
			fmt.Fprintf(&b, "---\nkind: file.File\nmetadata: {name: d%02d-f%02d}\nspec:\n  path: ${file.Directory/d%02d.outputs.path}/f%02d.txt\n  mode: %q\n  content: %q\n", d, f, d, f, mode, content)
			m := os.FileMode(0o644)
			if mode == "0600" {
				m = 0o600
			}
			want[fmt.Sprintf("tree/d%02d/f%02d.txt", d, f)] = fileNode(m, content)
		}
		files[fmt.Sprintf("d%02d.yaml", d)] = b.String()
	}
	var b strings.Builder
	for l := range links {
		d := l % dirs
		if l > 0 {
			b.WriteString("---\n")
		}
		fmt.Fprintf(&b, "kind: file.Symlink\nmetadata: {name: link%d}\ndependsOn: [file.File/d%02d-f00]\nspec:\n  path: tree/link%d\n  target: d%02d/f00.txt\n", l, d, l, d)
		want[fmt.Sprintf("tree/link%d", l)] = linkNode(fmt.Sprintf("d%02d/f00.txt", d))
	}
	files["links.yaml"] = b.String()
	return files, want
}

// killLoop starts converge sub n times and kills each with SIGKILL after
// a random delay, unless it finished first, in which case it must have
// succeeded.
func killLoop(t *testing.T, e *env, rng *rand.Rand, n int, sub ...string) {
	t.Helper()
	for i := range n {
		delay := time.Duration(5+rng.IntN(76)) * time.Millisecond
		p := start(t, append(sub, e.globalArgs()...)...)
		select {
		case <-p.done:
			if c := p.code(); c != 0 {
				t.Fatalf("run %d of converge %s exited %d before the kill\n--- stdout\n%s--- stderr\n%s", i, sub[0], c, p.stdout.String(), p.stderr.String())
			}
			t.Logf("run %d: finished before the kill at %s", i, delay)
		case <-time.After(delay):
			if err := p.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			<-p.done
			t.Logf("run %d: killed after %s", i, delay)
		}
	}
}

func TestCrashSafety(t *testing.T) {
	seed := *crashSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("kill delays seeded with %d (rerun with -crash-seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	applies, destroys := 8, 3
	if testing.Short() {
		applies, destroys = 3, 2
	}

	e := newEnv(t)
	files, want := bigSet(20, 14, 5)
	e.write(files)

	killLoop(t, e, rng, applies, "apply")
	final := e.bin(0, "apply")
	t.Logf("the apply after the crashes: %s", strings.TrimSpace(final.stdout))
	if diff := cmp.Diff(want, tree(t, e.root)); diff != "" {
		t.Errorf("tree after crashes and an apply (-want +got):\n%s", diff)
	}
	phases := e.statusPhases(true)
	if len(phases) != len(want) {
		t.Errorf("status: got %d resources; want %d", len(phases), len(want))
	}
	for id, phase := range phases {
		if phase != store.PhaseReady {
			t.Errorf("status: %s is %s; want Ready", id, phase)
		}
	}
	rep := parseReport(t, e.bin(0, "apply", "-o", "json"))
	if rep.Ready != len(want) || rep.Stats.Creates+rep.Stats.Updates+rep.Stats.Deletes != 0 {
		t.Errorf("apply after convergence: got %d ready, stats %+v; want %d ready and no changes", rep.Ready, rep.Stats, len(want))
	}

	killLoop(t, e, rng, destroys, "destroy", "--yes")
	if r := bin(t, append([]string{"destroy", "--yes", "--timeout", "15s"}, e.globalArgs()...)...); r.code != 0 {
		t.Errorf("destroy: got exit %d; want 0\n%s", r.code, r.stdout)
	}
	if got := tree(t, e.root); len(got) != 0 {
		t.Errorf("tree after destroy: got %v; want it empty", got)
	}
	if got := e.statusPhases(false); len(got) != 0 {
		t.Errorf("status after destroy: got %v; want nothing recorded", got)
	}
}
