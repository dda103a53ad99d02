package install

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/convergehq/converge/provider"
)

func TestParseSource(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    string
		wantErr string
	}{
		"two parts imply the registry": {in: "hashicorp/random", want: "registry.terraform.io/hashicorp/random"},
		"three parts":                  {in: "example.com/acme/widget", want: "example.com/acme/widget"},
		"upper case is lowered":        {in: "Registry.Terraform.io/HashiCorp/Random", want: "registry.terraform.io/hashicorp/random"},
		"host with port":               {in: "localhost:8443/acme/widget", want: "localhost:8443/acme/widget"},
		"dashes inside":                {in: "my-org/my-thing", want: "registry.terraform.io/my-org/my-thing"},
		"spaces around":                {in: "  hashicorp/random ", want: "registry.terraform.io/hashicorp/random"},
		"empty":                        {in: "", wantErr: "empty"},
		"empty type":                   {in: "hashicorp/", wantErr: "type: empty"},
		"empty namespace":              {in: "/random", wantErr: "namespace: empty"},
		"four parts":                   {in: "a/b/c/d", wantErr: "has 4 parts"},
		"one part":                     {in: "random", wantErr: "has 1 parts"},
		"bad character":                {in: "hashicorp/ran_dom", wantErr: `only letters, digits and dashes`},
		"leading dash":                 {in: "hashicorp/-random", wantErr: "starts or ends with a dash"},
		"redundant prefix":             {in: "hashicorp/terraform-provider-random", wantErr: "write hashicorp/random"},
		"bad host":                     {in: "exa mple.com/a/b", wantErr: "host:"},
		"bad port":                     {in: "example.com:x/a/b", wantErr: "bad port"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseSource(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseSource(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.wantErr)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("error %v does not wrap ErrInvalid", err)
				}
				if c, _ := provider.Classify(err); c != provider.ClassTerminal {
					t.Errorf("error class %v, want terminal", c)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSource(%q): %v", tc.in, err)
			}
			if got.String() != tc.want {
				t.Errorf("ParseSource(%q) = %s; want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestSourceJSON(t *testing.T) {
	b, err := json.Marshal(struct{ S Source }{random})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"S":"registry.terraform.io/hashicorp/random"}` {
		t.Errorf("json: %s", b)
	}
	var back struct{ S Source }
	if err := json.Unmarshal([]byte(`{"S":"HashiCorp/Random"}`), &back); err != nil || back.S != random {
		t.Errorf("unmarshal: %v, %v", back.S, err)
	}
	if err := json.Unmarshal([]byte(`{"S":"a/b/c/d"}`), &back); !errors.Is(err, ErrInvalid) {
		t.Errorf("unmarshal of a bad source: %v", err)
	}
}
