package main

import (
	"encoding/json"
	"errors"
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

// unsetenv unsets key until the test ends (t.Setenv cannot unset).
func unsetenv(t *testing.T, key string) {
	t.Helper()
	if v, ok := os.LookupEnv(key); ok {
		t.Cleanup(func() { os.Setenv(key, v) })
	}
	if err := os.Unsetenv(key); err != nil {
		t.Fatal(err)
	}
}

// TestRunDefaultAddressTaken: when another process holds the default
// address, converge run stops at start-up (exit 1) and says which address
// is taken and how to pass another one, or none.
func TestRunDefaultAddressTaken(t *testing.T) {
	e := newEnv(t)
	copyQuickstart(t, e)
	unsetenv(t, "CONVERGE_LISTEN")
	if ln, err := net.Listen("tcp", defaultListen); err == nil {
		defer ln.Close()
	} else if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("the premise: the default address %s taken: %v", defaultListen, err)
	} // else another process holds it: the premise holds as well.
	r := bin(t, append([]string{"run", "--resync", "1h"}, e.globalArgs()...)...)
	for _, want := range []string{"error: listen on " + defaultListen + ": the address is already in use", "--listen ADDR", `--listen ""`} {
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Errorf("exit %d; want 1 with %q\n%s", r.code, want, r)
		}
	}
	if strings.Contains(r.stderr, "converge running") {
		t.Errorf("the daemon ran with its address taken\n%s", r)
	}
}

// TestRunListenFromEnv: $CONVERGE_LISTEN is the address when --listen is
// not given (empty: none), and --listen wins over it.
func TestRunListenFromEnv(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free := freeAddr(t)
	tests := map[string]struct {
		env   string
		args  []string
		serve string // the address served; empty: none
	}{
		"an address":                  {env: free, serve: free},
		"empty: no API":               {env: ""},
		"--listen wins over it":       {env: taken.Addr().String(), args: []string{"--listen", free}, serve: free},
		"--listen empty wins over it": {env: taken.Addr().String(), args: []string{"--listen", ""}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			copyQuickstart(t, e)
			t.Setenv("CONVERGE_LISTEN", tc.env)
			d := start(t, append(append([]string{"run", "--resync", "1h"}, tc.args...), e.globalArgs()...)...)
			eventually(t, 10*time.Second, "running", func() string {
				if d.exited() {
					t.Fatalf("the daemon exited\n%s", d.stderr.String())
				}
				if s := d.stderr.String(); !strings.Contains(s, "converge running") {
					return "the logs so far:\n" + s
				}
				return ""
			})
			if tc.serve != "" {
				eventually(t, 10*time.Second, "healthz on "+tc.serve, func() string {
					var h struct{ Status string }
					if err := getJSON("http://"+tc.serve+"/healthz", &h); err != nil || h.Status != "ok" {
						return fmt.Sprintf("healthz: %+v, %v", h, err)
					}
					return ""
				})
			} else if strings.Contains(d.stderr.String(), "serving the API") {
				t.Errorf("the API is served; want none\n%s", d.stderr.String())
			}
			if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if code := d.code(); code != 0 {
				t.Errorf("exit %d after SIGTERM\n%s", code, d.stderr.String())
			}
		})
	}
}
