package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestUnhealthyWithoutDatabase builds the service and runs it: without its
// environment it refuses to start; with a database that does not answer
// it serves, and /healthz says 503.
func TestUnhealthyWithoutDatabase(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "service")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var exit *exec.ExitError
	if err := exec.Command(bin).Run(); !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Errorf("without DATABASE_URL and PORT: %v; want exit status 2", err)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin)
	// Port 1 of localhost: nothing answers there.
	cmd.Env = append(os.Environ(), "DATABASE_URL=postgres://app:secret@127.0.0.1:1/app?connect_timeout=1", fmt.Sprintf("PORT=%d", port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", port)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("/healthz without a database: %s; want 503", resp.Status)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service does not answer on %d: %v", port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
