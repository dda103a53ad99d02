package terraform

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/providers/terraform/internal/testprovider/things"
)

const thingKind = "convergetest.thing"

func thingRequest(name string, spec map[string]any) provider.Request {
	return provider.Request{ID: thingKind + "/" + name, Kind: thingKind, Name: name, Spec: provider.CanonicalMap(spec), IdempotencyKey: name + "-key"}
}

// TestSchemas checks how the Terraform schema maps: required, optional
// and optional+computed attributes are spec fields, computed-only ones
// outputs only, sensitive and write-only ones sensitive, blocks lists.
func TestSchemas(t *testing.T) {
	for _, proto := range protocols {
		t.Run(fmt.Sprintf("protocol%d", proto), func(t *testing.T) {
			p, _ := startTest(t, proto, nil)
			if got := p.Kinds(); !slices.Equal(got, []string{thingKind}) {
				t.Fatalf("Kinds() = %v; want [%s]", got, thingKind)
			}
			s := p.Schemas()[0]
			type field struct {
				Type                provider.Type
				Required, Sensitive bool
			}
			got := map[string]field{}
			for n, f := range s.Fields {
				got[n] = field{f.Type, f.Required, f.Sensitive}
			}
			want := map[string]field{
				"name":       {provider.String, true, false},
				"size":       {provider.Float, false, false},
				"zone":       {provider.String, false, false},
				"secret":     {provider.String, false, true},
				"passphrase": {provider.String, false, true},
				"tags":       {provider.Map, false, false},
				"rule":       {provider.List, false, false},
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("fields (-want +got):\n%s", d)
			}
			if d := cmp.Diff([]string{"id", "name", "rule", "secret", "size", "tags", "token", "zone"}, s.Outputs); d != "" {
				t.Errorf("outputs (-want +got):\n%s", d)
			}
			if d := cmp.Diff([]string{"secret", "token"}, s.SensitiveOutputs); d != "" {
				t.Errorf("sensitive outputs (-want +got):\n%s", d)
			}
			if !s.SealPrivate {
				t.Error("SealPrivate is false; the state in Private holds secrets")
			}
			cs := p.ConfigSchema()
			if f, ok := cs.Fields["dir"]; !ok || !f.Required || f.Type != provider.String {
				t.Errorf("config schema %+v; want dir, a required string", cs.Fields)
			}
		})
	}
}

// TestValidateSpec checks that the provider's own validation reaches
// the fields it names, in converge's path syntax, redacted, and that
// unresolved references pass as unknowns.
func TestValidateSpec(t *testing.T) {
	p, _ := startTest(t, 6, nil)
	tests := map[string]struct {
		spec map[string]any
		want []string // fields
		not  string   // never in a message
	}{
		"valid":               {spec: map[string]any{"name": "a", "rule": []any{map[string]any{"port": int64(22)}}}},
		"reference unknown":   {spec: map[string]any{"name": "${convergetest.thing/b.outputs.name}", "size": "${convergetest.thing/b.outputs.size}"}},
		"port in a block":     {spec: map[string]any{"name": "a", "rule": []any{map[string]any{"port": int64(22)}, map[string]any{"port": int64(0)}}}, want: []string{"spec.rule[1].port"}},
		"echoed secret":       {spec: map[string]any{"name": "a", "secret": "echo this secret"}, want: []string{"spec.secret"}, not: "echo this secret"},
		"wrong type in block": {spec: map[string]any{"name": "a", "rule": []any{map[string]any{"port": "x"}}}, want: []string{"spec.rule[0].port"}},
		"unknown argument":    {spec: map[string]any{"name": "a", "rule": []any{map[string]any{"prot": "x"}}}, want: []string{"spec.rule[0].prot"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			errs := p.ValidateSpec(thingKind, provider.CanonicalMap(tt.spec))
			var got []string
			for _, e := range errs {
				got = append(got, e.Field)
				if tt.not != "" && strings.Contains(e.Msg, tt.not) {
					t.Errorf("the error shows the secret: %s", e.Msg)
				}
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("fields in error (-want +got):\n%s\nerrors: %v", d, errs)
			}
		})
	}
}

// TestPluginKilledMidCreate kills the plugin while Create holds: the
// error is retryable and ambiguous, and the next call starts the plugin
// again, configured, and succeeds.
func TestPluginKilledMidCreate(t *testing.T) {
	for _, proto := range protocols {
		t.Run(fmt.Sprintf("protocol%d", proto), func(t *testing.T) {
			p, dir := startTest(t, proto, nil)
			hold := filepath.Join(dir, things.HoldFile)
			if err := os.WriteFile(hold, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			req := thingRequest("k", map[string]any{"name": "k"})
			errc := make(chan error, 1)
			go func() {
				_, err := p.Create(t.Context(), req)
				errc <- err
			}()
			waitFor(t, filepath.Join(dir, "k.creating"))
			pid := p.pid()
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			err := <-errc
			if err == nil {
				t.Fatal("Create succeeded although its plugin was killed")
			}
			if c, _ := provider.Classify(err); c != provider.ClassRetryable || !provider.IsAmbiguous(err) {
				t.Errorf("error %v: class %s, ambiguous %v; want retryable and ambiguous", err, c, provider.IsAmbiguous(err))
			}
			if err := os.Remove(hold); err != nil {
				t.Fatal(err)
			}
			req.IdempotencyKey = "k-retry"
			res, err := p.Create(t.Context(), req)
			if err != nil {
				t.Fatalf("Create after the kill: %v", err)
			}
			if p.pid() == pid || p.restartCount() != 1 {
				t.Errorf("pid %d (killed %d), restarts %d; want a new plugin, started once", p.pid(), pid, p.restartCount())
			}
			if got := objects(t, dir); len(got) != 1 || got[stateID(t, res.Private)] == nil {
				t.Errorf("objects %v; want the one created after the restart", got)
			}
		})
	}
}

// TestUpgradeState observes a thing whose stored state is of schema
// version 0 (name was label): Observe upgrades it first.
func TestUpgradeState(t *testing.T) {
	for _, proto := range protocols {
		t.Run(fmt.Sprintf("protocol%d", proto), func(t *testing.T) {
			p, _ := startTest(t, proto, nil)
			res, err := p.Create(t.Context(), thingRequest("u", map[string]any{"name": "old-name", "size": 4}))
			if err != nil {
				t.Fatal(err)
			}
			var st map[string]any
			if err := json.Unmarshal([]byte(res.Private[keyState]), &st); err != nil {
				t.Fatal(err)
			}
			st["label"] = st["name"]
			delete(st, "name")
			v0, _ := json.Marshal(st)
			req := thingRequest("u", map[string]any{"name": "old-name", "size": 4})
			req.Private = map[string]string{keyState: string(v0), keyVersion: "0"}
			obs, err := p.Observe(t.Context(), req)
			if err != nil {
				t.Fatalf("Observe of a version 0 state: %v", err)
			}
			if !obs.Exists || obs.State["name"] != "old-name" || obs.Private[keyVersion] != "1" {
				t.Fatalf("Observe = %+v; want the object, name from label, schema version 1", obs)
			}
			if !strings.Contains(obs.Private[keyState], `"name":"old-name"`) {
				t.Errorf("upgraded state %s; want name", obs.Private[keyState])
			}
		})
	}
}

// TestImport imports a thing by id, as `converge import` does, and finds
// what Create made.
func TestImport(t *testing.T) {
	for _, proto := range protocols {
		t.Run(fmt.Sprintf("protocol%d", proto), func(t *testing.T) {
			p, _ := startTest(t, proto, nil)
			spec := map[string]any{"name": "imp", "size": 7, "tags": map[string]any{"a": "b"}}
			res, err := p.Create(t.Context(), thingRequest("imp", spec))
			if err != nil {
				t.Fatal(err)
			}
			id := stateID(t, res.Private)
			obs, err := p.Import(t.Context(), thingRequest("imp", spec), id)
			if err != nil {
				t.Fatalf("Import(%s): %v", id, err)
			}
			want := map[string]any{"name": "imp", "size": int64(7), "tags": map[string]any{"a": "b"}, "zone": nil, "secret": nil, "rule": []any{}}
			if d := cmp.Diff(want, obs.State); !obs.Exists || d != "" {
				t.Fatalf("Import state (-want +got):\n%s", d)
			}
			if got := stateID(t, obs.Private); got != id {
				t.Errorf("imported state names %s; want %s", got, id)
			}
			gone, err := p.Import(t.Context(), thingRequest("imp", spec), "no-such-id")
			if err != nil || gone.Exists {
				t.Errorf("Import of an id that names nothing = %+v, %v; want Exists false", gone, err)
			}
		})
	}
}

// TestSecretsNotInErrorsOrLogs fails calls whose diagnostics echo a
// secret, and logs at debug: neither the errors nor the logs hold it.
func TestSecretsNotInErrorsOrLogs(t *testing.T) {
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, _ := startTest(t, 6, logger)
	const secretValue = "a secret with spaces"
	_, err := p.Create(t.Context(), thingRequest("s", map[string]any{"name": "s", "secret": secretValue}))
	if err == nil {
		t.Fatal("Create succeeded; want the provider to refuse the secret")
	}
	if c, _ := provider.Classify(err); c != provider.ClassTerminal {
		t.Errorf("class %s; want terminal: %v", c, err)
	}
	if strings.Contains(err.Error(), secretValue) || !strings.Contains(err.Error(), "(sensitive)") {
		t.Errorf("error %q; want the secret redacted", err)
	}
	res, err := p.Create(t.Context(), thingRequest("s2", map[string]any{"name": "s2", "secret": "no-spaces-secret"}))
	if err != nil {
		t.Fatal(err)
	}
	token, _ := res.Outputs["token"].(string)
	if token == "" {
		t.Fatalf("no token in %v", res.Outputs)
	}
	for _, s := range []string{secretValue, "no-spaces-secret", token} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("the logs hold %q", s)
		}
	}
	// The plugin's own JSON log line of the refused call, at its level.
	if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "tf_rpc=ValidateResourceConfig") {
		t.Errorf("the plugin's error log line did not reach the logger at its level:\n%s", l)
	}
}

// TestMemoryLimit passes MemoryLimit to the plugin as GOMEMLIMIT, and
// Options.Env after it.
func TestMemoryLimit(t *testing.T) {
	opts := startOpts(6, nil)
	opts.MemoryLimit = 64 << 20
	opts.Env = append(opts.Env, "CONVERGETEST_MARK=1")
	p, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.pid()))
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Split(string(b), "\x00")
	for _, want := range []string{"GOMEMLIMIT=67108864", "CONVERGETEST_MARK=1", "TF_LOG_PROVIDER=INFO"} {
		if !slices.Contains(env, want) {
			t.Errorf("the plugin's environment lacks %s", want)
		}
	}
}

// TestConfigureAgain gives the provider another directory: a new plugin
// process takes it, and objects go there.
func TestConfigureAgain(t *testing.T) {
	p, dir := startTest(t, 6, nil)
	pid := p.pid()
	if err := p.Configure(provider.Settings{Config: map[string]any{"dir": dir}}); err != nil || p.pid() != pid {
		t.Fatalf("Configure with the same settings: %v, pid %d (was %d); want nothing to change", err, p.pid(), pid)
	}
	other := t.TempDir()
	if err := p.Configure(provider.Settings{Config: map[string]any{"dir": other}}); err != nil {
		t.Fatal(err)
	}
	if p.pid() == pid {
		t.Error("the plugin configured before takes the new settings; want a new process")
	}
	if _, err := p.Create(t.Context(), thingRequest("c", map[string]any{"name": "c"})); err != nil {
		t.Fatal(err)
	}
	if len(objects(t, other)) != 1 || len(objects(t, dir)) != 0 {
		t.Errorf("objects in the new dir %v, the old %v; want one in the new", objects(t, other), objects(t, dir))
	}
	err := p.Configure(provider.Settings{Config: map[string]any{"dir": filepath.Join(other, "missing")}})
	if c, _ := provider.Classify(err); err == nil || c != provider.ClassTerminal || !strings.Contains(err.Error(), "spec.dir") {
		t.Errorf("Configure with a missing directory: %v (class %s); want a terminal error naming spec.dir", err, c)
	}
}

// TestPlanChange plans against an object: no change, an update with a
// value not known yet (a plan preview), and a replace the provider asks
// for (zone), whose outputs are those of a new object.
func TestPlanChange(t *testing.T) {
	for _, proto := range protocols {
		t.Run(fmt.Sprintf("protocol%d", proto), func(t *testing.T) {
			p, dir := startTest(t, proto, nil)
			spec := map[string]any{"name": "p", "size": 2, "zone": "z1"}
			res, err := p.Create(t.Context(), thingRequest("p", spec))
			if err != nil {
				t.Fatal(err)
			}
			req := thingRequest("p", spec)
			req.Private = res.Private
			obs, err := p.Observe(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			before := objects(t, dir)
			planFor := func(spec map[string]any) provider.Planned {
				t.Helper()
				pl, err := p.PlanChange(t.Context(), provider.PlanRequest{ID: req.ID, Kind: thingKind, Name: "p", Spec: spec, Observed: obs, Private: res.Private})
				if err != nil {
					t.Fatalf("PlanChange(%v): %v", spec, err)
				}
				return pl
			}
			if pl := planFor(req.Spec); pl.Action != provider.PlanNoop {
				t.Errorf("plan of the spec it holds: %s %v; want no-op", pl.Action, pl.Paths)
			}
			pl := planFor(map[string]any{"name": "p", "size": provider.Unknown{Expr: "${x.y/z.outputs.n}"}, "zone": "z1"})
			if _, unknown := pl.Outputs["size"].(provider.Unknown); pl.Action != provider.PlanUpdate || !slices.Equal(pl.Paths, []string{"size"}) || !unknown {
				t.Errorf("plan with an unknown size: %s %v, size %#v; want an update of size, unknown", pl.Action, pl.Paths, pl.Outputs["size"])
			}
			pl = planFor(map[string]any{"name": "p", "size": int64(2), "zone": "z2"})
			if _, unknown := pl.Outputs["id"].(provider.Unknown); pl.Action != provider.PlanReplace || !slices.Equal(pl.ReplacePaths, []string{"zone"}) || !unknown {
				t.Errorf("plan of a new zone: %s, replace %v, id %#v; want a replace forced by zone, the new id unknown", pl.Action, pl.ReplacePaths, pl.Outputs["id"])
			}
			if d := cmp.Diff(before, objects(t, dir)); d != "" {
				t.Errorf("PlanChange changed the objects:\n%s", d)
			}
		})
	}
}
