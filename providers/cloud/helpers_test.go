package cloud_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/convergehq/converge/cloudsim"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/providers/cloud"
)

// epoch is where the fake clocks of these tests start.
var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// env is an in-process cloudsim and a provider pointed at it, sharing a
// fake clock unless the config brings its own.
type env struct {
	t   *testing.T
	sim *cloudsim.Server
	ts  *httptest.Server
	clk *clocktesting.FakeClock
	p   *cloud.Provider
	n   int // idempotency keys handed out
}

func newEnv(t *testing.T, cfg cloudsim.Config, opts ...cloud.Option) *env {
	t.Helper()
	clk := clocktesting.NewFakeClock(epoch)
	cfg.Clock = clk
	sim := cloudsim.New(cfg)
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	opts = append([]cloud.Option{cloud.WithClock(clk.Now)}, opts...)
	return &env{t: t, sim: sim, ts: ts, clk: clk, p: cloud.New(ts.URL, opts...)}
}

func schemaOf(t *testing.T, kind string) provider.Schema {
	t.Helper()
	for _, s := range cloud.New("http://unused").Schemas() {
		if s.Kind == kind {
			return s
		}
	}
	t.Fatalf("no schema for %s", kind)
	return provider.Schema{}
}

// request builds the request the engine would send: the spec with defaults
// applied, in canonical form, and a fresh idempotency key.
func (e *env) request(kind, name string, spec map[string]any) provider.Request {
	e.t.Helper()
	applied, err := schemaOf(e.t, kind).Apply(spec)
	if err != nil {
		e.t.Fatalf("apply defaults to %s/%s: %v", kind, name, err)
	}
	e.n++
	return provider.Request{
		ID: kind + "/" + name, Kind: kind, Name: name,
		Spec:           provider.CanonicalMap(applied),
		IdempotencyKey: fmt.Sprintf("key-%s-%d", name, e.n),
	}
}

// create creates a resource and returns the request to observe, update or
// delete it with (Private and Outputs set).
func (e *env) create(kind, name string, spec map[string]any) provider.Request {
	e.t.Helper()
	req := e.request(kind, name, spec)
	res, err := e.p.Create(context.Background(), req)
	if err != nil {
		e.t.Fatalf("create %s: %v", req.ID, err)
	}
	req.Private, req.Outputs = res.Private, res.Outputs
	return req
}

// world is a network, a subnet, a security group and an instance, made
// through the provider.
type world struct {
	net, subnet, sg, inst string
}

func (e *env) buildWorld() world {
	e.t.Helper()
	var w world
	w.net = e.create(cloud.KindNetwork, "main", map[string]any{"cidr": "10.0.0.0/16"}).Private[cloud.PrivateID]
	w.subnet = e.create(cloud.KindSubnet, "web", map[string]any{"networkId": w.net, "cidr": "10.0.1.0/24"}).Private[cloud.PrivateID]
	w.sg = e.create(cloud.KindSecurityGroup, "web", map[string]any{"networkId": w.net}).Private[cloud.PrivateID]
	w.inst = e.create(cloud.KindInstance, "web-1", map[string]any{"subnetId": w.subnet, "image": "ubuntu-24.04", "size": "small"}).Private[cloud.PrivateID]
	return w
}

// post creates an object behind converge's back and returns its id.
func (e *env) post(collection string, body map[string]any) string {
	e.t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(e.ts.URL+"/v1/"+collection, "application/json", bytes.NewReader(b))
	if err != nil {
		e.t.Fatalf("POST %s: %v", collection, err)
	}
	defer resp.Body.Close()
	var obj map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&obj); err != nil || resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("POST %s: %d %v %v", collection, resp.StatusCode, obj, err)
	}
	return obj["id"].(string)
}

// live returns the names of the live objects of a cloudsim kind, current
// (without lag), in creation order.
func (e *env) live(kind string) []string {
	var names []string
	for _, o := range e.sim.Objects()[kind] {
		names = append(names, o["name"].(string))
	}
	return names
}

// classOf returns the class of err, or "ok" for nil.
func classOf(err error) string {
	if err == nil {
		return "ok"
	}
	c, _ := provider.Classify(err)
	return c.String()
}

func contains(err error, sub string) bool { return err != nil && strings.Contains(err.Error(), sub) }
