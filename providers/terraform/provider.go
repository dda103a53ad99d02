package terraform

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/secret"
)

// Options say which plugin to run and how.
type Options struct {
	// Name is the kind prefix: the ProviderConfig's metadata.name, such as
	// "random" (kinds random.pet, random.password).
	Name string
	// Type is the provider type of its source: "random" for
	// hashicorp/random. Resource types lose the "<Type>_" prefix in their
	// kinds.
	Type string
	// Source is the provider's address, for messages:
	// "registry.terraform.io/hashicorp/random".
	Source string
	// Path is the plugin executable.
	Path string
	// Logger takes the plugin's logs, at their level, and the adapter's.
	// Nil: none.
	Logger *slog.Logger
	// MemoryLimit, in bytes, is passed to the plugin as GOMEMLIMIT, the Go
	// runtime's soft memory limit (nearly every plugin is a Go program):
	// the plugin collects garbage harder near it rather than grow past
	// it. It is not a hard limit. Zero: none.
	MemoryLimit int64
	// Env is added to the plugin's environment (converge's own), after
	// what converge sets, so it wins: TF_LOG_PROVIDER=TRACE, say.
	Env []string
	// CallTimeout bounds each call to the plugin; zero: 10 minutes.
	CallTimeout time.Duration
	// StartTimeout bounds the plugin's start; zero: 1 minute.
	StartTimeout time.Duration
}

// Private keys: the resource's state as Terraform keeps it.
const (
	keyState   = "state"          // the state, JSON, as in a Terraform state file
	keyVersion = "schema_version" // the schema version of the state
	keyPrivate = "private"        // the provider's private bytes, base64

	// The plan an Update carries out (Planned.Private).
	keyPlanned        = "planned"         // the planned state, msgpack in base64 (it holds unknowns)
	keyPlannedPrivate = "planned_private" // base64
	keyPrior          = "prior"           // the prior state the plan was made from, JSON
	keyPriorPrivate   = "prior_private"   // base64
)

// Provider is one Terraform provider plugin, run as a converge provider:
// one per ProviderConfig. Its kinds are the plugin's resource types, named
// <Name>.<type without the provider's prefix>. It starts the plugin in
// Start, restarts it (and configures it again with the last settings)
// when a call finds it gone, and stops it in Close.
//
// Every method is safe for concurrent use. The object's Terraform state
// lives in the record's Private (sealed at rest: Schema.SealPrivate), so an
// object whose create lost its answer before the engine recorded it is
// not found again (Observe says it does not exist), as with Terraform.
type Provider struct {
	opts   Options
	log    *slog.Logger
	redact *secret.Redactor

	schema   *providerSchema
	protocol int
	types    map[string]string // kind → resource type
	kinds    []string
	schemas  []provider.Schema

	mu       sync.Mutex
	cur      *instance
	config   *cty.Value // the provider configuration of the last Configure
	restarts int
	retired  sync.WaitGroup

	idem  idempotency
	valid validated
}

var (
	_ provider.Provider      = (*Provider)(nil)
	_ provider.Planner       = (*Provider)(nil)
	_ provider.Configurer    = (*Provider)(nil)
	_ provider.ConfigSchemer = (*Provider)(nil)
	_ provider.Validator     = (*Provider)(nil)
	_ provider.Closer        = (*Provider)(nil)
)

// Start starts the plugin at opts.Path, reads its schemas and returns the
// provider. The plugin is configured at the first Configure (or, without
// one, with an empty configuration at the first call that needs it).
func Start(ctx context.Context, opts Options) (*Provider, error) {
	if opts.Name == "" || opts.Path == "" {
		return nil, provider.Terminalf("terraform provider: Name and Path are required")
	}
	if opts.Source == "" {
		opts.Source = opts.Path
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 10 * time.Minute
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = time.Minute
	}
	p := &Provider{opts: opts, redact: secret.New(), types: map[string]string{}}
	base := opts.Logger
	if base == nil {
		base = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p.log = slog.New(secret.Handler(base.Handler(), p.redact.Redact)).With("provider", opts.Name)

	inst, err := p.launch()
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, opts.CallTimeout)
	defer cancel()
	s, err := inst.rpc.getSchema(sctx)
	if err == nil {
		err = p.diagError(ctx, "GetProviderSchema", s.diags)
	}
	if err != nil {
		inst.client.Kill()
		return nil, fmt.Errorf("provider %s (%s): %w", opts.Name, opts.Source, err)
	}
	p.schema, p.protocol, p.cur = s, inst.protocol, inst
	prefix := opts.Type + "_"
	for typ := range s.resources {
		short := typ
		if opts.Type != "" && strings.HasPrefix(typ, prefix) {
			short = strings.TrimPrefix(typ, prefix)
		}
		p.types[opts.Name+"."+short] = typ
	}
	for k := range p.types {
		p.kinds = append(p.kinds, k)
	}
	sort.Strings(p.kinds)
	for _, k := range p.kinds {
		rs := s.resources[p.types[k]]
		outs, sens := rs.block.outputs()
		p.schemas = append(p.schemas, provider.Schema{
			Kind:             k,
			Description:      rs.block.description,
			Fields:           rs.block.fields(),
			Outputs:          outs,
			SensitiveOutputs: sens,
			SealPrivate:      true,
			Unfindable:       true,
		})
	}
	return p, nil
}

// Name returns the kind prefix, Options.Name.
func (p *Provider) Name() string { return p.opts.Name }

// Protocol returns the plugin protocol version in use: 5 or 6.
func (p *Provider) Protocol() int { return p.protocol }

// Kinds returns the kinds of the plugin's resource types, sorted.
func (p *Provider) Kinds() []string { return append([]string(nil), p.kinds...) }

// Schemas describes each resource type: Required attributes are required
// fields, Optional ones (Computed too or not) optional fields, computed-only
// ones outputs only; Sensitive and write-only attributes are sensitive;
// every attribute is an output; nested blocks are lists of maps (single
// ones maps).
func (p *Provider) Schemas() []provider.Schema { return p.schemas }

// ConfigSchema describes spec.config: the provider's own configuration
// block.
func (p *Provider) ConfigSchema() provider.Schema {
	return provider.Schema{
		Kind:        p.opts.Name,
		Description: "settings of " + p.opts.Source,
		Fields:      p.schema.provider.fields(),
	}
}

func (p *Provider) resource(kind string) (string, *resourceSchema, error) {
	typ, ok := p.types[kind]
	if !ok {
		return "", nil, provider.Terminalf("kind %s: not a resource type of %s", kind, p.opts.Source)
	}
	return typ, p.schema.resources[typ], nil
}

// get returns the running plugin, started again when it is gone, and
// configured when configured is set. The caller calls calls.Done.
func (p *Provider) get(ctx context.Context, configured bool) (*instance, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	inst := p.cur
	if inst == nil || inst.dead.Load() {
		if inst != nil {
			p.retire(inst)
			p.cur = nil
		}
		ni, err := p.launch()
		if err != nil {
			return nil, provider.Retryable(err)
		}
		if !p.schema.schemaOptional {
			if _, err := ni.rpc.getSchema(ctx); err != nil {
				ni.client.Kill()
				return nil, provider.Retryable(fmt.Errorf("restart plugin %s: %w", p.opts.Source, err))
			}
		}
		if inst != nil {
			p.restarts++
			p.log.Info("plugin restarted", "source", p.opts.Source, "pid", ni.pid, "restarts", p.restarts)
		}
		p.cur, inst = ni, ni
	}
	if configured && !inst.configured {
		cfg := emptyValue(p.schema.provider)
		if p.config != nil {
			cfg = *p.config
		}
		if err := p.configureInstance(ctx, inst, cfg); err != nil {
			return nil, err
		}
	}
	inst.calls.Add(1)
	return inst, nil
}

// retire stops inst once its calls have returned. p.mu is held.
func (p *Provider) retire(inst *instance) {
	p.retired.Add(1)
	go func() {
		defer p.retired.Done()
		inst.calls.Wait()
		inst.stop(5 * time.Second)
	}()
}

// do makes one call to the plugin. fn returns the transport's error only;
// do classifies it, and marks the plugin gone when it is.
func (p *Provider) do(ctx context.Context, what string, configured, mutating bool, fn func(ctx context.Context, r rpc) error) error {
	inst, err := p.get(ctx, configured)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer inst.calls.Done()
	cctx, cancel := context.WithTimeout(ctx, p.opts.CallTimeout)
	defer cancel()
	err = fn(cctx, inst.rpc)
	if err == nil {
		return nil
	}
	cerr, gone := transportError(ctx, what, err, mutating)
	if gone {
		if inst.dead.CompareAndSwap(false, true) {
			p.log.Warn("plugin gone; it is started again at the next call", "source", p.opts.Source, "pid", inst.pid, "err", err)
		}
	}
	return cerr
}

// Configure validates and configures the provider with s.Config. A
// configuration other than the one the running plugin has starts a new
// plugin process (Terraform never configures one twice); calls in flight
// finish on the old one.
func (p *Provider) Configure(s provider.Settings) error {
	cfg, err := configValue(p.schema.provider, s.Config)
	if err != nil {
		return provider.Terminal(fmt.Errorf("provider %s: spec.config.%w", p.opts.Name, err))
	}
	p.redact.Add(p.schema.provider.sensitiveStrings(cfg, nil)...)
	ctx, cancel := context.WithTimeout(context.Background(), p.opts.CallTimeout)
	defer cancel()

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.config != nil && p.config.RawEquals(cfg) && p.cur != nil && p.cur.configured && !p.cur.dead.Load() {
		return nil
	}
	p.config = &cfg
	inst := p.cur
	if inst == nil || inst.dead.Load() || inst.configured {
		ni, err := p.launch()
		if err != nil {
			return provider.Retryable(err)
		}
		if !p.schema.schemaOptional {
			if _, err := ni.rpc.getSchema(ctx); err != nil {
				ni.client.Kill()
				return provider.Retryable(fmt.Errorf("start plugin %s: %w", p.opts.Source, err))
			}
		}
		if inst != nil {
			p.retire(inst)
		}
		p.cur, inst = ni, ni
	}
	return p.configureInstance(ctx, inst, cfg)
}

// configureInstance validates cfg and configures inst with it. p.mu is
// held.
func (p *Provider) configureInstance(ctx context.Context, inst *instance, cfg cty.Value) error {
	d, err := encode(cfg, p.schema.provider.impliedType())
	if err != nil {
		return provider.Terminal(fmt.Errorf("provider %s: encode its configuration: %w", p.opts.Name, err))
	}
	cctx, cancel := context.WithTimeout(ctx, p.opts.CallTimeout)
	defer cancel()
	diags, err := inst.rpc.validateProviderConfig(cctx, d)
	if err == nil {
		if derr := p.diagError(ctx, "provider "+p.opts.Name+": ValidateProviderConfig", diags); derr != nil {
			return derr
		}
		diags, err = inst.rpc.configure(cctx, d)
	}
	if err != nil {
		inst.dead.Store(true)
		cerr, _ := transportError(ctx, "provider "+p.opts.Name+": ConfigureProvider", err, false)
		return cerr
	}
	if derr := p.diagError(ctx, "provider "+p.opts.Name+": ConfigureProvider", diags); derr != nil {
		return derr
	}
	inst.configured = true
	return nil
}

// Close stops the plugin: StopProvider, then go-plugin's Kill (a graceful
// shutdown, forced after 2s), once the calls in flight have returned. A
// call after Close (an engine run after another, in one process) starts
// the plugin again, configured with the last settings.
func (p *Provider) Close() error {
	p.mu.Lock()
	if p.cur != nil {
		p.retire(p.cur)
		p.cur = nil
	}
	p.mu.Unlock()
	p.retired.Wait()
	return nil
}

// ValidateSpec calls the provider's ValidateResourceConfig with spec, its
// unresolved references (strings holding "${") unknown, and returns its
// error diagnostics as errors of the fields they name.
func (p *Provider) ValidateSpec(kind string, spec map[string]any) []provider.FieldError {
	typ, rs, err := p.resource(kind)
	if err != nil {
		return []provider.FieldError{{Field: "kind", Msg: err.Error()}}
	}
	spec = unresolved(spec).(map[string]any)
	if expanded, err := p.expandEnv(rs, spec); err == nil {
		spec = expanded // ${env:NAME} are unknown already; this undoes $$
	}
	cfg, err := configValue(rs.block, spec)
	if err != nil {
		return []provider.FieldError{fieldError(err)}
	}
	p.redact.Add(rs.block.sensitiveStrings(cfg, nil)...)
	ctx, cancel := context.WithTimeout(context.Background(), p.opts.CallTimeout)
	defer cancel()
	diags, err := p.validate(ctx, typ, rs, cfg)
	if err != nil {
		return []provider.FieldError{{Field: "spec", Msg: p.redact.Redact(err.Error())}}
	}
	var out []provider.FieldError
	for _, d := range diags {
		if !d.err {
			continue
		}
		field := "spec"
		if ps := pathString(d.path); ps != "" {
			field += "." + ps
		}
		d.path = nil
		out = append(out, provider.FieldError{Field: field, Msg: p.redact.Redact(diagText(d))})
	}
	return out
}

func (p *Provider) validate(ctx context.Context, typ string, rs *resourceSchema, cfg cty.Value) ([]diagnostic, error) {
	d, err := encode(cfg, rs.ty)
	if err != nil {
		return nil, provider.Terminal(fmt.Errorf("encode: %w", err))
	}
	sum := sha256.Sum256(append([]byte(typ+"\x00"), d.msgpack...))
	if p.valid.has(sum) {
		return nil, nil
	}
	var diags []diagnostic
	err = p.do(ctx, "ValidateResourceConfig", false, false, func(ctx context.Context, r rpc) error {
		var err error
		diags, err = r.validateResourceConfig(ctx, typ, d)
		return err
	})
	if err == nil && len(diags) == 0 {
		p.valid.add(sum)
	}
	return diags, err
}

// validated remembers the configurations the provider found valid with
// no diagnostic, by hash: validation depends on the configuration alone,
// so the plan of an unchanged spec skips it.
type validated struct {
	mu sync.Mutex
	m  map[[32]byte]bool
}

const validatedKeep = 16384

func (v *validated) has(sum [32]byte) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.m[sum]
}

func (v *validated) add(sum [32]byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil || len(v.m) >= validatedKeep {
		v.m = map[[32]byte]bool{}
	}
	v.m[sum] = true
}

// unresolved returns v with every string holding a reference ("${")
// unknown.
func unresolved(v any) any {
	switch x := v.(type) {
	case string:
		if strings.Contains(x, "${") {
			return provider.Unknown{Expr: x}
		}
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = unresolved(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = unresolved(e)
		}
		return out
	}
	return v
}

func fieldError(err error) provider.FieldError {
	var ve *valueError
	if errors.As(err, &ve) {
		return provider.FieldError{Field: "spec." + ve.path, Msg: ve.msg}
	}
	return provider.FieldError{Field: "spec", Msg: err.Error()}
}

// expandEnv returns spec with the ${env:NAME} of its Env fields (see
// attribute.envField) expanded from the environment; the values used are
// redacted from then on. A variable that is not set is a terminal error.
func (p *Provider) expandEnv(rs *resourceSchema, spec map[string]any) (map[string]any, error) {
	var out map[string]any
	for n, a := range rs.block.attrs {
		s, ok := spec[n].(string)
		if !ok || !a.envField() {
			continue
		}
		x, used, err := provider.ExpandEnv(s, os.LookupEnv)
		if err != nil {
			return nil, provider.Terminal(fmt.Errorf("spec.%s: %w", n, err))
		}
		p.redact.Add(x)
		p.redact.Add(used...)
		if out == nil {
			out = make(map[string]any, len(spec))
			for k, v := range spec {
				out[k] = v
			}
		}
		out[n] = x
	}
	if out == nil {
		return spec, nil
	}
	return out, nil
}

// envState shows, in the observed state of an Env field, the spec's
// template when the object holds what it expands to, so that the engine
// compares like with like.
func (p *Provider) envState(rs *resourceSchema, spec, state map[string]any) {
	for n, a := range rs.block.attrs {
		tmpl, ok := spec[n].(string)
		if !ok || !a.envField() {
			continue
		}
		if x, _, err := provider.ExpandEnv(tmpl, os.LookupEnv); err == nil && state[n] == x {
			state[n] = tmpl
		}
	}
}

// config converts spec to the resource's configuration, which must be
// wholly known (references resolved).
func (p *Provider) configOf(req provider.Request, rs *resourceSchema) (cty.Value, error) {
	spec, err := p.expandEnv(rs, req.Spec)
	if err != nil {
		return cty.NilVal, fmt.Errorf("%s: %w", req.ID, err)
	}
	cfg, err := configValue(rs.block, spec)
	if err != nil {
		return cty.NilVal, provider.Terminal(fmt.Errorf("%s: %w", req.ID, fieldErrorAsError(err)))
	}
	p.redact.Add(rs.block.sensitiveStrings(cfg, nil)...)
	if !cfg.IsWhollyKnown() {
		return cty.NilVal, provider.Terminalf("%s: the spec holds values not known yet", req.ID)
	}
	return cfg, nil
}

func fieldErrorAsError(err error) error {
	fe := fieldError(err)
	return errors.New(fe.Error())
}

// stored is a resource's state as Private keeps it.
type stored struct {
	raw     []byte
	version int64
	private []byte
}

func readStored(priv map[string]string) (stored, bool, error) {
	raw, ok := priv[keyState]
	if !ok || raw == "" {
		return stored{}, false, nil
	}
	s := stored{raw: []byte(raw)}
	if v := priv[keyVersion]; v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return stored{}, false, provider.Terminalf("private %s: %v", keyVersion, err)
		}
		s.version = n
	}
	if b := priv[keyPrivate]; b != "" {
		dec, err := base64.StdEncoding.DecodeString(b)
		if err != nil {
			return stored{}, false, provider.Terminalf("private %s: %v", keyPrivate, err)
		}
		s.private = dec
	}
	return s, true, nil
}

// privateOf is what Private keeps of state.
func privateOf(rs *resourceSchema, state cty.Value, private []byte) (map[string]string, error) {
	raw, err := ctyjson.Marshal(state, rs.ty)
	if err != nil {
		return nil, provider.Terminal(fmt.Errorf("encode the state: %w", err))
	}
	out := map[string]string{keyState: string(raw), keyVersion: strconv.FormatInt(rs.version, 10)}
	if len(private) > 0 {
		out[keyPrivate] = base64.StdEncoding.EncodeToString(private)
	}
	return out, nil
}

// refresh upgrades the stored state to the provider's schema version
// (UpgradeResourceState) and reads the object (ReadResource). A null
// state means the object is gone.
func (p *Provider) refresh(ctx context.Context, id, typ string, rs *resourceSchema, s stored) (cty.Value, []byte, error) {
	var (
		up    dynamic
		diags []diagnostic
	)
	err := p.do(ctx, "UpgradeResourceState", true, false, func(ctx context.Context, r rpc) error {
		var err error
		up, diags, err = r.upgradeResourceState(ctx, typ, s.version, s.raw)
		return err
	})
	if err == nil {
		err = p.diagError(ctx, "UpgradeResourceState", diags)
	}
	if err != nil {
		return cty.NilVal, nil, provider.OpFailed(provider.OpObserve, id, err)
	}
	cur, err := up.decode(rs.ty)
	if err != nil {
		return cty.NilVal, nil, provider.Terminal(provider.OpFailed(provider.OpObserve, id, fmt.Errorf("decode the upgraded state: %w", err)))
	}
	p.redact.Add(rs.block.sensitiveStrings(cur, nil)...)
	return p.read(ctx, id, typ, rs, cur, s.private)
}

func (p *Provider) read(ctx context.Context, id, typ string, rs *resourceSchema, cur cty.Value, private []byte) (cty.Value, []byte, error) {
	d, err := encode(cur, rs.ty)
	if err != nil {
		return cty.NilVal, nil, provider.Terminal(provider.OpFailed(provider.OpObserve, id, err))
	}
	var (
		nd    dynamic
		npriv []byte
		diags []diagnostic
	)
	err = p.do(ctx, "ReadResource", true, false, func(ctx context.Context, r rpc) error {
		var err error
		nd, npriv, diags, err = r.readResource(ctx, typ, d, private)
		return err
	})
	if err == nil {
		err = p.diagError(ctx, "ReadResource", diags)
	}
	if err != nil {
		return cty.NilVal, nil, provider.OpFailed(provider.OpObserve, id, err)
	}
	st, err := nd.decode(rs.ty)
	if err != nil {
		return cty.NilVal, nil, provider.Terminal(provider.OpFailed(provider.OpObserve, id, fmt.Errorf("decode the new state: %w", err)))
	}
	p.redact.Add(rs.block.sensitiveStrings(st, nil)...)
	return st, npriv, nil
}

// observation is what Observe returns of state.
func (p *Provider) observation(rs *resourceSchema, state cty.Value, private []byte) (provider.Observation, error) {
	priv, err := privateOf(rs, state, private)
	if err != nil {
		return provider.Observation{}, err
	}
	return provider.Observation{Exists: true, State: stateView(rs.block, state), Outputs: outputs(rs.block, state), Private: priv}, nil
}

// Observe upgrades the state kept in Private and reads the object. Without
// a state (nothing created, or a create whose answer was lost) the object
// does not exist.
func (p *Provider) Observe(ctx context.Context, req provider.Request) (provider.Observation, error) {
	typ, rs, err := p.resource(req.Kind)
	if err != nil {
		return provider.Observation{}, err
	}
	s, ok, err := readStored(req.Private)
	if err != nil {
		return provider.Observation{}, err
	}
	if !ok {
		if req.ImportID != "" {
			// No state yet: the manifest names the object to take over.
			return p.Import(ctx, req, req.ImportID)
		}
		return provider.Observation{}, nil
	}
	st, priv, err := p.refresh(ctx, req.ID, typ, rs, s)
	if err != nil {
		return provider.Observation{}, err
	}
	if st.IsNull() {
		return provider.Observation{}, nil
	}
	obs, err := p.observation(rs, st, priv)
	if err == nil {
		p.envState(rs, req.Spec, obs.State)
	}
	return obs, err
}

// Import imports the object of importID (ImportResourceState), then reads
// it. An ID the provider finds nothing for is Exists false.
func (p *Provider) Import(ctx context.Context, req provider.Request, importID string) (provider.Observation, error) {
	typ, rs, err := p.resource(req.Kind)
	if err != nil {
		return provider.Observation{}, err
	}
	var (
		ims   []imported
		diags []diagnostic
	)
	err = p.do(ctx, "ImportResourceState", true, false, func(ctx context.Context, r rpc) error {
		var err error
		ims, diags, err = r.importResourceState(ctx, typ, importID)
		return err
	})
	if err == nil {
		err = p.diagError(ctx, "ImportResourceState", diags)
	}
	if err != nil {
		return provider.Observation{}, fmt.Errorf("import %s: %w", req.ID, err)
	}
	for _, im := range ims {
		if im.typeName != typ {
			continue
		}
		cur, err := im.state.decode(rs.ty)
		if err != nil {
			return provider.Observation{}, provider.Terminal(fmt.Errorf("import %s: decode the state: %w", req.ID, err))
		}
		st, priv, err := p.read(ctx, req.ID, typ, rs, cur, im.private)
		if err != nil {
			return provider.Observation{}, err
		}
		if st.IsNull() {
			return provider.Observation{}, nil
		}
		return p.observation(rs, st, priv)
	}
	return provider.Observation{}, nil
}

// plan validates config and plans the change from prior to it
// (PlanResourceChange, with the proposed new state Terraform would send).
func (p *Provider) plan(ctx context.Context, id, typ string, rs *resourceSchema, prior, config cty.Value, priorPrivate []byte) (cty.Value, [][]pathStep, []byte, error) {
	diags, err := p.validate(ctx, typ, rs, config)
	if err == nil {
		err = p.diagError(ctx, "ValidateResourceConfig", diags)
	}
	if err != nil {
		return cty.NilVal, nil, nil, fmt.Errorf("plan %s: %w", id, err)
	}
	proposed := proposedNew(rs.block, prior, config)
	var enc [3]dynamic
	for i, v := range []cty.Value{prior, proposed, config} {
		if enc[i], err = encode(v, rs.ty); err != nil {
			return cty.NilVal, nil, nil, provider.Terminal(fmt.Errorf("plan %s: %w", id, err))
		}
	}
	var (
		pd      dynamic
		replace [][]pathStep
		ppriv   []byte
	)
	err = p.do(ctx, "PlanResourceChange", true, false, func(ctx context.Context, r rpc) error {
		var err error
		pd, replace, ppriv, diags, err = r.planResourceChange(ctx, typ, enc[0], enc[1], enc[2], priorPrivate)
		return err
	})
	if err == nil {
		err = p.diagError(ctx, "PlanResourceChange", diags)
	}
	if err != nil {
		return cty.NilVal, nil, nil, fmt.Errorf("plan %s: %w", id, err)
	}
	planned, err := pd.decode(rs.ty)
	if err != nil {
		return cty.NilVal, nil, nil, provider.Terminal(fmt.Errorf("plan %s: decode the planned state: %w", id, err))
	}
	return planned, replace, ppriv, nil
}

// apply carries out a plan (ApplyResourceChange). The new state comes back
// with the error when the provider returns both (an object made in part).
func (p *Provider) apply(ctx context.Context, id, typ string, rs *resourceSchema, prior, planned, config cty.Value, plannedPrivate []byte) (cty.Value, []byte, error) {
	var enc [3]dynamic
	for i, v := range []cty.Value{prior, planned, config} {
		var err error
		if enc[i], err = encode(v, rs.ty); err != nil {
			return cty.NullVal(rs.ty), nil, provider.Terminal(fmt.Errorf("apply %s: %w", id, err))
		}
	}
	var (
		nd    dynamic
		npriv []byte
		diags []diagnostic
	)
	err := p.do(ctx, "ApplyResourceChange", true, true, func(ctx context.Context, r rpc) error {
		var err error
		nd, npriv, diags, err = r.applyResourceChange(ctx, typ, enc[0], enc[1], enc[2], plannedPrivate)
		return err
	})
	if err != nil {
		return cty.NullVal(rs.ty), nil, fmt.Errorf("apply %s: %w", id, err)
	}
	st, derr := nd.decode(rs.ty)
	if derr != nil {
		return cty.NullVal(rs.ty), nil, provider.Terminal(fmt.Errorf("apply %s: decode the new state: %w", id, derr))
	}
	p.redact.Add(rs.block.sensitiveStrings(st, nil)...)
	if err := p.diagError(ctx, "ApplyResourceChange", diags); err != nil {
		return st, npriv, fmt.Errorf("apply %s: %w", id, err)
	}
	if !st.IsWhollyKnown() {
		return cty.NullVal(rs.ty), nil, provider.Terminalf("apply %s: the provider left values unknown in the new state", id)
	}
	return st, npriv, nil
}

// result is what Create and Update return of a new state.
func (p *Provider) result(rs *resourceSchema, state cty.Value, private []byte) (provider.Result, error) {
	priv, err := privateOf(rs, state, private)
	if err != nil {
		return provider.Result{}, err
	}
	return provider.Result{Outputs: outputs(rs.block, state), Private: priv}, nil
}

// PlanChange plans the change from the object Observe read to req.Spec
// (PlanResourceChange): PlanNoop when the planned state is the prior one,
// PlanReplace when the provider says some paths require it, PlanUpdate
// otherwise. It changes nothing.
func (p *Provider) PlanChange(ctx context.Context, req provider.PlanRequest) (provider.Planned, error) {
	typ, rs, err := p.resource(req.Kind)
	if err != nil {
		return provider.Planned{}, err
	}
	priv := req.Observed.Private
	if priv[keyState] == "" {
		priv = req.Private
	}
	s, ok, err := readStored(priv)
	if err != nil {
		return provider.Planned{}, err
	}
	if !ok {
		return provider.Planned{}, provider.Terminalf("plan %s: no state of the object", req.ID)
	}
	prior, err := ctyjson.Unmarshal(s.raw, rs.ty)
	if err != nil {
		return provider.Planned{}, provider.Terminal(fmt.Errorf("plan %s: decode the state: %w", req.ID, err))
	}
	spec, err := p.expandEnv(rs, req.Spec)
	if err != nil {
		return provider.Planned{}, fmt.Errorf("plan %s: %w", req.ID, err)
	}
	cfg, err := configValue(rs.block, spec)
	if err != nil {
		return provider.Planned{}, provider.Terminal(fmt.Errorf("plan %s: %w", req.ID, fieldErrorAsError(err)))
	}
	p.redact.Add(rs.block.sensitiveStrings(cfg, nil)...)
	planned, replace, ppriv, err := p.plan(ctx, req.ID, typ, rs, prior, cfg, s.private)
	if err != nil {
		return provider.Planned{}, err
	}
	if eq := planned.Equals(prior); eq.IsKnown() && eq.True() && len(replace) == 0 {
		return provider.Planned{Action: provider.PlanNoop}, nil
	}
	out := provider.Planned{Action: provider.PlanUpdate, Paths: changedPaths(rs.block, prior, planned), Outputs: outputs(rs.block, planned)}
	for _, r := range replace {
		out.ReplacePaths = append(out.ReplacePaths, pathString(r))
	}
	if len(out.ReplacePaths) > 0 {
		out.Action = provider.PlanReplace
		sort.Strings(out.ReplacePaths)
		// The new object's outputs are those of a create, as Terraform
		// plans a replacement.
		if created, _, _, err := p.plan(ctx, req.ID, typ, rs, cty.NullVal(rs.ty), cfg, nil); err == nil {
			out.Outputs = outputs(rs.block, created)
		}
	}
	pm, err := marshalMsgpack(planned, rs.ty)
	if err != nil {
		return provider.Planned{}, provider.Terminal(fmt.Errorf("plan %s: %w", req.ID, err))
	}
	out.Private = map[string]string{
		keyPlanned:        base64.StdEncoding.EncodeToString(pm),
		keyPlannedPrivate: base64.StdEncoding.EncodeToString(ppriv),
		keyPrior:          string(s.raw),
		keyPriorPrivate:   base64.StdEncoding.EncodeToString(s.private),
		keyVersion:        strconv.FormatInt(rs.version, 10),
	}
	return out, nil
}

// Create plans the object from a null prior state and applies the plan.
// A second Create with the IdempotencyKey of one that succeeded, in the
// life of this Provider, returns what the first did.
func (p *Provider) Create(ctx context.Context, req provider.Request) (provider.Result, error) {
	if res, ok := p.idem.get(req.IdempotencyKey); ok {
		return res, nil
	}
	typ, rs, err := p.resource(req.Kind)
	if err != nil {
		return provider.Result{}, err
	}
	cfg, err := p.configOf(req, rs)
	if err != nil {
		return provider.Result{}, err
	}
	null := cty.NullVal(rs.ty)
	planned, _, ppriv, err := p.plan(ctx, req.ID, typ, rs, null, cfg, nil)
	if err != nil {
		return provider.Result{}, fmt.Errorf("create: %w", err)
	}
	st, npriv, err := p.apply(ctx, req.ID, typ, rs, null, planned, cfg, ppriv)
	if st.IsNull() {
		if err == nil {
			err = provider.Terminalf("apply %s: the provider returned no object", req.ID)
		}
		return provider.Result{}, fmt.Errorf("create: %w", err)
	}
	res, rerr := p.result(rs, st, npriv)
	if rerr != nil {
		return provider.Result{}, rerr
	}
	if err != nil {
		return res, provider.OpFailed(provider.OpCreate, "(the object was made in part)", err)
	}
	p.idem.put(req.IdempotencyKey, res)
	return res, nil
}

// Update applies the plan PlanChange made (req.Planned), or, without one,
// reads the object, plans again and applies that plan.
func (p *Provider) Update(ctx context.Context, req provider.Request) (provider.Result, error) {
	typ, rs, err := p.resource(req.Kind)
	if err != nil {
		return provider.Result{}, err
	}
	cfg, err := p.configOf(req, rs)
	if err != nil {
		return provider.Result{}, err
	}
	var (
		prior, planned cty.Value
		ppriv          []byte
	)
	if pl := req.Planned; pl != nil && pl.Private[keyPlanned] != "" && pl.Private[keyVersion] == strconv.FormatInt(rs.version, 10) {
		prior, planned, ppriv, err = decodePlan(rs, pl.Private)
		if err != nil {
			return provider.Result{}, provider.OpFailed(provider.OpUpdate, req.ID, err)
		}
	} else {
		s, ok, err := readStored(req.Private)
		if err != nil {
			return provider.Result{}, err
		}
		if !ok {
			return provider.Result{}, provider.Terminal(provider.OpFailed(provider.OpUpdate, req.ID, errors.New("no state of the object")))
		}
		var priorPriv []byte
		prior, priorPriv, err = p.refresh(ctx, req.ID, typ, rs, s)
		if err != nil {
			return provider.Result{}, fmt.Errorf("update: %w", err)
		}
		if prior.IsNull() {
			return provider.Result{}, provider.Retryable(provider.OpFailed(provider.OpUpdate, req.ID, errors.New("the object is gone")))
		}
		var replace [][]pathStep
		planned, replace, ppriv, err = p.plan(ctx, req.ID, typ, rs, prior, cfg, priorPriv)
		if err != nil {
			return provider.Result{}, fmt.Errorf("update: %w", err)
		}
		if len(replace) > 0 {
			var paths []string
			for _, r := range replace {
				paths = append(paths, pathString(r))
			}
			return provider.Result{}, provider.Terminal(provider.OpFailed(provider.OpUpdate, req.ID, fmt.Errorf("the change of %s requires a replacement", strings.Join(paths, ", "))))
		}
		if eq := planned.Equals(prior); eq.IsKnown() && eq.True() {
			return p.result(rs, prior, priorPriv)
		}
	}
	st, npriv, err := p.apply(ctx, req.ID, typ, rs, prior, planned, cfg, ppriv)
	if st.IsNull() {
		if err == nil {
			err = provider.Terminalf("apply %s: the provider returned no object", req.ID)
		}
		return provider.Result{}, fmt.Errorf("update: %w", err)
	}
	res, rerr := p.result(rs, st, npriv)
	if rerr != nil {
		return provider.Result{}, rerr
	}
	if err != nil {
		return res, provider.OpFailed(provider.OpUpdate, "(the object was changed in part)", err)
	}
	return res, nil
}

func decodePlan(rs *resourceSchema, priv map[string]string) (prior, planned cty.Value, plannedPrivate []byte, err error) {
	pm, err := base64.StdEncoding.DecodeString(priv[keyPlanned])
	if err == nil {
		planned, err = unmarshalMsgpack(pm, rs.ty)
	}
	if err == nil {
		prior, err = ctyjson.Unmarshal([]byte(priv[keyPrior]), rs.ty)
	}
	if err == nil {
		plannedPrivate, err = base64.StdEncoding.DecodeString(priv[keyPlannedPrivate])
	}
	if err != nil {
		return cty.NilVal, cty.NilVal, nil, provider.Terminal(fmt.Errorf("decode the plan: %w", err))
	}
	return prior, planned, plannedPrivate, nil
}

// Delete reads the object, plans its destruction and applies it. An object
// already gone, or never made, is deleted.
func (p *Provider) Delete(ctx context.Context, req provider.Request) error {
	typ, rs, err := p.resource(req.Kind)
	if err != nil {
		return err
	}
	s, ok, err := readStored(req.Private)
	if err != nil || !ok {
		return err
	}
	prior, priv, err := p.refresh(ctx, req.ID, typ, rs, s)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if prior.IsNull() {
		return nil
	}
	null := cty.NullVal(rs.ty)
	planned, ppriv := null, priv
	if p.schema.planDestroy {
		if planned, _, ppriv, err = p.planDestroy(ctx, req.ID, typ, rs, prior, priv); err != nil {
			return fmt.Errorf("delete: %w", err)
		}
	}
	if _, _, err := p.apply(ctx, req.ID, typ, rs, prior, planned, null, ppriv); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	return nil
}

// planDestroy plans the destruction of prior: a null proposed state.
func (p *Provider) planDestroy(ctx context.Context, id, typ string, rs *resourceSchema, prior cty.Value, priorPrivate []byte) (cty.Value, [][]pathStep, []byte, error) {
	null := cty.NullVal(rs.ty)
	var enc [2]dynamic
	var err error
	if enc[0], err = encode(prior, rs.ty); err != nil {
		return null, nil, nil, provider.Terminal(err)
	}
	if enc[1], err = encode(null, rs.ty); err != nil {
		return null, nil, nil, provider.Terminal(err)
	}
	var (
		pd    dynamic
		ppriv []byte
		diags []diagnostic
	)
	err = p.do(ctx, "PlanResourceChange", true, false, func(ctx context.Context, r rpc) error {
		var err error
		pd, _, ppriv, diags, err = r.planResourceChange(ctx, typ, enc[0], enc[1], enc[1], priorPrivate)
		return err
	})
	if err == nil {
		err = p.diagError(ctx, "PlanResourceChange", diags)
	}
	if err != nil {
		return null, nil, nil, fmt.Errorf("plan %s: %w", id, err)
	}
	planned, err := pd.decode(rs.ty)
	if err != nil {
		return null, nil, nil, provider.Terminal(fmt.Errorf("plan %s: %w", id, err))
	}
	return planned, nil, ppriv, nil
}

// idempotency remembers the results of the last creates by key.
type idempotency struct {
	mu   sync.Mutex
	m    map[string]provider.Result
	keys []string
}

const idempotencyKeep = 4096

func (c *idempotency) get(key string) (provider.Result, bool) {
	if key == "" {
		return provider.Result{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[key]
	return r, ok
}

func (c *idempotency) put(key string, r provider.Result) {
	if key == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]provider.Result{}
	}
	if _, ok := c.m[key]; !ok {
		c.keys = append(c.keys, key)
	}
	c.m[key] = r
	for len(c.keys) > idempotencyKeep {
		delete(c.m, c.keys[0])
		c.keys = c.keys[1:]
	}
}
