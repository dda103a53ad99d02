package terraform

import (
	"slices"
	"testing"
)

// TestPluginEnv: a plugin gets the environment a provider reads its
// credentials from, never converge's own settings (the state key, the API
// token).
func TestPluginEnv(t *testing.T) {
	got := pluginEnv([]string{"PATH=/bin", "AWS_SECRET_ACCESS_KEY=aws", "CONVERGE_STATE_KEY=k", "CONVERGE_API_TOKEN=tok", "CONVERGE_STORE=etcd://x", "CONVERGETEST_PROTOCOL=6", "HOME=/root"})
	want := []string{"PATH=/bin", "AWS_SECRET_ACCESS_KEY=aws", "CONVERGETEST_PROTOCOL=6", "HOME=/root"}
	if !slices.Equal(got, want) {
		t.Errorf("pluginEnv = %q; want %q", got, want)
	}
}
