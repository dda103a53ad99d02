package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// slowAPI is a collection whose creates block until released.
type slowAPI struct {
	mu      sync.Mutex
	objects []map[string]any
	posts   int
	started chan struct{} // closed when the first create arrived
	release chan struct{} // close to let creates finish
	once    sync.Once
}

func newSlowAPI(t *testing.T) (*slowAPI, *httptest.Server) {
	a := &slowAPI{started: make(chan struct{}), release: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost:
			a.once.Do(func() { close(a.started) })
			<-a.release
			var body map[string]any
			_ = json.NewDecoder(r.Body).Decode(&body)
			a.mu.Lock()
			a.posts++
			body["id"] = "1"
			a.objects = append(a.objects, body)
			a.mu.Unlock()
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(body)
		case r.Method == http.MethodGet && r.URL.Path == "/v1/things":
			a.mu.Lock()
			defer a.mu.Unlock()
			list := a.objects
			if list == nil {
				list = []map[string]any{}
			}
			_ = json.NewEncoder(w).Encode(list)
		case r.Method == http.MethodGet && r.URL.Path == "/v1/things/1":
			a.mu.Lock()
			defer a.mu.Unlock()
			if len(a.objects) == 0 {
				http.NotFound(w, r)
				return
			}
			_ = json.NewEncoder(w).Encode(a.objects[0])
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(func() {
		select {
		case <-a.release:
		default:
			close(a.release)
		}
		srv.Close()
	})
	return a, srv
}

// TestApplyInterrupt: the first interrupt says at once how many calls it
// lets finish and stops starting new work, and the report says
// interrupted, without stale waiting messages; a second interrupt stops at
// once, and the next apply finishes the create without making a second
// object.
func TestApplyInterrupt(t *testing.T) {
	tests := map[string]struct {
		second bool // send a second interrupt before the create finishes
	}{
		"one interrupt: the call in flight finishes": {},
		"a second interrupt stops now":               {second: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			api, srv := newSlowAPI(t)
			e := newEnv(t)
			e.write(map[string]string{"m.yaml": `kind: http.Resource
metadata: {name: slow}
spec:
  url: ` + srv.URL + `/v1/things
  body: {name: slow}
  adoptBy: name
---
kind: file.File
metadata: {name: after}
dependsOn: [http.Resource/slow]
spec: {path: after.txt, content: "after\n"}
`})
			p := start(t, append([]string{"apply", "--timeout", "1m"}, e.globalArgs()...)...)
			select {
			case <-api.started:
			case <-time.After(30 * time.Second):
				t.Fatalf("the create never reached the API:\n%s", p.stderr.String())
			}
			if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			const msg = "Interrupt received: finishing 1 call in flight (press Ctrl-C again to stop now)\n"
			eventually(t, 5*time.Second, "the interrupt's message", func() string {
				if !strings.Contains(p.stderr.String(), msg) {
					return "stderr: " + p.stderr.String()
				}
				return ""
			})
			if p.exited() {
				t.Fatalf("apply exited before its call in flight finished:\n%s", p.stderr.String())
			}
			if tc.second {
				if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
					t.Fatal(err)
				}
				select {
				case <-p.done:
				case <-time.After(5 * time.Second):
					t.Fatal("a second interrupt did not stop apply")
				}
				if p.code() != 1 || !strings.Contains(p.stderr.String(), "Stopping now: ") {
					t.Errorf("after a second interrupt: got exit %d, stderr\n%s", p.code(), p.stderr.String())
				}
				close(api.release)
				r := e.mustRun(0, "apply")
				if !strings.HasPrefix(r.stdout, "Apply: 2 resources Ready") {
					t.Errorf("the next apply: %s", r)
				}
				api.mu.Lock()
				defer api.mu.Unlock()
				if len(api.objects) != 1 {
					t.Errorf("got %d objects; want 1: the next apply must not create a second", len(api.objects))
				}
				return
			}
			close(api.release)
			select {
			case <-p.done:
			case <-time.After(30 * time.Second):
				t.Fatal("apply did not stop after its call finished")
			}
			out := p.stdout.String()
			if p.code() != 1 || !strings.Contains(out, "Stopped before converging: interrupted; the calls in flight were finished and recorded.\n") ||
				!strings.Contains(out, "1 resource was not reached before the interrupt.\n") {
				t.Errorf("report: got exit %d\n%s", p.code(), out)
			}
			for _, stale := range []string{"timed out", "--timeout", "waiting for", "did not converge"} {
				if strings.Contains(out, stale) {
					t.Errorf("report says %q:\n%s", stale, out)
				}
			}
			if r := e.mustRun(0, "status", "-o", "json"); !strings.Contains(r.stdout, `"id": "http.Resource/slow"`) {
				t.Errorf("status after the interrupt: %s", r)
			}
		})
	}
}
