package cloudsim_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/cloudsim"
)

func TestErrorRate(t *testing.T) {
	e := newEnv(t, cloudsim.Config{Faults: cloudsim.Faults{ErrorRate: 1}})
	statuses := map[int]int{}
	for range 20 {
		statuses[e.do("POST", "/v1/buckets", map[string]any{"name": "bkt"}).status]++
	}
	if statuses[500] == 0 || statuses[503] == 0 || statuses[500]+statuses[503] != 20 {
		t.Errorf("statuses: got %v; want only 500 and 503, both", statuses)
	}
	a := e.srv.Audit()
	if a.Live["Bucket"] != 0 || a.Faults["error"] != 20 {
		t.Errorf("got %d buckets and %d injected errors; want 0 and 20", a.Live["Bucket"], a.Faults["error"])
	}
}

func TestFaultsAreSeeded(t *testing.T) {
	run := func(seed uint64) []any {
		e := newEnv(t, cloudsim.Config{Seed: seed, Faults: cloudsim.Faults{ErrorRate: 0.5}})
		var out []any
		for range 40 {
			r := e.do("POST", "/v1/buckets", map[string]any{"name": "bkt"})
			out = append(out, r.status, r.obj()["id"])
		}
		return out
	}
	a, b, c := run(7), run(7), run(8)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different statuses and IDs (-first +second):\n%s", diff)
	}
	if cmp.Equal(a, c) {
		t.Errorf("seeds 7 and 8 gave the same statuses and IDs: %v", a)
	}
}

func TestOutage(t *testing.T) {
	e := newEnv(t, cloudsim.Config{Faults: cloudsim.Faults{Outage: true}})
	if got := e.do("GET", "/v1/networks", nil).status; got != 503 {
		t.Errorf("during outage: got %d; want 503", got)
	}
	if err := e.srv.SetFaults(cloudsim.Faults{}); err != nil {
		t.Fatal(err)
	}
	if got := e.do("GET", "/v1/networks", nil).status; got != 200 {
		t.Errorf("after clearing the outage: got %d; want 200", got)
	}

	// An outage for a duration, set through the admin endpoint.
	if r := e.do("PUT", "/admin/faults", map[string]any{"outageFor": "10s"}); r.status != 200 {
		t.Fatalf("PUT /admin/faults: got %d %q; want 200", r.status, r.errMsg())
	}
	steps := []struct {
		step time.Duration
		want int
	}{{0, 503}, {10*time.Second - time.Nanosecond, 503}, {time.Nanosecond, 200}}
	for _, s := range steps {
		e.clock.Step(s.step)
		if got := e.do("POST", "/v1/buckets", map[string]any{"name": "bkt"}).status; got != s.want && !(s.want == 200 && got == 201) {
			t.Errorf("after +%v: got %d; want %d", s.step, got, s.want)
		}
	}
	a := e.srv.Audit()
	if a.Faults["outage"] != 3 || a.Live["Bucket"] != 1 {
		t.Errorf("got %d outage answers and %d buckets; want 3 and 1", a.Faults["outage"], a.Live["Bucket"])
	}
}

func TestAmbiguousWrites(t *testing.T) {
	e := newEnv(t, cloudsim.Config{})
	w := e.buildWorld()
	if err := e.srv.SetFaults(cloudsim.Faults{AmbiguousRate: 1}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		method, path string
		body         any
		want         int
	}{
		{"POST", "/v1/buckets", map[string]any{"name": "ambiguous"}, 500},
		{"PATCH", "/v1/buckets/" + w.bucket, map[string]any{"versioning": true}, 500},
		{"DELETE", "/v1/dnsrecords/" + w.dns, nil, 500},
		{"GET", "/v1/buckets/" + w.bucket, nil, 200},                      // reads are not ambiguous
		{"DELETE", "/v1/networks/" + w.network, nil, 409},                 // failed writes keep their answer
		{"POST", "/v1/buckets", map[string]any{"name": "Not Valid"}, 422}, // likewise
	}
	for _, s := range steps {
		if got := e.do(s.method, s.path, s.body).status; got != s.want {
			t.Errorf("%s %s: got %d; want %d", s.method, s.path, got, s.want)
		}
	}
	objs := e.srv.Objects()
	var buckets []any
	for _, b := range objs["Bucket"] {
		buckets = append(buckets, []any{b["name"], b["versioning"]})
	}
	want := []any{[]any{"assets", true}, []any{"ambiguous", false}}
	if diff := cmp.Diff(want, buckets); diff != "" {
		t.Errorf("buckets: committed writes (-want +got):\n%s", diff)
	}
	if got := len(objs["DNSRecord"]); got != 0 {
		t.Errorf("DNS records: got %d; want the ambiguous delete committed", got)
	}
	a := e.srv.Audit()
	if got := a.Faults["ambiguous"]; got != 3 {
		t.Errorf("ambiguous faults: got %d; want 3", got)
	}
	// The ambiguous create made its object; the refused one did not.
	if got := a.Created["Bucket"]; !cmp.Equal(got, map[string]int{"assets": 1, "ambiguous": 1}) {
		t.Errorf("buckets created: got %v; want assets and ambiguous once each", got)
	}
}

func TestHang(t *testing.T) {
	faults := cloudsim.Faults{HangRate: 1, HangFor: cloudsim.Duration(10 * time.Second)}
	t.Run("answers 504 after hangFor without acting", func(t *testing.T) {
		e := newEnv(t, cloudsim.Config{Faults: faults})
		ch := e.async("POST", "/v1/buckets", map[string]any{"name": "hung"})
		waitUntil(t, "the request blocks", e.clock.HasWaiters)
		e.clock.Step(10*time.Second - time.Nanosecond)
		select {
		case r := <-ch:
			t.Fatalf("got an answer (%d) before hangFor passed", r.status)
		default:
		}
		e.clock.Step(time.Nanosecond)
		if r := <-ch; r.status != 504 {
			t.Errorf("got %d; want 504", r.status)
		}
		if a := e.srv.Audit(); a.Live["Bucket"] != 0 || a.Faults["hang"] != 1 {
			t.Errorf("got %d buckets, %d hangs; want 0, 1", a.Live["Bucket"], a.Faults["hang"])
		}
	})
	t.Run("ends when the client gives up", func(t *testing.T) {
		e := newEnv(t, cloudsim.Config{Faults: faults})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := e.doCtx(ctx, "GET", "/v1/buckets", nil)
			done <- err
		}()
		waitUntil(t, "the request blocks", e.clock.HasWaiters)
		cancel()
		if err := <-done; err == nil {
			t.Errorf("client: got no error; want a canceled request")
		}
		waitUntil(t, "the server lets the request go", func() bool { return e.srv.Audit().InFlight == 0 })
		if got := e.srv.Audit().ByStatus["499"]; got != 1 {
			t.Errorf("requests ended by the client: got %d; want 1", got)
		}
	})
}

func TestLatency(t *testing.T) {
	e := newEnv(t, cloudsim.Config{Faults: cloudsim.Faults{Latency: cloudsim.Duration(2 * time.Second)}})
	ch := e.async("POST", "/v1/buckets", map[string]any{"name": "slow"})
	waitUntil(t, "the request waits", e.clock.HasWaiters)
	if a := e.srv.Audit(); a.Live["Bucket"] != 0 || a.MutatingInFlight != 1 {
		t.Errorf("while the request waits: got %d buckets, %d mutating requests in flight; want 0 (latency comes before acting), 1",
			a.Live["Bucket"], a.MutatingInFlight)
	}
	e.clock.Step(2*time.Second - time.Nanosecond)
	select {
	case r := <-ch:
		t.Fatalf("got an answer (%d) before the latency passed", r.status)
	default:
	}
	e.clock.Step(time.Nanosecond)
	if r := <-ch; r.status != 201 {
		t.Errorf("got %d; want 201", r.status)
	}
	if got := e.srv.Audit().MutatingInFlight; got != 0 {
		t.Errorf("mutating requests in flight after the answer: got %d; want 0", got)
	}
}

func TestOverlappingMutations(t *testing.T) {
	e := newEnv(t, cloudsim.Config{})
	a := e.mustCreate("buckets", map[string]any{"name": "aaa"})
	b := e.mustCreate("buckets", map[string]any{"name": "bbb"})
	// Sequential writes never overlap.
	e.do("PATCH", "/v1/buckets/"+a, map[string]any{"versioning": true})
	e.do("PATCH", "/v1/buckets/"+a, map[string]any{"versioning": false})

	// A hung request is not acted on, so it does not hold its object.
	if err := e.srv.SetFaults(cloudsim.Faults{HangRate: 1, HangFor: cloudsim.Duration(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	hung := e.async("PATCH", "/v1/buckets/"+b, map[string]any{"versioning": true})
	waitUntil(t, "the hung request blocks", func() bool { return e.clock.Waiters() == 1 })
	if got := e.srv.Audit().MutatingInFlight; got != 0 {
		t.Errorf("mutating requests in flight with only a hung one: got %d; want 0", got)
	}

	// Concurrent writes: two on a, one on b (overlapping only the hung
	// one), and two creates of one name.
	if err := e.srv.SetFaults(cloudsim.Faults{Latency: cloudsim.Duration(time.Second)}); err != nil {
		t.Fatal(err)
	}
	chans := []<-chan reply{
		e.async("PATCH", "/v1/buckets/"+a, map[string]any{"versioning": true}),
		e.async("PUT", "/v1/buckets/"+a, map[string]any{"name": "aaa"}),
		e.async("DELETE", "/v1/buckets/"+b, nil),
		e.async("POST", "/v1/buckets", map[string]any{"name": "ccc"}),
		e.async("POST", "/v1/buckets", map[string]any{"name": "ccc"}),
		e.async("GET", "/v1/buckets/"+a, nil), // reads do not count
		e.async("GET", "/v1/buckets/"+a, nil),
	}
	waitUntil(t, "all requests wait", func() bool { return e.clock.Waiters() == 1+len(chans) })
	e.clock.Step(time.Second)
	for _, ch := range chans {
		if r := <-ch; r.status >= 300 {
			t.Errorf("concurrent request: got %d %q; want success", r.status, r.errMsg())
		}
	}
	a2 := e.srv.Audit()
	if diff := cmp.Diff([]string{"Bucket:ccc", a}, a2.OverlapIDs); a2.Overlaps != 2 || diff != "" {
		t.Errorf("got %d overlaps; want 2, on (-want +got):\n%s", a2.Overlaps, diff)
	}
	e.clock.Step(time.Minute)
	if r := <-hung; r.status != 504 {
		t.Errorf("hung request: got %d; want 504", r.status)
	}
}
