package main

import (
	"strings"
	"testing"
)

// TestDeclaredProviders: a ProviderConfig's spec.source makes another
// instance of a built-in provider, whose kinds are named after the
// ProviderConfig; what cannot be started is an error at the
// ProviderConfig's file and line.
func TestDeclaredProviders(t *testing.T) {
	tests := map[string]struct {
		manifest string
		code     int
		want     string
	}{
		"another postgres": {
			manifest: "kind: ProviderConfig\nmetadata: {name: analytics}\nspec:\n  source: postgres\n  config: {dsn: \"${env:ANALYTICS_DSN}\"}\n---\nkind: analytics.Role\nmetadata: {name: reader}\nspec: {login: true}\n---\nkind: postgres.Role\nmetadata: {name: reader}\nspec: {login: true}\n",
			want:     "2 resources are valid",
		},
		"a built-in name": {
			manifest: "kind: ProviderConfig\nmetadata: {name: file}\nspec: {source: postgres}\n",
			code:     1, want: `m.yaml:1: ProviderConfig/file: metadata.name: "file" is a built-in provider: name the ProviderConfig of postgres otherwise (its kinds are NAME.Kind)`,
		},
		"a provider without instances": {
			manifest: "kind: ProviderConfig\nmetadata: {name: other}\nspec: {source: file}\n",
			code:     1, want: `m.yaml:1: ProviderConfig/other: spec.source: "file" is neither a built-in provider that can have instances (postgres) nor a Terraform provider's source (NAMESPACE/TYPE, such as hashicorp/random)`,
		},
		"a version for a built-in": {
			manifest: "kind: ProviderConfig\nmetadata: {name: other}\nspec: {source: postgres, version: \"1.0\"}\n",
			code:     1, want: "m.yaml:1: ProviderConfig/other: spec.version: applies to Terraform providers only; postgres is built into converge",
		},
		"a name that cannot prefix kinds": {
			manifest: "kind: ProviderConfig\nmetadata: {name: Big.Name}\nspec: {source: postgres}\n",
			code:     1, want: `metadata.name: "Big.Name" cannot prefix kinds`,
		},
		"a Terraform provider not installed": {
			manifest: "kind: ProviderConfig\nmetadata: {name: random}\nspec: {source: hashicorp/random, version: \"~> 3.6\"}\n",
			code:     1, want: "m.yaml:1: ProviderConfig/random: spec.source:",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.write(map[string]string{"m.yaml": tc.manifest})
			r := cli(nil, "validate", "-f", e.manifests, "--root", e.root, "--plugin-dir", t.TempDir())
			got := r.stdout + r.stderr
			if r.code != tc.code || !strings.Contains(strings.ReplaceAll(got, e.manifests+"/", ""), tc.want) {
				t.Errorf("validate: exit %d; want %d and %q in\n%s", r.code, tc.code, tc.want, got)
			}
		})
	}
}
