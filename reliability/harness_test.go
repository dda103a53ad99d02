package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/convergehq/converge/cloudsim"
	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/providers/cloud"
	"github.com/convergehq/converge/store/memory"
)

// request is one API request cloudsim answered.
type request struct {
	at         time.Time
	method     string
	path       string
	status     int
	retryAfter time.Duration
}

// recorder wraps cloudsim and keeps every API request.
type recorder struct {
	next http.Handler
	mu   sync.Mutex
	reqs []request
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if !strings.HasPrefix(req.URL.Path, "/v1/") {
		r.next.ServeHTTP(w, req)
		return
	}
	at := time.Now()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	r.next.ServeHTTP(sw, req)
	var ra time.Duration
	if s := sw.Header().Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			ra = time.Duration(n) * time.Second
		}
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, request{at: at, method: req.Method, path: req.URL.Path, status: sw.status, retryAfter: ra})
	r.mu.Unlock()
}

func (r *recorder) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]request(nil), r.reqs...)
	sort.Slice(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out
}

// sim is a cloudsim on loopback with a recorder in front.
type sim struct {
	*cloudsim.Server
	rec *recorder
	srv *httptest.Server
}

func newSim(t testing.TB, cfg cloudsim.Config) *sim {
	t.Helper()
	s := newSimNoCleanup(t, cfg)
	t.Cleanup(s.srv.Close)
	return s
}

func newSimNoCleanup(_ testing.TB, cfg cloudsim.Config) *sim {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := cloudsim.New(cfg)
	rec := &recorder{next: s}
	srv := httptest.NewServer(rec)
	return &sim{Server: s, rec: rec, srv: srv}
}

// app returns the manifests of units three-tier units of ten resources
// each: a network, two subnets, a security group, two web and two app
// instances, a load balancer over the web ones and a DNS name for it. It
// also returns the names expected per cloudsim kind.
func app(units int, providerConfig string) (map[string][]byte, map[string][]string) {
	files := map[string][]byte{}
	expect := map[string][]string{}
	add := func(kind, name string) { expect[kind] = append(expect[kind], name) }
	if providerConfig != "" {
		files["provider.yaml"] = []byte("kind: ProviderConfig\nmetadata: {name: cloud}\nspec: " + providerConfig + "\n")
	}
	for u := 0; u < units; u++ {
		var b strings.Builder
		fmt.Fprintf(&b, `kind: cloud.Network
metadata: {name: net-%[1]d}
spec: {cidr: 10.%[1]d.0.0/16}
---
kind: cloud.Subnet
metadata: {name: pub-%[1]d}
spec: {networkId: "${cloud.Network/net-%[1]d.outputs.id}", cidr: 10.%[1]d.1.0/24}
---
kind: cloud.Subnet
metadata: {name: priv-%[1]d}
spec: {networkId: "${cloud.Network/net-%[1]d.outputs.id}", cidr: 10.%[1]d.2.0/24}
---
kind: cloud.SecurityGroup
metadata: {name: sg-%[1]d}
spec:
  networkId: ${cloud.Network/net-%[1]d.outputs.id}
  rules: [{direction: ingress, protocol: tcp, port: 443, cidr: 0.0.0.0/0}]
`, u)
		for i, tier := range []string{"web", "web", "app", "app"} {
			subnet := "pub"
			if tier == "app" {
				subnet = "priv"
			}
			name := fmt.Sprintf("%s-%d-%d", tier, u, i%2)
			fmt.Fprintf(&b, `---
kind: cloud.Instance
metadata: {name: %s}
spec:
  subnetId: ${cloud.Subnet/%s-%d.outputs.id}
  image: img-1
  size: small
  securityGroupIds: ["${cloud.SecurityGroup/sg-%d.outputs.id}"]
`, name, subnet, u, u)
			add("Instance", name)
		}
		fmt.Fprintf(&b, `---
kind: cloud.LoadBalancer
metadata: {name: lb-%[1]d}
spec:
  subnetIds: ["${cloud.Subnet/pub-%[1]d.outputs.id}"]
  instanceIds: ["${cloud.Instance/web-%[1]d-0.outputs.id}", "${cloud.Instance/web-%[1]d-1.outputs.id}"]
  port: 443
---
kind: cloud.DNSRecord
metadata: {name: dns-%[1]d}
spec: {name: "u%[1]d.app.example.com", type: CNAME, value: "${cloud.LoadBalancer/lb-%[1]d.outputs.dnsName}", ttl: 60}
`, u)
		add("Network", fmt.Sprintf("net-%d", u))
		add("Subnet", fmt.Sprintf("pub-%d", u))
		add("Subnet", fmt.Sprintf("priv-%d", u))
		add("SecurityGroup", fmt.Sprintf("sg-%d", u))
		add("LoadBalancer", fmt.Sprintf("lb-%d", u))
		add("DNSRecord", fmt.Sprintf("u%d.app.example.com", u))
		files[fmt.Sprintf("unit-%02d.yaml", u)] = []byte(b.String())
	}
	return files, expect
}

func load(t testing.TB, reg *provider.Registry, files map[string][]byte) *manifest.Revision {
	t.Helper()
	rv, err := manifest.LoadBytes(files, reg)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return rv
}

func registry(t testing.TB, baseURL string, opts ...cloud.Option) *provider.Registry {
	t.Helper()
	reg, err := provider.NewRegistry(cloud.New(baseURL, opts...))
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func quiet() *slog.Logger {
	if os.Getenv("CONVERGE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// converge applies rv with a fresh engine over a memory store and fails
// the test unless every resource is Ready.
func converge(t testing.TB, reg *provider.Registry, rv *manifest.Revision, opts engine.Options) (engine.Report, time.Duration) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet()
	}
	e := engine.New(reg, memory.New(), opts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	rep, err := e.Apply(ctx, rv)
	took := time.Since(start)
	if err != nil || !rep.OK() {
		n := len(rep.Failures)
		if n > 5 {
			rep.Failures = rep.Failures[:5]
		}
		t.Fatalf("apply: %v; %d failures, first: %+v", err, n, rep.Failures)
	}
	return rep, took
}

// checkAudit fails the test on duplicates, leaks, missing objects and
// overlapping mutations.
func checkAudit(t testing.TB, a cloudsim.Audit) {
	t.Helper()
	if len(a.Duplicates) > 0 {
		t.Errorf("duplicates: %+v", a.Duplicates)
	}
	if len(a.Leaks) > 0 {
		t.Errorf("leaks: %+v", a.Leaks)
	}
	if len(a.Missing) > 0 {
		t.Errorf("missing: %+v", a.Missing)
	}
	if a.Overlaps > 0 {
		t.Errorf("overlapping mutations of one object: %d (%v)", a.Overlaps, a.OverlapIDs)
	}
}

// injected fails the test now unless the audit counts at least one injected
// fault of each kind ("error", "hang", "ambiguous", "outage"): a scenario
// whose faults never happened proves nothing.
func injected(t testing.TB, a cloudsim.Audit, kinds ...string) {
	t.Helper()
	for _, k := range kinds {
		if a.Faults[k] == 0 {
			t.Fatalf("no %q fault was injected (faults %v): the scenario tested nothing", k, a.Faults)
		}
	}
}

// figure reports one measured figure of a scenario.
func figure(t testing.TB, scenario string, values map[string]any) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"scenario": scenario, "figures": values})
	t.Logf("FIGURES %s", b)
	if path := os.Getenv("CONVERGE_FIGURES"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Errorf("figures: %v", err)
			return
		}
		defer f.Close()
		fmt.Fprintf(f, "%s\n", b)
	}
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// total2 sums a count per kind, then per name.
func total2(m map[string]map[string]int) int {
	n := 0
	for _, byName := range m {
		n += total(byName)
	}
	return n
}
