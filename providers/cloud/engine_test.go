package cloud_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/convergehq/converge/cloudsim"
	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/providers/cloud"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
)

// cloudApp is what examples/cloud-app declares, per cloudsim kind.
var cloudApp = map[string][]string{
	cloudsim.KindNetwork:       {"main"},
	cloudsim.KindSubnet:        {"private", "public"},
	cloudsim.KindSecurityGroup: {"app", "db", "web"},
	cloudsim.KindInstance:      {"app-1", "app-2", "db-1", "web-1", "web-2"},
	cloudsim.KindLoadBalancer:  {"web"},
	cloudsim.KindDNSRecord:     {"www.example.com"},
	cloudsim.KindBucket:        {"cloud-app-assets"},
}

// TestEngineConvergesCloudApp applies examples/cloud-app with the engine
// against an in-process cloudsim, checks the cloud holds exactly the app
// (no duplicates, no leaks, wired together), applies again (nothing to
// do), then destroys it (nothing left, no delete refused).
func TestEngineConvergesCloudApp(t *testing.T) {
	tests := map[string]cloudsim.Config{
		"well-behaved cloud": {},
		"read lag and slow provisioning": {
			Lag: 300 * time.Millisecond, ProvisionDelay: 300 * time.Millisecond,
		},
		"errors and ambiguous writes": {
			Seed: 7, Faults: cloudsim.Faults{ErrorRate: 0.2, AmbiguousRate: 0.4}, // enough writes fail ambiguously on any interleaving
		},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			sim := cloudsim.New(cfg)
			ts := httptest.NewServer(sim)
			t.Cleanup(ts.Close)
			reg, err := provider.NewRegistry(cloud.New(ts.URL, cloud.WithGrace(5*time.Second)))
			if err != nil {
				t.Fatal(err)
			}
			rv, err := manifest.Load([]string{"../../examples/cloud-app"}, reg)
			if err != nil {
				t.Fatalf("load examples/cloud-app: %v", err)
			}
			st := memory.New()

			rep := apply(t, reg, st, rv)
			if !rep.OK() || rep.Ready != len(rv.Resources) {
				t.Fatalf("apply: %d of %d Ready, failures %+v", rep.Ready, len(rv.Resources), rep.Failures)
			}
			if err := sim.Expect(cloudApp); err != nil {
				t.Fatal(err)
			}
			a := sim.Audit()
			if cfg.Faults.ErrorRate > 0 && (a.Faults["error"] == 0 || a.Faults["ambiguous"] == 0) {
				t.Errorf("faults injected: %v; want errors and ambiguous writes", a.Faults)
			}
			if len(a.Duplicates)+len(a.Leaks)+len(a.Missing)+a.Overlaps > 0 {
				t.Errorf("audit: duplicates %v, leaks %v, missing %v, overlaps %v; want none",
					a.Duplicates, a.Leaks, a.Missing, a.OverlapIDs)
			}
			objs := sim.Objects()
			checkWiring(t, objs)
			for _, r := range records(t, st) {
				if r.Phase != store.PhaseReady {
					t.Errorf("%s: phase %s (%s); want Ready", r.ID, r.Phase, r.Message)
				}
			}

			again := apply(t, reg, st, rv)
			if !again.OK() || again.Stats.Mutations() != 0 {
				t.Errorf("second apply: ok %v, %d mutations, failures %+v; want ok and none", again.OK(), again.Stats.Mutations(), again.Failures)
			}

			// A new image replaces app-1 (destroy, then create: one app-1
			// at a time); a new size resizes db-1 in place.
			appID := byName(t, sim.Objects(), cloudsim.KindInstance, "app-1")["id"]
			dbID := byName(t, sim.Objects(), cloudsim.KindInstance, "db-1")["id"]
			edited := editedApp(t, reg, map[string]string{"app-server-1.4.2": "app-server-1.5.0", "size: large": "size: xlarge"})
			changed := apply(t, reg, st, edited)
			if !changed.OK() {
				t.Errorf("apply edited app: failures %+v", changed.Failures)
			}
			// Without faults every call succeeds: exactly two replaces and
			// one update (no second update from a stale read).
			if want := (engine.Stats{Creates: 2, Deletes: 2, Updates: 1}); cfg.Faults.ErrorRate == 0 && !cmp.Equal(changed.Stats, want, cmpopts.IgnoreFields(engine.Stats{}, "Observes")) {
				t.Errorf("apply edited app: calls %+v; want %+v", changed.Stats, want)
			}
			objs = sim.Objects()
			if app := byName(t, objs, cloudsim.KindInstance, "app-1"); app["id"] == appID || app["image"] != "app-server-1.5.0" {
				t.Errorf("app-1 after the image change: %v; want a new object (was %v) with the new image", app, appID)
			}
			if db := byName(t, objs, cloudsim.KindInstance, "db-1"); db["id"] != dbID || db["size"] != "xlarge" {
				t.Errorf("db-1 after the size change: %v; want %v resized in place", db, dbID)
			}
			if a := sim.Audit(); len(a.Duplicates)+len(a.Leaks)+len(a.Missing) > 0 {
				t.Errorf("audit after the edit: duplicates %v, leaks %v, missing %v; want none", a.Duplicates, a.Leaks, a.Missing)
			}

			gone := apply(t, reg, st, nil)
			if !gone.OK() || gone.Deleted != len(edited.Resources) {
				t.Errorf("destroy: ok %v, %d deleted, failures %+v; want all %d deleted", gone.OK(), gone.Deleted, gone.Failures, len(rv.Resources))
			}
			for kind, list := range sim.Objects() {
				if len(list) != 0 {
					t.Errorf("after destroy, %d %s objects are left", len(list), kind)
				}
			}
			if got := sim.Audit().ByStatus["409"]; got != 0 {
				t.Errorf("409 answers: %d; want none (dependents are deleted first)", got)
			}
		})
	}
}

// apply runs one `converge apply` (nil rv: destroy) with a fresh engine
// over st.
func apply(t *testing.T, reg *provider.Registry, st store.Store, rv *manifest.Revision) engine.Report {
	t.Helper()
	e := engine.New(reg, st, engine.Options{
		Workers: 8, BackoffBase: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		ReadyPoll: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := e.Load(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := e.Apply(ctx, rv)
	if err != nil {
		t.Fatalf("apply: %v (report %+v)", err, rep)
	}
	return rep
}

func records(t *testing.T, st store.Store) []store.Record {
	t.Helper()
	recs, err := st.ListRecords(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// checkWiring checks that the objects reference each other as the
// manifests say: the load balancer is over the web instances, and the DNS
// record points at its DNS name.
func checkWiring(t *testing.T, objs map[string][]map[string]any) {
	t.Helper()
	byName := func(kind, name string) map[string]any { return byName(t, objs, kind, name) }
	lb := byName(cloudsim.KindLoadBalancer, "web")
	want := []any{byName(cloudsim.KindInstance, "web-1")["id"], byName(cloudsim.KindInstance, "web-2")["id"]}
	got := slices.Clone(lb["instanceIds"].([]any))
	if !cmp.Equal(got, want, cmpopts.SortSlices(func(a, b any) bool { return a.(string) < b.(string) })) {
		t.Errorf("load balancer instances: %v; want the web instances %v", got, want)
	}
	if got, want := byName(cloudsim.KindDNSRecord, "www.example.com")["value"], lb["dnsName"]; got != want {
		t.Errorf("DNS record value %v; want the load balancer's dnsName %v", got, want)
	}
	if got, want := byName(cloudsim.KindInstance, "db-1")["subnetId"], byName(cloudsim.KindSubnet, "private")["id"]; got != want {
		t.Errorf("db-1 subnet %v; want private %v", got, want)
	}
}

// byName returns the live object of a cloudsim kind with that name.
func byName(t *testing.T, objs map[string][]map[string]any, kind, name string) map[string]any {
	t.Helper()
	for _, o := range objs[kind] {
		if o["name"] == name {
			return o
		}
	}
	t.Fatalf("no %s named %s", kind, name)
	return nil
}

// editedApp loads a copy of examples/cloud-app with every old string
// replaced by its new one.
func editedApp(t *testing.T, reg *provider.Registry, edits map[string]string) *manifest.Revision {
	t.Helper()
	dir := t.TempDir()
	files, err := filepath.Glob("../../examples/cloud-app/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("glob examples/cloud-app: %v (%d files)", err, len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for old, repl := range edits {
			s = strings.ReplaceAll(s, old, repl)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rv, err := manifest.Load([]string{dir}, reg)
	if err != nil {
		t.Fatalf("load edited app: %v", err)
	}
	return rv
}
