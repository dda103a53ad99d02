package reliability

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/cloudsim"
	"github.com/convergehq/converge/controller"
	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/store/memory"
)

const units = 30 // 300 resources

// 1. 30% of calls fail with 5xx and 10% hang past the timeout: the app
// converges exactly, with zero duplicates, leaks and overlaps. A create
// that failed that way may have taken effect, so converge gives it the
// kind's read-after-write grace before it creates again; an API that
// honours idempotency keys (idempotentCreates: true) needs none, and the
// key alone keeps the create sent again from making a second object.
func TestFlakyAPI(t *testing.T) {
	for _, tc := range []struct {
		name, config string
	}{
		{"grace", "{maxInFlight: 32, timeout: 300ms}"},
		{"idempotentCreates", "{maxInFlight: 32, timeout: 300ms, idempotentCreates: true}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, cloudsim.Config{Seed: 1, Faults: cloudsim.Faults{
				ErrorRate: 0.3, HangRate: 0.1, HangFor: cloudsim.Duration(5 * time.Second),
			}})
			files, expect := app(units, tc.config)
			if err := s.Expect(expect); err != nil {
				t.Fatal(err)
			}
			reg := registry(t, s.srv.URL)
			rep, took := converge(t, reg, load(t, reg, files), engine.Options{Workers: 32, BackoffBase: 50 * time.Millisecond, BackoffMax: time.Second})
			a := s.Audit()
			injected(t, a, "error", "hang")
			checkAudit(t, a)
			checkCreatedOnce(t, a.Created, expect, nil)
			if rep.Ready != 10*units {
				t.Errorf("ready = %d; want %d", rep.Ready, 10*units)
			}
			figure(t, "flaky "+tc.name, map[string]any{
				"resources": rep.Ready, "seconds": took.Seconds(), "requests": a.Requests,
				"errors": a.Faults["error"], "hangs": a.Faults["hang"], "replays": a.Replays, "duplicates": len(a.Duplicates),
				"leaks": len(a.Leaks), "overlaps": a.Overlaps,
			})
		})
	}
}

// 2. The server allows 20 requests/s: converge, configured for the same
// budget, never exceeds it over any one-second window after its first
// burst; configured for more, it honours every Retry-After, adapting its
// rate or not, and adapting provokes at most half as many 429s as keeping
// the configured rate.
func TestRateLimitedAPI(t *testing.T) {
	const units = 6 // 60 resources: the budget makes this slow by design
	t.Run("within budget", func(t *testing.T) {
		// converge's budget sits just under the server's, as an operator
		// sets it (the two buckets do not tick in step), with a burst of 1:
		// a token bucket lets through at most burst + qps*T in any window
		// of length T, so 20 in any second.
		s := newSim(t, cloudsim.Config{Seed: 2, QPS: 20, Burst: 20})
		files, expect := app(units, "{qps: 19, burst: 1, maxInFlight: 8}")
		if err := s.Expect(expect); err != nil {
			t.Fatal(err)
		}
		reg := registry(t, s.srv.URL)
		_, took := converge(t, reg, load(t, reg, files), engine.Options{})
		a := s.Audit()
		checkAudit(t, a)
		// After its first burst, no one-second window sees more than the
		// rate (plus the one token a window boundary can catch).
		reqs := s.rec.requests()
		maxAfterBurst := 0
		for i := range reqs {
			if reqs[i].at.Before(reqs[0].at.Add(time.Second)) {
				continue
			}
			n := 0
			for _, r := range reqs[i:] {
				if r.at.Sub(reqs[i].at) >= time.Second {
					break
				}
				n++
			}
			maxAfterBurst = max(maxAfterBurst, n)
		}
		if maxAfterBurst < 15 {
			t.Errorf("most requests in one second after the first burst = %d; want converge to press on its budget of 19, or the budget was not tested", maxAfterBurst)
		}
		if maxAfterBurst > 20 {
			t.Errorf("most requests in one second after the first burst = %d; want at most the server's 20", maxAfterBurst)
		}
		if a.RateLimited != 0 {
			t.Errorf("429 answers = %d; want 0 within the configured budget", a.RateLimited)
		}
		figure(t, "rate-limit-within-budget", map[string]any{"seconds": took.Seconds(), "requests": a.Requests, "maxPerSecond": a.MaxPerSecond,
			"maxPerSecondAfterFirstBurst": maxAfterBurst, "rateLimited": a.RateLimited})
	})
	refused := map[bool]int{} // 429 answers, by fixed rate
	for _, fixed := range []bool{true, false} {
		name := "over budget, adaptive"
		if fixed {
			name = "over budget, fixed rate"
		}
		t.Run(name, func(t *testing.T) {
			s := newSim(t, cloudsim.Config{Seed: 2, QPS: 20, Burst: 20})
			files, expect := app(units, "{qps: 60, burst: 20, maxInFlight: 8}")
			if err := s.Expect(expect); err != nil {
				t.Fatal(err)
			}
			reg := registry(t, s.srv.URL)
			_, took := converge(t, reg, load(t, reg, files), engine.Options{FixedRate: fixed, BackoffBase: 100 * time.Millisecond, BackoffMax: 2 * time.Second})
			a := s.Audit()
			if a.RateLimited == 0 {
				t.Fatalf("no request was answered 429: the server never throttled, so no Retry-After was tested")
			}
			checkAudit(t, a)
			// Every Retry-After is honoured: no request arrives well
			// inside the pause a 429 asked for (requests already on their
			// way when it was sent may land just after it).
			reqs := s.rec.requests()
			violations := 0
			for i, r := range reqs {
				if r.status != 429 || r.retryAfter == 0 {
					continue
				}
				for _, next := range reqs[i+1:] {
					if next.at.After(r.at.Add(r.retryAfter - 100*time.Millisecond)) {
						break
					}
					// Requests sent before the 429 reached converge may land
					// a little after it on a busy machine.
					if next.at.After(r.at.Add(300 * time.Millisecond)) {
						violations++
					}
				}
			}
			if violations > 0 {
				t.Errorf("%d requests arrived inside a Retry-After pause", violations)
			}
			retried := 0 // 429s followed by another request, whose timing was checked
			for i, r := range reqs {
				if r.status == 429 && r.retryAfter > 0 && i+1 < len(reqs) {
					retried++
				}
			}
			if retried == 0 {
				t.Errorf("no 429 with a Retry-After was followed by a request: nothing was checked")
			}
			figure(t, "rate-limit-over-budget", map[string]any{"fixedRate": fixed, "seconds": took.Seconds(), "requests": a.Requests, "rateLimited": a.RateLimited, "retryAfterViolations": violations})
			refused[fixed] = a.RateLimited
		})
	}
	// Adapting (halving the rate and the burst at a wave of 429s, raising
	// it again by time) provokes far fewer 429s than keeping the
	// configured rate: 3 against 20 on the machine the figures come from.
	if refused[true] > 0 && refused[false]*2 > refused[true] {
		t.Errorf("429 answers: %d adaptive, %d at a fixed rate; want adapting to provoke at most half as many", refused[false], refused[true])
	}
}

// 3. Ambiguous creates (committed, answered 500): zero duplicates, with the
// server's idempotency keys and without them (adoption by name). With keys,
// reads lag by 2 s and the ProviderConfig sets idempotentCreates: true (the
// API honours keys), so converge cannot find the object by name
// and creates again at once: only the key keeps that create from making a
// second object. Without keys, nothing lags and converge adopts the object
// it finds by name.
func TestAmbiguousCreates(t *testing.T) {
	for _, keys := range []bool{true, false} {
		t.Run(fmt.Sprintf("idempotency keys %v", keys), func(t *testing.T) {
			cfg := cloudsim.Config{Seed: 3, DisableIdempotency: !keys, Faults: cloudsim.Faults{AmbiguousRate: 0.3}}
			pc := "{maxInFlight: 32}"
			if keys {
				cfg.Lag = 2 * time.Second
				pc = "{maxInFlight: 32, idempotentCreates: true}"
			}
			s := newSim(t, cfg)
			files, expect := app(units, pc)
			if err := s.Expect(expect); err != nil {
				t.Fatal(err)
			}
			reg := registry(t, s.srv.URL)
			rep, took := converge(t, reg, load(t, reg, files), engine.Options{Workers: 32, BackoffBase: 20 * time.Millisecond, BackoffMax: 500 * time.Millisecond, ReadyPoll: 200 * time.Millisecond})
			a := s.Audit()
			injected(t, a, "ambiguous")
			// With keys, creates sent again are answered from them; without,
			// none can be, and converge finds its objects by name.
			if keys && a.Replays == 0 {
				t.Fatalf("no create was answered from its idempotency key: the keys were never put to the test")
			}
			if !keys && a.Replays != 0 {
				t.Errorf("%d creates answered from an idempotency key the server ignores", a.Replays)
			}
			checkAudit(t, a)
			checkCreatedOnce(t, a.Created, expect, nil)
			figure(t, "ambiguous", map[string]any{"idempotencyKeys": keys, "lagSeconds": cfg.Lag.Seconds(), "resources": rep.Ready, "seconds": took.Seconds(),
				"ambiguous": a.Faults["ambiguous"], "replays": a.Replays, "duplicates": len(a.Duplicates), "leaks": len(a.Leaks)})
		})
	}
}

// 3 and 6 together: ambiguous creates against an API whose reads lag by 2 s
// and that has no idempotency keys. The adoption by name cannot see an
// object created a moment ago, so converge gives an ambiguous create the
// kind's read-after-write grace before it creates again: zero duplicates.
func TestAmbiguousCreatesWithLag(t *testing.T) {
	s := newSim(t, cloudsim.Config{Seed: 3, Lag: 2 * time.Second, DisableIdempotency: true, Faults: cloudsim.Faults{AmbiguousRate: 0.3}})
	files, expect := app(units, "{maxInFlight: 32}")
	if err := s.Expect(expect); err != nil {
		t.Fatal(err)
	}
	reg := registry(t, s.srv.URL)
	rep, took := converge(t, reg, load(t, reg, files), engine.Options{Workers: 32, BackoffBase: 20 * time.Millisecond, BackoffMax: 500 * time.Millisecond, ReadyPoll: 200 * time.Millisecond})
	a := s.Audit()
	injected(t, a, "ambiguous")
	if a.StaleReads == 0 {
		t.Fatalf("no read was stale: the lag never hid a create, so adoption by name was not put to the test")
	}
	checkAudit(t, a)
	checkCreatedOnce(t, a.Created, expect, nil)
	figure(t, "ambiguous-with-lag", map[string]any{"lagSeconds": 2, "idempotencyKeys": false, "resources": rep.Ready, "seconds": took.Seconds(),
		"ambiguous": a.Faults["ambiguous"], "staleReads": a.StaleReads, "creates": total2(a.Created), "posts": a.ByMethod["POST"],
		"duplicates": len(a.Duplicates), "leaks": len(a.Leaks)})
}

// 5. The server is down for 10 s, then returns: converge recovers within one
// backoff cap of its return, and no retry waits longer than the cap.
func TestOutage(t *testing.T) {
	const backoffMax = 2 * time.Second
	s := newSim(t, cloudsim.Config{Seed: 5})
	files, expect := app(units, "{maxInFlight: 16}")
	if err := s.Expect(expect); err != nil {
		t.Fatal(err)
	}
	reg := registry(t, s.srv.URL)
	rv := load(t, reg, files)
	if err := s.SetFaults(cloudsim.Faults{OutageFor: cloudsim.Duration(10 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	outageEnd := time.Now().Add(10 * time.Second)
	_, took := converge(t, reg, rv, engine.Options{Workers: 16, BackoffBase: 100 * time.Millisecond, BackoffMax: backoffMax})
	a := s.Audit()
	injected(t, a, "outage")
	checkAudit(t, a)
	recovered := time.Since(outageEnd)
	// The first request after the outage comes within one cap; the whole
	// app then converges quickly, without faults.
	var firstAfter time.Duration = -1
	var maxGap time.Duration
	var last time.Time
	for _, r := range s.rec.requests() {
		if !last.IsZero() && r.at.Sub(last) > maxGap {
			maxGap = r.at.Sub(last)
		}
		last = r.at
		if firstAfter < 0 && r.at.After(outageEnd) {
			firstAfter = r.at.Sub(outageEnd)
		}
	}
	const slack = 500 * time.Millisecond // scheduling on a busy machine
	if firstAfter < 0 || firstAfter > backoffMax+slack {
		t.Errorf("first request %s after the outage ended; want within the backoff cap %s", firstAfter, backoffMax)
	}
	if maxGap > backoffMax+slack {
		t.Errorf("longest silence between requests = %s; want at most the backoff cap %s", maxGap, backoffMax)
	}
	figure(t, "outage", map[string]any{"outageSeconds": 10, "backoffMaxSeconds": backoffMax.Seconds(), "firstRequestAfterOutageSeconds": firstAfter.Seconds(),
		"convergedAfterOutageSeconds": recovered.Seconds(), "longestSilenceSeconds": maxGap.Seconds(), "seconds": took.Seconds()})
}

// 6. Reads lag writes by 5 s: zero duplicates. The second apply must meet
// stale reads for the test to prove anything; on a machine so busy that
// the first apply outlasts the lag (an ambiguous create found by name
// waits for the lagging list), the scenario runs again on a fresh cloud,
// up to three times.
func TestReadLag(t *testing.T) {
	const lag = 5 * time.Second
	for attempt := 1; ; attempt++ {
		if readLag(t, lag) || t.Failed() {
			return
		}
		if attempt == 3 {
			t.Fatalf("in %d runs the second apply saw no stale read: the lag hid nothing from it, so the test proves nothing", attempt)
		}
		t.Logf("run %d: the second apply saw no stale read; running the scenario again", attempt)
	}
}

// readLag runs the read-lag scenario once and reports whether its premise
// held: the second apply met stale reads.
func readLag(t *testing.T, lag time.Duration) bool {
	t.Helper()
	s := newSim(t, cloudsim.Config{Seed: 6, Lag: lag})
	files, expect := app(units, "{maxInFlight: 32}")
	if err := s.Expect(expect); err != nil {
		t.Fatal(err)
	}
	reg := registry(t, s.srv.URL)
	st := memory.New()
	opts := engine.Options{Workers: 32, ReadyPoll: 200 * time.Millisecond, Logger: quiet()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	rep, err := engine.New(reg, st, opts).Apply(ctx, load(t, reg, files))
	took := time.Since(start)
	if err != nil || !rep.OK() {
		t.Fatalf("apply: %v %+v", err, rep.Failures)
	}
	// At once, while reads still lag: a second converge observes objects
	// the API does not show yet (all 300 on an idle machine, the later
	// ones on a busy one), and must create none.
	if took > time.Second {
		t.Logf("the first apply took %s", took)
	}
	staleBefore := s.Audit().StaleReads
	again, err := engine.New(reg, st, opts).Apply(ctx, load(t, reg, files))
	if err != nil || !again.OK() {
		t.Fatalf("second apply: %v %+v", err, again.Failures)
	}
	a := s.Audit()
	checkAudit(t, a)
	checkCreatedOnce(t, a.Created, expect, nil)
	if posts := a.ByMethod["POST"]; posts != 10*units {
		t.Errorf("creates = %d; want exactly %d", posts, 10*units)
	}
	stale := a.StaleReads - staleBefore
	if stale == 0 {
		return false
	}
	figure(t, "read-lag", map[string]any{"lagSeconds": lag.Seconds(), "resources": rep.Ready, "seconds": took.Seconds(), "duplicates": len(a.Duplicates), "creates": a.ByMethod["POST"],
		"staleReadsSecondApply": stale, "secondApplyCreates": again.Stats.Creates})
	return true
}

// 7 and 8. Everything at once (errors, ambiguous writes, lag, latency),
// then deleting the whole app: it is removed in a valid order, no 409 left
// unresolved, and never two mutations of one object in flight at once.
func TestDestroyUnderFire(t *testing.T) {
	s := newSim(t, cloudsim.Config{Seed: 8, Lag: 500 * time.Millisecond, Faults: cloudsim.Faults{
		ErrorRate: 0.1, AmbiguousRate: 0.1, Latency: cloudsim.Duration(2 * time.Millisecond), LatencyJitter: cloudsim.Duration(5 * time.Millisecond),
	}})
	files, expect := app(units, "{maxInFlight: 32, timeout: 2s}")
	if err := s.Expect(expect); err != nil {
		t.Fatal(err)
	}
	reg := registry(t, s.srv.URL)
	st := memory.New()
	opts := engine.Options{Workers: 32, BackoffBase: 20 * time.Millisecond, BackoffMax: 500 * time.Millisecond, ReadyPoll: 200 * time.Millisecond, Logger: quiet()}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := engine.New(reg, st, opts).Apply(ctx, load(t, reg, files))
	if err != nil || !rep.OK() {
		t.Fatalf("apply: %v %+v", err, rep.Failures)
	}
	checkAudit(t, s.Audit())
	before := s.Audit()

	if err := s.Expect(map[string][]string{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rep, err = engine.New(reg, st, opts).Apply(ctx, nil)
	took := time.Since(start)
	if err != nil || !rep.OK() {
		t.Fatalf("destroy: %v %+v", err, rep.Failures)
	}
	a := s.Audit()
	// The faults hit the destroy itself, not only the apply before it.
	for _, k := range []string{"error", "ambiguous"} {
		if a.Faults[k] == before.Faults[k] {
			t.Fatalf("no %q fault was injected during the destroy (faults %v before, %v after)", k, before.Faults, a.Faults)
		}
	}
	if a.StaleReads == before.StaleReads {
		t.Fatalf("no stale read during the destroy: the lag never showed a deleted object")
	}
	checkAudit(t, a)
	if n := total(a.Live); n != 0 {
		t.Errorf("live objects after destroy: %v", a.Live)
	}
	conflicts := a.ByStatus["409"] - before.ByStatus["409"]
	if conflicts != 0 {
		t.Errorf("409 answers during destroy = %d; want 0 (dependents deleted first)", conflicts)
	}
	figure(t, "destroy", map[string]any{"resources": 10 * units, "seconds": took.Seconds(), "conflicts409": conflicts, "overlaps": a.Overlaps, "live": total(a.Live),
		"errors": a.Faults["error"] - before.Faults["error"], "ambiguous": a.Faults["ambiguous"] - before.Faults["ambiguous"], "staleReads": a.StaleReads - before.StaleReads})
}

// Replacing objects that others reference (an instance behind a load
// balancer; a subnet under instances, which replaces them too): the new
// objects are created first, the dependents move to them, then the old ones
// are deleted. No duplicate or leak is left, and nothing answers 409.
func TestReplaceReferencedObjects(t *testing.T) {
	s := newSim(t, cloudsim.Config{Seed: 10})
	files, expect := app(2, "{maxInFlight: 16}")
	if err := s.Expect(expect); err != nil {
		t.Fatal(err)
	}
	reg := registry(t, s.srv.URL)
	st := memory.New()
	opts := engine.Options{Workers: 16, BackoffBase: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond, Logger: quiet()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	apply := func(files map[string][]byte) engine.Report {
		t.Helper()
		rep, err := engine.New(reg, st, opts).Apply(ctx, load(t, reg, files))
		if err != nil || !rep.OK() {
			t.Fatalf("apply: %v %+v", err, rep.Failures)
		}
		return rep
	}
	apply(files)
	ids := func(kind, name string) []string {
		var out []string
		for _, o := range s.Objects()[kind] {
			if o["name"] == name {
				out = append(out, o["id"].(string))
			}
		}
		return out
	}
	oldWeb := ids("Instance", "web-0-0")

	// A new image replaces web-0-0, which the load balancer references.
	unit0 := strings.Replace(string(files["unit-00.yaml"]), "image: img-1", "image: img-2", 1)
	files["unit-00.yaml"] = []byte(unit0)
	rep := apply(files)
	if rep.Stats.Creates != 1 || rep.Stats.Deletes != 1 {
		t.Errorf("stats %+v; want one create and one delete", rep.Stats)
	}
	newWeb := ids("Instance", "web-0-0")
	if len(newWeb) != 1 || newWeb[0] == oldWeb[0] {
		t.Fatalf("web-0-0 ids: before %v, after %v; want one new object", oldWeb, newWeb)
	}
	var lbIDs []any
	for _, o := range s.Objects()["LoadBalancer"] {
		if o["name"] == "lb-0" {
			lbIDs = o["instanceIds"].([]any)
		}
	}
	if len(lbIDs) != 2 || lbIDs[0] != newWeb[0] && lbIDs[1] != newWeb[0] {
		t.Errorf("lb-0 instances %v; want the new web-0-0 %s", lbIDs, newWeb[0])
	}

	// A new CIDR replaces pub-1, and with it the instances in it.
	files["unit-01.yaml"] = []byte(strings.Replace(string(files["unit-01.yaml"]), "cidr: 10.1.1.0/24", "cidr: 10.1.3.0/24", 1))
	apply(files)
	a := s.Audit()
	checkAudit(t, a)
	if a.ByStatus["409"] != 0 {
		t.Errorf("409 answers: %d; want none", a.ByStatus["409"])
	}
	// And again: nothing to do.
	if rep := apply(files); rep.Stats.Creates+rep.Stats.Updates+rep.Stats.Deletes != 0 {
		t.Errorf("apply after the replaces: %+v; want no changes", rep.Stats)
	}
}

// A revision that changes three resources and adds two, one of which the
// API refuses (a security group of another network), rolls back to exactly
// the previous state of the cloud.
func TestRollbackOfACloudRevision(t *testing.T) {
	s := newSim(t, cloudsim.Config{Seed: 11})
	files, expect := app(2, "{maxInFlight: 16}")
	if err := s.Expect(expect); err != nil {
		t.Fatal(err)
	}
	reg := registry(t, s.srv.URL)
	st := memory.New()
	opts := engine.Options{Workers: 16, BackoffBase: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond, Logger: quiet()}
	judge := controller.ApplyOptions{Rollback: true, ProgressDeadline: time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if rep, err := controller.ApplyOnce(ctx, engine.New(reg, st, opts), load(t, reg, files), judge); err != nil || !rep.OK() {
		t.Fatalf("apply v1: %v %+v", err, rep.Failures)
	}
	instances := func() []string {
		var out []string
		for _, o := range s.Objects()["Instance"] {
			out = append(out, fmt.Sprintf("%s %s %s", o["name"], o["size"], o["id"]))
		}
		sort.Strings(out)
		return out
	}
	before := instances()

	v2 := map[string][]byte{}
	for k, v := range files {
		v2[k] = v
	}
	u0 := string(files["unit-00.yaml"])
	u0 = strings.Replace(u0, "size: small", "size: medium", 3) // three changed
	u0 += `---
kind: cloud.Instance
metadata: {name: extra-good}
spec:
  subnetId: ${cloud.Subnet/pub-0.outputs.id}
  image: img-1
  size: small
  securityGroupIds: ["${cloud.SecurityGroup/sg-0.outputs.id}"]
---
kind: cloud.Instance
metadata: {name: extra-bad}
spec:
  subnetId: ${cloud.Subnet/pub-0.outputs.id}
  image: img-1
  size: small
  securityGroupIds: ["${cloud.SecurityGroup/sg-1.outputs.id}"]
`
	v2["unit-00.yaml"] = []byte(u0)
	rep, err := controller.ApplyOnce(ctx, engine.New(reg, st, opts), load(t, reg, v2), judge)
	if err != nil {
		t.Fatal(err)
	}
	if rep.RolledBack == nil || !strings.Contains(rep.RolledBack.Reason, "extra-bad") {
		t.Fatalf("report %+v; want a rollback naming extra-bad", rep)
	}
	if diff := cmp.Diff(before, instances()); diff != "" {
		t.Errorf("instances after the rollback (-before +after):\n%s", diff)
	}
	checkAudit(t, s.Audit())
}
