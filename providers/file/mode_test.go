package file

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/convergehq/converge/provider"
)

func TestNormalizeMode(t *testing.T) {
	tests := []struct {
		name    string
		in      any
		want    any
		wantErr string // substring; empty means success
	}{
		{name: "canonical string", in: "0644", want: "0644"},
		{name: "three digits", in: "644", want: "0644"},
		{name: "0o prefix", in: "0o644", want: "0644"},
		{name: "0O prefix", in: "0O750", want: "0750"},
		{name: "setgid directory", in: "2775", want: "2775"},
		{name: "setuid with leading zero", in: "04755", want: "4755"},
		{name: "zero", in: "0", want: "0000"},
		{name: "max", in: "7777", want: "7777"},
		{name: "int is the numeric mode", in: 420, want: "0644"},
		{name: "int64", in: int64(0o755), want: "0755"},
		{name: "integral float from JSON", in: float64(0o600), want: "0600"},
		{name: "int with special bits", in: 0o4755, want: "4755"},
		{name: "small int", in: 0, want: "0000"},
		{name: "string too large", in: "10000", wantErr: "larger than 07777"},
		{name: "int too large", in: 0o10000, wantErr: "larger than 07777"},
		{name: "non-octal digit", in: "0800", wantErr: "not an octal number"},
		{name: "letters", in: "rw-r--r--", wantErr: "not an octal number"},
		{name: "empty", in: "", wantErr: "not an octal number"},
		{name: "bare prefix", in: "0o", wantErr: "not an octal number"},
		{name: "sign", in: "+644", wantErr: "not an octal number"},
		{name: "space", in: " 644", wantErr: "not an octal number"},
		{name: "negative", in: -1, wantErr: "negative"},
		{name: "fractional", in: 6.5, wantErr: "not an integer"},
		{name: "unquoted three-digit decimal", in: 644, wantErr: "ambiguous"},
		{name: "lowest ambiguous", in: 512, wantErr: "ambiguous"},
		{name: "highest ambiguous", in: 999, wantErr: "ambiguous"},
		{name: "below ambiguous range", in: 511, want: "0777"},
		{name: "above ambiguous range", in: 1000, want: "1750"},
		{name: "bool", in: true, wantErr: "must be an octal string"},
		{name: "null", in: nil, wantErr: "null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeMode(tt.in)
			checkErr(t, err, tt.wantErr)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("NormalizeMode(%#v) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// TestNormalizeModeYAML checks the rule against what gopkg.in/yaml.v3 makes
// of modes as users write them.
func TestNormalizeModeYAML(t *testing.T) {
	tests := []struct {
		yaml    string
		want    any
		wantErr string
	}{
		{yaml: `mode: "0644"`, want: "0644"},
		{yaml: `mode: '644'`, want: "0644"},
		{yaml: `mode: 0644`, want: "0644"},  // YAML reads 420
		{yaml: `mode: 0o644`, want: "0644"}, // YAML reads 420
		{yaml: `mode: 0755`, want: "0755"},
		{yaml: `mode: 02775`, want: "2775"},
		{yaml: `mode: 644`, wantErr: "ambiguous"}, // YAML reads decimal 644
		{yaml: `mode: 755`, wantErr: "ambiguous"},
		{yaml: `mode: 0800`, wantErr: "ambiguous"}, // YAML reads decimal 800
		{yaml: `mode: 01750`, want: "1750"},        // 1000, the smallest unambiguous special mode
		{yaml: `mode: 10644`, wantErr: "larger than 07777"},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			var doc map[string]any
			if err := yaml.Unmarshal([]byte(tt.yaml), &doc); err != nil {
				t.Fatalf("yaml.Unmarshal(%q): %v", tt.yaml, err)
			}
			got, err := NormalizeMode(provider.Canonical(doc["mode"]))
			checkErr(t, err, tt.wantErr)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("NormalizeMode(yaml %q = %#v) mismatch (-want +got):\n%s", tt.yaml, doc["mode"], diff)
			}
		})
	}
}

func TestModeBitsRoundTrip(t *testing.T) {
	for _, m := range []uint32{0, 0o644, 0o755, 0o1777, 0o2775, 0o4755, 0o7777} {
		if got := modeBits(fileMode(m)); got != m {
			t.Errorf("modeBits(fileMode(%04o)) = %04o; want %04o", m, got, m)
		}
	}
}

// checkErr fails t unless err matches want: nil for "", else containing it.
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Fatalf("got no error; want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("got error %q; want one containing %q", err, want)
	}
}
