package cloud_test

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/convergehq/converge/cloudsim"
	"github.com/convergehq/converge/diff"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/providers/cloud"
)

func merge(a, b map[string]any) map[string]any {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}

func TestCRUD(t *testing.T) {
	tests := map[string]struct {
		kind, name string
		simKind    string
		spec       func(w world) map[string]any
		update     func(w world) map[string]any
		wantName   string   // the object's name in the cloud
		wantPaths  []string // what the update changed
	}{
		"network": {
			kind: cloud.KindNetwork, name: "core", simKind: cloudsim.KindNetwork,
			spec:     func(w world) map[string]any { return map[string]any{"cidr": "10.1.0.0/16"} },
			update:   func(w world) map[string]any { return map[string]any{"name": "core-renamed"} },
			wantName: "core", wantPaths: []string{"name"},
		},
		"subnet": {
			kind: cloud.KindSubnet, name: "app", simKind: cloudsim.KindSubnet,
			spec:     func(w world) map[string]any { return map[string]any{"networkId": w.net, "cidr": "10.0.2.0/24"} },
			update:   func(w world) map[string]any { return map[string]any{"name": "app-b"} },
			wantName: "app", wantPaths: []string{"name"},
		},
		"security group": {
			kind: cloud.KindSecurityGroup, name: "db", simKind: cloudsim.KindSecurityGroup,
			spec: func(w world) map[string]any {
				return map[string]any{"networkId": w.net, "rules": []any{
					map[string]any{"direction": "ingress", "protocol": "tcp", "port": 5432, "cidr": "10.0.0.0/16"},
				}}
			},
			update: func(w world) map[string]any {
				return map[string]any{"rules": []any{
					map[string]any{"direction": "ingress", "protocol": "tcp", "port": 5432, "cidr": "10.0.1.0/24"},
					map[string]any{"direction": "egress", "protocol": "all", "cidr": "0.0.0.0/0"},
				}}
			},
			wantName: "db", wantPaths: []string{"rules"},
		},
		"instance": {
			kind: cloud.KindInstance, name: "app-1", simKind: cloudsim.KindInstance,
			spec: func(w world) map[string]any {
				return map[string]any{"subnetId": w.subnet, "image": "debian-12", "size": "small", "securityGroupIds": []any{w.sg}}
			},
			update:   func(w world) map[string]any { return map[string]any{"size": "large", "securityGroupIds": []any{}} },
			wantName: "app-1", wantPaths: []string{"securityGroupIds", "size"},
		},
		"load balancer": {
			kind: cloud.KindLoadBalancer, name: "web", simKind: cloudsim.KindLoadBalancer,
			spec: func(w world) map[string]any {
				return map[string]any{"subnetIds": []any{w.subnet}, "instanceIds": []any{w.inst}, "port": 80}
			},
			update:   func(w world) map[string]any { return map[string]any{"port": 8080, "instanceIds": []any{}} },
			wantName: "web", wantPaths: []string{"instanceIds", "port"},
		},
		"dns record with an explicit name": {
			kind: cloud.KindDNSRecord, name: "www", simKind: cloudsim.KindDNSRecord,
			spec: func(w world) map[string]any {
				return map[string]any{"name": "www.example.com", "type": "A", "value": "10.0.1.10"}
			},
			update:   func(w world) map[string]any { return map[string]any{"value": "10.0.1.11", "ttl": 60} },
			wantName: "www.example.com", wantPaths: []string{"ttl", "value"},
		},
		"bucket": {
			kind: cloud.KindBucket, name: "assets-1", simKind: cloudsim.KindBucket,
			spec:     func(w world) map[string]any { return map[string]any{} },
			update:   func(w world) map[string]any { return map[string]any{"versioning": true} },
			wantName: "assets-1", wantPaths: []string{"versioning"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, cloudsim.Config{})
			w := e.buildWorld()
			schema := schemaOf(t, tc.kind)

			req := e.create(tc.kind, tc.name, tc.spec(w))
			if got, want := req.Outputs["name"], tc.wantName; got != want {
				t.Errorf("outputs.name = %v; want %v", got, want)
			}
			if got, want := slices.Sorted(maps.Keys(req.Outputs)), slices.Sorted(slices.Values(schema.Outputs)); !cmp.Equal(got, want) {
				t.Errorf("output names: %s", cmp.Diff(want, got))
			}
			if got, want := req.Outputs["id"], req.Private[cloud.PrivateID]; got != want || want == "" {
				t.Errorf("outputs.id = %v; want the recorded id %q", got, want)
			}

			obs, err := e.p.Observe(ctx, req)
			if err != nil {
				t.Fatalf("observe: %v", err)
			}
			if !obs.Exists || obs.NotReady != "" {
				t.Fatalf("observe after create: exists %v, not ready %q; want exists and ready", obs.Exists, obs.NotReady)
			}
			if d := diff.Compute(schema, req.Spec, obs.State); !d.Empty() {
				t.Errorf("diff after create: got %v; want none", d.Paths())
			}

			old := req.Spec
			req.Spec = e.request(tc.kind, tc.name, merge(tc.spec(w), tc.update(w))).Spec
			if d := diff.Compute(schema, req.Spec, obs.State); d.ForceNew() {
				t.Fatalf("update %v is force-new; want in place", d.Paths())
			}
			res, err := e.p.Update(ctx, req)
			if err != nil {
				t.Fatalf("update: %v", err)
			}
			if got, want := res.Private[cloud.PrivateID], req.Private[cloud.PrivateID]; got != want {
				t.Errorf("id after update = %q; want %q", got, want)
			}
			obs, err = e.p.Observe(ctx, req)
			if err != nil {
				t.Fatalf("observe after update: %v", err)
			}
			if d := diff.Compute(schema, req.Spec, obs.State); !d.Empty() {
				t.Errorf("diff after update: got %v; want none", d.Paths())
			}
			// The name was defaulted: compare against it as written out.
			old = merge(map[string]any{"name": tc.wantName}, old)
			if got := diff.Compute(schema, old, obs.State).Paths(); !cmp.Equal(got, tc.wantPaths) {
				t.Errorf("changed paths: got %v; want %v", got, tc.wantPaths)
			}

			if err := e.p.Delete(ctx, req); err != nil {
				t.Fatalf("delete: %v", err)
			}
			e.clk.Step(cloud.DefaultGrace)
			obs, err = e.p.Observe(ctx, req)
			if err != nil || obs.Exists {
				t.Errorf("observe after delete: exists %v, err %v; want absent", obs.Exists, err)
			}
			if err := e.p.Delete(ctx, req); err != nil {
				t.Errorf("second delete: got %v; want nil (already gone)", err)
			}
			if got := e.live(tc.simKind); slices.Contains(got, tc.wantName) {
				t.Errorf("live %s objects after delete: %v", tc.simKind, got)
			}
		})
	}
}

func TestForceNewFieldsReplace(t *testing.T) {
	tests := map[string]struct {
		kind      string
		spec      func(w world) map[string]any
		change    func(w world) map[string]any
		wantPaths []string
		wantNew   bool
	}{
		"network cidr": {
			kind:      cloud.KindNetwork,
			spec:      func(w world) map[string]any { return map[string]any{"cidr": "10.9.0.0/16"} },
			change:    func(w world) map[string]any { return map[string]any{"cidr": "10.8.0.0/16"} },
			wantPaths: []string{"cidr"}, wantNew: true,
		},
		"subnet cidr": {
			kind:      cloud.KindSubnet,
			spec:      func(w world) map[string]any { return map[string]any{"networkId": w.net, "cidr": "10.0.9.0/24"} },
			change:    func(w world) map[string]any { return map[string]any{"cidr": "10.0.8.0/24"} },
			wantPaths: []string{"cidr"}, wantNew: true,
		},
		"subnet network": {
			kind:      cloud.KindSubnet,
			spec:      func(w world) map[string]any { return map[string]any{"networkId": w.net, "cidr": "10.0.9.0/24"} },
			change:    func(w world) map[string]any { return map[string]any{"networkId": "net-000000000000"} },
			wantPaths: []string{"networkId"}, wantNew: true,
		},
		"security group network": {
			kind:      cloud.KindSecurityGroup,
			spec:      func(w world) map[string]any { return map[string]any{"networkId": w.net} },
			change:    func(w world) map[string]any { return map[string]any{"networkId": "net-000000000000"} },
			wantPaths: []string{"networkId"}, wantNew: true,
		},
		"instance image": {
			kind: cloud.KindInstance,
			spec: func(w world) map[string]any {
				return map[string]any{"subnetId": w.subnet, "image": "ubuntu-22.04", "size": "small"}
			},
			change:    func(w world) map[string]any { return map[string]any{"image": "ubuntu-24.04"} },
			wantPaths: []string{"image"}, wantNew: true,
		},
		"instance subnet": {
			kind: cloud.KindInstance,
			spec: func(w world) map[string]any {
				return map[string]any{"subnetId": w.subnet, "image": "ubuntu-22.04", "size": "small"}
			},
			change:    func(w world) map[string]any { return map[string]any{"subnetId": "subnet-000000000000"} },
			wantPaths: []string{"subnetId"}, wantNew: true,
		},
		"instance size is in place": {
			kind: cloud.KindInstance,
			spec: func(w world) map[string]any {
				return map[string]any{"subnetId": w.subnet, "image": "ubuntu-22.04", "size": "small"}
			},
			change:    func(w world) map[string]any { return map[string]any{"size": "xlarge"} },
			wantPaths: []string{"size"}, wantNew: false,
		},
		"load balancer port is in place": {
			kind: cloud.KindLoadBalancer,
			spec: func(w world) map[string]any {
				return map[string]any{"subnetIds": []any{w.subnet}, "port": 80}
			},
			change:    func(w world) map[string]any { return map[string]any{"port": 443} },
			wantPaths: []string{"port"}, wantNew: false,
		},
		"dns record ttl is in place": {
			kind:      cloud.KindDNSRecord,
			spec:      func(w world) map[string]any { return map[string]any{"type": "TXT", "value": "hello"} },
			change:    func(w world) map[string]any { return map[string]any{"ttl": 30} },
			wantPaths: []string{"ttl"}, wantNew: false,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, cloudsim.Config{})
			w := e.buildWorld()
			schema := schemaOf(t, tc.kind)
			req := e.create(tc.kind, "x-1", tc.spec(w))
			obs, err := e.p.Observe(context.Background(), req)
			if err != nil {
				t.Fatalf("observe: %v", err)
			}
			desired := e.request(tc.kind, "x-1", merge(tc.spec(w), tc.change(w))).Spec
			d := diff.Compute(schema, desired, obs.State)
			if got := d.Paths(); !cmp.Equal(got, tc.wantPaths, cmpopts.EquateEmpty()) {
				t.Errorf("paths: got %v; want %v", got, tc.wantPaths)
			}
			if got, want := d.ForceNew(), tc.wantNew; got != want {
				t.Errorf("ForceNew() = %v; want %v", got, want)
			}
		})
	}
}

func TestSchemasDoNotAskForCreateBeforeDestroy(t *testing.T) {
	var got []string
	for _, s := range cloud.New("http://unused").Schemas() {
		if s.CreateBeforeDestroy {
			got = append(got, s.Kind)
		}
	}
	if len(got) != 0 {
		t.Errorf("kinds with CreateBeforeDestroy: got %v; want none (names are unique: destroy first)", got)
	}
}

func TestSchemaCheck(t *testing.T) {
	tests := map[string]struct {
		kind string
		spec map[string]any
		want []string // fields with problems
	}{
		"valid instance":      {cloud.KindInstance, map[string]any{"subnetId": "subnet-1", "image": "x", "size": "small"}, nil},
		"instance bad size":   {cloud.KindInstance, map[string]any{"subnetId": "subnet-1", "image": "x", "size": "huge"}, []string{"spec.size"}},
		"instance missing":    {cloud.KindInstance, map[string]any{"size": "small"}, []string{"spec.image", "spec.subnetId"}},
		"network host bits":   {cloud.KindNetwork, map[string]any{"cidr": "10.0.0.1/16"}, []string{"spec.cidr"}},
		"network bad name":    {cloud.KindNetwork, map[string]any{"name": "has space", "cidr": "10.0.0.0/16"}, []string{"spec.name"}},
		"bucket upper case":   {cloud.KindBucket, map[string]any{"name": "Assets"}, []string{"spec.name"}},
		"dns bad type":        {cloud.KindDNSRecord, map[string]any{"type": "MX", "value": "x"}, []string{"spec.type"}},
		"lb empty subnets":    {cloud.KindLoadBalancer, map[string]any{"subnetIds": []any{}, "port": 80}, []string{"spec.subnetIds"}},
		"lb port range":       {cloud.KindLoadBalancer, map[string]any{"subnetIds": []any{"s"}, "port": 70000}, []string{"spec.port"}},
		"sg rule no protocol": {cloud.KindSecurityGroup, map[string]any{"networkId": "n", "rules": []any{map[string]any{"cidr": "0.0.0.0/0"}}}, []string{"spec.rules"}},
		"sg rule bad field":   {cloud.KindSecurityGroup, map[string]any{"networkId": "n", "rules": []any{map[string]any{"protocol": "tcp", "cidr": "0.0.0.0/0", "ports": 1}}}, []string{"spec.rules"}},
		"unknown reference":   {cloud.KindSubnet, map[string]any{"networkId": provider.Unknown{Expr: "${cloud.Network/main.outputs.id}"}, "cidr": "10.0.0.0/24"}, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got []string
			for _, fe := range schemaOf(t, tc.kind).Check(provider.CanonicalMap(tc.spec), provider.IsUnknown) {
				got = append(got, fe.Field)
			}
			if !cmp.Equal(got, tc.want) {
				t.Errorf("problems: got %v; want %v", got, tc.want)
			}
		})
	}
}

func TestAdoptByName(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, cloudsim.Config{})
	id := e.post("networks", map[string]any{"name": "shared", "cidr": "10.0.0.0/16"})
	req := e.request(cloud.KindNetwork, "shared", map[string]any{"cidr": "10.0.0.0/16"})

	obs, err := e.p.Observe(ctx, req)
	if err != nil {
		t.Fatalf("observe: %v", err)
	}
	if got, want := obs.Private, map[string]string{cloud.PrivateID: id}; !cmp.Equal(got, want) {
		t.Errorf("private: %s", cmp.Diff(want, got))
	}
	if !obs.Exists || !diff.Compute(schemaOf(t, cloud.KindNetwork), req.Spec, obs.State).Empty() {
		t.Errorf("observation %+v: want an existing object matching the spec", obs)
	}

	// A different name finds nothing.
	other := e.request(cloud.KindNetwork, "other", map[string]any{"cidr": "10.0.0.0/16"})
	if obs, err := e.p.Observe(ctx, other); err != nil || obs.Exists {
		t.Errorf("observe other: exists %v, err %v; want absent", obs.Exists, err)
	}

	// Without an id, Delete finds the object by name.
	if err := e.p.Delete(ctx, req); err != nil {
		t.Fatalf("delete by name: %v", err)
	}
	if got := e.live(cloudsim.KindNetwork); len(got) != 0 {
		t.Errorf("live networks after delete by name: %v; want none", got)
	}
}

func TestDuplicateNamesConflict(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, cloudsim.Config{})
	e.post("buckets", map[string]any{"name": "logs"})
	e.post("buckets", map[string]any{"name": "logs"})
	req := e.request(cloud.KindBucket, "logs", map[string]any{})

	_, err := e.p.Observe(ctx, req)
	if got, want := classOf(err), "conflict"; got != want || !contains(err, "2 live cloud.Bucket objects") {
		t.Errorf("observe: class %s (%v); want %s naming both objects", got, err, want)
	}
	err = e.p.Delete(ctx, req)
	if got, want := classOf(err), "conflict"; got != want {
		t.Errorf("delete without id: class %s (%v); want %s", got, err, want)
	}
	if got := e.live(cloudsim.KindBucket); len(got) != 2 {
		t.Errorf("live buckets: %v; want both left alone", got)
	}
}

func TestCreateAfterConflictAdoptsTheNamedObject(t *testing.T) {
	e := newEnv(t, cloudsim.Config{RejectDuplicates: true})
	id := e.post("buckets", map[string]any{"name": "media"})
	res, err := e.p.Create(context.Background(), e.request(cloud.KindBucket, "media", map[string]any{}))
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if got := res.Private[cloud.PrivateID]; got != id {
		t.Errorf("id = %q; want the existing %q", got, id)
	}
}

// TestReadLag: reads trail writes by 2s. The new object is not ready (never
// absent) until the API shows it, a retried create returns the same object,
// and after the grace period a 404 is absence again.
func TestReadLag(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, cloudsim.Config{Lag: 2 * time.Second})
	req := e.request(cloud.KindNetwork, "lagged", map[string]any{"cidr": "10.0.0.0/16"})
	res, err := e.p.Create(ctx, req)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	id := res.Private[cloud.PrivateID]

	observed := req
	observed.Private, observed.Outputs = res.Private, res.Outputs
	obs, err := e.p.Observe(ctx, observed)
	if err != nil {
		t.Fatalf("observe: %v", err)
	}
	if !obs.Exists || !strings.Contains(obs.NotReady, "waiting for the API") {
		t.Errorf("observe during lag: exists %v, not ready %q; want exists, not ready", obs.Exists, obs.NotReady)
	}
	if d := diff.Compute(schemaOf(t, cloud.KindNetwork), req.Spec, obs.State); !d.Empty() {
		t.Errorf("diff during lag: %v; want none (no update while the API catches up)", d.Paths())
	}

	// The create's answer was lost: the engine observes by name (the list
	// lags too), then retries the create with the same key.
	if obs, err := e.p.Observe(ctx, req); err != nil || obs.Exists {
		t.Fatalf("observe by name during lag: exists %v, err %v; want absent (the list lags)", obs.Exists, err)
	}
	again, err := e.p.Create(ctx, req)
	if err != nil {
		t.Fatalf("retried create: %v", err)
	}
	if got := again.Private[cloud.PrivateID]; got != id {
		t.Errorf("retried create made %q; want the original %q", got, id)
	}
	if got, want := e.live(cloudsim.KindNetwork), []string{"lagged"}; !cmp.Equal(got, want) {
		t.Errorf("live networks: %v; want %v", got, want)
	}

	e.clk.Step(2 * time.Second)
	obs, err = e.p.Observe(ctx, observed)
	if err != nil || !obs.Exists || obs.NotReady != "" {
		t.Errorf("observe after lag: exists %v, not ready %q, err %v; want ready", obs.Exists, obs.NotReady, err)
	}

	// Deleted out of band, seen after the grace period: absent.
	if err := e.p.Delete(ctx, observed); err != nil {
		t.Fatalf("delete: %v", err)
	}
	e.clk.Step(cloud.DefaultGrace)
	if obs, err := e.p.Observe(ctx, observed); err != nil || obs.Exists {
		t.Errorf("observe after delete and grace: exists %v, err %v; want absent", obs.Exists, err)
	}
}

func TestPendingIsNotReady(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, cloudsim.Config{ProvisionDelay: 5 * time.Second})
	w := e.buildWorld()
	req := e.request(cloud.KindLoadBalancer, "web", map[string]any{"subnetIds": []any{w.subnet}, "instanceIds": []any{w.inst}, "port": 80})
	res, err := e.p.Create(ctx, req)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if !strings.Contains(res.NotReady, "pending") {
		t.Errorf("create result not ready %q; want pending", res.NotReady)
	}
	if dns, _ := res.Outputs["dnsName"].(string); !strings.HasSuffix(dns, ".lb.cloudsim.internal") {
		t.Errorf("outputs.dnsName = %q; want a load balancer name", dns)
	}
	req.Private, req.Outputs = res.Private, res.Outputs
	obs, err := e.p.Observe(ctx, req)
	if err != nil || !strings.Contains(obs.NotReady, "pending, waiting for running") {
		t.Errorf("observe while pending: not ready %q, err %v; want pending", obs.NotReady, err)
	}
	e.clk.Step(5 * time.Second)
	obs, err = e.p.Observe(ctx, req)
	if err != nil || obs.NotReady != "" || obs.Outputs["state"] != "running" {
		t.Errorf("observe after provisioning: not ready %q, state %v, err %v; want running", obs.NotReady, obs.Outputs["state"], err)
	}
}

func TestRateLimited(t *testing.T) {
	e := newEnv(t, cloudsim.Config{QPS: 1, Burst: 1})
	req := e.request(cloud.KindBucket, "b-1", map[string]any{})
	if _, err := e.p.Observe(context.Background(), req); err != nil {
		t.Fatalf("first observe: %v", err)
	}
	_, err := e.p.Observe(context.Background(), req)
	class, after := provider.Classify(err)
	if got, want := class, provider.ClassRateLimited; got != want {
		t.Fatalf("second observe: class %s (%v); want %s", got, err, want)
	}
	if got, want := after, time.Second; got != want {
		t.Errorf("retry after %s; want %s", got, want)
	}
}

func TestDeleteReferencedIsRetryable(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, cloudsim.Config{})
	netReq := e.create(cloud.KindNetwork, "main", map[string]any{"cidr": "10.0.0.0/16"})
	sub := e.create(cloud.KindSubnet, "a", map[string]any{"networkId": netReq.Private[cloud.PrivateID], "cidr": "10.0.1.0/24"})

	err := e.p.Delete(ctx, netReq)
	if got, want := classOf(err), "retryable"; got != want || !contains(err, "still referenced by "+sub.Private[cloud.PrivateID]) {
		t.Fatalf("delete referenced network: class %s (%v); want %s naming the subnet", got, err, want)
	}
	if err := e.p.Delete(ctx, sub); err != nil {
		t.Fatalf("delete subnet: %v", err)
	}
	if err := e.p.Delete(ctx, netReq); err != nil {
		t.Errorf("delete network once unreferenced: %v", err)
	}
}

func TestErrorClasses(t *testing.T) {
	tests := map[string]struct {
		cfg     cloudsim.Config
		timeout time.Duration
		call    func(ctx context.Context, e *env) error
		want    string
		wantMsg string
	}{
		"server error is retryable": {
			cfg: cloudsim.Config{Faults: cloudsim.Faults{ErrorRate: 1}},
			call: func(ctx context.Context, e *env) error {
				_, err := e.p.Observe(ctx, e.request(cloud.KindBucket, "b-1", map[string]any{}))
				return err
			},
			want: "retryable", wantMsg: "GET ",
		},
		"outage is retryable": {
			cfg: cloudsim.Config{Faults: cloudsim.Faults{Outage: true}},
			call: func(ctx context.Context, e *env) error {
				_, err := e.p.Create(ctx, e.request(cloud.KindBucket, "b-1", map[string]any{}))
				return err
			},
			want: "retryable", wantMsg: "503 Service Unavailable",
		},
		"hang past the timeout is retryable": {
			cfg:     cloudsim.Config{Faults: cloudsim.Faults{HangRate: 1, HangFor: cloudsim.Duration(time.Hour)}},
			timeout: 20 * time.Millisecond,
			call: func(ctx context.Context, e *env) error {
				_, err := e.p.Observe(ctx, e.request(cloud.KindBucket, "b-1", map[string]any{}))
				return err
			},
			want: "retryable", wantMsg: "timed out",
		},
		"invalid request is terminal with the server's message": {
			call: func(ctx context.Context, e *env) error {
				_, err := e.p.Create(ctx, e.request(cloud.KindSubnet, "s-1", map[string]any{"networkId": "net-000000000000", "cidr": "10.0.0.0/24"}))
				return err
			},
			want: "terminal", wantMsg: `422 Unprocessable Entity: field "networkId": Network "net-000000000000" does not exist`,
		},
		"update of a missing object is retryable": {
			call: func(ctx context.Context, e *env) error {
				req := e.create(cloud.KindBucket, "b-1", map[string]any{})
				req.Kind = cloud.KindNetwork // a mismatched kind: the id is not a network
				_, err := e.p.Update(ctx, req)
				return err
			},
			want: "retryable", wantMsg: "404 Not Found",
		},
		"update without an id is terminal": {
			call: func(ctx context.Context, e *env) error {
				_, err := e.p.Update(ctx, e.request(cloud.KindBucket, "b-1", map[string]any{}))
				return err
			},
			want: "terminal", wantMsg: "no id recorded",
		},
		"unknown kind is terminal": {
			call: func(ctx context.Context, e *env) error {
				_, err := e.p.Observe(ctx, provider.Request{ID: "cloud.Volume/v", Kind: "cloud.Volume", Name: "v"})
				return err
			},
			want: "terminal", wantMsg: "cloud.Volume is not managed",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, tc.cfg)
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			err := tc.call(ctx, e)
			if got := classOf(err); got != tc.want || !contains(err, tc.wantMsg) {
				t.Errorf("got %s (%v); want %s containing %q", got, err, tc.want, tc.wantMsg)
			}
		})
	}
}

func TestConnectionRefusedIsRetryable(t *testing.T) {
	ts := httptest.NewServer(cloudsim.New(cloudsim.Config{}))
	url := ts.URL
	ts.Close()
	_, err := cloud.New(url).Observe(context.Background(), provider.Request{ID: "cloud.Bucket/b-1", Kind: cloud.KindBucket, Name: "b-1"})
	if got, want := classOf(err), "retryable"; got != want {
		t.Errorf("got %s (%v); want %s", got, err, want)
	}
}

// TestAmbiguousCreate: the create is committed but answered 500; the retry
// with the same key gets the same object back.
func TestAmbiguousCreate(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, cloudsim.Config{Faults: cloudsim.Faults{AmbiguousRate: 1}})
	req := e.request(cloud.KindBucket, "media", map[string]any{})
	_, err := e.p.Create(ctx, req)
	if got, want := classOf(err), "retryable"; got != want {
		t.Fatalf("ambiguous create: %s (%v); want %s", got, err, want)
	}
	if err := e.sim.SetFaults(cloudsim.Faults{}); err != nil {
		t.Fatal(err)
	}
	res, err := e.p.Create(ctx, req)
	if err != nil {
		t.Fatalf("retried create: %v", err)
	}
	objs := e.sim.Objects()[cloudsim.KindBucket]
	if len(objs) != 1 || objs[0]["id"] != res.Private[cloud.PrivateID] {
		t.Errorf("live buckets %v; want exactly the one the retry returned (%s)", objs, res.Private[cloud.PrivateID])
	}
}

// TestUpdateLag: reads trail writes by 2s. Right after an update the API
// still shows the old version: that is not drift. A later change made
// behind converge's back is.
func TestUpdateLag(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, cloudsim.Config{Lag: 2 * time.Second})
	schema := schemaOf(t, cloud.KindBucket)
	req := e.create(cloud.KindBucket, "media", map[string]any{})
	e.clk.Step(3 * time.Second)

	req.Spec = e.request(cloud.KindBucket, "media", map[string]any{"versioning": true}).Spec
	res, err := e.p.Update(ctx, req)
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	req.Private, req.Outputs = res.Private, res.Outputs
	obs, err := e.p.Observe(ctx, req)
	if err != nil {
		t.Fatalf("observe during lag: %v", err)
	}
	if d := diff.Compute(schema, req.Spec, obs.State); !d.Empty() || obs.NotReady != "" {
		t.Errorf("observe during lag: diff %v, not ready %q; want no diff, ready", d.Paths(), obs.NotReady)
	}

	e.clk.Step(3 * time.Second)
	patch, _ := http.NewRequest(http.MethodPatch, e.ts.URL+"/v1/buckets/"+req.Private[cloud.PrivateID], strings.NewReader(`{"versioning": false}`))
	resp, err := http.DefaultClient.Do(patch)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	e.clk.Step(3 * time.Second)
	obs, err = e.p.Observe(ctx, req)
	if err != nil {
		t.Fatalf("observe after an out-of-band change: %v", err)
	}
	if got, want := diff.Compute(schema, req.Spec, obs.State).Paths(), []string{"versioning"}; !cmp.Equal(got, want) {
		t.Errorf("diff after an out-of-band change: %v; want %v", got, want)
	}
}
