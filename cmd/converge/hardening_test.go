package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// binIn runs the converge binary in dir and kills it after within: a
// command that should have refused at once and did not is not waited for.
func binIn(t *testing.T, dir string, within time.Duration, args ...string) (result, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var stdout, stderr syncBuffer
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return r, false
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("converge %s: %v", strings.Join(args, " "), err)
	}
	return r, true
}

// TestRunAndAdoptRememberRoot: run (also --dry-run) and adopt, against a
// state that belongs to another root, refuse at once, naming both roots
// and how to move one; they touch neither root.
func TestRunAndAdoptRememberRoot(t *testing.T) {
	e := newEnv(t)
	files := map[string]string{"a.txt": "a"}
	e.write(filesSet(files))
	e.mustRun(0, "apply")
	root := realPath(t, e.root)
	other := realPath(t, t.TempDir())
	// A file the adopt would take over, in the other root (the default,
	// as commands run in it).
	if err := os.WriteFile(filepath.Join(other, "b.txt"), []byte("b"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.write(filesSet(map[string]string{"a.txt": "a", "b.txt": "b"}))

	for _, sub := range [][]string{
		{"run", "--listen", "", "--resync", "1h"},
		{"run", "--listen", "", "--resync", "1h", "--dry-run"},
		{"adopt", "file.File/b-txt", "--yes"},
	} {
		for _, rootArgs := range [][]string{{"--root", other}, nil} {
			args := append(append(append([]string{}, sub...), "-f", e.manifests, "--state", e.state), rootArgs...)
			r, ended := binIn(t, other, 20*time.Second, args...)
			if !ended {
				t.Errorf("converge %s: still running after 20s; want it refused at once\n%s", strings.Join(args, " "), r)
				continue
			}
			if r.code != 1 {
				t.Errorf("converge %s: got exit %d; want 1\n%s", strings.Join(args, " "), r.code, r)
				continue
			}
			want := []string{"belongs to root " + root, other, "converge state set-root"}
			if rootArgs == nil {
				want = append(want, "the default")
			}
			for _, w := range want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("converge %s: stderr lacks %q:\n%s", strings.Join(args, " "), w, r.stderr)
				}
			}
		}
	}
	if diff := cmp.Diff(fileTree(files), tree(t, e.root)); diff != "" {
		t.Errorf("the root after the refused commands (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]node{"b.txt": fileNode(0o644, "b")}, tree(t, other)); diff != "" {
		t.Errorf("the other root after the refused commands (-want +got):\n%s", diff)
	}
	// The premise: adopt takes b.txt over when the root is the state's.
	if err := os.WriteFile(filepath.Join(e.root, "b.txt"), []byte("b"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := e.run("adopt", "file.File/b-txt", "--yes"); r.code != 0 {
		t.Errorf("adopt with the state's root: %s", r)
	}
}

// TestMoreCommandsNameTheirState: run, get, describe, rollback, adopt,
// state forget, destroy and state set-root name the state and its root on
// stderr before anything else they print there.
func TestMoreCommandsNameTheirState(t *testing.T) {
	e := newEnv(t)
	e.write(filesSet(map[string]string{"a.txt": "a1"}))
	e.mustRun(0, "apply")
	first := e.history()[0].Hash
	e.write(filesSet(map[string]string{"a.txt": "a2"}))
	state := realPath(t, e.state)
	root := realPath(t, e.root)
	header := "state: " + state + " (root " + root + ")\n"
	check := func(what string, r result) {
		t.Helper()
		if !strings.HasPrefix(r.stderr, header) {
			t.Errorf("converge %s: stderr %q; want it to start with %q", what, r.stderr, header)
		}
	}

	// The daemon: the header comes before its logs.
	d := start(t, append([]string{"run", "--listen", "", "--resync", "1h"}, e.globalArgs()...)...)
	eventually(t, 15*time.Second, "the daemon converges", treeIs(e.root, fileTree(map[string]string{"a.txt": "a2"})))
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := d.code(); code != 0 {
		t.Errorf("run: exit %d\n%s", code, d.stderr.String())
	}
	check("run", result{stderr: d.stderr.String()})

	for _, sub := range [][]string{
		{"get", "file.File/a-txt"},
		{"get", "file.File/a-txt", "-o", "json"},
		{"describe", "file.File/a-txt"},
		{"rollback", first},
	} {
		check(strings.Join(sub, " "), e.mustRun(0, sub...))
	}
	if diff := cmp.Diff(fileTree(map[string]string{"a.txt": "a1"}), tree(t, e.root)); diff != "" {
		t.Errorf("premise: rollback %s did not converge the first revision (-want +got):\n%s", first, diff)
	}

	// adopt, then forget, an object converge did not make.
	if err := os.WriteFile(filepath.Join(e.root, "b.txt"), []byte("b"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.write(filesSet(map[string]string{"a.txt": "a1", "b.txt": "b"}))
	check("adopt", e.mustRun(0, "adopt", "file.File/b-txt", "--yes"))
	check("state forget", e.mustRun(0, "state", "forget", "file.File/b-txt"))
	check("destroy", e.mustRun(0, "destroy", "--yes"))
	other := realPath(t, t.TempDir())
	check("state set-root", cli(nil, "state", "set-root", other, "--state", e.state))
}

// widgetAPI is a JSON collection at /v1/widgets whose requests of the
// methods in hang block until the client gives up (or a minute passes),
// then fail with 503.
type widgetAPI struct {
	mu      sync.Mutex
	objects map[string]map[string]any
	next    int
	hang    map[string]bool
	hung    atomic.Int64 // requests that hung
}

func newWidgetAPI(t *testing.T) (*widgetAPI, *httptest.Server) {
	a := &widgetAPI{objects: map[string]map[string]any{}, hang: map[string]bool{}}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		hang := a.hang[r.Method]
		a.mu.Unlock()
		if hang {
			a.hung.Add(1)
			select {
			case <-release:
			case <-r.Context().Done():
			case <-time.After(time.Minute):
			}
			http.Error(w, "too late", http.StatusServiceUnavailable)
			return
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		id := strings.TrimPrefix(r.URL.Path, "/v1/widgets/")
		switch {
		case r.URL.Path == "/v1/widgets" && r.Method == http.MethodPost:
			var body map[string]any
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			a.next++
			body["id"] = strconv.Itoa(a.next)
			a.objects[body["id"].(string)] = body
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(body)
		case r.URL.Path == "/v1/widgets" && r.Method == http.MethodGet:
			list := []map[string]any{}
			for _, o := range a.objects {
				list = append(list, o)
			}
			_ = json.NewEncoder(w).Encode(list)
		case a.objects[id] == nil:
			http.NotFound(w, r)
		case r.Method == http.MethodGet:
			_ = json.NewEncoder(w).Encode(a.objects[id])
		case r.Method == http.MethodPut || r.Method == http.MethodPatch:
			var body map[string]any
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			for k, v := range body {
				a.objects[id][k] = v
			}
			_ = json.NewEncoder(w).Encode(a.objects[id])
		case r.Method == http.MethodDelete:
			delete(a.objects, id)
			w.WriteHeader(http.StatusNoContent)
		default:
			http.Error(w, "no", http.StatusMethodNotAllowed)
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	return a, srv
}

func (a *widgetAPI) hangOn(method string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.hang[method] = true
}

func (a *widgetAPI) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.objects)
}

// TestTimeoutBoundsEveryCommand: --timeout bounds apply, destroy and
// rollback as a whole, the provider call in flight included (the
// provider's own call timeout is 30 s): each ends within the timeout and
// 5 s, says it stopped because the timeout passed, and exits 1.
func TestTimeoutBoundsEveryCommand(t *testing.T) {
	widget := func(url, size string) map[string]string {
		return map[string]string{"w.yaml": "kind: http.Resource\nmetadata: {name: w}\nspec:\n  url: " + url + "/v1/widgets\n  body: {name: w, size: " + size + "}\n"}
	}
	const timeout = 2 * time.Second
	tests := map[string]struct {
		hang string                            // the method that hangs
		prep func(e *env, url string) []string // returns the command
	}{
		"apply creating": {hang: http.MethodPost, prep: func(e *env, url string) []string {
			e.write(widget(url, "1"))
			return []string{"apply"}
		}},
		"apply updating": {hang: http.MethodPut, prep: func(e *env, url string) []string {
			e.write(widget(url, "1"))
			e.mustRun(0, "apply")
			e.write(widget(url, "2"))
			return []string{"apply"}
		}},
		"destroy": {hang: http.MethodDelete, prep: func(e *env, url string) []string {
			e.write(widget(url, "1"))
			e.mustRun(0, "apply")
			return []string{"destroy", "--yes"}
		}},
		"rollback": {hang: http.MethodPut, prep: func(e *env, url string) []string {
			e.write(widget(url, "1"))
			e.mustRun(0, "apply")
			first := e.history()[0].Hash
			e.write(widget(url, "2"))
			e.mustRun(0, "apply")
			return []string{"rollback", first}
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			api, srv := newWidgetAPI(t)
			e := newEnv(t)
			sub := tc.prep(e, srv.URL)
			before := api.count()
			api.hangOn(tc.hang)
			began := time.Now()
			r := e.run(append(sub, "--timeout", timeout.String())...)
			took := time.Since(began)
			if api.hung.Load() == 0 {
				t.Fatalf("premise: no %s reached the server\n%s", tc.hang, r)
			}
			if r.code != 1 {
				t.Errorf("converge %s against a hanging %s: got exit %d; want 1\n%s", sub[0], tc.hang, r.code, r)
			}
			if took > timeout+5*time.Second {
				t.Errorf("converge %s --timeout %s took %s: the call in flight was not bounded", sub[0], timeout, took)
			}
			if want := "Stopped before converging: --timeout " + timeout.String() + " passed"; !strings.Contains(r.stdout, want) {
				t.Errorf("converge %s: the report does not say %q:\n%s", sub[0], want, r)
			}
			if tc.hang == http.MethodDelete && api.count() != before {
				t.Errorf("the hanging delete deleted: %d objects; want %d", api.count(), before)
			}
		})
	}
}

// eventsJSON is what converge events -o json says, by reason.
func eventsJSON(t *testing.T, state string) map[string][]struct{ Type, Message string } {
	t.Helper()
	r := bin(t, "events", "-o", "json", "--state", state)
	if r.code != 0 {
		t.Fatalf("events -o json: %s", r)
	}
	var evs []struct{ Type, Reason, Message string }
	if err := json.Unmarshal([]byte(r.stdout), &evs); err != nil {
		t.Fatalf("events -o json: %v\n%s", err, r.stdout)
	}
	out := map[string][]struct{ Type, Message string }{}
	for _, ev := range evs {
		out[ev.Reason] = append(out[ev.Reason], struct{ Type, Message string }{ev.Type, ev.Message})
	}
	return out
}

// TestHeldAndEmptyAreWarnings: the DeletionHeld event, of apply and of the
// daemon, is a Warning whose message lists what would be deleted and how
// to release it; the daemon's EmptyManifests event is a Warning too.
func TestHeldAndEmptyAreWarnings(t *testing.T) {
	const held = "would delete 4 of the 6 resources converge manages (file.File/f0, file.File/f1, file.File/f2, file.File/f3), more than --max-delete 50% allows"
	checkHeld := func(t *testing.T, state string) {
		t.Helper()
		evs := eventsJSON(t, state)["DeletionHeld"]
		if len(evs) == 0 {
			t.Fatalf("no DeletionHeld event")
		}
		for _, ev := range evs {
			if ev.Type != "Warning" {
				t.Errorf("DeletionHeld is a %s event; want Warning", ev.Type)
			}
			for _, s := range []string{held, "converge apply --allow-delete"} {
				if !strings.Contains(ev.Message, s) {
					t.Errorf("DeletionHeld's message %q does not say %q", ev.Message, s)
				}
			}
		}
	}
	t.Run("apply", func(t *testing.T) {
		e := newEnv(t)
		manyFiles(e, 5)
		e.mustRun(0, "apply")
		for i := range 4 {
			e.remove("f" + itoa(i) + ".yaml")
		}
		e.mustRun(1, "apply")
		checkHeld(t, e.state)
	})
	t.Run("run", func(t *testing.T) {
		e := newEnv(t)
		manyFiles(e, 5)
		d := start(t, append([]string{"run", "--listen", "", "--resync", "300ms", "--debounce", "50ms"}, e.globalArgs()...)...)
		eventually(t, 15*time.Second, "initial converge", func() string {
			if got, err := readTree(e.root); err != nil || len(got) != 6 {
				return fmt.Sprintf("tree %v (%v)", got, err)
			}
			return ""
		})
		for i := range 4 {
			e.remove("f" + itoa(i) + ".yaml")
		}
		eventually(t, 15*time.Second, "DeletionHeld event", func() string {
			if len(eventsJSON(t, e.state)["DeletionHeld"]) == 0 {
				return "none yet"
			}
			return ""
		})
		checkHeld(t, e.state)
		for _, name := range []string{"f4.yaml", "dir.yaml"} {
			e.remove(name)
		}
		eventually(t, 15*time.Second, "EmptyManifests event", func() string {
			if len(eventsJSON(t, e.state)["EmptyManifests"]) == 0 {
				return "none yet"
			}
			return ""
		})
		for _, ev := range eventsJSON(t, e.state)["EmptyManifests"] {
			if ev.Type != "Warning" {
				t.Errorf("EmptyManifests is a %s event; want Warning", ev.Type)
			}
			if !strings.Contains(ev.Message, "6") {
				t.Errorf("EmptyManifests' message %q does not say how many resources it keeps", ev.Message)
			}
		}
		if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := d.code(); code != 0 {
			t.Errorf("run: exit %d\n%s", code, d.stderr.String())
		}
		if got := tree(t, e.root); len(got) != 6 {
			t.Errorf("the daemon deleted held resources: %v", got)
		}
	})
}

// TestDestroyIsNotLimited: destroy deletes every managed resource, far
// more than --max-delete's default 50% lets a revision delete, and is not
// held, even beside a held revision.
func TestDestroyIsNotLimited(t *testing.T) {
	e := newEnv(t)
	manyFiles(e, 3) // 4 resources
	e.mustRun(0, "apply")
	if got := tree(t, e.root); len(got) != 4 {
		t.Fatalf("premise: the tree has %d entries; want 4: %v", len(got), got)
	}
	// A held revision: 3 of the 4 would go.
	for i := range 3 {
		e.remove("f" + itoa(i) + ".yaml")
	}
	if r := e.mustRun(1, "apply"); !strings.Contains(r.stderr, "would delete 3 of the 4") {
		t.Fatalf("premise: the apply was not held:\n%s", r)
	}
	r := e.mustRun(0, "destroy", "--yes")
	if !strings.HasPrefix(r.stdout, "Destroy: 4 resources deleted or forgotten") {
		t.Errorf("destroy: %s", r)
	}
	if strings.Contains(r.stderr, "DeletionHeld") || strings.Contains(r.stderr, "--max-delete") {
		t.Errorf("destroy speaks of the deletion limit:\n%s", r)
	}
	if got := tree(t, e.root); len(got) != 0 {
		t.Errorf("destroy left %v", got)
	}
	if got := managed(t, e.state); len(got) != 0 {
		t.Errorf("the state still manages %v after destroy", got)
	}
}

// managed returns the resources the state records, by ID, with their
// phases (converge status -o json without manifests).
func managed(t *testing.T, state string) map[string]string {
	t.Helper()
	r := cli(nil, "status", "-o", "json", "--state", state)
	if r.code != 0 {
		t.Fatalf("status: %s", r)
	}
	var st struct {
		Resources []struct{ ID, Phase string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, r.stdout)
	}
	out := map[string]string{}
	for _, res := range st.Resources {
		out[res.ID] = res.Phase
	}
	return out
}

// TestDestroyReportsForeignEntries: destroy over a managed directory that
// holds a file converge does not manage deletes everything else, leaves
// the directory and the file, names the file, and exits 1 within seconds
// (not after ten minutes of retries); once the file is gone, destroy
// finishes.
func TestDestroyReportsForeignEntries(t *testing.T) {
	e := newEnv(t)
	e.write(map[string]string{"site.yaml": `kind: file.Directory
metadata: {name: www}
spec: {path: www}
---
kind: file.File
metadata: {name: index}
dependsOn: [file.Directory/www]
spec: {path: www/index.html, content: hi}
---
kind: file.File
metadata: {name: top}
spec: {path: top.txt, content: t}
`})
	e.mustRun(0, "apply")
	foreign := filepath.Join(e.root, "www", "other.txt")
	if err := os.WriteFile(foreign, []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	// (--timeout: a destroy that retried would fail the test in 30 s,
	// not hang it for the default 10 minutes)
	r := e.run("destroy", "--yes", "--timeout", "30s")
	took := time.Since(began)
	if r.code != 1 {
		t.Errorf("destroy over a foreign file: got exit %d; want 1\n%s", r.code, r)
	}
	if took > 5*time.Second {
		t.Errorf("destroy took %s; want it to report within seconds", took)
	}
	want := "file.Directory/www  Failed  still present after leaving the manifests: delete file.Directory/www: not deleted: www holds other.txt, which converge does not manage"
	if !strings.Contains(r.stdout, want) {
		t.Errorf("destroy's report does not say %q:\n%s", want, r)
	}
	if !strings.HasPrefix(r.stdout, "Destroy: 2 resources deleted or forgotten") {
		t.Errorf("destroy did not delete the rest:\n%s", r)
	}
	if diff := cmp.Diff(map[string]node{"www": dirNode(0o755), "www/other.txt": fileNode(0o644, "mine\n")}, tree(t, e.root)); diff != "" {
		t.Errorf("the tree after destroy (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"file.Directory/www": "Failed"}, managed(t, e.state)); diff != "" {
		t.Errorf("what the state manages after destroy (-want +got):\n%s", diff)
	}
	if err := os.Remove(foreign); err != nil {
		t.Fatal(err)
	}
	if r := e.mustRun(0, "destroy", "--yes"); !strings.HasPrefix(r.stdout, "Destroy: 1 resource deleted") {
		t.Errorf("destroy once the foreign file is gone: %s", r)
	}
	if got := tree(t, e.root); len(got) != 0 {
		t.Errorf("the second destroy left %v", got)
	}
}
