package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// freeAddr returns a loopback address no one listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestRunRefusesToListen: converge run refuses to start on an address it
// may not or cannot serve.
func TestRunRefusesToListen(t *testing.T) {
	e := newEnv(t)
	copyQuickstart(t, e)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	empty := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		args []string
		want string
	}{
		"every interface, no token": {[]string{"--listen", ":0"}, "not loopback"},
		"a LAN address, no token":   {[]string{"--listen", "0.0.0.0:0"}, "give an API token"},
		"an address in use":         {[]string{"--listen", taken.Addr().String()}, "already in use"},
		"an empty token file":       {[]string{"--listen", "127.0.0.1:0", "--api-token-file", empty}, "is empty"},
		"no token file":             {[]string{"--listen", "127.0.0.1:0", "--api-token-file", empty + ".none"}, "--api-token-file"},
		"a certificate, no key":     {[]string{"--listen", "127.0.0.1:0", "--tls-cert", "cert.pem"}, "--tls-key"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := bin(t, append(append([]string{"run", "--resync", "1h"}, tc.args...), e.globalArgs()...)...)
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d; want 1 with %q\n%s", r.code, tc.want, r)
			}
		})
	}
}

// TestRunServesTheAPI: converge run serves the API on --listen, with the
// token of $CONVERGE_API_TOKEN, and stops it with the daemon.
func TestRunServesTheAPI(t *testing.T) {
	e := newEnv(t)
	copyQuickstart(t, e)
	const token = "a-token-for-the-test"
	t.Setenv("CONVERGE_API_TOKEN", token)
	addr := freeAddr(t)
	d := start(t, append([]string{"run", "--resync", "1h", "--listen", addr}, e.globalArgs()...)...)
	get := func(path, tok string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp.StatusCode, []byte(b.String())
	}
	eventually(t, 10*time.Second, "ready", func() string {
		if d.exited() {
			t.Fatalf("the daemon exited\n%s", d.stderr.String())
		}
		if code, b := get("/readyz", ""); code != http.StatusOK {
			return fmt.Sprintf("readyz: %d %s", code, b)
		}
		return ""
	})
	if code, _ := get("/api/v1/resources", ""); code != http.StatusUnauthorized {
		t.Errorf("without the token: %d; want 401", code)
	}
	var list struct {
		Resources []struct{ ID string }
	}
	eventually(t, 10*time.Second, "seven resources listed", func() string {
		code, b := get("/api/v1/resources?phase=Ready", token)
		if code != http.StatusOK || json.Unmarshal(b, &list) != nil || len(list.Resources) != 7 {
			return fmt.Sprintf("resources: %d %s", code, b)
		}
		return ""
	})
	if code, b := get("/metrics", ""); code != http.StatusOK || !strings.Contains(string(b), `controller_runtime_reconcile_total{controller="converge",result="success"}`) {
		t.Errorf("metrics: %d", code)
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := d.code(); code != 0 {
		t.Errorf("exit %d after SIGTERM\n%s", code, d.stderr.String())
	}
	if ln, err := net.Listen("tcp", addr); err != nil {
		t.Errorf("the address is still taken after the daemon stopped: %v", err)
	} else {
		ln.Close()
	}
}

// TestRunDefaultAddressTaken: when another process holds the default
// address, converge run says so and runs without the API.
func TestRunDefaultAddressTaken(t *testing.T) {
	e := newEnv(t)
	copyQuickstart(t, e)
	ln, err := net.Listen("tcp", "127.0.0.1:7070")
	if err != nil {
		// Another process holds it, and may let go of it any moment.
		t.Skipf("the default address is in use elsewhere: %v", err)
	}
	defer ln.Close()
	d := start(t, append([]string{"run", "--resync", "1h"}, e.globalArgs()...)...)
	eventually(t, 10*time.Second, "running without the API", func() string {
		if d.exited() {
			t.Fatalf("the daemon exited\n%s", d.stderr.String())
		}
		if s := d.stderr.String(); !strings.Contains(s, "the API is not served") || !strings.Contains(s, "converge running") {
			return "the logs so far:\n" + s
		}
		return ""
	})
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := d.code(); code != 0 {
		t.Errorf("exit %d after SIGTERM\n%s", code, d.stderr.String())
	}
}
