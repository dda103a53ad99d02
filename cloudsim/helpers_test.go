package cloudsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/convergehq/converge/cloudsim"
)

// epoch is the fake clock's start.
var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// env is a cloudsim behind a real HTTP server, driven by a fake clock.
type env struct {
	t     *testing.T
	srv   *cloudsim.Server
	http  *httptest.Server
	clock *clocktesting.FakeClock
}

func newEnv(t *testing.T, cfg cloudsim.Config) *env {
	t.Helper()
	clk := clocktesting.NewFakeClock(epoch)
	cfg.Clock = clk
	s := cloudsim.New(cfg)
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return &env{t: t, srv: s, http: hs, clock: clk}
}

// reply is one decoded answer.
type reply struct {
	status int
	header http.Header
	body   any // decoded JSON; nil for none
}

// obj returns the body as an object.
func (r reply) obj() map[string]any {
	m, _ := r.body.(map[string]any)
	return m
}

// errMsg returns the "error" member of the body.
func (r reply) errMsg() string {
	s, _ := r.obj()["error"].(string)
	return s
}

// do sends one request and decodes its answer. body is marshalled unless it
// is a string, which is sent as is.
func (e *env) do(method, path string, body any, header ...string) reply {
	e.t.Helper()
	r, err := e.doCtx(context.Background(), method, path, body, header...)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func (e *env) doCtx(ctx context.Context, method, path string, body any, header ...string) (reply, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return reply{}, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.http.URL+path, rd)
	if err != nil {
		return reply{}, err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := e.http.Client().Do(req)
	if err != nil {
		return reply{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return reply{}, err
	}
	out := reply{status: res.StatusCode, header: res.Header}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			return reply{}, err
		}
	}
	return out, nil
}

// mustCreate creates an object and returns its ID.
func (e *env) mustCreate(collection string, body map[string]any) string {
	e.t.Helper()
	r := e.do("POST", "/v1/"+collection, body)
	if r.status != http.StatusCreated {
		e.t.Fatalf("POST /v1/%s %v: got status %d (%s); want 201", collection, body, r.status, r.errMsg())
	}
	return r.obj()["id"].(string)
}

// world is one object of every kind, linked together.
type world struct {
	network, subnet, sg, instance, lb, dns, bucket string
}

func (e *env) buildWorld() world {
	e.t.Helper()
	var w world
	w.network = e.mustCreate("networks", map[string]any{"name": "net", "cidr": "10.0.0.0/16"})
	w.subnet = e.mustCreate("subnets", map[string]any{"name": "sub", "networkId": w.network, "cidr": "10.0.1.0/24"})
	w.sg = e.mustCreate("securitygroups", map[string]any{"name": "web", "networkId": w.network,
		"rules": []any{map[string]any{"protocol": "tcp", "port": 443, "cidr": "0.0.0.0/0"}}})
	w.instance = e.mustCreate("instances", map[string]any{"name": "vm", "subnetId": w.subnet, "image": "debian-13",
		"size": "small", "securityGroupIds": []any{w.sg}})
	w.lb = e.mustCreate("loadbalancers", map[string]any{"name": "lb", "subnetIds": []any{w.subnet},
		"instanceIds": []any{w.instance}, "port": 443})
	w.dns = e.mustCreate("dnsrecords", map[string]any{"name": "www.example.com", "type": "CNAME", "value": "lb.example.net"})
	w.bucket = e.mustCreate("buckets", map[string]any{"name": "assets"})
	return w
}

// waitUntil polls cond until it holds, failing the test after 10s. It is
// for conditions the server reaches asynchronously, such as a request
// blocking on the fake clock.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		<-tick.C
	}
}

// async sends a request in the background; the channel yields its answer.
func (e *env) async(method, path string, body any) <-chan reply {
	ch := make(chan reply, 1)
	go func() {
		r, err := e.doCtx(context.Background(), method, path, body)
		if err != nil {
			r = reply{status: -1, body: err.Error()}
		}
		ch <- r
	}()
	return ch
}
