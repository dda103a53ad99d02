package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/convergehq/converge/store/etcd/etcdtest"
)

// etcdEnv is an env whose state is kept in etcd, under a prefix of its
// own.
type etcdEnv struct {
	*env
	store []string
}

func newEtcdEnv(t *testing.T) *etcdEnv {
	t.Helper()
	e := newEnv(t)
	key := filepath.Join(t.TempDir(), "state.key")
	if err := os.WriteFile(key, []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &etcdEnv{env: e, store: []string{"--store", etcdScheme + testEtcd(t), "--etcd-prefix", etcdtest.Prefix(t), "--state-key", key}}
}

func (e *etcdEnv) cmd(want int, sub ...string) result {
	e.t.Helper()
	r := cli(strings.NewReader(""), append(append(sub, "-f", e.manifests, "--root", e.root), e.store...)...)
	if r.code != want {
		e.t.Fatalf("converge %s: got exit %d; want %d\n%s", strings.Join(sub, " "), r.code, want, r)
	}
	return r
}

// TestCommandsOnEtcd runs the commands of one machine on an etcd state:
// apply, plan, status, get, describe, events, drift, history, rollback,
// destroy, adopt.
func TestCommandsOnEtcd(t *testing.T) {
	e := newEtcdEnv(t)
	v1 := map[string]string{"a.txt": "a1"}
	v2 := map[string]string{"a.txt": "a2", "b.txt": "b2"}
	e.write(filesSet(v1))
	if r := e.cmd(0, "apply"); !strings.Contains(r.stderr, "state: etcd://") {
		t.Errorf("apply does not name the etcd state: %s", r)
	}
	e.write(filesSet(v2))
	e.cmd(2, "plan", "--detailed-exitcode")
	e.cmd(0, "apply")
	if diff := treeIs(e.root, fileTree(v2))(); diff != "" {
		t.Fatal(diff)
	}
	e.cmd(0, "plan", "--detailed-exitcode")
	var st struct{ Resources []struct{ ID, Phase string } }
	if err := json.Unmarshal([]byte(e.cmd(0, "status", "-o", "json").stdout), &st); err != nil || len(st.Resources) != 2 {
		t.Errorf("status: %+v, %v; want 2 resources", st, err)
	}
	e.cmd(0, "get", "file.File/b-txt")
	e.cmd(0, "describe", "file.File/b-txt")
	e.cmd(0, "events")
	if err := os.WriteFile(filepath.Join(e.root, "a.txt"), []byte("changed by hand"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := e.cmd(2, "drift"); !strings.Contains(r.stdout, "a-txt") {
		t.Errorf("drift does not show a.txt: %s", r)
	}
	var hist []historyRow
	if err := json.Unmarshal([]byte(e.cmd(0, "history", "-o", "json").stdout), &hist); err != nil || len(hist) != 2 {
		t.Fatalf("history: %v, %v; want 2 revisions", hist, err)
	}
	e.cmd(0, "rollback")
	if diff := treeIs(e.root, fileTree(v1))(); diff != "" {
		t.Errorf("after rollback: %s", diff)
	}
	e.cmd(0, "destroy", "--yes")
	if diff := treeIs(e.root, map[string]node{})(); diff != "" {
		t.Errorf("after destroy: %s", diff)
	}
	// adopt takes over an object that exists already.
	if err := os.WriteFile(filepath.Join(e.root, "c.txt"), []byte("by hand"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.write(filesSet(map[string]string{"c.txt": "c2"}))
	if r := e.cmd(0, "adopt", "file.File/c-txt", "--yes"); !strings.Contains(r.stdout, "Adopted 1 object") {
		t.Errorf("adopt: %s", r)
	}
	e.cmd(0, "apply")
	if diff := treeIs(e.root, fileTree(map[string]string{"c.txt": "c2"}))(); diff != "" {
		t.Errorf("after adopt and apply: %s", diff)
	}
}

// TestStoreErrors checks what a wrong --store, an etcd that does not
// answer, missing TLS files and a missing state key say.
func TestStoreErrors(t *testing.T) {
	e := newEnv(t)
	e.write(filesSet(map[string]string{"a.txt": "a"}))
	ep := etcdScheme + testEtcd(t)
	tests := map[string]struct {
		args []string
		want []string
	}{
		"not a URL we know":   {[]string{"status", "--store", "http://127.0.0.1:2379"}, []string{"--store", "etcd://HOST:PORT"}},
		"no endpoint":         {[]string{"status", "--store", "etcd://"}, []string{"no endpoint"}},
		"no port":             {[]string{"status", "--store", "etcd://127.0.0.1"}, []string{"not HOST:PORT"}},
		"bad port":            {[]string{"status", "--store", "etcd://127.0.0.1:http2"}, []string{"no valid port"}},
		"unreachable":         {[]string{"status", "--store", "etcd://127.0.0.1:1,127.0.0.1:2", "--etcd-dial-timeout", "300ms"}, []string{"did not answer at 127.0.0.1:1, 127.0.0.1:2 within 300ms", "--etcd-dial-timeout"}},
		"CA file missing":     {[]string{"status", "--store", ep, "--etcd-cacert", "/nonexistent/ca.pem"}, []string{"/nonexistent/ca.pem"}},
		"cert without key":    {[]string{"status", "--store", ep, "--etcd-cert", "/nonexistent/c.pem"}, []string{"give both or neither"}},
		"no state key":        {[]string{"apply", "-f", e.manifests, "--root", e.root, "--store", ep, "--etcd-prefix", etcdtest.Prefix(t)}, []string{"--state-key", "CONVERGE_STATE_KEY"}},
		"cluster on SQLite":   {[]string{"cluster", "status", "--state", e.state}, []string{"needs the state on etcd", "--store etcd://"}},
		"two SQLite states":   {[]string{"status", "--store", "a.db", "--state", "b.db"}, []string{"two SQLite states"}},
		"dry run on a node":   {[]string{"run", "--dry-run", "-f", e.manifests, "--root", e.root, "--store", ep}, []string{"--dry-run with --store etcd://"}},
		"lease TTL too short": {[]string{"run", "-f", e.manifests, "--root", e.root, "--store", ep, "--lease-ttl", "100ms"}, []string{"--lease-ttl 100ms"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Setenv("CONVERGE_STATE_KEY", "")
			r := cli(nil, tt.args...)
			if r.code == 0 {
				t.Fatalf("got exit 0; want an error\n%s", r)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, r.stderr)
				}
			}
			if strings.Contains(r.stderr, "goroutine ") {
				t.Errorf("a stack trace:\n%s", r.stderr)
			}
		})
	}
}

// TestStorePath checks that --store with a path is the SQLite state, as
// --state is.
func TestStorePath(t *testing.T) {
	e := newEnv(t)
	e.write(filesSet(map[string]string{"a.txt": "a"}))
	r := cli(nil, "apply", "-f", e.manifests, "--root", e.root, "--store", e.state)
	if r.code != 0 {
		t.Fatalf("apply --store PATH: %s", r)
	}
	if _, err := os.Stat(e.state); err != nil {
		t.Errorf("--store %s made no state there: %v", e.state, err)
	}
	e.mustRun(0, "status")
}

// TestPushBesideDaemon checks converge push on a SQLite state: the
// converge run that holds it converges the pushed revision.
func TestPushBesideDaemon(t *testing.T) {
	e := newEnv(t)
	v1 := map[string]string{"a.txt": "a1"}
	v2 := map[string]string{"a.txt": "a2", "b.txt": "b2"}
	e.write(filesSet(v1))
	e.bin(0, "apply")
	p := start(t, append([]string{"run", "--resync", "1h", "--listen", ""}, e.globalArgs()...)...)
	defer func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		<-p.done
	}()
	eventually(t, 10*time.Second, "the daemon runs", func() string {
		if !strings.Contains(p.stderr.String(), "converge running") {
			return "not yet"
		}
		return ""
	})
	ci := t.TempDir()
	for name, body := range filesSet(v2) {
		if err := os.WriteFile(filepath.Join(ci, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := bin(t, "push", "-f", ci, "--root", e.root, "--state", e.state)
	if r.code != 0 || !strings.Contains(r.stdout, "1 added, 1 changed, 0 removed") || !strings.Contains(r.stdout, "+ file.File/b-txt") {
		t.Fatalf("push: %s", r)
	}
	eventually(t, 20*time.Second, "the daemon converges the pushed revision", treeIs(e.root, fileTree(v2)))
	if r := bin(t, "push", "-f", ci, "--root", e.root, "--state", e.state); r.code != 0 || !strings.Contains(r.stdout, "is the target already") {
		t.Errorf("push again: %s", r)
	}
}

// TestPushConvergesNothing checks that push alone changes no object.
func TestPushConvergesNothing(t *testing.T) {
	e := newEnv(t)
	v1 := map[string]string{"a.txt": "a1"}
	e.write(filesSet(v1))
	e.bin(0, "apply")
	e.write(filesSet(map[string]string{"a.txt": "a2"}))
	r := e.bin(0, "push", "-o", "json")
	var p pushed
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil || len(p.Changed) != 1 || p.Previous == "" || p.Previous == p.Revision {
		t.Fatalf("push -o json: %+v, %v\n%s", p, err, r)
	}
	if diff := treeIs(e.root, fileTree(v1))(); diff != "" {
		t.Errorf("push changed the world: %s", diff)
	}
	var hist []historyRow
	if err := json.Unmarshal([]byte(e.bin(0, "history", "-o", "json").stdout), &hist); err != nil {
		t.Fatal(err)
	}
	for _, h := range hist {
		if h.Target != (h.Hash == p.Revision) {
			t.Errorf("history: revision %s target %v; want the pushed %s to be the target", short(h.Hash), h.Target, short(p.Revision))
		}
	}
}
