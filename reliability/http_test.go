package reliability

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/convergehq/converge/cloudsim"
	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/provider"
	httpprovider "github.com/convergehq/converge/providers/http"
)

// TestHTTPResourcesUnderFire: 60 http.Resource objects against an API that
// fails 30% of calls with 500s, hangs 10% past the timeout and commits 10%
// of writes before answering 500, and honours idempotency keys. With
// idempotentCreates: true a create whose outcome is unknown is sent again
// at once, with its key, and the API answers it with the object the first
// made: it converges exactly, each object created once.
// BenchmarkHTTPResourcesUnderFire compares it with the kind's 10 s
// read-after-write grace.
func TestHTTPResourcesUnderFire(t *testing.T) {
	httpUnderFire(t, "{timeout: 300ms, maxInFlight: 16, idempotentCreates: true}", "http idempotentCreates")
}

// BenchmarkHTTPResourcesUnderFire runs the scenario of
// TestHTTPResourcesUnderFire with the read-after-write grace and with
// idempotentCreates, side by side (seconds/op is one converge).
func BenchmarkHTTPResourcesUnderFire(b *testing.B) {
	for _, tc := range []struct{ name, config string }{
		{"grace", "{timeout: 300ms, maxInFlight: 16}"},
		{"idempotentCreates", "{timeout: 300ms, maxInFlight: 16, idempotentCreates: true}"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				took := httpUnderFire(b, tc.config, "http "+tc.name)
				b.ReportMetric(took.Seconds(), "s/converge")
			}
		})
	}
}

func httpUnderFire(t testing.TB, config, scenario string) time.Duration {
	t.Helper()
	s := newSim(t, cloudsim.Config{Seed: 11, Faults: cloudsim.Faults{
		ErrorRate: 0.3, HangRate: 0.1, HangFor: cloudsim.Duration(5 * time.Second), AmbiguousRate: 0.1,
	}})
	const n = 60
	var b strings.Builder
	fmt.Fprintf(&b, "kind: ProviderConfig\nmetadata: {name: http}\nspec: %s\n", config)
	var names []string
	for i := range n {
		name := fmt.Sprintf("bucket-%02d", i)
		names = append(names, name)
		fmt.Fprintf(&b, "---\nkind: http.Resource\nmetadata: {name: %s}\nspec:\n  url: %s/v1/buckets\n  body: {name: %s}\n", name, s.srv.URL, name)
	}
	expect := map[string][]string{cloudsim.KindBucket: names}
	if err := s.Expect(expect); err != nil {
		t.Fatal(err)
	}
	reg, err := provider.NewRegistry(httpprovider.New())
	if err != nil {
		t.Fatal(err)
	}
	rep, took := converge(t, reg, load(t, reg, map[string][]byte{"app.yaml": []byte(b.String())}),
		engine.Options{Workers: 16, BackoffBase: 50 * time.Millisecond, BackoffMax: time.Second})
	a := s.Audit()
	injected(t, a, "error", "hang", "ambiguous")
	if a.Replays == 0 {
		t.Fatalf("no create was answered from its idempotency key: no create was sent again after one that took effect, so the keys were never put to the test")
	}
	checkAudit(t, a)
	checkCreatedOnce(t, a.Created, expect, nil)
	if rep.Ready != n {
		t.Errorf("ready = %d; want %d", rep.Ready, n)
	}
	figure(t, scenario, map[string]any{"resources": rep.Ready, "seconds": took.Seconds(), "requests": a.Requests,
		"errors": a.Faults["error"], "hangs": a.Faults["hang"], "ambiguous": a.Faults["ambiguous"], "replays": a.Replays,
		"duplicates": len(a.Duplicates), "leaks": len(a.Leaks)})
	return took
}
