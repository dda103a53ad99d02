// Package testprovider is convergetest, a real Terraform provider written
// with terraform-plugin-framework, that the tests of package terraform run
// as a plugin (built from cmd/terraform-provider-convergetest, never
// linked into them). Its one resource, convergetest_thing, keeps each
// object as a JSON file in the directory the provider configuration names
// (dir), so that tests read and change objects out of band.
//
// Test hooks, files in dir:
//   - .hold: while it exists, Create writes <name>.creating and waits
//     before it writes the object (a test kills the plugin there).
//   - .fail-after-create: Create writes the object, then fails (a partial
//     result: the new state comes back with the error).
package testprovider

import (
	"context"
	"os"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/convergehq/converge/providers/terraform/internal/testprovider/things"
)

// Address is the provider's registry address.
const Address = "registry.terraform.io/convergehq/convergetest"

// ProtocolEnv names the environment variable that chooses the protocol the
// plugin serves: "5" or "6" (the default).
const ProtocolEnv = things.ProtocolEnv

// New returns the provider.
func New() provider.Provider { return &convergetest{} }

type convergetest struct{}

type providerModel struct {
	Dir types.String `tfsdk:"dir"`
}

func (p *convergetest) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "convergetest"
	resp.Version = "0.1.0"
}

func (p *convergetest) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "Things kept as JSON files in a directory.",
		Attributes: map[string]schema.Attribute{
			"dir": schema.StringAttribute{Required: true, Description: "the directory that holds the objects"},
		},
	}
}

func (p *convergetest) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var m providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	dir := m.Dir.ValueString()
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		resp.Diagnostics.AddAttributeError(pathDir, "Invalid directory", "dir must name an existing directory: "+dir)
		return
	}
	resp.ResourceData = dir
}

func (p *convergetest) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{newThing}
}

func (p *convergetest) DataSources(context.Context) []func() datasource.DataSource { return nil }
