package cloudsim_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/cloudsim"
)

func TestAdminFaults(t *testing.T) {
	e := newEnv(t, cloudsim.Config{})
	set := map[string]any{"errorRate": 0.25, "latency": "150ms", "latencyJitter": 0.5, "hangRate": 0.1,
		"hangFor": "45s", "ambiguousRate": 0.05, "outage": false}
	want := map[string]any{"errorRate": 0.25, "latency": "150ms", "latencyJitter": "500ms", "hangRate": 0.1,
		"hangFor": "45s", "ambiguousRate": 0.05, "outage": false}
	if r := e.do("PUT", "/admin/faults", set); r.status != 200 {
		t.Fatalf("PUT: got %d %q; want 200", r.status, r.errMsg())
	}
	if diff := cmp.Diff(want, e.do("GET", "/admin/faults", nil).body); diff != "" {
		t.Errorf("GET after PUT (-want +got):\n%s", diff)
	}
	wantLib := cloudsim.Faults{ErrorRate: 0.25, Latency: cloudsim.Duration(150 * time.Millisecond),
		LatencyJitter: cloudsim.Duration(500 * time.Millisecond), HangRate: 0.1, HangFor: cloudsim.Duration(45 * time.Second),
		AmbiguousRate: 0.05}
	if diff := cmp.Diff(wantLib, e.srv.Faults()); diff != "" {
		t.Errorf("Faults() (-want +got):\n%s", diff)
	}

	bad := map[string]struct {
		body    any
		want    int
		wantMsg string
	}{
		"rate above 1":     {map[string]any{"errorRate": 1.5}, 422, "errorRate"},
		"negative latency": {map[string]any{"latency": "-1s"}, 422, "latency"},
		"bad duration":     {map[string]any{"hangFor": "soon"}, 400, "duration"},
		"unknown field":    {map[string]any{"chaos": true}, 400, "unknown field"},
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			r := e.do("PUT", "/admin/faults", tc.body)
			if r.status != tc.want || !strings.Contains(r.errMsg(), tc.wantMsg) {
				t.Errorf("got %d %q; want %d containing %q", r.status, r.errMsg(), tc.want, tc.wantMsg)
			}
		})
	}
	if diff := cmp.Diff(wantLib, e.srv.Faults()); diff != "" {
		t.Errorf("Faults() after rejected PUTs changed (-want +got):\n%s", diff)
	}
}

func TestAuditLeaks(t *testing.T) {
	e := newEnv(t, cloudsim.Config{})
	e.mustCreate("networks", map[string]any{"name": "a", "cidr": "10.0.0.0/16"})
	c := e.mustCreate("networks", map[string]any{"name": "c", "cidr": "10.0.0.0/16"})
	x := e.mustCreate("buckets", map[string]any{"name": "xxx"})
	if got := e.srv.Audit(); got.LeakCheck || len(got.Leaks) != 0 {
		t.Errorf("before expectations: got leakCheck %v, leaks %v; want false, none", got.LeakCheck, got.Leaks)
	}
	if r := e.do("POST", "/admin/audit/expect", map[string][]string{"networks": {"a", "b"}, "Subnet": {"s"}}); r.status != 204 {
		t.Fatalf("POST expect: got %d %q; want 204", r.status, r.errMsg())
	}
	got := e.do("GET", "/admin/audit", nil).obj()
	want := map[string]any{
		"leakCheck": true,
		"leaks": []any{
			map[string]any{"kind": "Network", "name": "c", "id": c},
			map[string]any{"kind": "Bucket", "name": "xxx", "id": x},
		},
		"missing": []any{
			map[string]any{"kind": "Network", "name": "b"},
			map[string]any{"kind": "Subnet", "name": "s"},
		},
		"live": map[string]any{"Network": 2.0, "Bucket": 1.0},
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			delete(got, k)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}

	if r := e.do("POST", "/admin/audit/expect", map[string][]string{"Widget": {"w"}}); r.status != 422 || !strings.Contains(r.errMsg(), "Widget") {
		t.Errorf("expect an unknown kind: got %d %q; want 422 naming it", r.status, r.errMsg())
	}
	if r := e.do("DELETE", "/admin/audit/expect", nil); r.status != 204 {
		t.Errorf("DELETE expect: got %d; want 204", r.status)
	}
	if got := e.srv.Audit(); got.LeakCheck || len(got.Leaks)+len(got.Missing) != 0 {
		t.Errorf("after clearing expectations: got leakCheck %v, leaks %v, missing %v; want none", got.LeakCheck, got.Leaks, got.Missing)
	}
}

func TestAuditCounts(t *testing.T) {
	e := newEnv(t, cloudsim.Config{})
	id := e.mustCreate("buckets", map[string]any{"name": "bkt"})
	e.do("GET", "/v1/buckets/"+id, nil)
	e.do("GET", "/v1/buckets", nil)
	e.do("DELETE", "/v1/buckets/"+id, nil)
	e.do("GET", "/v1/networks/net-nope", nil)
	e.do("GET", "/v1/widgets", nil)
	e.do("GET", "/admin/objects", nil) // not audited

	got := e.srv.Audit()
	want := cloudsim.Audit{
		Requests: 6,
		ByMethod: map[string]int{"POST": 1, "GET": 4, "DELETE": 1},
		ByKind: map[string]map[string]int{
			"Bucket": {"POST": 1, "GET": 2, "DELETE": 1}, "Network": {"GET": 1}, "": {"GET": 1},
		},
		ByStatus:             map[string]int{"201": 1, "200": 2, "204": 1, "404": 2},
		Faults:               map[string]int{},
		Created:              map[string]map[string]int{"Bucket": {"bkt": 1}},
		MaxPerSecond:         6,
		MaxAdmittedPerSecond: 6,
		Live:                 map[string]int{},
		Duplicates:           []cloudsim.Duplicate{},
		OverlapIDs:           []string{},
		Leaks:                []cloudsim.ObjectRef{},
		Missing:              []cloudsim.ObjectRef{},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}

func TestAdminObjectsAndReset(t *testing.T) {
	e := newEnv(t, cloudsim.Config{Lag: time.Minute, QPS: 1, Burst: 3})
	var statuses []int
	for range 5 {
		statuses = append(statuses, e.do("POST", "/v1/buckets", map[string]any{"name": "bkt"}).status)
	}
	if diff := cmp.Diff([]int{201, 201, 201, 429, 429}, statuses); diff != "" {
		t.Fatalf("creates before reset (-want +got):\n%s", diff)
	}
	if r := e.do("POST", "/admin/reset", nil); r.status != 204 {
		t.Fatalf("POST /admin/reset: got %d; want 204", r.status)
	}
	e.clock.Step(time.Nanosecond)
	net := e.mustCreate("networks", map[string]any{"name": "net", "cidr": "10.0.0.0/16"})

	// The reset refilled the rate limiter; the dump shows current state
	// despite the read lag, with every kind present.
	objs := e.do("GET", "/admin/objects", nil).obj()
	var gotIDs []string
	for _, k := range cloudsim.Kinds() {
		list, ok := objs[k].([]any)
		if !ok {
			t.Errorf("dump: kind %s missing", k)
			continue
		}
		for _, o := range list {
			gotIDs = append(gotIDs, o.(map[string]any)["id"].(string))
		}
	}
	if diff := cmp.Diff([]string{net}, gotIDs); diff != "" {
		t.Errorf("objects after reset (-want +got):\n%s", diff)
	}
	if got := e.srv.Audit().Requests; got != 1 {
		t.Errorf("requests after reset: got %d; want 1", got)
	}

	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/admin/nothing", 404},
		{"POST", "/admin/audit", 405},
		{"GET", "/admin/reset", 405},
	} {
		if got := e.do(tc.method, tc.path, nil).status; got != tc.want {
			t.Errorf("%s %s: got %d; want %d", tc.method, tc.path, got, tc.want)
		}
	}
}
