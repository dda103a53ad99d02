package manifest

import "testing"

func TestEnvIsNotAReference(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    string // the literal text
		wantErr bool
	}{
		"whole":       {in: "${env:API_TOKEN}", want: "${env:API_TOKEN}"},
		"inside":      {in: "Bearer ${env:API_TOKEN}", want: "Bearer ${env:API_TOKEN}"},
		"bad name":    {in: "${env:API-TOKEN}", wantErr: true},
		"empty name":  {in: "${env:}", wantErr: true},
		"digit first": {in: "${env:1X}", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			parts, hasRef, err := parseTemplate(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseTemplate(%q) error = %v; want error %v", tc.in, err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if hasRef {
				t.Errorf("parseTemplate(%q) found a reference", tc.in)
			}
			var got string
			for _, p := range parts {
				got += p.lit
			}
			if got != tc.want {
				t.Errorf("literal = %q; want %q", got, tc.want)
			}
		})
	}
}
