package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
)

// TestOutputKeepsSecretsAndTerminalSafe: an API that answers errors
// echoing the credentials it was sent (inside a longer string,
// JSON-escaped, URL-encoded) behind terminal escape sequences gets neither
// the credentials nor a raw control character into what plan, apply,
// status and events print, logs at debug level included.
func TestOutputKeepsSecretsAndTerminalSafe(t *testing.T) {
	const secret = `cli"secret/é-13579`
	t.Setenv("CONVERGE_TEST_CLI_SECRET", secret)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		j, _ := json.Marshal(auth)
		w.Header().Set("Content-Type", "text/plain")
		status := http.StatusUnauthorized
		if r.Method == http.MethodGet {
			status = http.StatusForbidden
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, "\x1b]0;pwned\x07\x1b[2J denied %s json=%s url=%s\r\x08\u202e", auth, j, url.QueryEscape(auth))
	}))
	defer api.Close()
	e := newEnv(t)
	e.write(map[string]string{"api.yaml": `kind: http.Resource
metadata: {name: hostile}
spec:
  url: ` + api.URL + `/v1/things
  body: {name: hostile}
  adoptBy: name
  headers: {Authorization: "Bearer ${env:CONVERGE_TEST_CLI_SECRET}"}
`})
	j, _ := json.Marshal(secret)
	leaks := []string{secret, string(j[1 : len(j)-1]), url.QueryEscape(secret), "\x1b", "\x07", "\x08", "\r", "\u202e"}
	for _, args := range [][]string{
		{"plan"},
		{"plan", "-o", "json"},
		{"apply", "--log-level", "debug"},
		{"apply", "-o", "json", "--log-level", "debug"},
		{"status"},
		{"status", "-o", "json"},
		{"events"},
		{"events", "-o", "json"},
		{"plan", "-o", "yaml"},
		{"status", "-o", "yaml"},
		{"events", "-o", "yaml"},
		{"describe", "http.Resource/hostile"},
		{"describe", "http.Resource/hostile", "-o", "json"},
		{"describe", "http.Resource/hostile", "-o", "yaml"},
	} {
		r := e.run(args...)
		for _, l := range leaks {
			if strings.Contains(r.stdout, l) || strings.Contains(r.stderr, l) {
				t.Errorf("converge %s prints %q:\n%s", strings.Join(args, " "), l, r)
			}
		}
		if (args[0] == "apply" || args[0] == "describe") && !strings.Contains(r.stdout, "(sensitive)") {
			t.Errorf("converge %s: want the server's message with the secret masked:\n%s", strings.Join(args, " "), r)
		}
	}
}

// TestStateSealsSecrets: a header written literally in a manifest, and a
// URL password, are not in the state file in clear (strings state.db);
// the key is a 0600 file next to the state, and without it the state is
// refused rather than read with sealed text for headers. A removed
// resource is still deleted with the headers it was created with.
func TestStateSealsSecrets(t *testing.T) {
	const token = "literal-token-8642-sealme"
	objects := map[string]bool{}
	var mu sync.Mutex
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.Method == http.MethodPost:
			objects["1"] = true
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"id": "1", "name": "sealed"}`)
		case r.Method == http.MethodGet && objects["1"]:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"id": "1", "name": "sealed"}`)
		case r.Method == http.MethodDelete:
			delete(objects, "1")
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	}))
	defer api.Close()
	e := newEnv(t)
	e.write(map[string]string{"api.yaml": `kind: http.Resource
metadata: {name: sealed}
spec:
  url: ` + api.URL + `/v1/things
  body: {name: sealed}
  headers: {Authorization: "Bearer ` + token + `"}
`})
	e.mustRun(0, "apply")
	for _, p := range []string{e.state, e.state + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(token)) {
			t.Errorf("%s holds the token in clear", p)
		}
	}
	fi, err := os.Lstat(e.state + ".key")
	if err != nil {
		t.Fatalf("no key next to the state: %v", err)
	}
	if fi.Mode().Perm() != 0o600 || !fi.Mode().IsRegular() {
		t.Errorf("key file mode %v; want a regular 0600 file", fi.Mode())
	}

	// The resource leaves the manifests: its delete needs the sealed header.
	e.remove("api.yaml")
	e.mustRun(0, "apply", "--allow-empty")
	mu.Lock()
	left := len(objects)
	mu.Unlock()
	if left != 0 {
		t.Errorf("the removed resource was not deleted: %d objects left", left)
	}

	// Without the key, a state with sealed values is refused.
	e.write(map[string]string{"api.yaml": `kind: http.Resource
metadata: {name: sealed}
spec:
  url: ` + api.URL + `/v1/things
  body: {name: sealed}
  headers: {Authorization: "Bearer ` + token + `"}
`})
	e.mustRun(0, "apply")
	if err := os.Rename(e.state+".key", e.state+".key.bak"); err != nil {
		t.Fatal(err)
	}
	r := e.mustRun(1, "apply")
	if !strings.Contains(r.stderr, "key") {
		t.Errorf("apply without the key: want an error about the key:\n%s", r)
	}
}
