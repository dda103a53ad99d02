package terraform

import (
	"context"

	"github.com/zclconf/go-cty/cty"
	"google.golang.org/grpc"

	"github.com/convergehq/converge/providers/terraform/internal/tfplugin5"
)

// rpc5 speaks protocol 5.
type rpc5 struct {
	c tfplugin5.ProviderClient
}

func newRPC5(conn grpc.ClientConnInterface) *rpc5 { return &rpc5{c: tfplugin5.NewProviderClient(conn)} }

var caps5 = &tfplugin5.ClientCapabilities{WriteOnlyAttributesAllowed: true}

func dyn5(d dynamic) *tfplugin5.DynamicValue {
	return &tfplugin5.DynamicValue{Msgpack: d.msgpack, Json: d.json}
}

func fromDyn5(d *tfplugin5.DynamicValue) dynamic {
	if d == nil {
		return dynamic{}
	}
	return dynamic{msgpack: d.Msgpack, json: d.Json}
}

func diags5(ds []*tfplugin5.Diagnostic) []diagnostic {
	out := make([]diagnostic, 0, len(ds))
	for _, d := range ds {
		out = append(out, diagnostic{
			err:     d.Severity == tfplugin5.Diagnostic_ERROR,
			summary: d.Summary, detail: d.Detail,
			path: path5(d.Attribute),
		})
	}
	return out
}

func path5(p *tfplugin5.AttributePath) []pathStep {
	if p == nil {
		return nil
	}
	out := make([]pathStep, 0, len(p.Steps))
	for _, s := range p.Steps {
		switch sel := s.Selector.(type) {
		case *tfplugin5.AttributePath_Step_AttributeName:
			out = append(out, pathStep{name: sel.AttributeName})
		case *tfplugin5.AttributePath_Step_ElementKeyString:
			k := sel.ElementKeyString
			out = append(out, pathStep{key: &k})
		case *tfplugin5.AttributePath_Step_ElementKeyInt:
			i := sel.ElementKeyInt
			out = append(out, pathStep{index: &i})
		}
	}
	return out
}

func block5(b *tfplugin5.Schema_Block) (*block, error) {
	out := &block{attrs: map[string]*attribute{}, blocks: map[string]*nestedBlock{}}
	if b == nil {
		return out, nil
	}
	out.description = b.Description
	for _, a := range b.Attributes {
		var ty cty.Type
		if err := ty.UnmarshalJSON(a.Type); err != nil {
			return nil, err
		}
		out.attrs[a.Name] = &attribute{
			typ: ty, required: a.Required, optional: a.Optional, computed: a.Computed,
			sensitive: a.Sensitive, writeOnly: a.WriteOnly, description: a.Description,
		}
	}
	for _, nb := range b.BlockTypes {
		inner, err := block5(nb.Block)
		if err != nil {
			return nil, err
		}
		out.blocks[nb.TypeName] = &nestedBlock{block: inner, nesting: nesting(nb.Nesting), minItems: nb.MinItems, maxItems: nb.MaxItems}
	}
	return out, nil
}

func (r *rpc5) getSchema(ctx context.Context) (*providerSchema, error) {
	resp, err := r.c.GetSchema(ctx, &tfplugin5.GetProviderSchema_Request{})
	if err != nil {
		return nil, err
	}
	out := &providerSchema{resources: map[string]*resourceSchema{}, diags: diags5(resp.Diagnostics)}
	if resp.ServerCapabilities != nil {
		out.schemaOptional = resp.ServerCapabilities.GetProviderSchemaOptional
		out.planDestroy = resp.ServerCapabilities.PlanDestroy
	}
	if resp.Provider != nil {
		if out.provider, err = block5(resp.Provider.Block); err != nil {
			return nil, err
		}
	} else {
		out.provider, _ = block5(nil)
	}
	for name, s := range resp.ResourceSchemas {
		b, err := block5(s.Block)
		if err != nil {
			return nil, err
		}
		out.resources[name] = newResourceSchema(s.Version, b)
	}
	return out, nil
}

func (r *rpc5) validateProviderConfig(ctx context.Context, config dynamic) ([]diagnostic, error) {
	resp, err := r.c.PrepareProviderConfig(ctx, &tfplugin5.PrepareProviderConfig_Request{Config: dyn5(config)})
	if err != nil {
		return nil, err
	}
	return diags5(resp.Diagnostics), nil
}

func (r *rpc5) configure(ctx context.Context, config dynamic) ([]diagnostic, error) {
	resp, err := r.c.Configure(ctx, &tfplugin5.Configure_Request{TerraformVersion: terraformVersion, Config: dyn5(config), ClientCapabilities: caps5})
	if err != nil {
		return nil, err
	}
	return diags5(resp.Diagnostics), nil
}

func (r *rpc5) validateResourceConfig(ctx context.Context, typeName string, config dynamic) ([]diagnostic, error) {
	resp, err := r.c.ValidateResourceTypeConfig(ctx, &tfplugin5.ValidateResourceTypeConfig_Request{TypeName: typeName, Config: dyn5(config), ClientCapabilities: caps5})
	if err != nil {
		return nil, err
	}
	return diags5(resp.Diagnostics), nil
}

func (r *rpc5) upgradeResourceState(ctx context.Context, typeName string, version int64, rawJSON []byte) (dynamic, []diagnostic, error) {
	resp, err := r.c.UpgradeResourceState(ctx, &tfplugin5.UpgradeResourceState_Request{TypeName: typeName, Version: version, RawState: &tfplugin5.RawState{Json: rawJSON}})
	if err != nil {
		return dynamic{}, nil, err
	}
	return fromDyn5(resp.UpgradedState), diags5(resp.Diagnostics), nil
}

func (r *rpc5) readResource(ctx context.Context, typeName string, state dynamic, private []byte) (dynamic, []byte, []diagnostic, error) {
	resp, err := r.c.ReadResource(ctx, &tfplugin5.ReadResource_Request{TypeName: typeName, CurrentState: dyn5(state), Private: private, ClientCapabilities: caps5})
	if err != nil {
		return dynamic{}, nil, nil, err
	}
	return fromDyn5(resp.NewState), resp.Private, diags5(resp.Diagnostics), nil
}

func (r *rpc5) planResourceChange(ctx context.Context, typeName string, prior, proposed, config dynamic, priorPrivate []byte) (dynamic, [][]pathStep, []byte, []diagnostic, error) {
	resp, err := r.c.PlanResourceChange(ctx, &tfplugin5.PlanResourceChange_Request{
		TypeName: typeName, PriorState: dyn5(prior), ProposedNewState: dyn5(proposed), Config: dyn5(config),
		PriorPrivate: priorPrivate, ClientCapabilities: caps5,
	})
	if err != nil {
		return dynamic{}, nil, nil, nil, err
	}
	var replace [][]pathStep
	for _, p := range resp.RequiresReplace {
		replace = append(replace, path5(p))
	}
	return fromDyn5(resp.PlannedState), replace, resp.PlannedPrivate, diags5(resp.Diagnostics), nil
}

func (r *rpc5) applyResourceChange(ctx context.Context, typeName string, prior, planned, config dynamic, plannedPrivate []byte) (dynamic, []byte, []diagnostic, error) {
	resp, err := r.c.ApplyResourceChange(ctx, &tfplugin5.ApplyResourceChange_Request{
		TypeName: typeName, PriorState: dyn5(prior), PlannedState: dyn5(planned), Config: dyn5(config), PlannedPrivate: plannedPrivate,
	})
	if err != nil {
		return dynamic{}, nil, nil, err
	}
	return fromDyn5(resp.NewState), resp.Private, diags5(resp.Diagnostics), nil
}

func (r *rpc5) importResourceState(ctx context.Context, typeName, id string) ([]imported, []diagnostic, error) {
	resp, err := r.c.ImportResourceState(ctx, &tfplugin5.ImportResourceState_Request{TypeName: typeName, Id: id, ClientCapabilities: caps5})
	if err != nil {
		return nil, nil, err
	}
	var out []imported
	for _, ir := range resp.ImportedResources {
		out = append(out, imported{typeName: ir.TypeName, state: fromDyn5(ir.State), private: ir.Private})
	}
	return out, diags5(resp.Diagnostics), nil
}

func (r *rpc5) stop(ctx context.Context) error {
	_, err := r.c.Stop(ctx, &tfplugin5.Stop_Request{})
	return err
}
