package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/controller"
	"github.com/convergehq/converge/plan"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store"
)

const secret = "hunter2-very-secret"

// shop declares three objects: web (with a sensitive field), db (whose
// drift is only reported) and cache, which depends on db.
func shop(value string) string {
	return `kind: mem.Object
metadata: {name: web, labels: {app: shop, tier: web}}
spec: {value: ` + value + `, secret: ` + secret + `}
---
kind: mem.Object
metadata: {name: db, labels: {app: shop, tier: db}}
policy: {drift: alert}
spec: {value: ` + value + `}
---
kind: mem.Object
metadata: {name: cache}
dependsOn: [mem.Object/db]
spec: {value: ` + value + `}
`
}

func ids(items []controller.ResourceItem) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}

func TestResourceViews(t *testing.T) {
	d := startDaemon(t, shop("v1"), daemonOptions{})
	// db drifts; its policy only reports it.
	d.mem.Set("mem.Object/db", map[string]any{"value": "changed by hand"})
	if code := call(t, "POST", d.url+"/api/v1/resources/mem.Object/db/reconcile", "", "", nil); code != http.StatusAccepted {
		t.Fatalf("reconcile db: %d", code)
	}
	d.waitState(func() bool {
		r, err := d.st.GetRecord(context.Background(), "mem.Object/db")
		return err == nil && r.Phase == store.PhaseDrifted
	}, "db is found drifted")

	tests := map[string]struct {
		query string
		want  []string
	}{
		"all":                {"", []string{"mem.Object/cache", "mem.Object/db", "mem.Object/web"}},
		"kind":               {"?kind=mem.Object", []string{"mem.Object/cache", "mem.Object/db", "mem.Object/web"}},
		"other kind":         {"?kind=file.File", []string{}},
		"phase":              {"?phase=Ready", []string{"mem.Object/cache", "mem.Object/web"}},
		"selector":           {"?selector=tier%3Dweb", []string{"mem.Object/web"}},
		"selector not":       {"?selector=app%3Dshop,tier!%3Dweb", []string{"mem.Object/db"}},
		"selector exists":    {"?selector=app", []string{"mem.Object/db", "mem.Object/web"}},
		"selector absent":    {"?selector=!app", []string{"mem.Object/cache"}},
		"drifted":            {"?drifted=true", []string{"mem.Object/db"}},
		"not drifted":        {"?drifted=false", []string{"mem.Object/cache", "mem.Object/web"}},
		"page":               {"?limit=2", []string{"mem.Object/cache", "mem.Object/db"}},
		"next page":          {"?limit=2&after=mem.Object/db", []string{"mem.Object/web"}},
		"filters and a page": {"?selector=app&limit=1", []string{"mem.Object/db"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got resourcePage
			if code := call(t, "GET", d.url+"/api/v1/resources"+tc.query, "", "", &got); code != http.StatusOK {
				t.Fatalf("status %d", code)
			}
			if diff := cmp.Diff(tc.want, ids(got.Resources)); diff != "" {
				t.Errorf("resources (-want +got):\n%s", diff)
			}
			if got.Total != 3 || got.Target == "" {
				t.Errorf("total %d, target %q; want 3 and the target", got.Total, got.Target)
			}
		})
	}

	t.Run("one resource", func(t *testing.T) {
		var web controller.DescribeView
		if code := call(t, "GET", d.url+"/api/v1/resources/mem.Object/web", "", "", &web); code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
		if web.Phase != store.PhaseReady || web.Labels["tier"] != "web" || !web.Desired || web.Outputs["id"] == nil {
			t.Errorf("web: %+v", web)
		}
		if web.Spec["secret"] != "(sensitive)" || web.AppliedSpec["secret"] != "(sensitive)" || web.Spec["value"] != "v1" {
			t.Errorf("web's specs: desired %v, applied %v; want the secret masked, the value shown", web.Spec, web.AppliedSpec)
		}
		if len(web.Events) == 0 || string(web.Events[len(web.Events)-1].Reason) != "Created" {
			t.Errorf("web's events: %+v", web.Events)
		}
		var db controller.DescribeView
		call(t, "GET", d.url+"/api/v1/resources/mem.Object/db", "", "", &db)
		if db.Phase != store.PhaseDrifted || !strings.Contains(db.Drift, "value") {
			t.Errorf("db: %s, drift %q; want Drifted, in value", db.Phase, db.Drift)
		}
	})

	t.Run("no secret anywhere", func(t *testing.T) {
		for _, path := range []string{"/api/v1/resources", "/api/v1/resources/mem.Object/web", "/api/v1/events", "/api/v1/revisions", "/api/v1/plan"} {
			resp, err := http.Get(d.url + path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || strings.Contains(string(b), secret) {
				t.Errorf("GET %s: %d, holds the secret: %v", path, resp.StatusCode, strings.Contains(string(b), secret))
			}
		}
	})
}

func TestWhyItWaits(t *testing.T) {
	docs := `kind: mem.Object
metadata: {name: broken}
spec: {value: v1}
---
kind: mem.Object
metadata: {name: after}
dependsOn: [mem.Object/broken]
spec: {value: v1}
`
	fail := func(op providertest.Op, req provider.Request, _ int) providertest.Outcome {
		if op == providertest.OpCreate && req.ID == "mem.Object/broken" {
			return providertest.Outcome{Before: errors.New("the API is down")}
		}
		return providertest.Outcome{}
	}
	// Its retry is an hour away: broken stands in Error meanwhile.
	d := startDaemon(t, docs, daemonOptions{fault: fail, unsettled: true, backoff: time.Hour})
	d.waitState(func() bool {
		a, err := d.st.GetRecord(context.Background(), "mem.Object/after")
		b, berr := d.st.GetRecord(context.Background(), "mem.Object/broken")
		return err == nil && a.Phase == store.PhaseWaiting && berr == nil && b.Phase == store.PhaseError && !b.NextRetry.IsZero()
	}, "after waits for broken, in Error")
	var after controller.DescribeView
	call(t, "GET", d.url+"/api/v1/resources/mem.Object/after", "", "", &after)
	if len(after.WaitingFor) != 1 || after.WaitingFor[0].ID != "mem.Object/broken" || after.WaitingFor[0].Phase == store.PhaseReady ||
		!strings.Contains(after.Waiting, "mem.Object/broken") {
		t.Errorf("after waits for %+v (%q); want broken, not Ready", after.WaitingFor, after.Waiting)
	}
	var broken controller.DescribeView
	call(t, "GET", d.url+"/api/v1/resources/mem.Object/broken", "", "", &broken)
	if !strings.Contains(broken.LastError, "the API is down") || broken.NextRetry == nil || time.Until(*broken.NextRetry) < 30*time.Minute || broken.Attempts != 1 {
		t.Errorf("broken: last error %q, next retry %v, attempts %d", broken.LastError, broken.NextRetry, broken.Attempts)
	}
}

// TestMetricsMove: /metrics shows what the daemon did, and follows it.
func TestMetricsMove(t *testing.T) {
	d := startDaemon(t, shop("v1"), daemonOptions{})
	scrape := func() string {
		resp, err := http.Get(d.url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		return string(b)
	}
	value := func(text, series string) float64 {
		for _, line := range strings.Split(text, "\n") {
			if v, ok := strings.CutPrefix(line, series+" "); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatal(err)
				}
				return f
			}
		}
		return -1
	}
	ready := `converge_resources{kind="mem.Object",phase="Ready"}`
	d.waitState(func() bool { return value(scrape(), ready) == 3 }, "the metrics count three Ready")
	text := scrape()
	creates := value(text, `converge_provider_calls_total{operation="create",provider="mem",result="success"}`)
	if creates != 3 || value(text, `controller_runtime_max_concurrent_reconciles{controller="converge"}`) != 2 {
		t.Errorf("creates %v; want 3\n%s", creates, text)
	}
	before := value(text, `controller_runtime_reconcile_total{controller="converge",result="success"}`)
	// db drifts: its policy only reports it.
	d.mem.Set("mem.Object/db", map[string]any{"value": "by hand"})
	call(t, "POST", d.url+"/api/v1/resources/mem.Object/db/reconcile", "", "", nil)
	d.waitState(func() bool {
		text := scrape()
		return value(text, `converge_resources_drifted{kind="mem.Object"}`) == 1 && value(text, `converge_resources{kind="mem.Object",phase="Drifted"}`) == 1
	}, "the metrics count db drifted")
	text = scrape()
	if got := value(text, `converge_drift_detected_total{kind="mem.Object"}`); got != 1 {
		t.Errorf("drift found: %v; want 1", got)
	}
	if got := value(text, `controller_runtime_reconcile_total{controller="converge",result="success"}`); got <= before {
		t.Errorf("successful reconciles: %v, %v before; want more", got, before)
	}
}

func TestRevisionsEventsAndActions(t *testing.T) {
	d := startDaemon(t, shop("v1"), daemonOptions{})
	first := d.e.Progress().Revision
	// The controller judges the revision converged within a second.
	d.waitState(func() bool {
		r, err := d.st.GetRevision(context.Background(), first)
		return err == nil && r.State == store.RevisionConverged
	}, "the first revision is marked converged")
	d.setDocs(shop("v2"))
	if code := call(t, "POST", d.url+"/api/v1/reconcile", "", "", nil); code != http.StatusAccepted {
		t.Fatalf("reconcile all: %d", code)
	}
	d.waitState(func() bool { p := d.e.Progress(); return p.Revision != first && p.Converged }, "the second revision converges")
	second := d.e.Progress().Revision
	// Judged converged too, so that the controller judges the first
	// anew once it is rolled back to.
	d.waitState(func() bool {
		r, err := d.st.GetRevision(context.Background(), second)
		return err == nil && r.State == store.RevisionConverged
	}, "the second revision is marked converged")

	var revs []controller.RevisionView
	if code := call(t, "GET", d.url+"/api/v1/revisions", "", "", &revs); code != http.StatusOK || len(revs) != 2 {
		t.Fatalf("revisions: %d %+v", code, revs)
	}
	if revs[0].Hash != first || revs[0].LastKnownGood || revs[1].Hash != second || !revs[1].Target || !revs[1].LastKnownGood {
		t.Errorf("revisions: %+v", revs)
	}
	var rev controller.RevisionDetail
	if code := call(t, "GET", d.url+"/api/v1/revisions/"+first[:8], "", "", &rev); code != http.StatusOK {
		t.Fatalf("revision by prefix: %d", code)
	}
	if rev.Hash != first || len(rev.Declares) != 3 || rev.Declares[0].ID != "mem.Object/cache" {
		t.Errorf("revision: %+v", rev)
	}

	t.Run("events", func(t *testing.T) {
		var all, web, newest []store.Event
		call(t, "GET", d.url+"/api/v1/events", "", "", &all)
		call(t, "GET", d.url+"/api/v1/events?resource=mem.Object/web", "", "", &web)
		call(t, "GET", d.url+"/api/v1/events?limit=2", "", "", &newest)
		if len(all) < 6 || len(web) < 2 || len(newest) != 2 {
			t.Fatalf("events: %d, of web %d, newest %d", len(all), len(web), len(newest))
		}
		for _, e := range web {
			if e.Resource != "mem.Object/web" {
				t.Errorf("an event of %s in web's", e.Resource)
			}
		}
		if diff := cmp.Diff(all[len(all)-2:], newest); diff != "" {
			t.Errorf("limit=2 (-the last two +got):\n%s", diff)
		}
		var none []store.Event
		call(t, "GET", d.url+"/api/v1/events?since="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "", "", &none)
		if none == nil || len(none) != 0 {
			t.Errorf("events since in an hour: %v; want []", none)
		}
	})

	t.Run("rollback", func(t *testing.T) {
		var rb controller.RollbackView
		if code := call(t, "POST", d.url+"/api/v1/rollback", "", "", &rb); code != http.StatusAccepted {
			t.Fatalf("rollback: %d", code)
		}
		if rb.From != second || rb.To != first {
			t.Errorf("rollback: %+v; want from the second to the first", rb)
		}
		d.waitState(func() bool { p := d.e.Progress(); return p.Revision == first && p.Converged }, "the controller converges the first again")
		// Until the controller marks it converged, the rollback stands
		// pending, and asking for it again resumes it (TestRollbackResumes).
		d.waitState(func() bool {
			r, err := d.st.GetRevision(context.Background(), first)
			return err == nil && r.State == store.RevisionConverged
		}, "the first revision is marked converged again")
		if r, _ := d.st.GetRevision(context.Background(), second); r.State != store.RevisionRolledBack {
			t.Errorf("the second revision is %s; want rolled-back", r.State)
		}
		var e apiError
		if code := call(t, "POST", d.url+"/api/v1/rollback", "", `{"revision": "`+first+`"}`, &e); code != http.StatusConflict || e.Code != "conflict" {
			t.Errorf("rollback to the target: %d %+v; want 409 conflict", code, e)
		}
		if code := call(t, "POST", d.url+"/api/v1/rollback", "", `{"revision": "`+second[:6]+`"}`, &rb); code != http.StatusAccepted || rb.To != second {
			t.Errorf("rollback by prefix: %d %+v", code, rb)
		}
	})
}

// TestRollbackResumes: a POST rollback asked again before its revision
// converged (the answer was lost, the request timed out) targets the same
// revision, not the one before it; naming another one decides afresh.
func TestRollbackResumes(t *testing.T) {
	// Once stuck, updates wait for the end of the test: a revision cannot
	// converge.
	var stuck atomic.Bool
	release := make(chan struct{})
	d := startDaemon(t, shop("v1"), daemonOptions{fault: func(op providertest.Op, _ provider.Request, _ int) providertest.Outcome {
		if op == providertest.OpUpdate && stuck.Load() {
			<-release
		}
		return providertest.Outcome{}
	}})
	t.Cleanup(func() { close(release) }) // before the daemon stops
	converged := func(hash string) bool {
		r, err := d.st.GetRevision(context.Background(), hash)
		return err == nil && r.State == store.RevisionConverged
	}
	var hashes []string
	for i, v := range []string{"v1", "v2", "v3"} {
		if i > 0 {
			d.setDocs(shop(v))
			if code := call(t, "POST", d.url+"/api/v1/reconcile", "", "", nil); code != http.StatusAccepted {
				t.Fatalf("reconcile all: %d", code)
			}
		}
		d.waitState(func() bool { p := d.e.Progress(); return !slices.Contains(hashes, p.Revision) && p.Converged }, v+" converges")
		h := d.e.Progress().Revision
		d.waitState(func() bool { return converged(h) }, v+"'s revision is marked converged")
		hashes = append(hashes, h)
	}
	stuck.Store(true)
	posted := time.Now()
	var rb controller.RollbackView
	if code := call(t, "POST", d.url+"/api/v1/rollback", "", "", &rb); code != http.StatusAccepted {
		t.Fatalf("rollback: %d", code)
	}
	if rb.From != hashes[2] || rb.To != hashes[1] || rb.Resumed {
		t.Fatalf("the first rollback: %+v; want from v3 to v2, decided afresh", rb)
	}
	// The premise: v2 is the target and has not converged since.
	d.waitState(func() bool { p := d.e.Progress(); return p.Revision == hashes[1] }, "the engine targets v2")
	if r, err := d.st.GetRevision(context.Background(), hashes[1]); err != nil || r.Converged.After(posted) || d.e.Progress().Converged {
		t.Fatalf("v2 converged since the rollback (at %v, %v, engine %+v): the premise does not hold", r.Converged, err, d.e.Progress())
	}
	var again controller.RollbackView
	if code := call(t, "POST", d.url+"/api/v1/rollback", "", "", &again); code != http.StatusAccepted {
		t.Fatalf("the rollback asked again: %d", code)
	}
	if again.To != hashes[1] || again.From != hashes[2] || !again.Resumed {
		t.Errorf("the rollback asked again: %+v; want from v3 to v2 again (resumed), not to v1 (%s)", again, hashes[0])
	}
	if cur, _ := d.st.Target(context.Background()); cur != hashes[1] {
		t.Errorf("target %s; want v2's %s", cur, hashes[1])
	}
	var other controller.RollbackView
	if code := call(t, "POST", d.url+"/api/v1/rollback", "", `{"revision": "`+hashes[0][:8]+`"}`, &other); code != http.StatusAccepted {
		t.Fatalf("a rollback to v1: %d", code)
	}
	if other.To != hashes[0] || other.From != hashes[1] || other.Resumed {
		t.Errorf("a rollback naming v1: %+v; want from v2 to v1, decided afresh", other)
	}
}

func TestErrors(t *testing.T) {
	d := startDaemon(t, shop("v1"), daemonOptions{cfg: func(c *Config) { c.MaxBody = 100 }})
	tests := map[string]struct {
		method, path, body string
		status             int
		code               string
	}{
		"no such endpoint":       {"GET", "/api/v1/nope", "", 404, "not_found"},
		"no such resource":       {"GET", "/api/v1/resources/mem.Object/none", "", 404, "not_found"},
		"reconcile unknown":      {"POST", "/api/v1/resources/mem.Object/none/reconcile", "", 404, "not_found"},
		"wrong method":           {"DELETE", "/api/v1/resources", "", 405, "method_not_allowed"},
		"get an action":          {"GET", "/api/v1/rollback", "", 405, "method_not_allowed"},
		"bad phase":              {"GET", "/api/v1/resources?phase=Sleeping", "", 400, "bad_request"},
		"bad drifted":            {"GET", "/api/v1/resources?drifted=maybe", "", 400, "bad_request"},
		"bad selector":           {"GET", "/api/v1/resources?selector=a%3Db%3Dc", "", 400, "bad_request"},
		"bad limit":              {"GET", "/api/v1/resources?limit=-1", "", 400, "bad_request"},
		"short revision":         {"GET", "/api/v1/revisions/ab", "", 400, "bad_request"},
		"unknown revision":       {"GET", "/api/v1/revisions/ffffffffffff", "", 404, "not_found"},
		"bad since":              {"GET", "/api/v1/events?since=yesterday", "", 400, "bad_request"},
		"bad event limit":        {"GET", "/api/v1/events?limit=x", "", 400, "bad_request"},
		"unknown field":          {"POST", "/api/v1/rollback", `{"to": "x"}`, 400, "bad_request"},
		"not JSON":               {"POST", "/api/v1/reconcile", `reconcile!`, 400, "bad_request"},
		"body too large":         {"POST", "/api/v1/rollback", `{"revision": "` + strings.Repeat("a", 200) + `"}`, 413, "too_large"},
		"nothing to roll back":   {"POST", "/api/v1/rollback", ``, 409, "conflict"},
		"bad Last-Event-ID":      {"GET", "/api/v1/stream?lastEventId=12", "", 400, "bad_request"},
		"no such resource route": {"GET", "/api/v1/resources/mem.Object", "", 404, "not_found"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var e apiError
			if code := call(t, tc.method, d.url+tc.path, "", tc.body, &e); code != tc.status || e.Code != tc.code || e.Error == "" {
				t.Errorf("%d %+v; want %d %s with a message", code, e, tc.status, tc.code)
			}
		})
	}
	req, _ := http.NewRequest("PUT", d.url+"/api/v1/rollback", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Allow"); got != "POST" {
		t.Errorf("Allow: %q; want POST", got)
	}
}

func TestAuth(t *testing.T) {
	const token = "s3cret-token-of-the-api"
	d := startDaemon(t, shop("v1"), daemonOptions{token: token})
	tests := map[string]struct {
		path, token string
		status      int
	}{
		"no token":         {"/api/v1/resources", "", 401},
		"wrong token":      {"/api/v1/resources", "s3cret-token-of-the-apX", 401},
		"a prefix":         {"/api/v1/resources", "s3cret", 401},
		"the token":        {"/api/v1/resources", token, 200},
		"the token, event": {"/api/v1/events", token, 200},
		"unknown endpoint": {"/api/v1/nope", "", 401},
		"healthz":          {"/healthz", "", 200},
		"readyz":           {"/readyz", "", 200},
		"metrics":          {"/metrics", "", 200},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var e apiError
			out := any(&e)
			if tc.status == 200 {
				out = nil
			}
			code := call(t, "GET", d.url+tc.path, tc.token, "", out)
			if code != tc.status || (code == 401 && e.Code != "unauthorized") {
				t.Errorf("%d %+v; want %d", code, e, tc.status)
			}
		})
	}
	if code := call(t, "POST", d.url+"/api/v1/reconcile", "", "", nil); code != 401 {
		t.Errorf("an action without the token: %d; want 401", code)
	}
}

func TestHostAndOrigin(t *testing.T) {
	d := startDaemon(t, shop("v1"), daemonOptions{})
	tests := map[string]struct {
		host, origin string
		status       int
	}{
		"loopback":             {"", "", 200},
		"localhost":            {"localhost:7070", "", 200},
		"rebinding":            {"evil.example:7070", "", 403},
		"same origin":          {"", "SAME", 200},
		"another origin":       {"", "http://evil.example", 403},
		"another port, origin": {"", "http://127.0.0.1:1", 403},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", d.url+"/api/v1/resources", nil)
			if tc.host != "" {
				req.Host = tc.host
			}
			switch tc.origin {
			case "SAME":
				req.Header.Set("Origin", d.url)
			case "":
			default:
				req.Header.Set("Origin", tc.origin)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("%d; want %d", resp.StatusCode, tc.status)
			}
		})
	}
}

func TestPlanMutatesNothing(t *testing.T) {
	d := startDaemon(t, shop("v1"), daemonOptions{})
	ctx := context.Background()
	type state struct {
		Records   []store.Record
		Revisions []store.Revision
		Target    string
		Events    []store.Event
	}
	read := func() state {
		var s state
		var err error
		if s.Records, err = d.st.ListRecords(ctx); err != nil {
			t.Fatal(err)
		}
		if s.Revisions, err = d.st.ListRevisions(ctx); err != nil {
			t.Fatal(err)
		}
		s.Target, _ = d.st.Target(ctx)
		if s.Events, err = d.st.ListEvents(ctx, store.EventFilter{}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	// The judge marks the revision converged once and then records the
	// event saying so; wait for the event, the last of its writes, so that
	// nothing else writes while the plan runs.
	d.waitState(func() bool {
		r, err := d.st.GetRevision(ctx, d.e.Progress().Revision)
		if err != nil || r.State != store.RevisionConverged {
			return false
		}
		evs, err := d.st.ListEvents(ctx, store.EventFilter{})
		if err != nil {
			return false
		}
		for _, ev := range evs {
			if ev.Reason == store.ReasonRevisionConverged && ev.Revision == r.Hash {
				return true
			}
		}
		return false
	}, "the revision is marked converged and its event recorded")
	if err := d.e.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	before, mutations, target := read(), d.mem.Mutations(), d.e.Progress().Revision

	d.setDocs(shop("v2")) // the manifests change; the daemon was not told
	var p struct {
		Revision string `json:"revision"`
		Actions  []struct {
			Action, ID string
		} `json:"actions"`
		Summary map[string]int `json:"summary"`
		Changes bool           `json:"changes"`
	}
	if code := call(t, "GET", d.url+"/api/v1/plan", "", "", &p); code != http.StatusOK {
		t.Fatalf("plan: %d", code)
	}
	if !p.Changes || p.Revision == target || len(p.Actions) != 3 || p.Summary["update"] != 3 {
		t.Errorf("plan: %+v; want three updates of another revision", p)
	}
	if got := d.mem.Mutations(); got != mutations {
		t.Errorf("the plan mutated the world: %d mutations, %d before", got, mutations)
	}
	if got := d.e.Progress().Revision; got != target {
		t.Errorf("the plan changed the engine's target")
	}
	if diff := cmp.Diff(before, read()); diff != "" {
		t.Errorf("the plan changed the state (-before +after):\n%s", diff)
	}
}

// planViews plans when told to, counting its plans.
type planViews struct {
	Views
	entered chan struct{}
	release chan struct{}
	plans   atomic.Int32
}

func (v *planViews) Plan(ctx context.Context) (controller.PlanView, error) {
	v.plans.Add(1)
	v.entered <- struct{}{}
	<-v.release
	return controller.PlanView{Plan: &plan.Plan{Revision: "abc"}, Held: "held for the test"}, nil
}

// TestPlansShared: requests for a plan while one runs wait for it and
// get its answer, so the world is observed once.
func TestPlansShared(t *testing.T) {
	v := &planViews{entered: make(chan struct{}, 1), release: make(chan struct{})}
	h := New(Config{Views: v, Logger: quiet()})
	srv, err := Listen(h, ServerConfig{Addr: "127.0.0.1:0", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	type answer struct {
		code int
		body planBody
	}
	answers := make(chan answer, 3)
	get := func() {
		var b planBody
		code := call(t, "GET", srv.URL()+"/api/v1/plan", "", "", &b)
		answers <- answer{code, b}
	}
	go get()
	<-v.entered // the first plan runs
	go get()
	go get()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.planMu.Lock()
		joined := h.planning.joined
		h.planMu.Unlock()
		if joined == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other requests did not join the plan")
		}
		runtime.Gosched()
	}
	close(v.release)
	for range 3 {
		a := <-answers
		if a.code != http.StatusOK || a.body.Revision != "abc" || a.body.Held != "held for the test" {
			t.Errorf("answer %d %+v", a.code, a.body)
		}
	}
	if n := v.plans.Load(); n != 1 {
		t.Errorf("%d plans for three requests at once; want 1", n)
	}
	// Once it is done, the next request plans again.
	v.release = make(chan struct{})
	close(v.release)
	go get()
	<-v.entered
	if a := <-answers; a.code != http.StatusOK || v.plans.Load() != 2 {
		t.Errorf("a later request: %d, %d plans; want a second plan", a.code, v.plans.Load())
	}
}

// slowViews never answers before its request is done.
type slowViews struct{ Views }

func (slowViews) Resources(ctx context.Context, _ controller.ResourceFilter) (controller.ResourceList, error) {
	<-ctx.Done()
	return controller.ResourceList{}, ctx.Err()
}

func TestTimeout(t *testing.T) {
	h := New(Config{Views: slowViews{}, Timeout: 50 * time.Millisecond, Logger: quiet()})
	srv, err := Listen(h, ServerConfig{Addr: "127.0.0.1:0", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	var e apiError
	if code := call(t, "GET", srv.URL()+"/api/v1/resources", "", "", &e); code != http.StatusServiceUnavailable || e.Code != "timeout" {
		t.Errorf("%d %+v; want 503 timeout", code, e)
	}
}

func TestCheckListen(t *testing.T) {
	tests := map[string]struct {
		addr, token string
		ok          bool
	}{
		"loopback v4":         {"127.0.0.1:7070", "", true},
		"loopback other":      {"127.0.0.2:7070", "", true},
		"loopback v6":         {"[::1]:7070", "", true},
		"localhost":           {"localhost:7070", "", true},
		"every interface":     {":7070", "", false},
		"any v4":              {"0.0.0.0:7070", "", false},
		"a LAN address":       {"192.0.2.10:7070", "", false},
		"a name":              {"converge.example:7070", "", false},
		"every one, token":    {":7070", "t", true},
		"a LAN one, token":    {"192.0.2.10:7070", "t", true},
		"no port":             {"127.0.0.1", "", false},
		"no port, with token": {"127.0.0.1", "t", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if err := CheckListen(tc.addr, tc.token); (err == nil) != tc.ok {
				t.Errorf("CheckListen(%q, %q) = %v; want ok %v", tc.addr, tc.token, err, tc.ok)
			}
		})
	}
}

func TestListenErrors(t *testing.T) {
	h := New(Config{Logger: quiet()})
	a, err := Listen(h, ServerConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	_, err = Listen(h, ServerConfig{Addr: a.Addr().String()})
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("a second server on %s: %v; want address in use", a.Addr(), err)
	}
	if _, err := Listen(h, ServerConfig{Addr: "0.0.0.0:0"}); err == nil || !strings.Contains(err.Error(), "token") {
		t.Errorf("every interface without a token: %v; want refused", err)
	}
	if _, err := Listen(h, ServerConfig{Addr: "127.0.0.1:0", CertFile: "cert.pem"}); err == nil {
		t.Error("a certificate without a key: no error")
	}
	if _, err := Listen(h, ServerConfig{Addr: "127.0.0.1:0", CertFile: "none.pem", KeyFile: "none.key"}); err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Errorf("a missing certificate: %v", err)
	}
}

// TestRoutesAreDocumented: docs/api.md names every route the handler
// serves, as METHOD PATH (the dashboard's, docs/dashboard.md).
func TestRoutesAreDocumented(t *testing.T) {
	api, err := readDoc()
	if err != nil {
		t.Fatal(err)
	}
	ui, err := os.ReadFile("../docs/dashboard.md")
	if err != nil {
		t.Fatal(err)
	}
	h := New(Config{Metrics: http.NotFoundHandler(), Logger: quiet()})
	if !slices.Contains(h.routes, "GET /api/v1/cluster") || !slices.Contains(h.routes, "GET /metrics") || len(h.routes) < 16 {
		t.Fatalf("the routes: %q; want every one (the premise)", h.routes)
	}
	for _, p := range h.routes {
		doc, name := api, "docs/api.md"
		if p == "GET /{$}" || p == "GET /ui/" {
			doc, name, p = string(ui), "docs/dashboard.md", strings.TrimSuffix(p, "{$}")
		}
		if !strings.Contains(doc, "`"+p+"`") {
			t.Errorf("%s does not name `%s`", name, p)
		}
	}
}
