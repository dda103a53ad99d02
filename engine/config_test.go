package engine

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/provider"
)

// configured is a provider with settings of its own that records those it
// was configured with.
type configured struct {
	provider.Provider
	mu   sync.Mutex
	got  []map[string]any
	fail bool
}

var (
	_ provider.Configurer    = (*configured)(nil)
	_ provider.ConfigSchemer = (*configured)(nil)
)

func (c *configured) ConfigSchema() provider.Schema {
	return provider.Schema{Fields: map[string]provider.Field{
		"endpoint": {Type: provider.String},
		"token":    {Type: provider.String, Sensitive: true},
	}}
}

func (c *configured) Configure(s provider.Settings) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, s.Config)
	if c.fail {
		return provider.Terminalf("token %v refused", s.Config["token"])
	}
	return nil
}

func TestConfigureExpandsSettings(t *testing.T) {
	cp := &configured{}
	h := newMemHarness(t, Options{}, func(p provider.Provider) provider.Provider { cp.Provider = p; return cp })
	var logs bytes.Buffer
	h.opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	env := map[string]string{"ENDPOINT": "http://sim"}
	h.opts.LookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	rv := h.load(providerConfigDoc(`config: {endpoint: "${env:ENDPOINT}/v1", token: "${env:TOKEN}"}`), memDoc("a", "x"))

	e := h.engine()
	if rep := h.apply(e, rv); !rep.OK() {
		t.Fatalf("apply: %+v", rep.Failures)
	}
	want := map[string]any{"endpoint": "http://sim/v1"} // TOKEN is not set: left out
	if len(cp.got) == 0 || !cmp.Equal(cp.got[len(cp.got)-1], want) {
		t.Errorf("configured with %v; want last %v", cp.got, want)
	}
	if l := logs.String(); !strings.Contains(l, "provider=mem") || !strings.Contains(l, "environment variable TOKEN is not set") {
		t.Errorf("logs %q; want an error naming the provider and TOKEN", l)
	}
	if got := rv.ProviderConfigs["mem"].Config["endpoint"]; got != "${env:ENDPOINT}/v1" {
		t.Errorf("revision's endpoint %v; want it as written", got)
	}

	// A sensitive setting is never logged, even when the provider puts it
	// in its error.
	env["TOKEN"] = "hunter2-secret"
	cp.fail = true
	logs.Reset()
	e2 := h.engine()
	h.apply(e2, rv)
	if l := logs.String(); !strings.Contains(l, "configure provider") || strings.Contains(l, "hunter2-secret") {
		t.Errorf("logs %q; want the configure error without the token", l)
	}
}

// TestDestroyConfiguresProviders: a destroy by a new engine on the store
// (converge destroy) configures the providers with the ProviderConfigs of
// the revision it leaves: without them a provider configured only there
// could delete nothing.
func TestDestroyConfiguresProviders(t *testing.T) {
	cp := &configured{}
	h := newMemHarness(t, Options{}, func(p provider.Provider) provider.Provider { cp.Provider = p; return cp })
	rv := h.load(providerConfigDoc(`config: {endpoint: "http://sim/v1", token: "hunter2"}`), memDoc("a", "x"))
	if rep := h.apply(h.engine(), rv); !rep.OK() {
		t.Fatalf("apply: %+v", rep.Failures)
	}
	cp.mu.Lock()
	cp.got = nil
	cp.mu.Unlock()
	if rep := h.apply(h.engine(), nil); !rep.OK() {
		t.Fatalf("destroy: %+v", rep.Failures)
	}
	want := map[string]any{"endpoint": "http://sim/v1", "token": "hunter2"}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if len(cp.got) == 0 || !cmp.Equal(cp.got[0], want) {
		t.Errorf("destroy configured the provider with %v; want %v", cp.got, want)
	}
}
