package cloud_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/convergehq/converge/cloudsim"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/providers/cloud"
)

// conformanceKind is one cloud kind as the conformance suite sees it. The
// specs may reference the objects of a world (a network, a subnet, a
// security group and an instance) made out of band.
type conformanceKind struct {
	simKind, collection string
	spec, updated       func(w simWorld, name string) map[string]any
	replaced            func(w simWorld, name string) map[string]any // nil: no ForceNew field
	// tamper is a patch that makes the object differ from spec.
	tamper map[string]any
	// invalid is a spec the API refuses (422).
	invalid func(w simWorld) map[string]any
}

var conformanceKinds = map[string]conformanceKind{
	cloud.KindNetwork: {
		simKind: cloudsim.KindNetwork, collection: "networks",
		spec: func(w simWorld, name string) map[string]any {
			return map[string]any{"name": name, "cidr": "10.1.0.0/16"}
		},
		updated: func(w simWorld, name string) map[string]any {
			return map[string]any{"name": name + "-renamed", "cidr": "10.1.0.0/16"}
		},
		replaced: func(w simWorld, name string) map[string]any {
			return map[string]any{"name": name, "cidr": "10.2.0.0/16"}
		},
		tamper:  map[string]any{"name": "renamed-by-hand"},
		invalid: func(w simWorld) map[string]any { return map[string]any{"cidr": "10.0.0.1/16"} },
	},
	cloud.KindSubnet: {
		simKind: cloudsim.KindSubnet, collection: "subnets",
		spec: func(w simWorld, name string) map[string]any {
			return map[string]any{"name": name, "networkId": w.net, "cidr": "10.0.2.0/24"}
		},
		updated: func(w simWorld, name string) map[string]any {
			return map[string]any{"name": name + "-renamed", "networkId": w.net, "cidr": "10.0.2.0/24"}
		},
		replaced: func(w simWorld, name string) map[string]any {
			return map[string]any{"name": name, "networkId": w.net, "cidr": "10.0.3.0/24"}
		},
		tamper:  map[string]any{"name": "renamed-by-hand"},
		invalid: func(w simWorld) map[string]any { return map[string]any{"networkId": w.net, "cidr": "192.168.0.0/24"} },
	},
	cloud.KindSecurityGroup: {
		simKind: cloudsim.KindSecurityGroup, collection: "securitygroups",
		spec: func(w simWorld, name string) map[string]any {
			return map[string]any{"networkId": w.net, "rules": []any{
				map[string]any{"direction": "ingress", "protocol": "tcp", "port": 443, "cidr": "0.0.0.0/0"},
			}}
		},
		updated: func(w simWorld, name string) map[string]any {
			return map[string]any{"networkId": w.net, "rules": []any{
				map[string]any{"direction": "ingress", "protocol": "tcp", "port": 8443, "cidr": "10.0.0.0/8"},
			}}
		},
		replaced: func(w simWorld, name string) map[string]any {
			return map[string]any{"networkId": w.net2, "rules": []any{
				map[string]any{"direction": "ingress", "protocol": "tcp", "port": 443, "cidr": "0.0.0.0/0"},
			}}
		},
		tamper:  map[string]any{"rules": []any{}},
		invalid: func(w simWorld) map[string]any { return map[string]any{"networkId": "net-missing"} },
	},
	cloud.KindInstance: {
		simKind: cloudsim.KindInstance, collection: "instances",
		spec: func(w simWorld, name string) map[string]any {
			return map[string]any{"subnetId": w.subnet, "image": "ubuntu-24.04", "size": "small", "securityGroupIds": []any{w.sg}}
		},
		updated: func(w simWorld, name string) map[string]any {
			return map[string]any{"subnetId": w.subnet, "image": "ubuntu-24.04", "size": "large", "securityGroupIds": []any{}}
		},
		replaced: func(w simWorld, name string) map[string]any {
			return map[string]any{"subnetId": w.subnet, "image": "debian-12", "size": "small", "securityGroupIds": []any{w.sg}}
		},
		tamper: map[string]any{"size": "medium"},
		invalid: func(w simWorld) map[string]any {
			return map[string]any{"subnetId": "subnet-missing", "image": "ubuntu-24.04", "size": "small"}
		},
	},
	cloud.KindLoadBalancer: {
		simKind: cloudsim.KindLoadBalancer, collection: "loadbalancers",
		spec: func(w simWorld, name string) map[string]any {
			return map[string]any{"subnetIds": []any{w.subnet}, "instanceIds": []any{w.inst}, "port": 80}
		},
		updated: func(w simWorld, name string) map[string]any {
			return map[string]any{"subnetIds": []any{w.subnet}, "instanceIds": []any{}, "port": 8080}
		},
		tamper: map[string]any{"port": 81},
		invalid: func(w simWorld) map[string]any {
			return map[string]any{"subnetIds": []any{"subnet-missing"}, "port": 80}
		},
	},
	cloud.KindDNSRecord: {
		simKind: cloudsim.KindDNSRecord, collection: "dnsrecords",
		spec: func(w simWorld, name string) map[string]any {
			return map[string]any{"name": name + ".example.com", "type": "A", "value": "10.0.1.10"}
		},
		updated: func(w simWorld, name string) map[string]any {
			return map[string]any{"name": name + ".example.com", "type": "A", "value": "10.0.1.11", "ttl": 60}
		},
		tamper: map[string]any{"value": "10.9.9.9"},
		invalid: func(w simWorld) map[string]any {
			return map[string]any{"name": "failing.example.com", "type": "A", "value": "not-an-address"}
		},
	},
	cloud.KindBucket: {
		simKind: cloudsim.KindBucket, collection: "buckets",
		spec:    func(w simWorld, name string) map[string]any { return map[string]any{} },
		updated: func(w simWorld, name string) map[string]any { return map[string]any{"versioning": true} },
		tamper:  map[string]any{"versioning": true},
		invalid: func(w simWorld) map[string]any { return map[string]any{"name": "Not_A_Bucket"} },
	},
}

// TestConformance runs the provider conformance suite for every kind,
// each subtest against a new cloudsim served in-process on loopback: one
// that honours idempotency keys, one that ignores them (a retried create
// is kept single by finding the object by name) and one that also
// refuses duplicate names (a retried create adopts the object the 409
// is about).
func TestConformance(t *testing.T) {
	variants := map[string]cloudsim.Config{
		"keys":                  {},
		"no keys":               {DisableIdempotency: true},
		"no keys, unique names": {DisableIdempotency: true, RejectDuplicates: true},
	}
	for variant, cfg := range variants {
		t.Run(variant, func(t *testing.T) {
			for kind, k := range conformanceKinds {
				t.Run(kind, func(t *testing.T) {
					providertest.Run(t, func(t *testing.T) providertest.Harness {
						return cloudHarness(t, cfg, kind, k)
					})
				})
			}
		})
	}
}

func cloudHarness(t *testing.T, cfg cloudsim.Config, kind string, k conformanceKind) providertest.Harness {
	sim, base := serveSim(t, cfg)
	p := cloud.New(base)
	w := buildWorldOOB(t, base)
	valid := k.spec(w, "failing")

	var failures []providertest.Failure
	if !cfg.RejectDuplicates {
		// Two objects with the name a failing request looks for.
		dupName := "failing"
		if n, ok := valid["name"].(string); ok {
			dupName = n
		}
		for range 2 {
			body := map[string]any{"name": dupName}
			for f, v := range valid {
				body[f] = v
			}
			send(t, http.MethodPost, base+"/v1/"+k.collection, body)
		}
		failures = append(failures,
			providertest.Failure{Name: "two objects with the name", Op: providertest.OpObserve, Spec: valid, Class: provider.ClassConflict},
			providertest.Failure{Name: "delete of two objects with the name", Op: providertest.OpDelete, Spec: valid, Class: provider.ClassConflict},
		)
	}
	// A cloud that is down, one that rate limits (its one token spent),
	// and one that nothing serves.
	_, down := serveSim(t, cloudsim.Config{Faults: cloudsim.Faults{Outage: true}})
	_, limited := serveSim(t, cloudsim.Config{QPS: 0.001, Burst: 1})
	send(t, http.MethodGet, limited+"/v1/networks", nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nowhere := "http://" + ln.Addr().String()
	ln.Close()

	id := map[string]string{cloud.PrivateID: "id-missing"}
	h := providertest.Harness{
		Provider: p,
		Kind:     kind,
		Spec:     func(name string) map[string]any { return k.spec(w, name) },
		Updated:  func(name string) map[string]any { return k.updated(w, name) },
		// With keys, the API returns the first object; with unique
		// names, the provider adopts it after the 409.
		CreateIdempotent: !cfg.DisableIdempotency || cfg.RejectDuplicates,
		ObserveFinds:     true, // found by ?name=
		Objects: func(t *testing.T) map[string]any {
			out := map[string]any{}
			for _, o := range sim.Objects()[k.simKind] {
				out[o["id"].(string)] = o
			}
			return out
		},
		Tamper: func(t *testing.T, name string, private map[string]string) {
			send(t, http.MethodPatch, base+"/v1/"+k.collection+"/"+private[cloud.PrivateID], k.tamper)
		},
		Failures: append(failures, []providertest.Failure{
			{Name: "refused by the API (422)", Spec: k.invalid(w), Class: provider.ClassTerminal},
			{Name: "unknown kind", Kind: "cloud.Nope", Spec: valid, Class: provider.ClassTerminal},
			{Name: "update with no id recorded", Op: providertest.OpUpdate, Spec: valid, Class: provider.ClassTerminal},
			{Name: "update of an object gone (404)", Op: providertest.OpUpdate, Spec: valid, Private: id, Class: provider.ClassRetryable},
			{Name: "cloud down (503)", Spec: valid, Provider: cloud.New(down), Class: provider.ClassRetryable},
			{Name: "observe of a cloud down (503)", Op: providertest.OpObserve, Spec: valid, Private: id, Provider: cloud.New(down), Class: provider.ClassRetryable},
			{Name: "rate limited (429)", Spec: valid, Provider: cloud.New(limited), Class: provider.ClassRateLimited},
			{Name: "unreachable", Op: providertest.OpObserve, Spec: valid, Provider: cloud.New(nowhere), Class: provider.ClassRetryable},
		}...),
	}
	if k.replaced != nil {
		h.Replaced = func(name string) map[string]any { return k.replaced(w, name) }
	}
	return h
}

// serveSim serves a new cloudsim on a loopback port until the test ends,
// and returns it and its base URL.
func serveSim(t *testing.T, cfg cloudsim.Config) (*cloudsim.Server, string) {
	t.Helper()
	sim := cloudsim.New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.Serve(ctx, ln, time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("cloudsim: %v", err)
		}
	})
	return sim, "http://" + ln.Addr().String()
}

// simWorld is the ids of what the specs reference.
type simWorld struct {
	net, net2, subnet, sg, inst string
}

// buildWorldOOB makes, behind the provider's back, what the specs
// reference: two networks, a subnet, a security group and an instance.
func buildWorldOOB(t *testing.T, base string) simWorld {
	t.Helper()
	post := func(coll string, body map[string]any) string {
		return send(t, http.MethodPost, base+"/v1/"+coll, body)["id"].(string)
	}
	w := simWorld{
		net:  post("networks", map[string]any{"name": "main", "cidr": "10.0.0.0/16"}),
		net2: post("networks", map[string]any{"name": "second", "cidr": "10.9.0.0/16"}),
	}
	w.subnet = post("subnets", map[string]any{"name": "web", "networkId": w.net, "cidr": "10.0.1.0/24"})
	w.sg = post("securitygroups", map[string]any{"name": "web", "networkId": w.net})
	w.inst = post("instances", map[string]any{"name": "web-1", "subnetId": w.subnet, "image": "ubuntu-24.04", "size": "small"})
	return w
}

// send makes one API request out of band and returns the object answered.
func send(t *testing.T, method, u string, body map[string]any) map[string]any {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	var req *http.Request
	var err error
	if rd != nil {
		req, err = http.NewRequestWithContext(t.Context(), method, u, rd)
		req.Header.Set("Content-Type", "application/json")
	} else {
		req, err = http.NewRequestWithContext(t.Context(), method, u, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	var out any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %v %v", method, u, resp.StatusCode, out, err)
	}
	obj, _ := out.(map[string]any)
	return obj
}
