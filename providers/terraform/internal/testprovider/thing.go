package testprovider

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/convergehq/converge/providers/terraform/internal/testprovider/things"
)

var pathDir = path.Root("dir")

// The hook files and the objects' format.
const (
	HoldFile            = things.HoldFile
	FailAfterCreateFile = things.FailAfterCreateFile
)

type (
	// Object is a thing as its file holds it.
	Object = things.Object
	// Rule is one rule block.
	Rule = things.Rule
)

type thing struct{ dir string }

func newThing() resource.Resource { return &thing{} }

var (
	_ resource.ResourceWithConfigure      = (*thing)(nil)
	_ resource.ResourceWithImportState    = (*thing)(nil)
	_ resource.ResourceWithUpgradeState   = (*thing)(nil)
	_ resource.ResourceWithValidateConfig = (*thing)(nil)
)

type thingModel struct {
	ID         types.String `tfsdk:"id"`
	Name       types.String `tfsdk:"name"`
	Size       types.Int64  `tfsdk:"size"`
	Zone       types.String `tfsdk:"zone"`
	Secret     types.String `tfsdk:"secret"`
	Passphrase types.String `tfsdk:"passphrase"`
	Token      types.String `tfsdk:"token"`
	Tags       types.Map    `tfsdk:"tags"`
	Rule       []ruleModel  `tfsdk:"rule"`
}

type ruleModel struct {
	Port     types.Int64  `tfsdk:"port"`
	Protocol types.String `tfsdk:"protocol"`
}

func (r *thing) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_thing"
}

func (r *thing) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A thing kept as a JSON file.",
		Version:     1,
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, Description: "the object's id",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"name": schema.StringAttribute{Required: true, Description: "the thing's name"},
			"size": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(1),
				Description: "its size, changed in place; 1 when not set"},
			"zone": schema.StringAttribute{Optional: true, Description: "where it is; a change replaces it",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()}},
			"secret":     schema.StringAttribute{Optional: true, Sensitive: true, Description: "a secret it keeps"},
			"passphrase": schema.StringAttribute{Optional: true, Sensitive: true, WriteOnly: true, Description: "a passphrase it never returns"},
			"token": schema.StringAttribute{Computed: true, Sensitive: true, Description: "a token it makes",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"tags": schema.MapAttribute{Optional: true, ElementType: types.StringType, Description: "its tags"},
		},
		Blocks: map[string]schema.Block{
			"rule": schema.ListNestedBlock{
				Description: "its rules",
				NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
					"port":     schema.Int64Attribute{Required: true},
					"protocol": schema.StringAttribute{Optional: true},
				}},
			},
		},
	}
}

func (r *thing) Configure(_ context.Context, req resource.ConfigureRequest, _ *resource.ConfigureResponse) {
	if dir, ok := req.ProviderData.(string); ok {
		r.dir = dir
	}
}

func (r *thing) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m thingModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if n := m.Name; !n.IsNull() && !n.IsUnknown() && strings.ContainsAny(n.ValueString(), `/\`) {
		resp.Diagnostics.AddAttributeError(path.Root("name"), "Invalid name", fmt.Sprintf("name %q must not hold a slash", n.ValueString()))
	}
	if s := m.Size; !s.IsNull() && !s.IsUnknown() && s.ValueInt64() < 0 {
		resp.Diagnostics.AddAttributeError(path.Root("size"), "Invalid size", fmt.Sprintf("size must be at least 0, got %d", s.ValueInt64()))
	}
	// The message echoes the value, as some providers' do: the caller
	// must redact it.
	if s := m.Secret; !s.IsNull() && !s.IsUnknown() && strings.ContainsAny(s.ValueString(), " \t\n") {
		resp.Diagnostics.AddAttributeError(path.Root("secret"), "Invalid secret", fmt.Sprintf("secret %q must not hold white space", s.ValueString()))
	}
	for i, rule := range m.Rule {
		if p := rule.Port; !p.IsNull() && !p.IsUnknown() && (p.ValueInt64() < 1 || p.ValueInt64() > 65535) {
			resp.Diagnostics.AddAttributeError(path.Root("rule").AtListIndex(i).AtName("port"), "Invalid port", fmt.Sprintf("port must be within 1 and 65535, got %d", p.ValueInt64()))
		}
	}
}

func (r *thing) file(id string) string { return filepath.Join(r.dir, id+".json") }

func (r *thing) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m thingModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	var pass types.String
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("passphrase"), &pass)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.hold(ctx, m.Name.ValueString()); err != nil {
		resp.Diagnostics.AddError("Create interrupted", err.Error())
		return
	}
	m.ID = types.StringValue(randomHex(8))
	m.Token = types.StringValue(randomHex(16))
	if err := r.write(m, pass); err != nil {
		resp.Diagnostics.AddError("Cannot write the thing", err.Error())
		return
	}
	m.Passphrase = types.StringNull()
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
	if _, err := os.Stat(filepath.Join(r.dir, FailAfterCreateFile)); err == nil {
		resp.Diagnostics.AddError("Post-create step failed", "the thing "+m.ID.ValueString()+" was made, but a step after failed")
	}
}

// hold waits while the hold file exists, after it wrote <name>.creating.
func (r *thing) hold(ctx context.Context, name string) error {
	holdPath := filepath.Join(r.dir, HoldFile)
	if _, err := os.Stat(holdPath); err != nil {
		return nil
	}
	if err := os.WriteFile(filepath.Join(r.dir, name+".creating"), nil, 0o644); err != nil {
		return err
	}
	for {
		if _, err := os.Stat(holdPath); err != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (r *thing) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m thingModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	b, err := os.ReadFile(r.file(m.ID.ValueString()))
	if errors.Is(err, os.ErrNotExist) {
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot read the thing", err.Error())
		return
	}
	var o Object
	if err := json.Unmarshal(b, &o); err != nil {
		resp.Diagnostics.AddError("Cannot read the thing", err.Error())
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, model(o))...)
}

func (r *thing) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m, prior thingModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	var pass types.String
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("passphrase"), &pass)...)
	if resp.Diagnostics.HasError() {
		return
	}
	m.ID, m.Token = prior.ID, prior.Token
	if err := r.write(m, pass); err != nil {
		resp.Diagnostics.AddError("Cannot write the thing", err.Error())
		return
	}
	m.Passphrase = types.StringNull()
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *thing) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m thingModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := os.Remove(r.file(m.ID.ValueString())); err != nil && !errors.Is(err, os.ErrNotExist) {
		resp.Diagnostics.AddError("Cannot delete the thing", err.Error())
	}
}

func (r *thing) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resource.ImportStatePassthroughID(ctx, path.Root("id"), req, resp)
}

// UpgradeState upgrades version 0, whose name was called label.
func (r *thing) UpgradeState(context.Context) map[int64]resource.StateUpgrader {
	return map[int64]resource.StateUpgrader{
		0: {StateUpgrader: func(ctx context.Context, req resource.UpgradeStateRequest, resp *resource.UpgradeStateResponse) {
			if req.RawState == nil {
				resp.Diagnostics.AddError("Cannot upgrade", "no raw state")
				return
			}
			var v0 struct {
				Object
				Label string `json:"label"`
			}
			if err := json.Unmarshal(req.RawState.JSON, &v0); err != nil {
				resp.Diagnostics.AddError("Cannot upgrade", err.Error())
				return
			}
			o := v0.Object
			o.Name = v0.Label
			resp.Diagnostics.Append(resp.State.Set(ctx, model(o))...)
		}},
	}
}

func (r *thing) write(m thingModel, pass types.String) error {
	o := Object{ID: m.ID.ValueString(), Name: m.Name.ValueString(), Size: m.Size.ValueInt64(), Token: m.Token.ValueString()}
	if !m.Zone.IsNull() {
		o.Zone = m.Zone.ValueStringPointer()
	}
	if !m.Secret.IsNull() {
		o.Secret = m.Secret.ValueStringPointer()
	}
	if !pass.IsNull() && !pass.IsUnknown() {
		sum := sha256.Sum256([]byte(pass.ValueString()))
		o.PassphraseSHA256 = hex.EncodeToString(sum[:])
	}
	if !m.Tags.IsNull() {
		o.Tags = map[string]string{}
		for k, v := range m.Tags.Elements() {
			if s, ok := v.(types.String); ok {
				o.Tags[k] = s.ValueString()
			}
		}
	}
	for _, rule := range m.Rule {
		ro := Rule{Port: rule.Port.ValueInt64()}
		if !rule.Protocol.IsNull() {
			ro.Protocol = rule.Protocol.ValueStringPointer()
		}
		o.Rule = append(o.Rule, ro)
	}
	b, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return err
	}
	tmp := r.file(o.ID) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, r.file(o.ID))
}

// model is the state of o.
func model(o Object) *thingModel {
	m := &thingModel{
		ID: types.StringValue(o.ID), Name: types.StringValue(o.Name), Size: types.Int64Value(o.Size),
		Zone: types.StringPointerValue(o.Zone), Secret: types.StringPointerValue(o.Secret),
		Passphrase: types.StringNull(), Token: types.StringValue(o.Token),
		Tags: types.MapNull(types.StringType), Rule: []ruleModel{},
	}
	if o.Tags != nil {
		el := make(map[string]attr.Value, len(o.Tags))
		for k, v := range o.Tags {
			el[k] = types.StringValue(v)
		}
		m.Tags = types.MapValueMust(types.StringType, el)
	}
	for _, ro := range o.Rule {
		m.Rule = append(m.Rule, ruleModel{Port: types.Int64Value(ro.Port), Protocol: types.StringPointerValue(ro.Protocol)})
	}
	return m
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
