package terraform

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/providers/terraform/internal/testprovider/things"
)

// pluginPath is the convergetest plugin, built once per test binary.
var pluginPath string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "convergetest-plugin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	pluginPath = filepath.Join(dir, "terraform-provider-convergetest")
	cmd := exec.Command("go", "build", "-o", pluginPath, "./internal/testprovider/cmd/terraform-provider-convergetest")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build the test provider:", err)
		return 1
	}
	return m.Run()
}

// protocols are the plugin protocols the tests run on.
var protocols = []int{5, 6}

// startOpts are the options of the test provider on protocol proto.
func startOpts(proto int, logger *slog.Logger) Options {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return Options{
		Name: "convergetest", Type: "convergetest", Source: "registry.terraform.io/convergehq/convergetest",
		Path: pluginPath, Logger: logger, Env: []string{fmt.Sprintf("%s=%d", things.ProtocolEnv, proto)},
	}
}

// startTest starts the test provider on protocol proto, configured with a
// new directory, which it returns; Close runs at cleanup.
func startTest(t testing.TB, proto int, logger *slog.Logger) (*Provider, string) {
	t.Helper()
	p, err := Start(context.Background(), startOpts(proto, logger))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	if got := p.Protocol(); got != proto {
		t.Fatalf("Protocol() = %d; want %d", got, proto)
	}
	dir := t.TempDir()
	if err := p.Configure(provider.Settings{Config: map[string]any{"dir": dir}}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return p, dir
}
