package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestEtcdStateHoldsNoSecret: on an etcd state, a header sent to an API
// and the API's echo of it reach etcd sealed, never in clear: no key or
// value under the state's prefix holds them, and the key that seals them
// is never written there. An etcd state records no root: --root is each
// node's own.
func TestEtcdStateHoldsNoSecret(t *testing.T) {
	const token = "etcd-token-7531-sealme"
	var mu sync.Mutex
	objects := map[string]bool{}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		// The API echoes the header in the object it returns.
		obj := `{"id": "1", "name": "sealed", "echo": "Bearer ` + token + `"}`
		switch {
		case r.Method == http.MethodPost:
			objects["1"] = true
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, obj)
		case r.Method == http.MethodGet && objects["1"]:
			fmt.Fprint(w, obj)
		case r.Method == http.MethodDelete:
			delete(objects, "1")
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	}))
	defer api.Close()
	e := newEtcdEnv(t)
	e.write(map[string]string{"api.yaml": `kind: http.Resource
metadata: {name: sealed}
spec:
  url: ` + api.URL + `/v1/things
  body: {name: sealed}
  headers: {Authorization: "Bearer ` + token + `"}
`})
	e.cmd(0, "apply")
	if st := e.cmd(0, "status", "-o", "json"); strings.Contains(st.stdout, token) || !strings.Contains(st.stdout, `"echo": "(sensitive)"`) {
		t.Errorf("status shows the echoed token, or does not mask it:\n%s", st.stdout)
	}

	prefix := e.store[3] // --etcd-prefix's value
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{testEtcd(t)}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	key := "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // newEtcdEnv's
	sealed, records := 0, 0
	for _, kv := range resp.Kvs {
		k, v := string(kv.Key), string(kv.Value)
		if strings.Contains(k, token) || strings.Contains(v, token) {
			t.Errorf("%s holds the token in clear", k)
		}
		if strings.Contains(v, key) {
			t.Errorf("%s holds the state key", k)
		}
		if k == prefix+"meta/"+metaRoot {
			t.Errorf("%s: an etcd state records a root (%s)", k, v)
		}
		if strings.HasPrefix(k, prefix+"state/records/") {
			records++
		}
		sealed += strings.Count(v, "sealed:v1:")
	}
	// The premise: the record is there, and what it holds of the token
	// (the header, the echo) is sealed.
	if records != 1 || sealed < 2 {
		t.Fatalf("premise: %d records, %d sealed values under %s; want 1 record and the header and the echo sealed", records, sealed, prefix)
	}

	// Another root is not refused: the root is each node's own.
	other := t.TempDir()
	r := etcdCmd(e, "plan", "--root", other)
	if r.code != 0 || strings.Contains(r.stderr, "belongs to root") {
		t.Errorf("plan on the etcd state with another root: %s", r)
	}
	e.cmd(0, "destroy", "--yes")
	mu.Lock()
	defer mu.Unlock()
	if len(objects) != 0 {
		t.Errorf("destroy left %d objects: the sealed header was not opened for the delete", len(objects))
	}
}

// etcdCmd runs a command on e's etcd state with the --root sub gives.
func etcdCmd(e *etcdEnv, sub ...string) result {
	return cli(strings.NewReader(""), append(append(sub, "-f", e.manifests), e.store...)...)
}
