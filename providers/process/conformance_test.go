package process_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/providers/process"
)

// TestConformance runs the provider conformance suite for process.Process
// over real processes (sleep), each subtest with processes of its own,
// which Objects reads from /proc: one per resource, keyed by the resource
// ID in its environment, with its pid and start time (so that a restart
// shows as a change of the object, not as another object).
func TestConformance(t *testing.T) {
	providertest.Run(t, func(t *testing.T) providertest.Harness {
		backend := token()
		t.Cleanup(func() { killBackend(t, backend) })
		// The health check of every spec answers: a port of the test's own.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		port := l.Addr().(*net.TCPAddr).Port
		dir := t.TempDir()
		notExec := filepath.Join(dir, "not-executable")
		if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		spec := func(name string) map[string]any {
			return map[string]any{
				"command": "sleep",
				"args":    []any{"3600"},
				"env":     map[string]any{"TEST_BACKEND": backend, "NAME": "resource " + name},
				"log":     filepath.Join(dir, name+".log"),
				"health":  map[string]any{"tcp": port},
			}
		}
		with := func(name, field string, v any) map[string]any {
			s := spec(name)
			s[field] = v
			return s
		}
		return providertest.Harness{
			Provider:     process.New(process.WithInstance(backend)),
			Kind:         process.Kind,
			Spec:         spec,
			Updated:      func(name string) map[string]any { return with(name, "args", []any{"3601"}) },
			ObserveFinds: true,
			// A process cannot differ from its spec field by field (its
			// state is the spec it was started with): what happens to it
			// out of band is that it is killed.
			Tamper: func(t *testing.T, name string, private map[string]string) {
				pid, err := strconv.Atoi(private["pid"])
				if err != nil || pid <= 0 {
					t.Fatalf("no pid in the private state %v", private)
				}
				if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
					t.Fatalf("kill the group of %d: %v", pid, err)
				}
				eventually(t, 10*time.Second, "the killed process gone", func() bool {
					_, alive := procsOf(t, backend)[pid]
					return !alive
				})
			},
			TamperDeletes: true,
			Objects: func(t *testing.T) map[string]any {
				out := map[string]any{}
				for _, p := range procsOf(t, backend) {
					if p.pgid == p.pid {
						out[p.resource] = fmt.Sprintf("pid %d start %d", p.pid, p.start)
					}
				}
				return out
			},
			Failures: []providertest.Failure{
				{Name: "command not in PATH", Spec: with("f", "command", "converge-no-such-command"), Class: provider.ClassTerminal},
				{Name: "command not executable", Spec: with("f", "command", notExec), Class: provider.ClassTerminal},
				{Name: "log in a missing directory", Spec: with("f", "log", filepath.Join(dir, "missing", "x.log")), Class: provider.ClassTerminal},
				{Name: "dir not a directory", Spec: with("f", "dir", notExec), Class: provider.ClassTerminal},
				{Name: "env variable not set", Spec: with("f", "env", map[string]any{"X": "${env:CONVERGE_TEST_NEVER_SET}"}), Class: provider.ClassTerminal},
				{Name: "unknown stop signal", Spec: with("f", "stopSignal", "SIGFOO"), Class: provider.ClassTerminal},
				{Name: "two health checks", Spec: with("f", "health", map[string]any{"tcp": port, "http": "http://127.0.0.1/"}), Class: provider.ClassTerminal},
			},
		}
	})
}
