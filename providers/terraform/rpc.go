package terraform

import (
	"context"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// dynamic is a DynamicValue of either protocol: msgpack or JSON.
type dynamic struct {
	msgpack, json []byte
}

// diagnostic is a Diagnostic of either protocol.
type diagnostic struct {
	err     bool // an error; a warning otherwise
	summary string
	detail  string
	path    []pathStep // the attribute it is about; nil: none
}

// pathStep is one step of an AttributePath: an attribute name, a map key
// or a list index.
type pathStep struct {
	name  string
	key   *string
	index *int64
}

// imported is one resource ImportResourceState returned.
type imported struct {
	typeName string
	state    dynamic
	private  []byte
}

// providerSchema is what GetProviderSchema answers.
type providerSchema struct {
	provider  *block
	resources map[string]*resourceSchema
	// schemaOptional says the plugin needs no GetProviderSchema call before
	// others (a restarted plugin is not asked again).
	schemaOptional bool
	// planDestroy says the plugin plans destruction too.
	planDestroy bool
	diags       []diagnostic
}

// rpc is the part of the provider protocol converge uses, for protocol 5
// and 6 alike. Errors are the transport's (the plugin gone, a context
// ended); what the provider says is in the diagnostics.
type rpc interface {
	getSchema(ctx context.Context) (*providerSchema, error)
	validateProviderConfig(ctx context.Context, config dynamic) ([]diagnostic, error)
	configure(ctx context.Context, config dynamic) ([]diagnostic, error)
	validateResourceConfig(ctx context.Context, typeName string, config dynamic) ([]diagnostic, error)
	upgradeResourceState(ctx context.Context, typeName string, version int64, rawJSON []byte) (dynamic, []diagnostic, error)
	readResource(ctx context.Context, typeName string, state dynamic, private []byte) (dynamic, []byte, []diagnostic, error)
	planResourceChange(ctx context.Context, typeName string, prior, proposed, config dynamic, priorPrivate []byte) (planned dynamic, replace [][]pathStep, plannedPrivate []byte, diags []diagnostic, err error)
	applyResourceChange(ctx context.Context, typeName string, prior, planned, config dynamic, plannedPrivate []byte) (dynamic, []byte, []diagnostic, error)
	importResourceState(ctx context.Context, typeName, id string) ([]imported, []diagnostic, error)
	stop(ctx context.Context) error
}

// decode reads d as a value of type ty.
func (d dynamic) decode(ty cty.Type) (cty.Value, error) {
	switch {
	case len(d.msgpack) > 0:
		return unmarshalMsgpack(d.msgpack, ty)
	case len(d.json) > 0:
		return ctyjson.Unmarshal(d.json, ty)
	}
	return cty.NullVal(ty), nil
}

// encode writes v, of type ty, as msgpack (which, unlike JSON, holds
// unknown values).
func encode(v cty.Value, ty cty.Type) (dynamic, error) {
	b, err := marshalMsgpack(v, ty)
	if err != nil {
		return dynamic{}, err
	}
	return dynamic{msgpack: b}, nil
}
