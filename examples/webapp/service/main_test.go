package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/convergehq/converge/providers/postgres/pgtest"
)

// build builds the service into the test's directory.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "service")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// serve runs bin with dsn on a free port until the test ends and returns
// its base URL once it answers.
func serve(t *testing.T, bin, dsn string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dsn, fmt.Sprintf("PORT=%d", port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return base
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service does not listen on %d: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestUnhealthyWithoutDatabase: without its environment the service
// refuses to start; with a database that does not answer it serves, and
// /healthz says 503.
func TestUnhealthyWithoutDatabase(t *testing.T) {
	bin := build(t)
	var exit *exec.ExitError
	if err := exec.Command(bin).Run(); !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Errorf("without DATABASE_URL and PORT: %v; want exit status 2", err)
	}
	// Port 1 of localhost: nothing answers there.
	base := serve(t, bin, "postgres://app:secret@127.0.0.1:1/app?connect_timeout=1")
	if code, body := get(t, base+"/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz without a database: %d %q; want 503", code, body)
	}
}

// TestServesFromDatabase runs the service against a private PostgreSQL
// server: /healthz is 200, and / names the database and the user and
// counts visits in its table.
func TestServesFromDatabase(t *testing.T) {
	srv := pgtest.Start(t)
	bin := build(t)
	base := serve(t, bin, srv.DSN("postgres"))
	if code, body := get(t, base+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz: %d %q; want 200", code, body)
	}
	for i := 1; i <= 2; i++ {
		code, body := get(t, base+"/")
		want := fmt.Sprintf("connected to database postgres as %s; visit %d\n", pgtest.Superuser, i)
		if code != http.StatusOK || body != want {
			t.Errorf("GET / #%d: %d %q; want 200 %q", i, code, body, want)
		}
	}
	if code, _ := get(t, base+"/nothing"); code != http.StatusNotFound {
		t.Errorf("GET /nothing: %d; want 404", code)
	}
	srv.Stop()
	code, body := get(t, base+"/healthz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "database unavailable") {
		t.Errorf("/healthz once the database stopped: %d %q; want 503", code, body)
	}
}
