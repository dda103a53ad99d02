package api

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/convergehq/converge/controller"
	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/metrics"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/providers/file"
	"github.com/convergehq/converge/store/sqlite"
)

// The browser tests drive the dashboard in a real headless Chromium (Debian's
// chromium or chromium-headless-shell; $CONVERGE_CHROMIUM names another).
// One browser serves the whole test binary, each test in its own tab. Without
// a browser they skip, or fail when CONVERGE_REQUIRE_BROWSER=1 (CI).
// Screenshots go to $CONVERGE_ARTIFACTS (default: the test's temp dir).

func TestMain(m *testing.M) {
	code := m.Run()
	shared.stop()
	os.Exit(code)
}

type browser struct {
	once   sync.Once
	ctx    context.Context // the browser's, which tabs derive from
	cancel func()
	err    error
	dir    string
}

var shared browser

// chromiumPath finds the browser: $CONVERGE_CHROMIUM, else the names
// Debian's packages install.
func chromiumPath() (string, error) {
	if p := os.Getenv("CONVERGE_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-headless-shell", "headless_shell", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no Chromium found (looked for chromium, chromium-headless-shell, headless_shell, chromium-browser, google-chrome on PATH; install Debian's chromium package, or set CONVERGE_CHROMIUM)")
}

func (b *browser) start() {
	path, err := chromiumPath()
	if err != nil {
		b.err = err
		return
	}
	b.dir, err = os.MkdirTemp("", "converge-chromium-")
	if err != nil {
		b.err = err
		return
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("headless", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(b.dir),
		chromedp.WindowSize(1400, 900),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	// The first run starts the browser, which lives as long as ctx.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		acancel()
		b.err = fmt.Errorf("start %s: %w", path, err)
		return
	}
	b.ctx = ctx
	b.cancel = func() { cancel(); acancel() }
}

func (b *browser) stop() {
	if b.cancel != nil {
		b.cancel()
	}
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// newTab returns a tab of the shared browser, closed at the test's end, with
// a bound on everything the test does in it.
func newTab(t *testing.T, bound time.Duration) context.Context {
	t.Helper()
	shared.once.Do(shared.start)
	if shared.err != nil {
		if os.Getenv("CONVERGE_REQUIRE_BROWSER") == "1" {
			t.Fatalf("browser tests need Chromium: %v", shared.err)
		}
		t.Skipf("browser tests skipped: %v", shared.err)
	}
	tab, cancelTab := chromedp.NewContext(shared.ctx)
	if err := chromedp.Do(tab); err != nil {
		cancelTab()
		t.Fatalf("open a tab: %v", err)
	}
	ctx, cancel := context.WithTimeout(tab, bound)
	t.Cleanup(func() { cancel(); cancelTab() })
	return ctx
}

// artifacts is where screenshots go.
func artifacts(t *testing.T) string {
	if d := os.Getenv("CONVERGE_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(artifacts(t), name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Error(err)
		return
	}
	t.Logf("screenshot: %s (%d KB)", p, len(png)>>10)
}

// waitJS waits until the expression is true in the page.
func waitJS(t *testing.T, ctx context.Context, what, expr string, d time.Duration) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	_, err := chromedp.Run(wctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(10*time.Millisecond)))
	for err != nil && wctx.Err() == nil && (strings.Contains(err.Error(), "context with specified id") || strings.Contains(err.Error(), "context was destroyed") || strings.Contains(err.Error(), "navigated or closed")) {
		// The page navigated (a reload) while polling: poll the new one.
		time.Sleep(10 * time.Millisecond)
		_, err = chromedp.Run(wctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(10*time.Millisecond)))
	}
	if err != nil {
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#summary').innerText + ' | ' + document.querySelector('#conn').innerText + ' | ' + document.querySelector('#rollback-result').innerText + ' | dialog open: ' + document.querySelector('#confirm').open + ' | ' + JSON.stringify(window.convergeDashboard && window.convergeDashboard.phases)`))
		t.Fatalf("waiting until %s: %v (page: %s)", what, err, state)
	}
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// rowPhase is the expression of a resource's phase in the table.
func rowPhase(id, phase string) string {
	return fmt.Sprintf(`!!document.querySelector('#rows tr[data-id=%q] [data-phase=%q]')`, id, phase)
}

// fileDaemon is a running controller over the file provider in a temp
// dir, its manifests in a file it watches, and its API served on a
// loopback port, as converge run wires them.
type fileDaemon struct {
	t        *testing.T
	root     string // the file provider's
	manifest string // the manifest file
	st       *sqlite.DB
	e        *engine.Engine
	url      string
}

func startFileDaemon(t *testing.T, docs string) *fileDaemon {
	t.Helper()
	d := &fileDaemon{t: t, root: t.TempDir()}
	d.manifest = filepath.Join(t.TempDir(), "site.yaml")
	if err := os.WriteFile(d.manifest, []byte(docs), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := file.New(d.root)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := provider.NewRegistry(p)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	d.st = st
	load := func() (*manifest.Revision, error) { return manifest.Load([]string{d.manifest}, reg) }
	d.e = engine.New(reg, st, engine.Options{Workers: 2, Logger: quiet(), BackoffBase: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond, ReadyPoll: 10 * time.Millisecond})
	c := controller.New(d.e, st, controller.Options{Load: load, Paths: []string{d.manifest}, Resync: time.Hour, Debounce: 20 * time.Millisecond, Logger: quiet()})
	rv, err := load()
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	d.e.Instrument(m)
	followed := make(chan struct{})
	go func() { m.Follow(ctx, st, quiet(), nil); close(followed) }()
	runDone := make(chan error, 1)
	go func() { runDone <- c.Run(ctx, rv) }()
	live := c.Live(reg)
	h := New(Config{Views: live, Actions: live, Readiness: live, Feed: st, Metrics: m.Handler(quiet()), Logger: quiet()})
	d.url = serveTest(t, ctx, cancel, h, "", func() {
		if err := <-runDone; err != nil {
			t.Errorf("run: %v", err)
		}
		<-followed
		st.Close()
	})
	d.waitConverged()
	return d
}

func (d *fileDaemon) waitConverged() {
	d.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !d.e.Progress().Converged {
		if time.Now().After(deadline) {
			d.t.Fatal("the revision did not converge within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (d *fileDaemon) edit(docs string) {
	d.t.Helper()
	if err := os.WriteFile(d.manifest, []byte(docs), 0o644); err != nil {
		d.t.Fatal(err)
	}
}

const siteDocs = `kind: file.Directory
metadata: {name: site}
spec: {path: site}
---
kind: file.File
metadata: {name: index, labels: {tier: web}}
spec:
  path: ${file.Directory/site.outputs.path}/index.html
  content: "<h1>Hello</h1>\n"
---
kind: file.File
metadata: {name: checksums}
policy: {drift: alert}
spec:
  path: ${file.Directory/site.outputs.path}/SHA256SUMS
  content: "${file.File/index.outputs.sha256}  index.html\n"
`

const aboutDoc = `---
kind: file.File
metadata: {name: about, labels: {tier: web}}
spec:
  path: ${file.Directory/site.outputs.path}/about.html
  content: "<h1>About</h1>\n"
`

// open loads the dashboard and waits for its first list.
func open(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	waitJS(t, ctx, "the page lists the resources", `document.body.dataset.loaded === 'true'`, 10*time.Second)
	waitJS(t, ctx, "the stream is live", `document.querySelector('#conn').dataset.state === 'live'`, 5*time.Second)
}

func join(s []string) string { return strings.Join(s, " → ") }
