package process_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/providers/process"
)

// fixture is a provider over processes of a backend of their own, all
// killed at the end of the test.
type fixture struct {
	t       testing.TB
	p       *process.Provider
	backend string
	dir     string
	schema  provider.Schema
}

func newFixture(t testing.TB, opts ...process.Option) *fixture {
	t.Helper()
	f := &fixture{t: t, backend: token(), dir: t.TempDir()}
	f.p = process.New(append([]process.Option{process.WithInstance(f.backend)}, opts...)...)
	f.schema = f.p.Schemas()[0]
	t.Cleanup(func() { killBackend(t, f.backend) })
	return f
}

// req is the request for resource name with spec as the engine passes it
// (canonical, defaults applied), TEST_BACKEND added to its env.
func (f *fixture) req(name string, spec map[string]any) provider.Request {
	f.t.Helper()
	spec = provider.CanonicalMap(spec)
	env, _ := spec["env"].(map[string]any)
	if env == nil {
		env = map[string]any{}
	}
	env["TEST_BACKEND"] = f.backend
	spec["env"] = env
	applied, err := f.schema.Apply(spec)
	if err != nil {
		f.t.Fatal(err)
	}
	return provider.Request{ID: process.Kind + "/" + name, Kind: process.Kind, Name: name, Spec: applied, IdempotencyKey: token()}
}

func (f *fixture) create(req provider.Request) provider.Request {
	f.t.Helper()
	res, err := f.p.Create(context.Background(), req)
	if err != nil {
		f.t.Fatalf("Create(%s): %v", req.ID, err)
	}
	req.Private, req.Outputs = res.Private, res.Outputs
	return req
}

func pidOf(t testing.TB, req provider.Request) int {
	t.Helper()
	pid, err := strconv.Atoi(req.Private["pid"])
	if err != nil {
		t.Fatalf("Private %v holds no pid", req.Private)
	}
	return pid
}

// statField returns field n (1-based, as proc(5) counts) of /proc/PID/stat.
func statField(t *testing.T, pid, n int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[n-3]
}

// TestDetached: the process has a session of its own, stdin from
// /dev/null, stdout and stderr on the log file (appended, never a pipe),
// and an environment of the inherited variables and spec.env only.
func TestDetached(t *testing.T) {
	f := newFixture(t)
	t.Setenv("CONVERGE_TEST_SECRET", "must-not-pass")
	t.Setenv("CONVERGE_TEST_PASSED", "passed on")
	log := filepath.Join(f.dir, "out.log")
	if err := os.WriteFile(log, []byte("earlier line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	req := f.create(f.req("detached", map[string]any{
		"command": "sleep", "args": []any{"3600"}, "log": log,
		"env": map[string]any{"FROM_ENV": "${env:CONVERGE_TEST_PASSED}", "LITERAL": "$$HOME"},
	}))
	pid := pidOf(t, req)
	if sid := statField(t, pid, 6); sid != strconv.Itoa(pid) {
		t.Errorf("session %s; want its own (%d)", sid, pid)
	}
	if own := statField(t, os.Getpid(), 6); own == statField(t, pid, 6) {
		t.Errorf("the process shares the test's session %s", own)
	}
	for fd, want := range map[int]string{0: os.DevNull, 1: log, 2: log} {
		got, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd))
		if err != nil || got != want {
			t.Errorf("fd %d is %q (%v); want %s", fd, got, err, want)
		}
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	env := map[string]string{}
	for _, kv := range strings.Split(strings.TrimRight(string(b), "\x00"), "\x00") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	want := map[string]string{"FROM_ENV": "passed on", "LITERAL": "$HOME", process.EnvResource: req.ID, process.EnvInstance: f.backend, "TEST_BACKEND": f.backend}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("env %s = %q; want %q", k, env[k], v)
		}
	}
	for k := range env {
		switch k {
		case "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR":
		default:
			if _, ok := want[k]; !ok {
				t.Errorf("env holds %s, which is neither inherited nor in spec.env", k)
			}
		}
	}
	if b, _ := os.ReadFile(log); !strings.HasPrefix(string(b), "earlier line\n") {
		t.Errorf("the log file was truncated: %q", b)
	}
}

// TestArgsAreNotInterpreted: args reach the program as written; only
// shell: true runs a shell, with args as $1...
func TestArgsAreNotInterpreted(t *testing.T) {
	tests := map[string]struct {
		spec map[string]any
		want string
	}{
		"no shell": {map[string]any{"command": "echo", "args": []any{"$HOME", "a;b", "*", "`id`"}}, "$HOME a;b * `id`\n"},
		"shell":    {map[string]any{"command": "echo $0 $1; echo done", "args": []any{"one two"}, "shell": true}, "sh one two\ndone\n"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			log := filepath.Join(f.dir, "out.log")
			tt.spec["log"] = log
			f.create(f.req("echo", tt.spec))
			eventually(t, bound, "the output", func() bool {
				b, _ := os.ReadFile(log)
				return string(b) == tt.want
			})
		})
	}
}

// TestCommandErrors: a command that cannot run is a terminal error naming
// the field and why.
func TestCommandErrors(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(plain, filepath.Join(dir, "link.log")); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		spec map[string]any
		want string
	}{
		"not in PATH":    {map[string]any{"command": "nosuch"}, `spec.command: "nosuch" not found in PATH`},
		"not executable": {map[string]any{"command": plain}, fmt.Sprintf("spec.command: %q is not executable", plain)},
		"a directory":    {map[string]any{"command": dir}, fmt.Sprintf("spec.command: %q is a directory", dir)},
		"relative path, missing": {map[string]any{"command": "./run", "dir": dir},
			`spec.command: "./run" does not exist`},
		"PATH of spec.env": {map[string]any{"command": "sleep", "env": map[string]any{"PATH": dir}},
			fmt.Sprintf(`spec.command: "sleep" not found in PATH (%s)`, dir)},
		"log through a symlink": {map[string]any{"command": "sleep", "log": filepath.Join(dir, "link.log")},
			fmt.Sprintf("spec.log: %s is a symbolic link", filepath.Join(dir, "link.log"))},
		"env unset": {map[string]any{"command": "sleep", "env": map[string]any{"X": "${env:CONVERGE_TEST_NEVER_SET}"}},
			"spec.env.X: environment variable CONVERGE_TEST_NEVER_SET is not set"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			_, err := f.p.Create(context.Background(), f.req("bad", tt.spec))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Create: %v; want an error saying %q", err, tt.want)
			}
			if c, _ := provider.Classify(err); c != provider.ClassTerminal {
				t.Errorf("class %s; want terminal", c)
			}
			if l := procsOf(t, f.backend); len(l) != 0 {
				t.Errorf("processes started: %v", l)
			}
		})
	}
}

// TestValidation: what the schema and ValidateSpec refuse at load, by
// field.
func TestValidation(t *testing.T) {
	p := process.New()
	s := p.Schemas()[0]
	tests := map[string]struct {
		spec map[string]any
		want []string // fields in error
	}{
		"valid": {map[string]any{"command": "app", "args": []any{"-p", 8080}, "env": map[string]any{"A": "x", "B": 2},
			"health": map[string]any{"http": "http://127.0.0.1:8080/healthz", "interval": "2s", "timeout": "500ms"}, "stopSignal": "int", "stopTimeout": "30s"}, nil},
		"no command":          {map[string]any{"args": []any{"x"}}, []string{"spec.command"}},
		"two checks":          {map[string]any{"command": "app", "health": map[string]any{"tcp": 1, "exec": []any{"true"}}}, []string{"spec.health"}},
		"port out of range":   {map[string]any{"command": "app", "health": map[string]any{"tcp": 70000}}, []string{"spec.health"}},
		"not a URL":           {map[string]any{"command": "app", "health": map[string]any{"http": "ftp://x/"}}, []string{"spec.health"}},
		"empty exec":          {map[string]any{"command": "app", "health": map[string]any{"exec": []any{}}}, []string{"spec.health"}},
		"bad interval":        {map[string]any{"command": "app", "health": map[string]any{"tcp": 80, "interval": "fast"}}, []string{"spec.health"}},
		"unknown health key":  {map[string]any{"command": "app", "health": map[string]any{"tcp": 80, "retries": 3}}, []string{"spec.health"}},
		"bad env name":        {map[string]any{"command": "app", "env": map[string]any{"1X": "y"}}, []string{"spec.env"}},
		"converge's variable": {map[string]any{"command": "app", "env": map[string]any{process.EnvResource: "y"}}, []string{"spec.env"}},
		"unknown signal":      {map[string]any{"command": "app", "stopSignal": "SIGFOO"}, []string{"spec.stopSignal"}},
		"bad stopTimeout":     {map[string]any{"command": "app", "stopTimeout": "soon"}, []string{"spec.stopTimeout"}},
		"relative dir":        {map[string]any{"command": "app", "dir": "srv"}, []string{"spec.dir"}},
		"relative log":        {map[string]any{"command": "app", "log": "app.log"}, []string{"spec.log"}},
		"space, no shell":     {map[string]any{"command": "app --port 80"}, []string{"spec.command"}},
		"space, shell":        {map[string]any{"command": "app --port 80", "shell": true}, nil},
		"reference in health": {map[string]any{"command": "app", "health": map[string]any{"tcp": "${process.Process/db.outputs.port}"}}, nil},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			c := provider.CanonicalMap(tt.spec)
			var got []string
			for _, e := range s.Check(c, provider.IsUnknown) {
				got = append(got, e.Field)
			}
			for _, e := range p.ValidateSpec(process.Kind, c) {
				got = append(got, e.Field)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("fields in error (-want +got):\n%s", d)
			}
		})
	}
}

// TestNotTakenForAnother: a Private whose pid is alive with another start
// time (a reused pid), or a zombie, is no process of converge's: Observe
// says absent and Delete signals nothing.
func TestNotTakenForAnother(t *testing.T) {
	f := newFixture(t)
	other := exec.Command("sleep", "3600")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
	zombie := exec.Command("true")
	if err := zombie.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = zombie.Wait() })
	eventually(t, bound, "the zombie", func() bool { return statField(t, zombie.Process.Pid, 3) == "Z" })

	for name, priv := range map[string]map[string]string{
		"reused pid": {"pid": strconv.Itoa(other.Process.Pid), "start": "1"},
		"zombie":     {"pid": strconv.Itoa(zombie.Process.Pid), "start": statField(t, zombie.Process.Pid, 22)},
	} {
		t.Run(name, func(t *testing.T) {
			req := f.req("ghost", map[string]any{"command": "sleep", "args": []any{"3600"}})
			req.Private = priv
			obs, err := f.p.Observe(context.Background(), req)
			if err != nil || obs.Exists {
				t.Errorf("Observe = Exists %v, %v; want absent", obs.Exists, err)
			}
			if err := f.p.Delete(context.Background(), req); err != nil {
				t.Errorf("Delete: %v", err)
			}
			if !alive(other.Process.Pid) {
				t.Fatal("Delete killed a process that is not converge's")
			}
		})
	}
}

// TestOddCommandName: /proc/PID/stat is read right when the command name
// holds spaces and parentheses.
func TestOddCommandName(t *testing.T) {
	f := newFixture(t)
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep")
	}
	b, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	odd := filepath.Join(f.dir, "a) (b c")
	if err := os.WriteFile(odd, b, 0o755); err != nil {
		t.Fatal(err)
	}
	req := f.create(f.req("odd", map[string]any{"command": odd, "args": []any{"3600"}}))
	obs, err := f.p.Observe(context.Background(), req)
	if err != nil || !obs.Exists || obs.Private["pid"] != req.Private["pid"] || obs.Private["start"] != req.Private["start"] {
		t.Errorf("Observe = %+v, %v; want the process %s", obs, err, req.Private["pid"])
	}
}

// TestUpdateWithoutRestart: a change of the health check or of how the
// process stops takes effect without a restart; one of args restarts it.
func TestUpdateWithoutRestart(t *testing.T) {
	f := newFixture(t)
	spec := map[string]any{"command": "sleep", "args": []any{"3600"}}
	req := f.create(f.req("u", spec))
	pid := pidOf(t, req)

	spec["stopTimeout"] = "1s"
	spec["stopSignal"] = "SIGINT"
	spec["health"] = map[string]any{"exec": []any{"true"}}
	next := f.req("u", spec)
	next.Private = req.Private
	res, err := f.p.Update(context.Background(), next)
	if err != nil {
		t.Fatal(err)
	}
	if res.Private["pid"] != req.Private["pid"] || res.NotReady != "" {
		t.Errorf("Update of the stop settings and health: pid %s (was %d), not ready %q; want the same process, ready", res.Private["pid"], pid, res.NotReady)
	}
	if got := res.Private["stop"]; got != "SIGINT 1s" {
		t.Errorf("Private stop %q; want SIGINT 1s", got)
	}

	spec["args"] = []any{"3601"}
	again := f.req("u", spec)
	again.Private = res.Private
	res, err = f.p.Update(context.Background(), again)
	if err != nil {
		t.Fatal(err)
	}
	if res.Private["pid"] == req.Private["pid"] || alive(pid) {
		t.Errorf("Update of args: pid %s, old %d alive %v; want a new process and the old one stopped", res.Private["pid"], pid, alive(pid))
	}
}

// TestCrashHistorySurvivesRestart: the exits are kept in Private, so a
// new provider (converge restarted) that is told of the record goes on
// counting: it refuses to start a crash-looping process too.
func TestCrashHistorySurvivesRestart(t *testing.T) {
	policy := process.WithCrashLoop(process.CrashLoop{Exits: 2, Window: time.Minute, Backoff: time.Hour, MaxBackoff: time.Hour})
	f := newFixture(t, policy)
	req := f.req("crash", map[string]any{"command": "false"})
	var last provider.Request
	for i := 0; ; i++ {
		if i > 10 {
			t.Fatal("no CrashLoop after 10 starts")
		}
		res, err := f.p.Create(context.Background(), req)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "CrashLoop: exited 2 times in") || !strings.Contains(err.Error(), "exit status 1") {
				t.Fatalf("Create: %v; want CrashLoop", err)
			}
			break
		}
		last = req
		last.Private = res.Private
		eventually(t, bound, "the exit", func() bool {
			obs, err := f.p.Observe(context.Background(), last)
			return err == nil && !obs.Exists
		})
		req.IdempotencyKey = token()
	}
	if last.Private["exits"] == "" {
		t.Fatalf("Private %v keeps no exits", last.Private)
	}
	// The record holds the Private of the last start: the exits before it
	// (and its own, when it exited before its answer was made). A new
	// provider counts from there.
	p2 := process.New(process.WithInstance(f.backend), policy)
	p2.Watch(last)
	if n := len(strings.Split(last.Private["exits"], ",")); n < 2 {
		res, err := p2.Create(context.Background(), req)
		if err != nil {
			t.Fatalf("Create after the restart, %d exit on record: %v", n, err)
		}
		last.Private = res.Private
		eventually(t, bound, "the exit", func() bool {
			obs, err := p2.Observe(context.Background(), last)
			return err == nil && !obs.Exists
		})
	}
	_, err := p2.Create(context.Background(), req)
	var pe *provider.Error
	if err == nil || !strings.HasPrefix(err.Error(), "CrashLoop:") || !errors.As(err, &pe) || pe.Class != provider.ClassRetryable {
		t.Fatalf("Create after two exits across a restart: %v; want a retryable CrashLoop", err)
	}
}

// TestSpecChangeEndsCrashLoop: a process in a crash loop whose spec
// changes (the command fixed) starts at once: the exits were the old
// spec's.
func TestSpecChangeEndsCrashLoop(t *testing.T) {
	f := newFixture(t, process.WithCrashLoop(process.CrashLoop{Exits: 1, Window: time.Minute, Backoff: time.Hour, MaxBackoff: time.Hour}))
	req := f.create(f.req("fixed", map[string]any{"command": "false"}))
	eventually(t, bound, "the exit", func() bool {
		obs, err := f.p.Observe(context.Background(), req)
		return err == nil && !obs.Exists
	})
	if _, err := f.p.Create(context.Background(), f.req("fixed", map[string]any{"command": "false"})); err == nil || !strings.HasPrefix(err.Error(), "CrashLoop:") {
		t.Fatalf("Create of the same spec after an exit: %v; want CrashLoop (the premise)", err)
	}
	if _, err := f.p.Create(context.Background(), f.req("fixed", map[string]any{"command": "sleep", "args": []any{"3600"}})); err != nil {
		t.Errorf("Create of a changed spec: %v; want it started at once", err)
	}
}
