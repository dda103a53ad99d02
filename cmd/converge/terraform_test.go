package main

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/convergehq/converge/controller"
)

// The Terraform provider tests run the converge binary with the test
// provider convergetest (providers/terraform/internal/testprovider), a
// real terraform-plugin-framework provider built once, installed into a
// temporary plugin directory in Terraform's filesystem-mirror layout.
// Each object it manages is a JSON file <id>.json in the directory its
// ProviderConfig names; the hook files .hold and .fail-after-create there
// steer its creates.

const (
	tpSource  = "registry.terraform.io/convergehq/convergetest"
	tpVersion = "0.1.0"
	tpExe     = "terraform-provider-convergetest_v" + tpVersion
	tpHold    = ".hold"
)

// tpProtocols are the plugin protocols the test provider serves
// (CONVERGETEST_PROTOCOL).
var tpProtocols = []int{5, 6}

var testPlugin struct {
	once sync.Once
	path string
	err  error
}

// testPluginPath builds the test provider once, beside the converge binary
// (TestMain removes both).
func testPluginPath(t *testing.T) string {
	t.Helper()
	testPlugin.once.Do(func() {
		testPlugin.path = filepath.Join(filepath.Dir(binary), "terraform-provider-convergetest")
		out, err := exec.Command("go", "build", "-o", testPlugin.path,
			"github.com/convergehq/converge/providers/terraform/internal/testprovider/cmd/terraform-provider-convergetest").CombinedOutput()
		if err != nil {
			testPlugin.err = fmt.Errorf("build the test provider: %v\n%s", err, out)
		}
	})
	if testPlugin.err != nil {
		t.Fatal(testPlugin.err)
	}
	return testPlugin.path
}

// tfObject is a convergetest_thing as its file holds it.
type tfObject struct {
	ID     string  `json:"id"`
	Name   string  `json:"name"`
	Size   int64   `json:"size"`
	Zone   *string `json:"zone,omitempty"`
	Secret *string `json:"secret,omitempty"`
	Token  string  `json:"token"`
}

// tfEnv is an env whose manifests use the test provider: a plugin
// directory, the directory of the provider's objects and a HOME of its
// own (so that the default plugin directories and the cache of extracted
// packages are the test's).
type tfEnv struct {
	*env
	plugins string // --plugin-dir
	objects string // the provider's dir
	home    string
	proto   int
}

func newTFEnv(t *testing.T, proto int) *tfEnv {
	t.Helper()
	e := &tfEnv{env: newEnv(t), proto: proto}
	base := filepath.Dir(e.manifests)
	e.plugins, e.objects, e.home = filepath.Join(base, "plugins"), filepath.Join(base, "objects"), filepath.Join(base, "home")
	for _, d := range []string{e.plugins, e.objects, e.home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// unpackedPath is where installUnpacked puts the plugin.
func (e *tfEnv) unpackedPath() string {
	return filepath.Join(e.plugins, tpSource, tpVersion, "linux_amd64", tpExe)
}

// installUnpacked copies the test provider into the plugin directory, in
// the unpacked mirror layout.
func (e *tfEnv) installUnpacked() {
	e.t.Helper()
	b, err := os.ReadFile(testPluginPath(e.t))
	if err != nil {
		e.t.Fatal(err)
	}
	dst := e.unpackedPath()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		e.t.Fatal(err)
	}
}

// installPacked writes the test provider into the plugin directory as
// Terraform's packed layout has it: a zip beside the type's directory.
func (e *tfEnv) installPacked() string {
	e.t.Helper()
	b, err := os.ReadFile(testPluginPath(e.t))
	if err != nil {
		e.t.Fatal(err)
	}
	dst := filepath.Join(e.plugins, tpSource, "terraform-provider-convergetest_"+tpVersion+"_linux_amd64.zip")
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		e.t.Fatal(err)
	}
	f, err := os.Create(dst)
	if err != nil {
		e.t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	h := &zip.FileHeader{Name: tpExe, Method: zip.Deflate}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err == nil {
		_, err = w.Write(b)
	}
	if err == nil {
		err = zw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return dst
}

// environ is the environment converge runs in: the test's HOME, the
// plugin's protocol, and no plugin directory but --plugin-dir.
func (e *tfEnv) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "CONVERGE_PLUGIN_DIR", "TF_PLUGIN_CACHE_DIR", "CONVERGETEST_PROTOCOL", "CONVERGE_STATE_KEY":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+e.home, "CONVERGETEST_PROTOCOL="+strconv.Itoa(e.proto))
}

// args are sub, then the flags that point converge at e.
func (e *tfEnv) args(sub ...string) []string {
	return append(append(sub, e.globalArgs()...), "--plugin-dir", e.plugins)
}

// tf runs the converge binary against e and fails the test unless it
// exits with want.
func (e *tfEnv) tf(want int, sub ...string) result {
	e.t.Helper()
	r := e.exec(e.args(sub...)...)
	if r.code != want {
		e.t.Fatalf("converge %s: got exit %d; want %d\n%s", strings.Join(sub, " "), r.code, want, r)
	}
	return r
}

// exec runs the converge binary with args as they are, in e's environment.
func (e *tfEnv) exec(args ...string) result {
	e.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = e.environ()
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		e.t.Fatalf("converge %s: still running after 60s\n%s", strings.Join(args, " "), stderr.String())
	}
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			e.t.Fatalf("converge %s: %v", strings.Join(args, " "), err)
		}
		r.code = ee.ExitCode()
	}
	return r
}

// startTF starts converge in the background against e.
func (e *tfEnv) startTF(sub ...string) *proc {
	e.t.Helper()
	p := &proc{cmd: exec.Command(binary, e.args(sub...)...), stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = e.environ()
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	e.t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// providerConfig is the ProviderConfig of the test provider, then docs.
func (e *tfEnv) providerConfig(extra string) string {
	s := fmt.Sprintf("kind: ProviderConfig\nmetadata: {name: convergetest}\nspec:\n  source: convergehq/convergetest\n%s  config:\n    dir: %q\n", extra, e.objects)
	return s
}

// writeThings writes m.yaml: the ProviderConfig, then docs.
func (e *tfEnv) writeThings(docs ...string) {
	e.t.Helper()
	e.write(map[string]string{"m.yaml": strings.Join(append([]string{e.providerConfig("")}, docs...), "---\n")})
}

// objectsNow reads every object the provider keeps, by id.
func (e *tfEnv) objectsNow() map[string]tfObject {
	e.t.Helper()
	ents, err := os.ReadDir(e.objects)
	if err != nil {
		e.t.Fatal(err)
	}
	got := map[string]tfObject{}
	for _, ent := range ents {
		if !strings.HasSuffix(ent.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(e.objects, ent.Name()))
		if err != nil {
			e.t.Fatal(err)
		}
		var o tfObject
		if err := json.Unmarshal(b, &o); err != nil {
			e.t.Fatalf("%s: %v", ent.Name(), err)
		}
		got[o.ID] = o
	}
	return got
}

// only is the one object the provider keeps; it fails unless there is
// exactly one.
func (e *tfEnv) only() tfObject {
	e.t.Helper()
	objs := e.objectsNow()
	if len(objs) != 1 {
		e.t.Fatalf("got %d objects %v; want 1", len(objs), objs)
	}
	for _, o := range objs {
		return o
	}
	panic("unreachable")
}

// byName is the objects by name; it fails if a name has two objects.
func (e *tfEnv) byName() map[string]tfObject {
	e.t.Helper()
	got := map[string]tfObject{}
	for _, o := range e.objectsNow() {
		if prev, dup := got[o.Name]; dup {
			e.t.Fatalf("two objects named %s: %s and %s", o.Name, prev.ID, o.ID)
		}
		got[o.Name] = o
	}
	return got
}

func forEachProtocol(t *testing.T, f func(t *testing.T, proto int)) {
	for _, proto := range tpProtocols {
		t.Run(fmt.Sprintf("protocol%d", proto), func(t *testing.T) {
			t.Parallel()
			f(t, proto)
		})
	}
}

// TestTerraformProvidersList: converge providers -o json lists the test
// provider, unpacked and packed, with its kind and the protocol it serves;
// the packed one also applies.
func TestTerraformProvidersList(t *testing.T) {
	for _, packed := range []bool{false, true} {
		for _, proto := range tpProtocols {
			t.Run(fmt.Sprintf("packed=%v/protocol%d", packed, proto), func(t *testing.T) {
				t.Parallel()
				e := newTFEnv(t, proto)
				where := filepath.Dir(e.unpackedPath()) // the package's directory
				if packed {
					where = e.installPacked()
				} else {
					e.installUnpacked()
				}
				r := e.exec("providers", "-o", "json", "--plugin-dir", e.plugins)
				if r.code != 0 {
					t.Fatalf("providers: %s", r)
				}
				var v providersView
				if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
					t.Fatalf("providers -o json: %v\n%s", err, r.stdout)
				}
				if len(v.Installed) != 1 {
					t.Fatalf("installed %+v; want the test provider alone", v.Installed)
				}
				got := v.Installed[0]
				if got.Source.String() != tpSource || got.Version != tpVersion || got.Packed != packed || got.Protocol != proto || got.Error != "" ||
					strings.Join(got.Kinds, ",") != "convergetest.thing" || got.Path() != where {
					t.Errorf("installed %+v; want %s %s at %s (packed %v) on protocol %d with the kind convergetest.thing", got, tpSource, tpVersion, where, packed, proto)
				}
				if len(got.Hashes) == 0 || !strings.HasPrefix(got.Hashes[0], "h1:") {
					t.Errorf("hashes %v; want an h1: hash", got.Hashes)
				}
				if len(v.Dirs) == 0 || v.Dirs[0].Dir != e.plugins {
					t.Errorf("dirs %+v; want --plugin-dir first", v.Dirs)
				}
				if !packed {
					return
				}
				e.writeThings("kind: convergetest.thing\nmetadata: {name: a}\nspec: {name: alpha}\n")
				e.tf(0, "apply")
				if o := e.only(); o.Name != "alpha" || o.Size != 1 {
					t.Errorf("object %+v; want alpha of size 1 (the provider's default)", o)
				}
			})
		}
	}
}

// TestTerraformValidate: the provider's ValidateResourceConfig diagnostics
// are reported at file:line: resource: field, and nothing is created.
func TestTerraformValidate(t *testing.T) {
	forEachProtocol(t, func(t *testing.T, proto int) {
		e := newTFEnv(t, proto)
		e.installUnpacked()
		// The ProviderConfig is 6 lines, then "---": the thing's spec
		// starts at line 11.
		e.writeThings("kind: convergetest.thing\nmetadata: {name: a}\nspec:\n  name: al/pha\n  size: -1\n")
		r := e.tf(1, "validate")
		for _, want := range []string{
			`m.yaml:11: convergetest.thing/a: spec.name: Invalid name: name "al/pha" must not hold a slash`,
			`m.yaml:12: convergetest.thing/a: spec.size: Invalid size: size must be at least 0, got -1`,
		} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("validate does not say %q\n%s", want, r)
			}
		}
		e.tf(1, "apply")
		if objs := e.objectsNow(); len(objs) != 0 {
			t.Errorf("objects %v after an invalid apply; want none", objs)
		}
	})
}

// TestTerraformLifecycle: create, no-op, update in place, replace, drift
// reported then corrected, references between things and to a file.File,
// delete.
func TestTerraformLifecycle(t *testing.T) {
	forEachProtocol(t, func(t *testing.T, proto int) {
		e := newTFEnv(t, proto)
		e.installUnpacked()
		thingA := func(extra string) string {
			return "kind: convergetest.thing\nmetadata: {name: a}\nspec:\n  name: alpha\n" + extra
		}
		const thingB = "kind: convergetest.thing\nmetadata: {name: b}\nspec:\n  name: ${convergetest.thing/a.outputs.id}-b\n  tags: {from: \"${convergetest.thing/a.outputs.name}\"}\n"
		const file = "kind: file.File\nmetadata: {name: f}\nspec:\n  path: a.txt\n  content: \"a=${convergetest.thing/a.outputs.id} size=${convergetest.thing/a.outputs.size}\"\n"

		// Create.
		e.writeThings(thingA("  size: 2\n"), thingB, file)
		e.tf(0, "apply")
		objs := e.byName()
		a := objs["alpha"]
		if len(objs) != 2 || a.Size != 2 || objs[a.ID+"-b"].ID == "" {
			t.Fatalf("objects %+v; want alpha (size 2) and %s-b", objs, a.ID)
		}
		wantFile := func(a tfObject) {
			t.Helper()
			got, err := os.ReadFile(filepath.Join(e.root, "a.txt"))
			if want := fmt.Sprintf("a=%s size=%d", a.ID, a.Size); err != nil || string(got) != want {
				t.Errorf("a.txt: %q, %v; want %q", got, err, want)
			}
		}
		wantFile(a)

		// No changes.
		if r := e.tf(0, "plan"); !strings.Contains(r.stdout, "No changes.") {
			t.Errorf("plan after apply: want no changes\n%s", r)
		}

		// Update in place: same object, new size; the file follows.
		e.writeThings(thingA("  size: 3\n"), thingB, file)
		if r := e.tf(0, "plan"); !strings.Contains(r.stdout, "~ convergetest.thing/a") || !strings.Contains(r.stdout, "size: 2 -> 3") {
			t.Errorf("plan of a size change: want an update of size 2 -> 3\n%s", r)
		}
		r := e.tf(0, "apply")
		if !strings.Contains(r.stdout, "0 creates, 2 updates, 0 deletes") {
			t.Errorf("apply of a size change: want 2 updates (a, f)\n%s", r)
		}
		objs = e.byName()
		if got := objs["alpha"]; got.ID != a.ID || got.Size != 3 || len(objs) != 2 {
			t.Fatalf("objects %+v; want alpha %s updated to size 3 in place", objs, a.ID)
		}
		a = objs["alpha"]
		wantFile(a)

		// Replace: zone forces a new object; b, named after a's id, is
		// replaced too (its name is the new id's).
		e.writeThings(thingA("  size: 3\n  zone: eu\n"), thingB, file)
		if r := e.tf(0, "plan"); !strings.Contains(r.stdout, `zone: null -> "eu" (forces replacement)`) {
			t.Errorf("plan of a zone change: want a replacement forced by zone\n%s", r)
		}
		e.tf(0, "apply")
		objs = e.byName()
		na := objs["alpha"]
		if na.ID == a.ID || na.Zone == nil || *na.Zone != "eu" || len(objs) != 2 || objs[na.ID+"-b"].ID == "" {
			t.Fatalf("objects %+v; want alpha replaced (not %s) in zone eu, and %s-b", objs, a.ID, na.ID)
		}
		a = na
		wantFile(a)
		e.tf(0, "plan") // a replace leaves nothing to do

		// Drift: a hand edit of the object's file.
		path := filepath.Join(e.objects, a.ID+".json")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		edited := strings.Replace(string(b), `"size": 3`, `"size": 7`, 1)
		if edited == string(b) {
			t.Fatalf("the object's file has no size 3 to edit:\n%s", b)
		}
		if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
			t.Fatal(err)
		}
		r = e.tf(2, "drift")
		if !strings.Contains(r.stdout, "convergetest.thing/a") || !strings.Contains(r.stdout, "size: 7 -> 3") {
			t.Errorf("drift: want convergetest.thing/a, size 7 -> 3\n%s", r)
		}
		e.tf(0, "apply")
		if got := e.byName()["alpha"]; got.ID != a.ID || got.Size != 3 {
			t.Errorf("after apply: %+v; want %s corrected to size 3", got, a.ID)
		}
		e.tf(0, "drift")

		// Delete: b leaves the manifests.
		e.writeThings(thingA("  size: 3\n  zone: eu\n"), file)
		r = e.tf(0, "apply")
		if objs := e.byName(); len(objs) != 1 || objs["alpha"].ID != a.ID {
			t.Errorf("objects %+v after b was removed; want alpha %s alone", objs, a.ID)
		}
		if !strings.Contains(r.stdout, "1 delete") {
			t.Errorf("apply after b was removed: want 1 delete\n%s", r)
		}
	})
}

// TestTerraformImportID: importId adopts an object made outside converge,
// through ImportResourceState; it is updated, not created.
func TestTerraformImportID(t *testing.T) {
	forEachProtocol(t, func(t *testing.T, proto int) {
		e := newTFEnv(t, proto)
		e.installUnpacked()
		const id = "0123456789abcdef"
		outside := `{"id": "0123456789abcdef", "name": "outside", "size": 5, "token": "made-outside"}`
		if err := os.WriteFile(filepath.Join(e.objects, id+".json"), []byte(outside), 0o600); err != nil {
			t.Fatal(err)
		}
		e.writeThings("kind: convergetest.thing\nmetadata: {name: o}\nimportId: " + id + "\nspec: {name: outside, size: 6}\n")
		r := e.tf(0, "apply")
		if !strings.Contains(r.stdout, "0 creates, 1 update") {
			t.Errorf("apply with importId: want the object updated, not created\n%s", r)
		}
		if o := e.only(); o.ID != id || o.Size != 6 || o.Token != "made-outside" {
			t.Errorf("object %+v; want %s adopted and resized to 6, its token kept", o, id)
		}
		e.tf(0, "plan")
		if r := e.tf(0, "describe", "convergetest.thing/o", "-o", "json"); !strings.Contains(r.stdout, `"id": "`+id+`"`) {
			t.Errorf("describe: want the outputs of %s\n%s", id, r.stdout)
		}
	})
}

// children are the ids of pid's child processes.
func children(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var got []int
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, w := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(w); err == nil {
				got = append(got, n)
			}
		}
	}
	return got
}

// pluginOf is the test provider's process among converge's children; 0
// when none runs.
func pluginOf(pid int) int {
	for _, c := range children(pid) {
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", c)); err == nil && filepath.Base(exe) == tpExe {
			return c
		}
	}
	return 0
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) S ...: a zombie has exited.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// holdCreates makes the provider's creates wait, and returns a func that
// waits for the create of name to be held.
func (e *tfEnv) holdCreates() (release func(), held func(name string)) {
	e.t.Helper()
	hold := filepath.Join(e.objects, tpHold)
	if err := os.WriteFile(hold, nil, 0o644); err != nil {
		e.t.Fatal(err)
	}
	release = func() {
		if err := os.Remove(hold); err != nil && !os.IsNotExist(err) {
			e.t.Fatal(err)
		}
	}
	e.t.Cleanup(release)
	held = func(name string) {
		e.t.Helper()
		eventually(e.t, 20*time.Second, "the create of "+name+" held", func() string {
			if _, err := os.Stat(filepath.Join(e.objects, name+".creating")); err != nil {
				return err.Error()
			}
			return ""
		})
	}
	return release, held
}

// TestTerraformPluginKilled: the plugin killed during a create is a
// retryable error: converge starts it again, creates once, converges.
func TestTerraformPluginKilled(t *testing.T) {
	forEachProtocol(t, func(t *testing.T, proto int) {
		e := newTFEnv(t, proto)
		e.installUnpacked()
		e.writeThings("kind: convergetest.thing\nmetadata: {name: a}\nspec: {name: alpha}\n")
		release, held := e.holdCreates()
		p := e.startTF("apply", "--timeout", "50s")
		held("alpha")
		plugin := pluginOf(p.cmd.Process.Pid)
		if plugin == 0 {
			t.Fatalf("no plugin process among converge's children %v", children(p.cmd.Process.Pid))
		}
		if err := syscall.Kill(plugin, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "the plugin gone", func() string {
			if alive(plugin) {
				return fmt.Sprintf("pid %d alive", plugin)
			}
			return ""
		})
		// The premise: the kill landed mid-create, before the object was
		// written.
		if objs := e.objectsNow(); len(objs) != 0 {
			t.Fatalf("objects %v when the plugin was killed; want none yet", objs)
		}
		release()
		<-p.done
		if c := p.code(); c != 0 {
			t.Fatalf("apply: exit %d; want 0\n%s", c, p.stderr.String())
		}
		if o := e.only(); o.Name != "alpha" {
			t.Errorf("object %+v; want alpha", o)
		}
		if logs := p.stderr.String(); !strings.Contains(logs, "plugin restarted") {
			t.Errorf("the logs do not say the plugin restarted\n%s", logs)
		}
		e.tf(0, "plan")
	})
}

// TestTerraformConvergeKilled: converge killed with SIGKILL during a
// create; the provider cannot look for what a create made, so the next
// apply makes no second object and says what to do; after converge state
// forget, apply converges with one object.
func TestTerraformConvergeKilled(t *testing.T) {
	forEachProtocol(t, func(t *testing.T, proto int) {
		e := newTFEnv(t, proto)
		e.installUnpacked()
		e.writeThings("kind: convergetest.thing\nmetadata: {name: a}\nspec: {name: alpha}\n")
		release, held := e.holdCreates()
		p := e.startTF("apply")
		held("alpha")
		plugin := pluginOf(p.cmd.Process.Pid)
		if plugin == 0 {
			t.Fatalf("no plugin process among converge's children %v", children(p.cmd.Process.Pid))
		}
		t.Cleanup(func() {
			if alive(plugin) {
				_ = syscall.Kill(plugin, syscall.SIGKILL)
			}
		})
		if err := p.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		if c := p.code(); c != -1 {
			t.Fatalf("converge: exit %d; want killed by the signal", c)
		}
		release()
		// The orphaned plugin, its connection gone, gives up the create.
		eventually(t, 10*time.Second, "the orphaned plugin gone", func() string {
			if alive(plugin) {
				return fmt.Sprintf("pid %d alive", plugin)
			}
			return ""
		})
		if objs := e.objectsNow(); len(objs) > 1 {
			t.Fatalf("objects %v after the kill; want at most one", objs)
		}
		before := e.objectsNow()

		r := e.tf(1, "apply")
		for _, want := range []string{"interrupted", "importId", "converge state forget convergetest.thing/a"} {
			if !strings.Contains(r.stdout+r.stderr, want) {
				t.Errorf("apply after the kill does not say %q\n%s", want, r)
			}
		}
		if after := e.objectsNow(); len(after) != len(before) {
			t.Fatalf("objects %v after the apply that followed the kill; want %v: no second object", after, before)
		}
		if len(before) != 0 {
			t.Fatalf("the killed create made an object: %v", before)
		}

		e.tf(0, "state", "forget", "convergetest.thing/a")
		e.tf(0, "apply")
		if o := e.only(); o.Name != "alpha" {
			t.Errorf("object %+v; want alpha", o)
		}
		if ph := tfStatusPhases(t, e); ph["convergetest.thing/a"] != "Ready" {
			t.Errorf("phases %v; want convergetest.thing/a Ready", ph)
		}
	})
}

func tfStatusPhases(t *testing.T, e *tfEnv) map[string]string {
	t.Helper()
	r := e.tf(0, "status", "-o", "json")
	var st struct{ Resources []controller.ResourceView }
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, r.stdout)
	}
	got := map[string]string{}
	for _, row := range st.Resources {
		got[row.ID] = string(row.Phase)
	}
	return got
}

// TestTerraformLock: converge providers lock writes converge.lock with
// the version and hash; a binary changed afterwards is refused, naming
// its path and both hashes; a constraint no installed version meets lists
// the directories searched.
func TestTerraformLock(t *testing.T) {
	e := newTFEnv(t, 6)
	e.installUnpacked()
	e.write(map[string]string{"m.yaml": e.providerConfig("  version: \"~> 0.1\"\n") + "---\nkind: convergetest.thing\nmetadata: {name: a}\nspec: {name: alpha}\n"})

	var listed providersView
	r := e.exec("providers", "-o", "json", "--plugin-dir", e.plugins)
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil || len(listed.Installed) != 1 {
		t.Fatalf("providers -o json: %v\n%s", err, r)
	}
	hash := listed.Installed[0].Hashes[0]

	r = e.tf(0, "providers", "lock")
	lockPath := filepath.Join(e.manifests, "converge.lock")
	if !strings.Contains(r.stdout, "Locked "+tpSource+" "+tpVersion) || !strings.Contains(r.stdout, lockPath) {
		t.Errorf("providers lock: want %s %s locked in %s\n%s", tpSource, tpVersion, lockPath, r)
	}
	b, err := os.ReadFile(lockPath)
	if err != nil {
		t.Fatal(err)
	}
	var lock struct {
		Format    int `json:"format"`
		Providers map[string]struct {
			Version     string   `json:"version"`
			Constraints string   `json:"constraints"`
			Hashes      []string `json:"hashes"`
		} `json:"providers"`
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		t.Fatalf("converge.lock: %v\n%s", err, b)
	}
	got, ok := lock.Providers[tpSource]
	if len(lock.Providers) != 1 || !ok || got.Version != tpVersion || got.Constraints != "~> 0.1" || strings.Join(got.Hashes, ",") != hash {
		t.Errorf("converge.lock:\n%s\nwant %s at %s, constraint ~> 0.1, hash %s", b, tpSource, tpVersion, hash)
	}
	e.tf(0, "apply")

	// A changed binary: one byte appended.
	f, err := os.OpenFile(e.unpackedPath(), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	r = e.tf(1, "plan")
	changed := regexp.MustCompile(`has hash (h1:\S+),`).FindStringSubmatch(r.stderr)
	pkgDir := filepath.Dir(e.unpackedPath())
	if !strings.Contains(r.stderr, pkgDir+" has hash") || !strings.Contains(r.stderr, "("+hash+")") || changed == nil || changed[1] == hash {
		t.Errorf("plan with a changed binary: want an error naming %s, its new hash and the locked %s\n%s", pkgDir, hash, r)
	}

	// A constraint no installed version meets (the lock removed, which
	// would otherwise say it is stale).
	if err := os.Remove(lockPath); err != nil {
		t.Fatal(err)
	}
	e.write(map[string]string{"m.yaml": e.providerConfig("  version: \">= 2.0\"\n")})
	r = e.tf(1, "validate")
	for _, want := range []string{"ProviderConfig/convergetest: spec.version:", `matches ">= 2.0"`, "searched:", e.plugins, filepath.Join(e.home, ".terraform.d", "plugins"), "/usr/share/terraform/plugins"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("validate with version >= 2.0 does not say %q\n%s", want, r)
		}
	}
	if r := e.tf(1, "providers", "lock"); !strings.Contains(r.stderr, "ProviderConfig/convergetest: spec.version:") || !strings.Contains(r.stderr, e.plugins) {
		t.Errorf("providers lock with version >= 2.0: want an error on spec.version listing %s\n%s", e.plugins, r)
	}
	if _, err := os.Stat(lockPath); !os.IsNotExist(err) {
		t.Errorf("providers lock that failed wrote %s (%v)", lockPath, err)
	}
}

// TestTerraformSensitive: a sensitive input (secret), a computed
// sensitive output (token) and a file.File whose content is built from
// the token never show in clear in status, describe, plan, events or the
// logs, nor in the state file's bytes.
func TestTerraformSensitive(t *testing.T) {
	forEachProtocol(t, func(t *testing.T, proto int) {
		e := newTFEnv(t, proto)
		e.installUnpacked()
		secret := fmt.Sprintf("s3cret-%d-%d", proto, time.Now().UnixNano())
		thing := func(size int) string {
			return fmt.Sprintf("kind: convergetest.thing\nmetadata: {name: a}\nspec:\n  name: alpha\n  size: %d\n  secret: %q\n", size, secret)
		}
		const file = "kind: file.File\nmetadata: {name: f}\nspec:\n  path: tok.txt\n  content: \"token=${convergetest.thing/a.outputs.token}\"\n"
		e.writeThings(thing(1), file)
		var outs []string
		r := e.tf(0, "apply", "--log-level", "debug")
		outs = append(outs, r.stdout, r.stderr)
		o := e.only()
		if o.Secret == nil || *o.Secret != secret || len(o.Token) != 32 {
			t.Fatalf("object %+v; want secret %s and a token", o, secret)
		}
		// The premise: the file was made from the token.
		if b, err := os.ReadFile(filepath.Join(e.root, "tok.txt")); err != nil || string(b) != "token="+o.Token {
			t.Fatalf("tok.txt: %q, %v; want token=%s", b, err, o.Token)
		}
		e.writeThings(thing(2), file) // a plan with changes
		for _, sub := range [][]string{
			{"plan"}, {"status", "-o", "json"}, {"describe", "convergetest.thing/a", "-o", "json"},
			{"describe", "file.File/f", "-o", "json"}, {"describe", "convergetest.thing/a"}, {"events"}, {"events", "-o", "json"},
			{"apply"}, {"drift"},
		} {
			r := e.exec(e.args(append(sub, "--log-level", "debug")...)...)
			if r.code != 0 && r.code != 2 {
				t.Fatalf("converge %s: %s", strings.Join(sub, " "), r)
			}
			outs = append(outs, strings.Join(sub, " "), r.stdout, r.stderr)
		}
		if r := e.tf(0, "describe", "convergetest.thing/a", "-o", "json"); !strings.Contains(r.stdout, `"token": "(sensitive)"`) || !strings.Contains(r.stdout, `"secret": "(sensitive)"`) {
			t.Errorf("describe: want token and secret masked\n%s", r.stdout)
		}
		all := strings.Join(outs, "\n")
		for name, v := range map[string]string{"secret": secret, "token": o.Token} {
			if i := strings.Index(all, v); i >= 0 {
				t.Errorf("the %s is in clear in the output: ...%s...", name, all[max(0, i-300):min(len(all), i+len(v)+50)])
			}
		}
		state := filepath.Dir(e.state)
		ents, err := os.ReadDir(state)
		if err != nil {
			t.Fatal(err)
		}
		var read []string
		for _, ent := range ents {
			name := ent.Name()
			if !strings.HasPrefix(name, filepath.Base(e.state)) || strings.HasSuffix(name, ".key") || strings.HasSuffix(name, ".lock") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(state, name))
			if err != nil {
				t.Fatal(err)
			}
			read = append(read, fmt.Sprintf("%s (%d bytes)", name, len(b)))
			for what, v := range map[string]string{"secret": secret, "token": o.Token, "file content": "token=" + o.Token} {
				if strings.Contains(string(b), v) {
					t.Errorf("%s holds the %s in clear", name, what)
				}
			}
		}
		sort.Strings(read)
		if len(read) < 2 {
			t.Errorf("read %v of the state; want the database and its -wal", read)
		}
	})
}

// TestTerraformPluginLogLevel: go-plugin's messages and the plugin's Info
// lines are at debug: an ordinary apply logs none of them, and one at
// --log-level debug does (the premise: they exist).
func TestTerraformPluginLogLevel(t *testing.T) {
	e := newTFEnv(t, 6)
	e.installUnpacked()
	e.writeThings("kind: convergetest.thing\nmetadata: {name: a}\nspec: {name: alpha}\n")
	noise := []string{"plugin process exited", "configuring server automatic mTLS", "plugin started", "plugin address"}
	r := e.tf(0, "apply")
	for _, line := range strings.Split(r.stderr, "\n") {
		for _, n := range noise {
			if strings.Contains(line, n) {
				t.Errorf("an ordinary apply logs %q:\n%s", n, line)
			}
		}
		if strings.Contains(line, "plugin=") && !strings.Contains(line, "level=WARN") && !strings.Contains(line, "level=ERROR") {
			t.Errorf("an ordinary apply logs a plugin line below warn:\n%s", line)
		}
	}
	r = e.tf(0, "apply", "--log-level", "debug")
	for _, n := range noise {
		if !regexp.MustCompile(`level=DEBUG msg="` + regexp.QuoteMeta(n)).MatchString(r.stderr) {
			t.Errorf("apply --log-level debug does not log %q at debug\n%s", n, r.stderr)
		}
	}
}

// TestTerraformPluginSearch: with no --plugin-dir, a provider is found in
// CONVERGE_PLUGIN_DIR, in a Terraform plugin cache named by
// TF_PLUGIN_CACHE_DIR, and in ~/.terraform.d/plugins, Terraform's own
// default, as they are.
func TestTerraformPluginSearch(t *testing.T) {
	for name, tc := range map[string]struct {
		env string // NAME= the plugin directory; "" for ~/.terraform.d/plugins
	}{
		"CONVERGE_PLUGIN_DIR":    {env: "CONVERGE_PLUGIN_DIR"},
		"TF_PLUGIN_CACHE_DIR":    {env: "TF_PLUGIN_CACHE_DIR"},
		"~/.terraform.d/plugins": {},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newTFEnv(t, 6)
			if tc.env == "" {
				e.plugins = filepath.Join(e.home, ".terraform.d", "plugins")
			}
			e.installUnpacked()
			cmd := exec.Command(binary, "providers", "-o", "json")
			cmd.Env = e.environ()
			if tc.env != "" {
				cmd.Env = append(cmd.Env, tc.env+"="+e.plugins)
			}
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("providers: %v\n%s", err, out)
			}
			var v providersView
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatalf("providers -o json: %v\n%s", err, out)
			}
			if len(v.Installed) != 1 || v.Installed[0].FoundIn != e.plugins || v.Installed[0].Error != "" {
				t.Errorf("installed %+v; want the test provider, found in %s", v.Installed, e.plugins)
			}
		})
	}
}
