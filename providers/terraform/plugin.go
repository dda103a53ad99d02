package terraform

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// Handshake is Terraform's: plugins check the cookie before they serve.
var handshake = plugin.HandshakeConfig{
	ProtocolVersion:  4, // the protocol versions negotiated are VersionedPlugins'
	MagicCookieKey:   "TF_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2",
}

// terraformVersion is what converge tells providers it is, in
// ConfigureProvider: the Terraform release whose protocol features it
// uses (write-only attributes came with 1.11).
const terraformVersion = "1.11.0"

// grpcProvider is the client side of the plugin "provider" of one
// protocol version.
type grpcProvider struct {
	plugin.NetRPCUnsupportedPlugin
	version int
}

func (g *grpcProvider) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("converge only runs providers")
}

func (g *grpcProvider) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (interface{}, error) {
	if g.version == 5 {
		return newRPC5(conn), nil
	}
	return newRPC6(conn), nil
}

// instance is one running plugin process.
type instance struct {
	client   *plugin.Client
	rpc      rpc
	protocol int
	pid      int
	// configured says ConfigureProvider succeeded on this process.
	configured bool
	// dead says a call found the plugin gone: the next call starts another.
	dead atomic.Bool
	// calls counts the calls in flight, so that a replaced instance is
	// stopped only after them.
	calls sync.WaitGroup
}

// pluginEnv is the environment a plugin gets of converge's: all of it (a
// provider reads its credentials there, as under Terraform) but converge's
// own settings, CONVERGE_*, which hold the state key and the API token:
// a plugin is another program, and has no use for them.
func pluginEnv(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "CONVERGE_") {
			out = append(out, kv)
		}
	}
	return out
}

// launch starts the plugin and connects to it.
func (p *Provider) launch() (*instance, error) {
	cmd := exec.Command(p.opts.Path)
	env := append(pluginEnv(os.Environ()), "TF_LOG_PROVIDER="+tfLogLevel(p.log))
	env = append(env, p.opts.Env...)
	if p.opts.MemoryLimit > 0 {
		// The Go runtime's soft limit: Go plugins (nearly all) collect
		// garbage harder as they near it.
		env = append(env, "GOMEMLIMIT="+strconv.FormatInt(p.opts.MemoryLimit, 10))
	}
	cmd.Env = env
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: handshake,
		VersionedPlugins: map[int]plugin.PluginSet{
			5: {"provider": &grpcProvider{version: 5}},
			6: {"provider": &grpcProvider{version: 6}},
		},
		Cmd:              cmd,
		SkipHostEnv:      true, // cmd.Env holds it, so that Options.Env wins
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           newHCLogger(p.log),
		StartTimeout:     p.opts.StartTimeout,
	})
	cp, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("start plugin %s (%s): %w", p.opts.Source, p.opts.Path, err)
	}
	raw, err := cp.Dispense("provider")
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("start plugin %s: %w", p.opts.Source, err)
	}
	r, ok := raw.(rpc)
	if !ok {
		client.Kill()
		return nil, fmt.Errorf("start plugin %s: unexpected client %T", p.opts.Source, raw)
	}
	inst := &instance{client: client, rpc: r, protocol: client.NegotiatedVersion()}
	if rc := client.ReattachConfig(); rc != nil {
		inst.pid = rc.Pid
	}
	p.log.Debug("plugin started", "source", p.opts.Source, "protocol", inst.protocol, "pid", inst.pid)
	return inst, nil
}

// stop asks the plugin to stop what it does, then ends it (go-plugin
// waits 2s for it to exit before it kills it).
func (inst *instance) stop(grace time.Duration) {
	if !inst.dead.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		_ = inst.rpc.stop(ctx)
		cancel()
	}
	inst.client.Kill()
}

// pid is the running plugin's process id; 0 when none runs.
func (p *Provider) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return 0
	}
	return p.cur.pid
}

// restartCount is how many times a plugin found gone was started again.
func (p *Provider) restartCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
}
