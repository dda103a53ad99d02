package process_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/convergehq/converge/providers/process"
)

// The test binary is also the processes the tests start: with
// PROCESS_TEST_HELPER set it runs as one of them (see helper) instead of
// the tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv("PROCESS_TEST_HELPER"); mode != "" {
		helper(mode)
		return
	}
	os.Exit(m.Run())
}

// helper runs as a supervised process:
//   - "http" serves 200 on 127.0.0.1:$PORT until SIGTERM, on which it
//     writes "SIGTERM" to $MARKER and exits 0; with IGNORE_TERM=1 it
//     writes "ignored SIGTERM" instead and goes on;
//   - "exit" appends a line to $STARTS and exits with status 3 at once.
func helper(mode string) {
	switch mode {
	case "exit":
		appendLine(os.Getenv("STARTS"), strconv.FormatInt(time.Now().UnixMilli(), 10))
		fmt.Fprintln(os.Stderr, "fatal: cannot open the database")
		os.Exit(3)
	case "http":
		if os.Getenv("DELAY") != "" {
			d, _ := time.ParseDuration(os.Getenv("DELAY"))
			time.Sleep(d)
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM)
		go func() {
			for range sigs {
				if os.Getenv("IGNORE_TERM") == "1" {
					appendLine(os.Getenv("MARKER"), "ignored SIGTERM")
					continue
				}
				appendLine(os.Getenv("MARKER"), "SIGTERM")
				os.Exit(0)
			}
		}()
		fmt.Println("listening on", l.Addr())
		_ = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintln(w, "ok", os.Getpid())
		}))
	default:
		fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
		os.Exit(2)
	}
}

func appendLine(path, line string) {
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintln(f, line)
}

// self is the test binary, to run as a helper.
func self(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

func token() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// freePort returns a TCP port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// proc is a process found in /proc.
type proc struct {
	pid      int
	start    uint64
	pgid     int
	resource string // its CONVERGE_RESOURCE
}

// procsOf returns the processes of this user whose environment holds
// TEST_BACKEND=backend, by pid.
func procsOf(t testing.TB, backend string) map[int]proc {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]proc{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(env, []byte("\x00TEST_BACKEND="+backend+"\x00")) && !bytes.HasPrefix(env, []byte("TEST_BACKEND="+backend+"\x00")) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if f[0] == "Z" {
			continue
		}
		start, _ := strconv.ParseUint(f[19], 10, 64)
		pgid, _ := strconv.Atoi(f[2])
		p := proc{pid: pid, start: start, pgid: pgid}
		for _, kv := range strings.Split(string(env), "\x00") {
			if v, ok := strings.CutPrefix(kv, process.EnvResource+"="); ok {
				p.resource = v
			}
		}
		out[pid] = p
	}
	return out
}

// killBackend kills every process of backend, group and all: what a test
// started goes with it.
func killBackend(t testing.TB, backend string) {
	for _, p := range procsOf(t, backend) {
		_ = syscall.Kill(-p.pgid, syscall.SIGKILL)
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
	}
}

// eventually polls cond every 20ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
