package terraform

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/providers/terraform/internal/testprovider/things"
)

// TestConformance runs the provider conformance suite on
// convergetest.thing, over each protocol. The harness declares no Replaced
// spec: a Terraform schema does not say which attributes force a
// replacement (the plan does), so no field is ForceNew and the suite's
// replace, which relies on ForceNew, does not apply; TestEngineLifecycle
// replaces through the engine, which asks the plan.
func TestConformance(t *testing.T) {
	for _, proto := range protocols {
		t.Run(fmt.Sprintf("protocol%d", proto), func(t *testing.T) {
			providertest.Run(t, func(t *testing.T) providertest.Harness {
				p, dir := startTest(t, proto, nil)
				spec := func(name string) map[string]any {
					return map[string]any{
						"name": name, "size": 2, "secret": "s3cret-of-" + name,
						"tags": map[string]any{"team": name},
						"rule": []any{map[string]any{"port": 80, "protocol": "tcp"}},
					}
				}
				return providertest.Harness{
					Provider: p,
					Kind:     "convergetest.thing",
					Spec:     spec,
					Updated: func(name string) map[string]any {
						s := spec(name)
						s["size"] = 5
						return s
					},
					CreateIdempotent: true,
					Objects:          func(t *testing.T) map[string]any { return objects(t, dir) },
					PartialCreate: func(t *testing.T, _ string) func() {
						fail := filepath.Join(dir, things.FailAfterCreateFile)
						if err := os.WriteFile(fail, nil, 0o644); err != nil {
							t.Fatal(err)
						}
						return func() {
							if err := os.Remove(fail); err != nil {
								t.Error(err)
							}
						}
					},
					Tamper: func(t *testing.T, name string, private map[string]string) {
						tamper(t, dir, private, func(o *things.Object) { o.Size = 99 })
					},
					Failures: []providertest.Failure{
						{Name: "invalid secret, echoed by the provider", Spec: map[string]any{
							"name": "bad", "secret": "white space secret", "passphrase": "a passphrase of words",
						}, Class: provider.ClassTerminal},
						{Name: "invalid port in a block", Spec: map[string]any{
							"name": "bad", "secret": "s3cret-value", "rule": []any{map[string]any{"port": 0}},
						}, Class: provider.ClassTerminal},
						{Name: "wrong type in a block", Spec: map[string]any{
							"name": "bad", "rule": []any{map[string]any{"port": "eighty"}},
						}, Class: provider.ClassTerminal},
						{Name: "unknown kind", Kind: "convergetest.nothing", Spec: map[string]any{"name": "bad"}, Class: provider.ClassTerminal},
					},
				}
			})
		})
	}
}

// objects reads every thing in dir: its file's content by id.
func objects(t testing.TB, dir string) map[string]any {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(p), ".json")] = string(b)
	}
	return out
}

// readObject reads the thing of id in dir.
func readObject(t testing.TB, dir, id string) things.Object {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, id+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var o things.Object
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	return o
}

// stateID is the id in the Terraform state Private holds.
func stateID(t testing.TB, private map[string]string) string {
	t.Helper()
	var st struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(private[keyState]), &st); err != nil || st.ID == "" {
		t.Fatalf("no id in the state of Private %v: %v", private, err)
	}
	return st.ID
}

// tamper changes the thing Private names, out of band.
func tamper(t testing.TB, dir string, private map[string]string, change func(*things.Object)) {
	t.Helper()
	id := stateID(t, private)
	o := readObject(t, dir, id)
	change(&o)
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, id+".json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}
