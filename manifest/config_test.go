package manifest

import (
	"errors"
	"fmt"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/provider"
)

// schemedProvider is a fakeProvider with settings of its own.
type schemedProvider struct {
	fakeProvider
}

var _ provider.ConfigSchemer = (*schemedProvider)(nil)

func (p *schemedProvider) ConfigSchema() provider.Schema {
	return provider.Schema{Fields: map[string]provider.Field{
		"baseURL": {Type: provider.String, Validate: func(v any) error {
			u, err := url.Parse(v.(string))
			if err != nil || u.Scheme != "http" && u.Scheme != "https" {
				return fmt.Errorf("must be an http or https URL")
			}
			return nil
		}},
		"retries": {Type: provider.Int},
		"token":   {Type: provider.String, Sensitive: true},
	}}
}

// configRegistry has a cloud provider with a ConfigSchema and a net
// provider without one.
func configRegistry(t *testing.T) *provider.Registry {
	t.Helper()
	cloud := &schemedProvider{fakeProvider{name: "cloud", schemas: []provider.Schema{{Kind: "cloud.Net", Fields: map[string]provider.Field{"cidr": {Type: provider.String}}, Outputs: []string{"id"}}}}}
	net := &fakeProvider{name: "net", schemas: []provider.Schema{{Kind: "net.Port", Fields: map[string]provider.Field{"number": {Type: provider.Int}}}}}
	reg, err := provider.NewRegistry(cloud, net)
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	return reg
}

func TestProviderConfigSettings(t *testing.T) {
	in := "kind: ProviderConfig\nmetadata: {name: cloud}\nspec:\n  qps: 5\n  config:\n    baseURL: ${env:CLOUD_URL}\n    token: \"$${not} ${env:TOKEN}\"\n    retries: 3\n"
	rv, err := LoadBytes(map[string][]byte{"a.yaml": []byte(in)}, configRegistry(t))
	if err != nil {
		t.Fatalf("LoadBytes: %v", err)
	}
	want := map[string]any{"baseURL": "${env:CLOUD_URL}", "token": "$${not} ${env:TOKEN}", "retries": int64(3)}
	if diff := cmp.Diff(want, rv.ProviderConfigs["cloud"].Config); diff != "" {
		t.Errorf("Config mismatch (-want +got):\n%s", diff)
	}

	// The settings are part of the desired state: another value is
	// another revision; the environment is not.
	other, err := LoadBytes(map[string][]byte{"a.yaml": []byte(in[:len(in)-2] + "4\n")}, configRegistry(t))
	if err != nil {
		t.Fatalf("LoadBytes: %v", err)
	}
	if other.Hash == rv.Hash {
		t.Errorf("revisions with retries 3 and 4 have the same hash %s", rv.Hash)
	}

	env := map[string]string{"CLOUD_URL": "http://127.0.0.1:1"}
	got, errs := ExpandConfig(rv.ProviderConfigs["cloud"].Config, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	wantErr := "spec.config.token: environment variable TOKEN is not set"
	if len(errs) != 1 || errs[0].Error() != wantErr {
		t.Errorf("ExpandConfig errors = %v; want [%s]", errs, wantErr)
	}
	if diff := cmp.Diff(map[string]any{"baseURL": "http://127.0.0.1:1", "retries": int64(3)}, got); diff != "" {
		t.Errorf("ExpandConfig mismatch (-want +got):\n%s", diff)
	}
	env["TOKEN"] = "s3cret"
	got, errs = ExpandConfig(rv.ProviderConfigs["cloud"].Config, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if len(errs) != 0 || got["token"] != "${not} s3cret" {
		t.Errorf("ExpandConfig token = %q, %v; want %q", got["token"], errs, "${not} s3cret")
	}
	if rv.ProviderConfigs["cloud"].Config["token"] != "$${not} ${env:TOKEN}" {
		t.Errorf("ExpandConfig modified the revision's config: %v", rv.ProviderConfigs["cloud"].Config)
	}
}

func TestProviderConfigSettingsErrors(t *testing.T) {
	tests := map[string]struct {
		in   string
		want ErrorList
	}{
		"unknown key with a suggestion": {
			in: "kind: ProviderConfig\nmetadata: {name: cloud}\nspec:\n  config:\n    baseUrl: http://x\n    colour: red\n",
			want: ErrorList{
				{File: "a.yaml", Line: 5, Resource: "ProviderConfig/cloud", Field: "spec.config.baseUrl", Msg: `unknown setting of provider "cloud": did you mean baseURL? (known: baseURL, retries, token)`},
				{File: "a.yaml", Line: 6, Resource: "ProviderConfig/cloud", Field: "spec.config.colour", Msg: `unknown setting of provider "cloud" (known: baseURL, retries, token)`},
			},
		},
		"wrong type and invalid value": {
			in: "kind: ProviderConfig\nmetadata: {name: cloud}\nspec:\n  config:\n    baseURL: ftp://x\n    retries: lots\n",
			want: ErrorList{
				{File: "a.yaml", Line: 5, Resource: "ProviderConfig/cloud", Field: "spec.config.baseURL", Msg: "must be an http or https URL"},
				{File: "a.yaml", Line: 6, Resource: "ProviderConfig/cloud", Field: "spec.config.retries", Msg: "must be a int, got string"},
			},
		},
		"reference in config": {
			in: "kind: cloud.Net\nmetadata: {name: n}\nspec: {cidr: 10.0.0.0/8}\n---\nkind: ProviderConfig\nmetadata: {name: cloud}\nspec:\n  config:\n    baseURL: http://${cloud.Net/n.outputs.id}\n",
			want: ErrorList{
				{File: "a.yaml", Line: 9, Resource: "ProviderConfig/cloud", Field: "spec.config.baseURL", Msg: "references (${cloud.Net/n.outputs.id}) are not allowed in a ProviderConfig: its settings are known before any resource is; use ${env:NAME} for a value from the environment"},
			},
		},
		"provider without a config schema": {
			in: "kind: ProviderConfig\nmetadata: {name: net}\nspec:\n  config:\n    port: 1\n",
			want: ErrorList{
				{File: "a.yaml", Line: 4, Resource: "ProviderConfig/net", Field: "spec.config", Msg: `provider "net" takes no settings of its own: spec.config must be empty`},
			},
		},
		"config not a map": {
			in:   "kind: ProviderConfig\nmetadata: {name: cloud}\nspec:\n  config: [1]\n",
			want: ErrorList{{File: "a.yaml", Line: 4, Resource: "ProviderConfig/cloud", Field: "spec.config", Msg: "must be a map, got a list"}},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			rv, err := LoadBytes(map[string][]byte{"a.yaml": []byte(tt.in)}, configRegistry(t))
			var got ErrorList
			if !errors.As(err, &got) {
				t.Fatalf("LoadBytes() = %v, %v; want an ErrorList", rv, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProviderConfigEmptySettingsNeedNoSchema(t *testing.T) {
	in := "kind: ProviderConfig\nmetadata: {name: net}\nspec:\n  qps: 1\n  config: {}\n"
	if _, err := LoadBytes(map[string][]byte{"a.yaml": []byte(in)}, configRegistry(t)); err != nil {
		t.Errorf("LoadBytes: %v", err)
	}
}
