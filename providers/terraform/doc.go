// Package terraform runs unmodified Terraform (and OpenTofu) provider
// plugins as converge providers: one Provider per ProviderConfig, whose
// kinds are the plugin's resource types, <name>.<type without the
// provider's prefix> (random_pet is random.pet under a ProviderConfig
// named random; two ProviderConfigs of one plugin are two instances).
//
// The plugin is started with go-plugin and Terraform's handshake, spoken
// to over gRPC on protocol 5 or 6 (whichever it offers; internal/tfplugin5
// and internal/tfplugin6 are terraform-plugin-go's protocol code, MPL-2.0),
// with automatic mutual TLS. Values are cty values of each resource type's
// implied type, sent as msgpack.
//
// Guarantees:
//   - Every converge call maps onto the calls Terraform makes: Observe is
//     UpgradeResourceState then ReadResource (so a provider upgrade
//     migrates stored state at the next read); PlanChange is
//     PlanResourceChange with Terraform's proposed new state; Create and
//     Update validate, plan (Update uses the plan PlanChange made) and
//     ApplyResourceChange; Delete reads, plans the destruction when the
//     plugin plans destroys, and applies it. Import is ImportResourceState
//     then ReadResource.
//   - The object's Terraform state (JSON, schema version, the provider's
//     private bytes) is kept in the record's Private, which the schemas ask
//     to seal (SealPrivate). Without it the object is not found: a create
//     whose answer converge lost leaves an object converge does not know,
//     as with Terraform. Within one process a retried Create with the same
//     IdempotencyKey returns the first one's result.
//   - A Create or Update the provider fails after it changed the object
//     returns the new state with the error, for the engine to record.
//   - Error diagnostics are terminal unless they read as transient (a
//     timeout, a refused connection, a 5xx: retryable) or as throttling
//     (rate-limited). A plugin that crashed, hung past CallTimeout or
//     whose connection broke gives a retryable error (ambiguous for an
//     apply), and the next call starts it again and configures it with the
//     last settings.
//   - Sensitive values (sensitive and write-only attributes, from specs,
//     states and the provider configuration) never reach an error or a log
//     line: both are redacted with every such value seen. Write-only
//     values are never stored: they are null in every state.
//   - The plugin's logs (hclog JSON lines on stderr) go to the Logger at
//     their level; TF_LOG_PROVIDER is set from the Logger's level (SDK
//     internals log only with TF_LOG set, through Options.Env).
//   - Options.MemoryLimit becomes the plugin's GOMEMLIMIT, a soft limit
//     of the Go runtime. No rlimit is set: a Go program reserves far more
//     address space than it uses, so RLIMIT_AS (and RLIMIT_DATA, which
//     counts private mappings) makes it fail at an arbitrary allocation;
//     a hard limit belongs to a cgroup.
//   - Close stops the plugin (StopProvider, then go-plugin's Kill, forced
//     after 2s) once the calls in flight return; a later call starts it
//     again.
//
// Schemas map as follows: Required attributes are required fields;
// Optional ones, Computed or not, optional fields (the plan, not a
// default, decides what an absent optional+computed field becomes, so it
// never shows as a change); computed-only attributes are outputs only;
// every attribute is an output, the sensitive ones listed in
// SensitiveOutputs. Sensitive (and write-only) string attributes are Env
// fields: their ${env:NAME} are expanded at call time, so that a secret
// can come from the environment. Numbers are floats (which take integers), lists and
// sets lists, maps maps, objects any; nested blocks are lists of maps
// (single and group blocks maps). No field is ForceNew: which changes
// replace an object is the plan's answer (RequiresReplace), which the
// engine asks for every object that exists.
//
// Tests run internal/testprovider, a provider written with
// terraform-plugin-framework, as a separately built plugin: it is never
// linked into this package, whose copied protocol code registers the same
// protobuf files as terraform-plugin-go's.
package terraform
