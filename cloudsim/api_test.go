package cloudsim_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/convergehq/converge/cloudsim"
)

func TestCRUD(t *testing.T) {
	tests := map[string]struct {
		collection string
		prefix     string
		create     func(w world) map[string]any
		patch      map[string]any // a change of a mutable field
		// wantDefaults are fields the server adds to the create body.
		wantDefaults map[string]any
	}{
		"network": {
			collection: "networks", prefix: "net-",
			create: func(world) map[string]any { return map[string]any{"name": "n2", "cidr": "10.1.0.0/16"} },
			patch:  map[string]any{"name": "n2-renamed"},
		},
		"subnet": {
			collection: "subnets", prefix: "subnet-",
			create: func(w world) map[string]any {
				return map[string]any{"name": "s2", "networkId": w.network, "cidr": "10.0.2.0/24"}
			},
			patch: map[string]any{"name": "s2-renamed"},
		},
		"security group": {
			collection: "securitygroups", prefix: "sg-",
			create: func(w world) map[string]any {
				return map[string]any{"name": "db", "networkId": w.network, "rules": []any{
					map[string]any{"direction": "ingress", "protocol": "tcp", "port": 5432.0, "cidr": "10.0.0.0/16"},
				}}
			},
			patch: map[string]any{"rules": []any{map[string]any{"protocol": "all", "cidr": "10.0.0.0/8"}}},
		},
		"instance": {
			collection: "instances", prefix: "i-",
			create: func(w world) map[string]any {
				return map[string]any{"name": "vm2", "subnetId": w.subnet, "image": "debian-13", "size": "large"}
			},
			patch: map[string]any{"size": "xlarge", "securityGroupIds": []any{}},
		},
		"load balancer": {
			collection: "loadbalancers", prefix: "lb-",
			create: func(w world) map[string]any {
				return map[string]any{"name": "lb2", "subnetIds": []any{w.subnet}, "port": 80.0}
			},
			patch: map[string]any{"port": 8080.0},
		},
		"dns record": {
			collection: "dnsrecords", prefix: "dns-",
			create: func(world) map[string]any {
				return map[string]any{"name": "api.example.com", "type": "A", "value": "192.0.2.10"}
			},
			patch:        map[string]any{"ttl": 60.0},
			wantDefaults: map[string]any{"ttl": 300.0},
		},
		"bucket": {
			collection: "buckets", prefix: "bkt-",
			create:       func(world) map[string]any { return map[string]any{"name": "logs-2026"} },
			patch:        map[string]any{"versioning": true},
			wantDefaults: map[string]any{"versioning": false},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, cloudsim.Config{})
			body := tc.create(e.buildWorld())

			created := e.do("POST", "/v1/"+tc.collection, body)
			if got, want := created.status, http.StatusCreated; got != want {
				t.Fatalf("POST: got status %d (%s); want %d", got, created.errMsg(), want)
			}
			obj := created.obj()
			id, _ := obj["id"].(string)
			if !strings.HasPrefix(id, tc.prefix) {
				t.Errorf("POST: got id %q; want prefix %q", id, tc.prefix)
			}
			wantCreated := map[string]any{"id": id, "state": "running",
				"createdAt": epoch.Format(time.RFC3339Nano), "updatedAt": epoch.Format(time.RFC3339Nano)}
			for k, v := range body {
				wantCreated[k] = v
			}
			for k, v := range tc.wantDefaults {
				wantCreated[k] = v
			}
			if dns, ok := obj["dnsName"]; ok {
				wantCreated["dnsName"] = dns
			}
			if diff := cmp.Diff(wantCreated, obj); diff != "" {
				t.Errorf("POST reply (-want +got):\n%s", diff)
			}

			got := e.do("GET", "/v1/"+tc.collection+"/"+id, nil)
			if diff := cmp.Diff(reply{status: 200, body: obj}, got, cmp.AllowUnexported(reply{}), cmpopts.IgnoreFields(reply{}, "header")); diff != "" {
				t.Errorf("GET (-want +got):\n%s", diff)
			}
			list := e.do("GET", "/v1/"+tc.collection+"?name="+body["name"].(string), nil)
			if diff := cmp.Diff([]any{obj}, list.body); diff != "" {
				t.Errorf("GET list by name (-want +got):\n%s", diff)
			}

			e.clock.Step(time.Second)
			patched := e.do("PATCH", "/v1/"+tc.collection+"/"+id, tc.patch)
			if got, want := patched.status, http.StatusOK; got != want {
				t.Fatalf("PATCH: got status %d (%s); want %d", got, patched.errMsg(), want)
			}
			wantPatched := map[string]any{}
			for k, v := range obj {
				wantPatched[k] = v
			}
			for k, v := range tc.patch {
				wantPatched[k] = v
			}
			wantPatched["updatedAt"] = epoch.Add(time.Second).Format(time.RFC3339Nano)
			if diff := cmp.Diff(wantPatched, e.do("GET", "/v1/"+tc.collection+"/"+id, nil).body); diff != "" {
				t.Errorf("GET after PATCH (-want +got):\n%s", diff)
			}

			// PUT the original body back, with the server's fields echoed as
			// a GET-modify-PUT client would.
			put := map[string]any{}
			for k, v := range wantCreated {
				put[k] = v
			}
			if got, want := e.do("PUT", "/v1/"+tc.collection+"/"+id, put).status, http.StatusOK; got != want {
				t.Fatalf("PUT: got status %d; want %d", got, want)
			}
			afterPut := e.do("GET", "/v1/"+tc.collection+"/"+id, nil).obj()
			wantCreated["updatedAt"] = afterPut["updatedAt"]
			if diff := cmp.Diff(wantCreated, afterPut); diff != "" {
				t.Errorf("GET after PUT (-want +got):\n%s", diff)
			}

			if got, want := e.do("DELETE", "/v1/"+tc.collection+"/"+id, nil).status, http.StatusNoContent; got != want {
				t.Errorf("DELETE: got status %d; want %d", got, want)
			}
			for _, m := range []string{"GET", "DELETE", "PATCH"} {
				if got, want := e.do(m, "/v1/"+tc.collection+"/"+id, map[string]any{}).status, http.StatusNotFound; got != want {
					t.Errorf("%s after DELETE: got status %d; want %d", m, got, want)
				}
			}
		})
	}
}

func TestListEnvelope(t *testing.T) {
	e := newEnv(t, cloudsim.Config{})
	a := e.mustCreate("buckets", map[string]any{"name": "aaa"})
	b := e.mustCreate("buckets", map[string]any{"name": "bbb"})
	ids := func(items any) []string {
		var out []string
		for _, it := range items.([]any) {
			out = append(out, it.(map[string]any)["id"].(string))
		}
		return out
	}
	if diff := cmp.Diff([]string{a, b}, ids(e.do("GET", "/v1/buckets", nil).body)); diff != "" {
		t.Errorf("plain list (-want +got):\n%s", diff)
	}
	env := e.do("GET", "/v1/buckets?envelope=1", nil).obj()
	if diff := cmp.Diff([]string{a, b}, ids(env["items"])); diff != "" {
		t.Errorf("enveloped list (-want +got):\n%s", diff)
	}
	if got := e.do("GET", "/v1/networks?envelope=1", nil).obj(); !cmp.Equal(got, map[string]any{"items": []any{}}) {
		t.Errorf("empty enveloped list: got %v; want {items: []}", got)
	}
}

func TestValidation(t *testing.T) {
	e := newEnv(t, cloudsim.Config{})
	w := e.buildWorld()
	otherNet := e.mustCreate("networks", map[string]any{"name": "other", "cidr": "172.16.0.0/16"})
	otherSG := e.mustCreate("securitygroups", map[string]any{"name": "other", "networkId": otherNet})
	tests := map[string]struct {
		method, path string
		body         any
		want         int
		wantMsg      string // a substring of the error
	}{
		"malformed JSON":        {"POST", "/v1/networks", `{"name":`, 400, "not a JSON object"},
		"array body":            {"POST", "/v1/networks", `[]`, 400, "not a JSON object"},
		"unknown field":         {"POST", "/v1/networks", map[string]any{"name": "x", "cidr": "10.0.0.0/8", "color": "red"}, 400, `unknown field "color"`},
		"missing required":      {"POST", "/v1/networks", map[string]any{"name": "x"}, 422, `"cidr" is required`},
		"wrong type":            {"POST", "/v1/networks", map[string]any{"name": 3, "cidr": "10.0.0.0/8"}, 422, "must be a string"},
		"bad CIDR":              {"POST", "/v1/networks", map[string]any{"name": "x", "cidr": "10.0.0.0/33"}, 422, "not a CIDR"},
		"CIDR host bits":        {"POST", "/v1/networks", map[string]any{"name": "x", "cidr": "10.0.0.1/8"}, 422, "host bits"},
		"bad name":              {"POST", "/v1/networks", map[string]any{"name": "-x", "cidr": "10.0.0.0/8"}, 422, "not a valid name"},
		"subnet without net":    {"POST", "/v1/subnets", map[string]any{"name": "s", "networkId": "net-nope", "cidr": "10.0.9.0/24"}, 422, "does not exist"},
		"subnet ref wrong kind": {"POST", "/v1/subnets", map[string]any{"name": "s", "networkId": w.subnet, "cidr": "10.0.9.0/24"}, 422, "does not exist"},
		"subnet outside net":    {"POST", "/v1/subnets", map[string]any{"name": "s", "networkId": w.network, "cidr": "10.9.0.0/24"}, 422, "not inside network"},
		"subnet larger than net": {"POST", "/v1/subnets", map[string]any{"name": "s", "networkId": w.network, "cidr": "10.0.0.0/8"}, 422,
			"not inside network"},
		"rule without protocol": {"POST", "/v1/securitygroups", map[string]any{"name": "g", "networkId": w.network,
			"rules": []any{map[string]any{"cidr": "0.0.0.0/0"}}}, 422, "protocol is required"},
		"rule bad port": {"POST", "/v1/securitygroups", map[string]any{"name": "g", "networkId": w.network,
			"rules": []any{map[string]any{"protocol": "tcp", "port": 70000, "cidr": "0.0.0.0/0"}}}, 422, "port must be"},
		"instance bad size": {"POST", "/v1/instances", map[string]any{"name": "v", "subnetId": w.subnet, "image": "x", "size": "huge"}, 422,
			"not one of"},
		"instance sg of other network": {"POST", "/v1/instances", map[string]any{"name": "v", "subnetId": w.subnet, "image": "x",
			"size": "small", "securityGroupIds": []any{otherSG}}, 422, "is in network"},
		"instance missing sg": {"POST", "/v1/instances", map[string]any{"name": "v", "subnetId": w.subnet, "image": "x",
			"size": "small", "securityGroupIds": []any{"sg-nope"}}, 422, "does not exist"},
		"lb no subnets":    {"POST", "/v1/loadbalancers", map[string]any{"name": "l", "subnetIds": []any{}, "port": 80}, 422, "must not be empty"},
		"lb port range":    {"POST", "/v1/loadbalancers", map[string]any{"name": "l", "subnetIds": []any{w.subnet}, "port": 0}, 422, "not in [1, 65535]"},
		"lb fractional":    {"POST", "/v1/loadbalancers", map[string]any{"name": "l", "subnetIds": []any{w.subnet}, "port": 80.5}, 422, "integer"},
		"dns A not IPv4":   {"POST", "/v1/dnsrecords", map[string]any{"name": "a.example", "type": "A", "value": "::1"}, 422, "not an IPv4"},
		"dns bad type":     {"POST", "/v1/dnsrecords", map[string]any{"name": "a.example", "type": "MX", "value": "x"}, 422, "not one of"},
		"bucket bad name":  {"POST", "/v1/buckets", map[string]any{"name": "Bad_Name"}, 422, "not a valid bucket name"},
		"patch to bad ref": {"PATCH", "/v1/instances/" + w.instance, map[string]any{"securityGroupIds": []any{"sg-nope"}}, 422, "does not exist"},
		"patch null required": {"PATCH", "/v1/instances/" + w.instance, map[string]any{"size": nil}, 422,
			`"size" is required`},
		"unknown collection": {"GET", "/v1/widgets", nil, 404, "no such path"},
		"unknown prefix":     {"GET", "/v2/networks", nil, 404, "no such path"},
		"unknown id":         {"GET", "/v1/networks/net-nope", nil, 404, "not found"},
		"id of other kind":   {"GET", "/v1/networks/" + w.subnet, nil, 404, "not found"},
		"method on coll":     {"DELETE", "/v1/networks", nil, 405, "not allowed"},
		"method on object":   {"POST", "/v1/networks/" + w.network, map[string]any{}, 405, "not allowed"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.body)
			if r.status != tc.want || !strings.Contains(r.errMsg(), tc.wantMsg) {
				t.Errorf("%s %s: got %d %q; want %d containing %q", tc.method, tc.path, r.status, r.errMsg(), tc.want, tc.wantMsg)
			}
		})
	}
	if diff := cmp.Diff(map[string]int{"Network": 2, "Subnet": 1, "SecurityGroup": 2, "Instance": 1, "LoadBalancer": 1,
		"DNSRecord": 1, "Bucket": 1}, e.srv.Audit().Live); diff != "" {
		t.Errorf("live objects after rejected requests (-want +got):\n%s", diff)
	}
}

func TestDeleteRelationships(t *testing.T) {
	e := newEnv(t, cloudsim.Config{})
	w := e.buildWorld()
	sg2 := e.mustCreate("securitygroups", map[string]any{"name": "unused", "networkId": w.network})
	// Deleting in this order, each step is 409 until what references it is
	// gone; the referrers are named in the error.
	steps := []struct {
		name, path string
		want       int
		wantMsg    string
	}{
		{"network with subnet and groups", "/v1/networks/" + w.network, 409, w.subnet},
		{"subnet with instance", "/v1/subnets/" + w.subnet, 409, w.instance},
		{"group with instance", "/v1/securitygroups/" + w.sg, 409, w.instance},
		{"instance behind load balancer", "/v1/instances/" + w.instance, 409, w.lb},
		{"unreferenced group", "/v1/securitygroups/" + sg2, 204, ""},
		{"load balancer", "/v1/loadbalancers/" + w.lb, 204, ""},
		{"instance", "/v1/instances/" + w.instance, 204, ""},
		{"network with subnet and group", "/v1/networks/" + w.network, 409, w.sg},
		{"group", "/v1/securitygroups/" + w.sg, 204, ""},
		{"subnet", "/v1/subnets/" + w.subnet, 204, ""},
		{"network", "/v1/networks/" + w.network, 204, ""},
		{"network again", "/v1/networks/" + w.network, 404, "not found"},
	}
	for _, s := range steps {
		r := e.do("DELETE", s.path, nil)
		if r.status != s.want || !strings.Contains(r.errMsg(), s.wantMsg) {
			t.Errorf("delete %s: got %d %q; want %d containing %q", s.name, r.status, r.errMsg(), s.want, s.wantMsg)
		}
	}
}

func TestImmutableFields(t *testing.T) {
	e := newEnv(t, cloudsim.Config{})
	w := e.buildWorld()
	sub2 := e.mustCreate("subnets", map[string]any{"name": "sub2", "networkId": w.network, "cidr": "10.0.2.0/24"})
	tests := map[string]struct {
		method, path string
		body         map[string]any
		want         int
	}{
		"network cidr by PATCH":  {"PATCH", "/v1/networks/" + w.network, map[string]any{"cidr": "10.0.0.0/15"}, 422},
		"network cidr by PUT":    {"PUT", "/v1/networks/" + w.network, map[string]any{"name": "net", "cidr": "10.2.0.0/16"}, 422},
		"subnet cidr by PATCH":   {"PATCH", "/v1/subnets/" + w.subnet, map[string]any{"cidr": "10.0.3.0/24"}, 422},
		"instance image":         {"PATCH", "/v1/instances/" + w.instance, map[string]any{"image": "debian-14"}, 422},
		"instance subnet":        {"PATCH", "/v1/instances/" + w.instance, map[string]any{"subnetId": sub2}, 422},
		"instance image removed": {"PATCH", "/v1/instances/" + w.instance, map[string]any{"image": nil}, 422},
		"same value by PATCH":    {"PATCH", "/v1/networks/" + w.network, map[string]any{"cidr": "10.0.0.0/16"}, 200},
		"PUT leaving out immutables": {"PUT", "/v1/instances/" + w.instance,
			map[string]any{"name": "vm", "size": "medium", "securityGroupIds": []any{w.sg}}, 200},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.body)
			if r.status != tc.want {
				t.Errorf("%s %s: got %d %q; want %d", tc.method, tc.path, r.status, r.errMsg(), tc.want)
			}
			if tc.want == 422 && !strings.Contains(r.errMsg(), "immutable") {
				t.Errorf("got error %q; want it to say the field is immutable", r.errMsg())
			}
		})
	}
	got := e.do("GET", "/v1/instances/"+w.instance, nil).obj()
	if got["image"] != "debian-13" || got["subnetId"] != w.subnet || got["size"] != "medium" {
		t.Errorf("instance after updates: got image %v, subnet %v, size %v; want debian-13, %s, medium",
			got["image"], got["subnetId"], got["size"], w.subnet)
	}
}

func TestDuplicateNames(t *testing.T) {
	body := map[string]any{"name": "dup", "cidr": "10.0.0.0/16"}
	t.Run("allowed by default and audited", func(t *testing.T) {
		e := newEnv(t, cloudsim.Config{})
		a := e.mustCreate("networks", body)
		b := e.mustCreate("networks", body)
		e.mustCreate("buckets", map[string]any{"name": "dup"}) // another kind: not a duplicate
		want := []cloudsim.Duplicate{{Kind: "Network", Name: "dup", IDs: []string{a, b}}}
		if diff := cmp.Diff(want, e.srv.Audit().Duplicates); diff != "" {
			t.Errorf("duplicates (-want +got):\n%s", diff)
		}
		e.do("DELETE", "/v1/networks/"+a, nil)
		if diff := cmp.Diff([]cloudsim.Duplicate{}, e.srv.Audit().Duplicates); diff != "" {
			t.Errorf("duplicates after deleting one (-want +got):\n%s", diff)
		}
	})
	t.Run("rejected with 409", func(t *testing.T) {
		e := newEnv(t, cloudsim.Config{RejectDuplicates: true})
		a := e.mustCreate("networks", body)
		if r := e.do("POST", "/v1/networks", body); r.status != 409 || !strings.Contains(r.errMsg(), a) {
			t.Errorf("second create: got %d %q; want 409 naming %s", r.status, r.errMsg(), a)
		}
		b := e.mustCreate("networks", map[string]any{"name": "other", "cidr": "10.0.0.0/16"})
		if r := e.do("PATCH", "/v1/networks/"+b, map[string]any{"name": "dup"}); r.status != 409 {
			t.Errorf("rename onto a taken name: got %d; want 409", r.status)
		}
		if r := e.do("PUT", "/v1/networks/"+a, body); r.status != 200 {
			t.Errorf("PUT keeping its own name: got %d %q; want 200", r.status, r.errMsg())
		}
		e.do("DELETE", "/v1/networks/"+a, nil)
		e.mustCreate("networks", body) // the name is free again
	})
}

func TestIdempotencyKeys(t *testing.T) {
	body := map[string]any{"name": "n", "cidr": "10.0.0.0/16"}
	key := []string{"Idempotency-Key", "create-n-1"}
	tests := map[string]struct {
		cfg cloudsim.Config
		// step is how far the clock moves between the two creates.
		step        time.Duration
		secondBody  map[string]any
		wantStatus  int
		wantReplay  bool
		wantObjects int
	}{
		"on: replayed":            {cfg: cloudsim.Config{}, secondBody: body, wantStatus: 201, wantReplay: true, wantObjects: 1},
		"on: within retention":    {cfg: cloudsim.Config{IdempotencyTTL: time.Hour}, step: time.Hour, secondBody: body, wantStatus: 201, wantReplay: true, wantObjects: 1},
		"on: after retention":     {cfg: cloudsim.Config{IdempotencyTTL: time.Hour}, step: time.Hour + time.Second, secondBody: body, wantStatus: 201, wantObjects: 2},
		"on: other body":          {cfg: cloudsim.Config{}, secondBody: map[string]any{"name": "n", "cidr": "10.1.0.0/16"}, wantStatus: 422, wantObjects: 1},
		"off: header ignored":     {cfg: cloudsim.Config{DisableIdempotency: true}, secondBody: body, wantStatus: 201, wantObjects: 2},
		"off: other body created": {cfg: cloudsim.Config{DisableIdempotency: true}, secondBody: map[string]any{"name": "n", "cidr": "10.1.0.0/16"}, wantStatus: 201, wantObjects: 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, tc.cfg)
			first := e.do("POST", "/v1/networks", body, key...)
			if first.status != 201 {
				t.Fatalf("first create: got %d; want 201", first.status)
			}
			e.clock.Step(tc.step)
			second := e.do("POST", "/v1/networks", tc.secondBody, key...)
			if second.status != tc.wantStatus {
				t.Errorf("second create: got %d %q; want %d", second.status, second.errMsg(), tc.wantStatus)
			}
			replayed := second.header.Get("Idempotent-Replayed") == "true"
			if replayed != tc.wantReplay {
				t.Errorf("second create replayed: got %v; want %v", replayed, tc.wantReplay)
			}
			if tc.wantReplay {
				if diff := cmp.Diff(first.body, second.body); diff != "" {
					t.Errorf("replayed object (-first +second):\n%s", diff)
				}
			}
			a := e.srv.Audit()
			if got := a.Live["Network"]; got != tc.wantObjects {
				t.Errorf("networks: got %d; want %d", got, tc.wantObjects)
			}
			if got := a.Created["Network"]["n"]; got != tc.wantObjects {
				t.Errorf("networks created: got %d; want %d", got, tc.wantObjects)
			}
			wantReplays := 0
			if tc.wantReplay {
				wantReplays = 1
			}
			if a.Replays != wantReplays {
				t.Errorf("replays: got %d; want %d", a.Replays, wantReplays)
			}
		})
	}
	t.Run("keys are per collection", func(t *testing.T) {
		e := newEnv(t, cloudsim.Config{})
		e.do("POST", "/v1/networks", body, key...)
		if r := e.do("POST", "/v1/buckets", map[string]any{"name": "bkt"}, key...); r.status != 201 || r.header.Get("Idempotent-Replayed") != "" {
			t.Errorf("same key on another collection: got %d replayed=%q; want a fresh 201", r.status, r.header.Get("Idempotent-Replayed"))
		}
	})
}

func TestProvisioning(t *testing.T) {
	e := newEnv(t, cloudsim.Config{ProvisionDelay: 30 * time.Second})
	w := e.buildWorld()
	states := func() map[string]any {
		out := map[string]any{}
		for _, path := range []string{"/v1/networks/" + w.network, "/v1/instances/" + w.instance, "/v1/loadbalancers/" + w.lb, "/v1/buckets/" + w.bucket} {
			out[path[4:strings.LastIndex(path, "/")]] = e.do("GET", path, nil).obj()["state"]
		}
		return out
	}
	steps := []struct {
		step time.Duration
		want map[string]any
	}{
		{0, map[string]any{"networks": "running", "instances": "pending", "loadbalancers": "pending", "buckets": "running"}},
		{30*time.Second - time.Nanosecond, map[string]any{"networks": "running", "instances": "pending", "loadbalancers": "pending", "buckets": "running"}},
		{time.Nanosecond, map[string]any{"networks": "running", "instances": "running", "loadbalancers": "running", "buckets": "running"}},
	}
	for i, s := range steps {
		e.clock.Step(s.step)
		if diff := cmp.Diff(s.want, states()); diff != "" {
			t.Errorf("step %d (+%v): states (-want +got):\n%s", i, s.step, diff)
		}
	}
	if lb := e.do("GET", "/v1/loadbalancers/"+w.lb, nil).obj(); !strings.HasSuffix(lb["dnsName"].(string), ".lb.cloudsim.internal") {
		t.Errorf("load balancer dnsName: got %v; want a name under lb.cloudsim.internal", lb["dnsName"])
	}
}

func TestReadLag(t *testing.T) {
	const lag = 2 * time.Second
	e := newEnv(t, cloudsim.Config{Lag: lag})
	id := e.mustCreate("buckets", map[string]any{"name": "lagging"})
	type view struct {
		Status     int
		Versioning any
		Listed     int
		Stale      int // of the two reads, those the audit counts as stale
	}
	look := func() view {
		before := e.srv.Audit().StaleReads
		r := e.do("GET", "/v1/buckets/"+id, nil)
		listed := len(e.do("GET", "/v1/buckets", nil).body.([]any))
		return view{Status: r.status, Versioning: r.obj()["versioning"], Listed: listed, Stale: e.srv.Audit().StaleReads - before}
	}
	steps := []struct {
		name string
		act  func()
		want view
	}{
		{"just created", func() {}, view{404, nil, 0, 2}},
		{"almost visible", func() { e.clock.Step(lag - time.Millisecond) }, view{404, nil, 0, 2}},
		{"visible", func() { e.clock.Step(time.Millisecond) }, view{200, false, 1, 0}},
		{"just updated", func() {
			if r := e.do("PATCH", "/v1/buckets/"+id, map[string]any{"versioning": true}); r.status != 200 || r.obj()["versioning"] != true {
				t.Errorf("PATCH: got %d %v; want 200 with the new value", r.status, r.body)
			}
		}, view{200, false, 1, 2}},
		{"update visible", func() { e.clock.Step(lag) }, view{200, true, 1, 0}},
		{"just deleted", func() { e.do("DELETE", "/v1/buckets/"+id, nil) }, view{200, true, 1, 2}},
		{"delete visible", func() { e.clock.Step(lag) }, view{404, nil, 0, 0}},
	}
	for _, s := range steps {
		s.act()
		if diff := cmp.Diff(s.want, look()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", s.name, diff)
		}
	}
	// Writes and the audit see the current state at once.
	id2 := e.mustCreate("buckets", map[string]any{"name": "fresh"})
	if r := e.do("PATCH", "/v1/buckets/"+id2, map[string]any{"versioning": true}); r.status != 200 {
		t.Errorf("PATCH of an object not yet readable: got %d; want 200", r.status)
	}
	if got := e.srv.Audit().Live["Bucket"]; got != 1 {
		t.Errorf("audit live buckets: got %d; want 1", got)
	}
	// A list by name is stale only if the lag hides that name.
	for _, tc := range []struct {
		name string
		want int
	}{{"fresh", 1}, {"other", 0}} {
		before := e.srv.Audit().StaleReads
		e.do("GET", "/v1/buckets?name="+tc.name, nil)
		if got := e.srv.Audit().StaleReads - before; got != tc.want {
			t.Errorf("stale reads of a list by name %q: got %d; want %d", tc.name, got, tc.want)
		}
	}
}
