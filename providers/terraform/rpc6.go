package terraform

import (
	"context"

	"google.golang.org/grpc"

	"github.com/convergehq/converge/providers/terraform/internal/tfplugin6"
)

// rpc6 speaks protocol 6.
type rpc6 struct {
	c tfplugin6.ProviderClient
}

func newRPC6(conn grpc.ClientConnInterface) *rpc6 { return &rpc6{c: tfplugin6.NewProviderClient(conn)} }

var caps6 = &tfplugin6.ClientCapabilities{WriteOnlyAttributesAllowed: true}

func dyn6(d dynamic) *tfplugin6.DynamicValue {
	return &tfplugin6.DynamicValue{Msgpack: d.msgpack, Json: d.json}
}

func fromDyn6(d *tfplugin6.DynamicValue) dynamic {
	if d == nil {
		return dynamic{}
	}
	return dynamic{msgpack: d.Msgpack, json: d.Json}
}

func diags6(ds []*tfplugin6.Diagnostic) []diagnostic {
	out := make([]diagnostic, 0, len(ds))
	for _, d := range ds {
		out = append(out, diagnostic{
			err:     d.Severity == tfplugin6.Diagnostic_ERROR,
			summary: d.Summary, detail: d.Detail,
			path: path6(d.Attribute),
		})
	}
	return out
}

func path6(p *tfplugin6.AttributePath) []pathStep {
	if p == nil {
		return nil
	}
	out := make([]pathStep, 0, len(p.Steps))
	for _, s := range p.Steps {
		switch sel := s.Selector.(type) {
		case *tfplugin6.AttributePath_Step_AttributeName:
			out = append(out, pathStep{name: sel.AttributeName})
		case *tfplugin6.AttributePath_Step_ElementKeyString:
			k := sel.ElementKeyString
			out = append(out, pathStep{key: &k})
		case *tfplugin6.AttributePath_Step_ElementKeyInt:
			i := sel.ElementKeyInt
			out = append(out, pathStep{index: &i})
		}
	}
	return out
}

func block6(b *tfplugin6.Schema_Block) (*block, error) {
	out := &block{attrs: map[string]*attribute{}, blocks: map[string]*nestedBlock{}}
	if b == nil {
		return out, nil
	}
	out.description = b.Description
	attrs, err := attributes6(b.Attributes)
	if err != nil {
		return nil, err
	}
	out.attrs = attrs
	for _, nb := range b.BlockTypes {
		inner, err := block6(nb.Block)
		if err != nil {
			return nil, err
		}
		out.blocks[nb.TypeName] = &nestedBlock{block: inner, nesting: nesting(nb.Nesting), minItems: nb.MinItems, maxItems: nb.MaxItems}
	}
	return out, nil
}

func attributes6(as []*tfplugin6.Schema_Attribute) (map[string]*attribute, error) {
	out := make(map[string]*attribute, len(as))
	for _, a := range as {
		at := &attribute{
			required: a.Required, optional: a.Optional, computed: a.Computed,
			sensitive: a.Sensitive, writeOnly: a.WriteOnly, description: a.Description,
		}
		if a.NestedType != nil {
			inner, err := attributes6(a.NestedType.Attributes)
			if err != nil {
				return nil, err
			}
			at.nested = &object{attrs: inner, nesting: nesting(a.NestedType.Nesting)}
		} else if err := at.typ.UnmarshalJSON(a.Type); err != nil {
			return nil, err
		}
		out[a.Name] = at
	}
	return out, nil
}

func (r *rpc6) getSchema(ctx context.Context) (*providerSchema, error) {
	resp, err := r.c.GetProviderSchema(ctx, &tfplugin6.GetProviderSchema_Request{})
	if err != nil {
		return nil, err
	}
	out := &providerSchema{resources: map[string]*resourceSchema{}, diags: diags6(resp.Diagnostics)}
	if resp.ServerCapabilities != nil {
		out.schemaOptional = resp.ServerCapabilities.GetProviderSchemaOptional
		out.planDestroy = resp.ServerCapabilities.PlanDestroy
	}
	if resp.Provider != nil {
		if out.provider, err = block6(resp.Provider.Block); err != nil {
			return nil, err
		}
	} else {
		out.provider, _ = block6(nil)
	}
	for name, s := range resp.ResourceSchemas {
		b, err := block6(s.Block)
		if err != nil {
			return nil, err
		}
		out.resources[name] = newResourceSchema(s.Version, b)
	}
	return out, nil
}

func (r *rpc6) validateProviderConfig(ctx context.Context, config dynamic) ([]diagnostic, error) {
	resp, err := r.c.ValidateProviderConfig(ctx, &tfplugin6.ValidateProviderConfig_Request{Config: dyn6(config)})
	if err != nil {
		return nil, err
	}
	return diags6(resp.Diagnostics), nil
}

func (r *rpc6) configure(ctx context.Context, config dynamic) ([]diagnostic, error) {
	resp, err := r.c.ConfigureProvider(ctx, &tfplugin6.ConfigureProvider_Request{TerraformVersion: terraformVersion, Config: dyn6(config), ClientCapabilities: caps6})
	if err != nil {
		return nil, err
	}
	return diags6(resp.Diagnostics), nil
}

func (r *rpc6) validateResourceConfig(ctx context.Context, typeName string, config dynamic) ([]diagnostic, error) {
	resp, err := r.c.ValidateResourceConfig(ctx, &tfplugin6.ValidateResourceConfig_Request{TypeName: typeName, Config: dyn6(config), ClientCapabilities: caps6})
	if err != nil {
		return nil, err
	}
	return diags6(resp.Diagnostics), nil
}

func (r *rpc6) upgradeResourceState(ctx context.Context, typeName string, version int64, rawJSON []byte) (dynamic, []diagnostic, error) {
	resp, err := r.c.UpgradeResourceState(ctx, &tfplugin6.UpgradeResourceState_Request{TypeName: typeName, Version: version, RawState: &tfplugin6.RawState{Json: rawJSON}})
	if err != nil {
		return dynamic{}, nil, err
	}
	return fromDyn6(resp.UpgradedState), diags6(resp.Diagnostics), nil
}

func (r *rpc6) readResource(ctx context.Context, typeName string, state dynamic, private []byte) (dynamic, []byte, []diagnostic, error) {
	resp, err := r.c.ReadResource(ctx, &tfplugin6.ReadResource_Request{TypeName: typeName, CurrentState: dyn6(state), Private: private, ClientCapabilities: caps6})
	if err != nil {
		return dynamic{}, nil, nil, err
	}
	return fromDyn6(resp.NewState), resp.Private, diags6(resp.Diagnostics), nil
}

func (r *rpc6) planResourceChange(ctx context.Context, typeName string, prior, proposed, config dynamic, priorPrivate []byte) (dynamic, [][]pathStep, []byte, []diagnostic, error) {
	resp, err := r.c.PlanResourceChange(ctx, &tfplugin6.PlanResourceChange_Request{
		TypeName: typeName, PriorState: dyn6(prior), ProposedNewState: dyn6(proposed), Config: dyn6(config),
		PriorPrivate: priorPrivate, ClientCapabilities: caps6,
	})
	if err != nil {
		return dynamic{}, nil, nil, nil, err
	}
	var replace [][]pathStep
	for _, p := range resp.RequiresReplace {
		replace = append(replace, path6(p))
	}
	return fromDyn6(resp.PlannedState), replace, resp.PlannedPrivate, diags6(resp.Diagnostics), nil
}

func (r *rpc6) applyResourceChange(ctx context.Context, typeName string, prior, planned, config dynamic, plannedPrivate []byte) (dynamic, []byte, []diagnostic, error) {
	resp, err := r.c.ApplyResourceChange(ctx, &tfplugin6.ApplyResourceChange_Request{
		TypeName: typeName, PriorState: dyn6(prior), PlannedState: dyn6(planned), Config: dyn6(config), PlannedPrivate: plannedPrivate,
	})
	if err != nil {
		return dynamic{}, nil, nil, err
	}
	return fromDyn6(resp.NewState), resp.Private, diags6(resp.Diagnostics), nil
}

func (r *rpc6) importResourceState(ctx context.Context, typeName, id string) ([]imported, []diagnostic, error) {
	resp, err := r.c.ImportResourceState(ctx, &tfplugin6.ImportResourceState_Request{TypeName: typeName, Id: id, ClientCapabilities: caps6})
	if err != nil {
		return nil, nil, err
	}
	var out []imported
	for _, ir := range resp.ImportedResources {
		out = append(out, imported{typeName: ir.TypeName, state: fromDyn6(ir.State), private: ir.Private})
	}
	return out, diags6(resp.Diagnostics), nil
}

func (r *rpc6) stop(ctx context.Context) error {
	_, err := r.c.StopProvider(ctx, &tfplugin6.StopProvider_Request{})
	return err
}
