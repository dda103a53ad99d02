package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
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
	} {
		r := e.run(args...)
		for _, l := range leaks {
			if strings.Contains(r.stdout, l) || strings.Contains(r.stderr, l) {
				t.Errorf("converge %s prints %q:\n%s", strings.Join(args, " "), l, r)
			}
		}
		if args[0] == "apply" && !strings.Contains(r.stdout, "(sensitive)") {
			t.Errorf("converge %s: want the server's message with the secret masked:\n%s", strings.Join(args, " "), r)
		}
	}
}
