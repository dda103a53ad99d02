package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/convergehq/converge/controller"
	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/sqlite"
)

// TestDashboardServed: the page and its files are served from the binary,
// with a policy that allows this origin alone; the API's rules still hold
// under /api/.
func TestDashboardServed(t *testing.T) {
	d := startDaemon(t, shop("v1"), daemonOptions{})
	for _, tc := range []struct{ path, ctype, has string }{
		{"/", "text/html", `<script type="module" src="ui/app.js">`},
		{"/ui/app.js", "text/javascript", "new Stream("},
		{"/ui/graph.js", "text/javascript", "export class Graph"},
		{"/ui/style.css", "text/css", ".phase"},
	} {
		resp, err := http.Get(d.url + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) || !strings.Contains(string(b), tc.has) {
			t.Errorf("GET %s: %d %s, has %q: %v; want 200 %s", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.has, strings.Contains(string(b), tc.has), tc.ctype)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q; want default-src 'self'", tc.path, csp)
		}
	}
	if code := call(t, http.MethodGet, d.url+"/ui/nothing.js", "", "", nil); code != http.StatusNotFound {
		t.Errorf("GET /ui/nothing.js: %d; want 404", code)
	}
	var e apiError
	if code := call(t, http.MethodGet, d.url+"/nothing", "", "", &e); code != http.StatusNotFound || e.Code != "not_found" {
		t.Errorf("GET /nothing: %d %+v; want 404 not_found", code, e)
	}
}

// TestResourcesListDeps: the list carries each resource's dependencies in
// the target, which the page's graph is drawn from.
func TestResourcesListDeps(t *testing.T) {
	d := startDaemon(t, shop("v1"), daemonOptions{})
	var list controller.ResourceList
	if code := call(t, http.MethodGet, d.url+"/api/v1/resources", "", "", &list); code != http.StatusOK {
		t.Fatalf("resources: %d", code)
	}
	deps := map[string][]string{}
	for _, r := range list.Resources {
		deps[r.ID] = r.Deps
	}
	for _, r := range list.Resources {
		var want []string
		rv, err := d.load()
		if err != nil {
			t.Fatal(err)
		}
		if res, ok := rv.Get(r.ID); ok {
			want = res.Deps()
		}
		if !slices.Equal(r.Deps, want) {
			t.Errorf("%s: deps %v; want %v", r.ID, r.Deps, want)
		}
	}
	if len(deps) == 0 {
		t.Fatal("no resources listed")
	}
}

// TestDashboardLive: a resource added to the manifests shows in the page,
// then turns Ready, through the stream, with no reload; a file broken by
// hand shows drifted, then healed.
func TestDashboardLive(t *testing.T) {
	d := startFileDaemon(t, siteDocs)
	ctx := newTab(t, 30*time.Second)
	open(t, ctx, d.url)
	waitJS(t, ctx, "index is Ready", rowPhase("file.File/index", "Ready"), 5*time.Second)

	d.edit(siteDocs + aboutDoc)
	waitJS(t, ctx, "about shows Ready", rowPhase("file.File/about", "Ready"), 10*time.Second)
	phases := eval[[]string](t, ctx, `window.convergeDashboard.phases['file.File/about']`)
	t.Logf("file.File/about went through %s in the page", join(phases))
	if n := eval[int](t, ctx, `window.convergeDashboard.opens`); n != 1 {
		t.Errorf("the page opened %d streams; want 1", n)
	}

	// Break the file by hand: the file provider hears it, the engine
	// corrects it, the page shows both.
	path := filepath.Join(d.root, "site", "index.html")
	if err := os.WriteFile(path, []byte("broken by hand\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the feed shows the drift", `!!document.querySelector('#events li[data-reason="DriftDetected"][data-resource="file.File/index"]')`, 10*time.Second)
	waitJS(t, ctx, "index is Ready again", rowPhase("file.File/index", "Ready"), 10*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if string(b) == "<h1>Hello</h1>\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %q; want it healed", path, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	phases = eval[[]string](t, ctx, `window.convergeDashboard.phases['file.File/index']`)
	t.Logf("file.File/index went through %s in the page", join(phases))

	// The detail panel: spec, outputs, conditions, events.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#rows button[data-id="file.File/index"]`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the detail shows index", `document.querySelector('#detail-title').textContent === 'file.File/index' && !!document.querySelector('#detail .events li')`, 5*time.Second)
	detail := eval[string](t, ctx, `document.querySelector('#detail').innerText`)
	for _, want := range []string{"Conditions", "Outputs", "sha256", "Spec", "DriftDetected"} {
		if !strings.Contains(detail, want) {
			t.Errorf("the detail panel lacks %q:\n%s", want, detail)
		}
	}

	// A resource whose policy only reports drift stands drifted, with its
	// diff in the detail panel and in the drift view.
	sums := filepath.Join(d.root, "site", "SHA256SUMS")
	if err := os.WriteFile(sums, []byte("edited by hand\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "checksums shows Drifted", rowPhase("file.File/checksums", "Drifted"), 10*time.Second)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#rows button[data-id="file.File/checksums"]`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the detail shows the drift", `!!document.querySelector('#detail pre.drift') && document.querySelector('#detail-title').textContent === 'file.File/checksums'`, 5*time.Second)
	if got := eval[string](t, ctx, `document.querySelector('#drift-count').textContent`); got != "1" {
		t.Errorf("drift count %q; want 1", got)
	}
	screenshot(t, ctx, "dashboard-live.png")

	// A hidden tab closes its stream; shown again, it resumes from where it
	// stood and misses nothing that changed meanwhile.
	eval[bool](t, ctx, `(() => { Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'}); document.dispatchEvent(new Event('visibilitychange')); return true; })()`)
	waitJS(t, ctx, "the stream pauses", `document.querySelector('#conn').dataset.state === 'paused'`, 2*time.Second)
	contact := strings.ReplaceAll(aboutDoc, "about", "contact")
	d.edit(siteDocs + aboutDoc + contact)
	deadline = time.Now().Add(10 * time.Second)
	for rec, err := d.st.GetRecord(context.Background(), "file.File/contact"); err != nil || rec.Phase != store.PhaseReady; rec, err = d.st.GetRecord(context.Background(), "file.File/contact") {
		if time.Now().After(deadline) {
			t.Fatalf("contact is not Ready 10s after it joined the manifests (%v)", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if eval[bool](t, ctx, `!!document.querySelector('#rows tr[data-id="file.File/contact"]')`) {
		t.Error("a hidden tab's table changed: its stream is still open")
	}
	eval[bool](t, ctx, `(() => { Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'visible'}); document.dispatchEvent(new Event('visibilitychange')); return true; })()`)
	waitJS(t, ctx, "contact shows Ready once the tab is visible", rowPhase("file.File/contact", "Ready"), 5*time.Second)
	if n := eval[int](t, ctx, `window.convergeDashboard.opens`); n != 2 {
		t.Errorf("the page opened %d streams; want 2 (one before hiding, one after)", n)
	}

	// The graph: one node per resource, status in words as well.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#tab-graph`))); err != nil {
		t.Fatal(err)
	}
	labels := eval[[]string](t, ctx, `[...document.querySelectorAll('#graph .node')].map(n => n.getAttribute('aria-label'))`)
	slices.Sort(labels)
	want := []string{"file.Directory/site: Ready", "file.File/about: Ready", "file.File/checksums: Drifted", "file.File/contact: Ready", "file.File/index: Ready"}
	if !slices.Equal(labels, want) {
		t.Errorf("graph nodes %q; want %q", labels, want)
	}
	// By keyboard: a node takes the focus, Enter opens its detail.
	if err := chromedp.Do(ctx, chromedp.Focus(chromedp.CSS(`#graph .node[data-id="file.File/about"]`)), chromedp.KeyEvent("\r")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "Enter on a node opens its detail", `document.querySelector('#detail-title').textContent === 'file.File/about'`, 5*time.Second)
	screenshot(t, ctx, "dashboard-graph.png")
}

// TestDashboardRollback: the rollback button asks first, then makes the
// earlier revision the target; the page shows the new target.
func TestDashboardRollback(t *testing.T) {
	d := startFileDaemon(t, siteDocs)
	first := d.e.Progress().Revision
	d.edit(siteDocs + aboutDoc)
	deadline := time.Now().Add(30 * time.Second) // a bound for a busy machine, not a timing claim
	for d.e.Progress().Revision == first || !d.e.Progress().Converged {
		if time.Now().After(deadline) {
			t.Fatal("the edited manifests did not converge")
		}
		time.Sleep(10 * time.Millisecond)
	}
	second := d.e.Progress().Revision

	ctx := newTab(t, 90*time.Second)
	open(t, ctx, d.url)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#tab-revisions`))); err != nil {
		t.Fatal(err)
	}
	btn := fmt.Sprintf(`#revisions button[data-rollback=%q]`, first)
	waitJS(t, ctx, "the revisions are listed", fmt.Sprintf(`!!document.querySelector(%q) && !!document.querySelector('#revisions tr[data-hash=%q][data-target]')`, btn, second), 20*time.Second)

	// Cancel first: nothing happens.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(btn)), chromedp.WaitVisible(chromedp.CSS(`#confirm`))); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "dashboard-rollback-confirm.png")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#confirm button[value="cancel"]`)), chromedp.WaitNotVisible(chromedp.CSS(`#confirm`))); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.st.Target(context.Background()); got != second {
		t.Fatalf("after cancel the target is %.12s; want %.12s still", got, second)
	}

	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(btn)), chromedp.WaitVisible(chromedp.CSS(`#confirm-ok`)),
		chromedp.Click(chromedp.CSS(`#confirm-ok`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the page shows the first revision as the target", fmt.Sprintf(`!!document.querySelector('#revisions tr[data-hash=%q][data-target]')`, first), 30*time.Second)
	if got, _ := d.st.Target(context.Background()); got != first {
		t.Errorf("target %.12s; want %.12s", got, first)
	}
	// The revision rolled back to does not declare about: it goes.
	waitJS(t, ctx, "about leaves the table", `!document.querySelector('#rows tr[data-id="file.File/about"]')`, 30*time.Second)
	waitJS(t, ctx, "the feed shows the rollback", `!!document.querySelector('#events li[data-reason="RolledBack"]')`, 20*time.Second)
	screenshot(t, ctx, "dashboard-rollback.png")
}

// TestDashboardLatency measures how long a change the engine commits takes
// to show in the page: from the state's watch telling this test of it to
// the page's repaint of the row (both on this machine's clock).
func TestDashboardLatency(t *testing.T) {
	d := startFileDaemon(t, siteDocs)
	ctx := newTab(t, 40*time.Second)
	open(t, ctx, d.url)

	wctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seq, err := d.st.LastSeq(wctx)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := d.st.Watch(wctx, seq)
	if err != nil {
		t.Fatal(err)
	}
	committed := map[int64]float64{} // seq -> Unix ms
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range ch {
			if c.Kind == store.ChangePut {
				committed[c.Seq] = float64(time.Now().UnixNano()) / 1e6
			}
		}
	}()
	path := filepath.Join(d.root, "site", "index.html")
	const rounds = 40
	for i := range rounds {
		// Each break is heard, corrected and committed by the engine.
		if err := os.WriteFile(path, []byte(fmt.Sprintf("broken %d\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		time.Sleep(60 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	cancel()
	<-done
	applied := eval[[][2]float64](t, ctx, `window.convergeDashboard.applied`)
	var lat []float64
	for _, a := range applied {
		if at, ok := committed[int64(a[0])]; ok {
			lat = append(lat, a[1]-at)
		}
	}
	if len(lat) < rounds/2 {
		t.Fatalf("%d changes committed, %d applied by the page, %d matched; want at least %d", len(committed), len(applied), len(lat), rounds/2)
	}
	slices.Sort(lat)
	p := func(q float64) float64 { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	t.Logf("event to DOM over %d changes: p50 %.1f ms, p99 %.1f ms, max %.1f ms", len(lat), p(0.5), p(0.99), lat[len(lat)-1])
	if p(0.99) > 1000 {
		t.Errorf("event to DOM p99 %.1f ms; want well under 1 s (the target is 250 ms)", p(0.99))
	}
}

// TestDashboardFirstPaint5000: the page lists 5,000 resources, and draws
// their graph, fast.
func TestDashboardFirstPaint5000(t *testing.T) {
	const n = 5000
	ctx := context.Background()
	reg, err := provider.NewRegistry(providertest.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	var docs strings.Builder
	for i := range n {
		fmt.Fprintf(&docs, "---\nkind: mem.Object\nmetadata: {name: o%05d, labels: {shard: s%d}}\n", i, i%10)
		if i > 0 {
			fmt.Fprintf(&docs, "dependsOn: [mem.Object/o%05d]\n", (i-1)/4)
		}
		docs.WriteString("spec: {value: v}\n")
	}
	rv, err := manifest.LoadBytes(map[string][]byte{"m.yaml": []byte(docs.String())}, reg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i, r := range rv.Resources {
		phase := store.PhaseReady
		if i%97 == 0 {
			phase = store.PhaseError
		}
		st.PutRecordDeferred(store.Record{ID: r.ID, Kind: r.Kind, Name: r.Name, Phase: phase, AppliedHash: r.Hash,
			Outputs: map[string]any{"id": r.Name, "value": "v"}, Conditions: []store.Condition{{Type: "Ready", Status: "True", Reason: "Converged"}}})
	}
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	e := engine.New(reg, st, engine.Options{Logger: quiet()})
	if err := e.SetTarget(ctx, rv); err != nil { // no workers: nothing reconciles
		t.Fatal(err)
	}
	live := controller.New(e, st, controller.Options{Logger: quiet()}).Live(reg)
	srv, err := Listen(New(Config{Views: live, Actions: live, Readiness: live, Feed: st, Logger: quiet()}), ServerConfig{Addr: "127.0.0.1:0", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx) }()
	defer func() { stop(); <-served }()

	tab := newTab(t, 30*time.Second)
	start := time.Now()
	open(t, tab, srv.URL())
	wall := time.Since(start)
	paint := eval[float64](t, tab, `window.convergeDashboard.firstPaint`)
	timing := eval[string](t, tab, `performance.getEntriesByType('resource').map(e => e.name.replace(/^.*\//, '') + ' ' + e.startTime.toFixed(0) + '+' + e.duration.toFixed(0)).join(', ')`)
	t.Logf("requests (start+duration ms): %s", timing)
	t.Logf("page (ms after navigation): %s", eval[string](t, tab, `(({started, streamOpen, listed, firstPaint}) => JSON.stringify({started, streamOpen, listed, firstPaint}))(window.convergeDashboard)`))
	rows := eval[int](t, tab, `document.querySelectorAll('#rows tr[data-id]').length`)
	t.Logf("5,000 resources: first paint %.0f ms after navigation (%d rows in the DOM); navigate to live stream %s", paint, rows, wall.Round(time.Millisecond))
	if paint > 5000 {
		t.Errorf("first paint %.0f ms; want well under 5 s (the target is 1 s)", paint)
	}
	if rows == 0 || rows > 200 {
		t.Errorf("%d rows in the DOM; want the visible ones only", rows)
	}
	if got := eval[string](t, tab, `document.querySelector('#f-count').textContent`); got != "5000 resources" {
		t.Errorf("count %q; want 5000 resources", got)
	}
	screenshot(t, tab, "dashboard-5000.png")

	// Search narrows the table.
	if err := chromedp.Do(tab, chromedp.SendKeys(chromedp.CSS(`#f-search`), "o0421")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, tab, "the search narrows the table", `document.querySelector('#f-count').textContent === '10 of 5000 resources'`, 5*time.Second)

	// The graph, grouped by kind and layer.
	graphMS := eval[float64](t, tab, `(() => { const t = performance.now(); document.querySelector('#tab-graph').click(); return performance.now() - t; })()`)
	groups := eval[int](t, tab, `document.querySelectorAll('#graph .node').length`)
	t.Logf("5,000 resources: graph drawn in %.0f ms as %d groups", graphMS, groups)
	if groups == 0 || groups > 100 {
		t.Errorf("%d graph groups; want a few", groups)
	}
	collapseMS := eval[float64](t, tab, `(() => { const t = performance.now(); const c = document.querySelector('#g-mode'); c.value = 'nodes'; const b = document.querySelector('#g-collapse'); b.checked = true; b.dispatchEvent(new Event('input')); return performance.now() - t; })()`)
	nodes := eval[int](t, tab, `document.querySelectorAll('#graph .node').length`)
	t.Logf("5,000 resources, Ready subtrees collapsed: %d nodes drawn in %.0f ms", nodes, collapseMS)
	if nodes == 0 || nodes >= n/2 {
		t.Errorf("%d nodes with Ready subtrees collapsed; want far fewer than %d", nodes, n)
	}
	screenshot(t, tab, "dashboard-5000-graph.png")
}

// TestDashboardToken: with an API token the page asks for it, keeps it in
// the tab, and reads the stream with it; secrets stay masked.
func TestDashboardToken(t *testing.T) {
	const token = "dashboard-token-1234"
	d := startDaemon(t, shop("v1"), daemonOptions{token: token})
	ctx := newTab(t, 30*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(d.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the page asks for the token", `!document.querySelector('#token-form').hidden`, 5*time.Second)
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`#token-input`), token), chromedp.Click(chromedp.CSS(`#token-form button`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the page lists the resources", `document.body.dataset.loaded === 'true' && document.querySelector('#conn').dataset.state === 'live'`, 10*time.Second)
	waitJS(t, ctx, "db is Ready", rowPhase("mem.Object/db", "Ready"), 5*time.Second)
	if !eval[bool](t, ctx, `document.querySelector('#token-form').hidden`) {
		t.Error("the token form still shows with the right token")
	}

	// A change arrives through the stream read with the token.
	d.mem.Set("mem.Object/db", map[string]any{"value": "changed by hand"})
	if code := call(t, http.MethodPost, d.url+"/api/v1/resources/mem.Object/db/reconcile", token, "", nil); code != http.StatusAccepted {
		t.Fatalf("reconcile db: %d", code)
	}
	waitJS(t, ctx, "db shows Drifted", rowPhase("mem.Object/db", "Drifted"), 10*time.Second)

	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#rows button[data-id="mem.Object/web"]`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the detail shows web", `document.querySelector('#detail-title').textContent === 'mem.Object/web'`, 5*time.Second)
	detail := eval[string](t, ctx, `document.querySelector('#detail').innerText`)
	if strings.Contains(detail, secret) || !strings.Contains(detail, "(sensitive)") {
		t.Errorf("the detail panel shows the secret, or no mask:\n%s", detail)
	}
}
