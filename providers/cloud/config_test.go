package cloud_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/convergehq/converge/cloudsim"
	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/providers/cloud"
	"github.com/convergehq/converge/store/memory"
)

// TestConfigBaseURL converges against the cloudsim a ProviderConfig's
// spec.config.baseURL names, through ${env:NAME}, while the provider was
// made with a URL where nothing listens; the stored revision keeps the
// reference to the variable, never its value.
func TestConfigBaseURL(t *testing.T) {
	sim := cloudsim.New(cloudsim.Config{})
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	reg, err := provider.NewRegistry(cloud.New("http://127.0.0.1:1", cloud.WithGrace(time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	in := "kind: ProviderConfig\nmetadata: {name: cloud}\nspec:\n  config:\n    baseURL: ${env:CLOUD_SIM_URL}\n---\n" +
		"kind: cloud.Network\nmetadata: {name: main}\nspec: {cidr: 10.0.0.0/16}\n"
	rv, err := manifest.LoadBytes(map[string][]byte{"a.yaml": []byte(in)}, reg)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	st := memory.New()
	e := engine.New(reg, st, engine.Options{
		Workers: 2, BackoffBase: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		ReadyPoll: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
		LookupEnv: func(k string) (string, bool) {
			if k == "CLOUD_SIM_URL" {
				return ts.URL, true
			}
			return "", false
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.Load(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := e.Apply(ctx, rv)
	if err != nil || !rep.OK() || rep.Ready != 1 {
		t.Fatalf("apply: %v, %d Ready, failures %+v; want the network Ready", err, rep.Ready, rep.Failures)
	}
	if err := sim.Expect(map[string][]string{cloudsim.KindNetwork: {"main"}}); err != nil {
		t.Fatal(err)
	}

	stored, err := st.GetRevision(ctx, rv.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if b := string(stored.Resources); !strings.Contains(b, `"baseURL":"${env:CLOUD_SIM_URL}"`) || strings.Contains(b, ts.URL) {
		t.Errorf("stored revision %s; want the baseURL as written, ${env:CLOUD_SIM_URL}, and not %s", b, ts.URL)
	}
	back, err := manifest.Unmarshal(stored.Resources)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.ProviderConfigs["cloud"].Config["baseURL"]; got != "${env:CLOUD_SIM_URL}" {
		t.Errorf("stored baseURL %v; want ${env:CLOUD_SIM_URL}", got)
	}
}

func TestConfigure(t *testing.T) {
	p := cloud.New("http://127.0.0.1:1")
	for _, bad := range []any{"ftp://x", "not a url", 7, "http://"} {
		if err := p.Configure(provider.Settings{Config: map[string]any{"baseURL": bad}}); err == nil {
			t.Errorf("Configure(baseURL %v) = nil; want an error", bad)
		}
	}
	if err := p.Configure(provider.Settings{Config: map[string]any{"baseURL": "https://u:pw@api.example/"}}); err != nil {
		t.Errorf("Configure(https URL) = %v; want nil", err)
	}
	if err := p.Configure(provider.Settings{}); err != nil {
		t.Errorf("Configure(zero Settings) = %v; want nil (back to New's URL)", err)
	}
}
