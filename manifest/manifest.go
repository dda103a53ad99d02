package manifest

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/convergehq/converge/graph"
)

// Source is where something was written.
type Source struct {
	File string `json:"file"`
	Line int    `json:"line"`
}

func (s Source) String() string {
	if s.Line > 0 {
		return fmt.Sprintf("%s:%d", s.File, s.Line)
	}
	return s.File
}

// Drift policies.
const (
	DriftCorrect = "correct" // put it back (default)
	DriftAlert   = "alert"   // report it, never touch
	DriftIgnore  = "ignore"  // neither
)

// Deletion policies.
const (
	DeletionDelete = "delete" // delete the object when the resource leaves the manifests (default)
	DeletionOrphan = "orphan" // forget it, leave the object in place
)

// Policy is a resource's policy block.
type Policy struct {
	// Drift is empty when the manifest does not set it: the run's default
	// (--drift, itself correct by default) applies.
	Drift    string `json:"drift"`
	Deletion string `json:"deletion"`
}

// Ref is a reference ${kind/name.outputs.field} found in a spec string.
type Ref struct {
	Target string `json:"target"` // "file.Directory/www"
	Output string `json:"output"` // "path"
	Field  string `json:"field"`  // where it was found: "spec.content", "spec.env.HOME", "spec.args[2]"
	Source Source `json:"source"`
}

// Resource is one validated desired resource.
type Resource struct {
	ID        string            `json:"id"` // Kind + "/" + Name
	Kind      string            `json:"kind"`
	Name      string            `json:"name"`
	Labels    map[string]string `json:"labels,omitempty"`
	DependsOn []string          `json:"dependsOn,omitempty"` // explicit, as written
	Policy    Policy            `json:"policy"`
	// Spec is the spec as written, in provider.Canonical form, with defaults
	// applied and fields normalized; references are left as written.
	Spec map[string]any `json:"spec"`
	Refs []Ref          `json:"refs,omitempty"`
	// ImportID is importId, beside spec: the remote ID of an existing
	// object converge takes over (adopts) when it manages none for the
	// resource yet, as terraform import does. It counts in Hash when set.
	ImportID string `json:"importId,omitempty"`
	Source   Source `json:"source"` // the document's "kind:" line
	// Hash identifies the desired resource's content: kind, name, spec,
	// dependsOn, policy and importId. Labels and sources do not count.
	Hash string `json:"hash"`
}

// Deps returns every dependency of r: dependsOn and reference targets,
// sorted, without duplicates.
func (r *Resource) Deps() []string {
	seen := make(map[string]bool, len(r.DependsOn)+len(r.Refs))
	var out []string
	for _, d := range r.DependsOn {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	for _, ref := range r.Refs {
		if !seen[ref.Target] {
			seen[ref.Target] = true
			out = append(out, ref.Target)
		}
	}
	sort.Strings(out)
	return out
}

// ProviderConfig holds the limits a ProviderConfig document sets for one
// provider. Zero values mean "use the default".
type ProviderConfig struct {
	Name        string  `json:"name"`
	QPS         float64 `json:"qps,omitempty"`
	Burst       int     `json:"burst,omitempty"`
	MaxInFlight int     `json:"maxInFlight,omitempty"`
	Timeout     string  `json:"timeout,omitempty"` // a Go duration
	// ReadAfterWriteGrace overrides the provider's kinds' grace for objects
	// to show up after a create (a Go duration; "0s" for an API that
	// honours idempotency keys or never lags). Empty: the kinds' own.
	ReadAfterWriteGrace string `json:"readAfterWriteGrace,omitempty"`
	// IdempotentCreates says the API honours idempotency keys: a create
	// sent again with the key of one that took effect returns that object
	// and makes none. A create whose outcome is unknown is then sent again
	// at once, with its key, rather than after the kinds' read-after-write
	// grace (as readAfterWriteGrace: 0s does).
	IdempotentCreates bool `json:"idempotentCreates,omitempty"`
	// FollowRedirects is the redirect policy of the provider's HTTP calls:
	// provider.RedirectsNone (also when empty: no redirect is followed) or
	// provider.RedirectsSameOrigin. Providers that make no HTTP calls
	// ignore it.
	FollowRedirects string `json:"followRedirects,omitempty"`
	// Config is spec.config: the provider's own settings, checked against
	// its provider.ConfigSchemer schema. Strings are kept as written,
	// ${env:NAME} and $${ included (see ExpandConfig): the value of a
	// variable is never stored.
	Config map[string]any `json:"config,omitempty"`
	// Plugin is spec.source: what runs the provider, when it is not one
	// built into converge under this name. A Terraform provider's address
	// (hashicorp/random, HOST/NAMESPACE/TYPE), or the name of a built-in
	// provider of which this ProviderConfig is another instance
	// (postgres). Empty: the built-in provider of the ProviderConfig's
	// name.
	Plugin string `json:"plugin,omitempty"`
	// Version is spec.version, a Terraform version constraint for Plugin.
	Version string `json:"version,omitempty"`
	Source  Source `json:"source"`
}

// Revision is an immutable, validated desired set.
type Revision struct {
	// Hash is the content hash of every resource and provider config.
	Hash string `json:"hash"`
	// Paths are the manifest paths it was loaded from.
	Paths []string `json:"paths"`
	// Resources is sorted by ID.
	Resources []*Resource `json:"resources"`
	// ProviderConfigs by provider name.
	ProviderConfigs map[string]ProviderConfig `json:"providerConfigs,omitempty"`
	// Commit is the git commit of the manifests' work tree ("-dirty" when
	// they had changes), when the caller found one. It is not part of the
	// hash: the same content is the same revision.
	Commit string `json:"commit,omitempty"`

	indexOnce sync.Once
	byID      map[string]*Resource
	graphOnce sync.Once
	graph     *graph.Graph // the loader's, or built on first use
}

// Get returns the resource with the given ID. It is safe for concurrent use.
func (rv *Revision) Get(id string) (*Resource, bool) {
	if rv == nil {
		return nil, false
	}
	rv.index()
	r, ok := rv.byID[id]
	return r, ok
}

func (rv *Revision) index() {
	rv.indexOnce.Do(func() {
		rv.byID = make(map[string]*Resource, len(rv.Resources))
		for _, r := range rv.Resources {
			rv.byID[r.ID] = r
		}
	})
}

// Error is one problem in the manifests. It names the file, the line, the
// resource and the field.
type Error struct {
	File     string `json:"file"`
	Line     int    `json:"line,omitempty"`
	Resource string `json:"resource,omitempty"` // ID, when known
	Field    string `json:"field,omitempty"`    // "spec.mode", "dependsOn[1]", "metadata.name"
	Msg      string `json:"message"`
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Resource != "" {
		b.WriteString(e.Resource)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found, sorted by file and line.
type ErrorList []*Error

// Problems is "1 problem" or "N problems", as messages count them.
func Problems(n int) string {
	if n == 1 {
		return "1 problem"
	}
	return fmt.Sprintf("%d problems", n)
}

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	if len(l) == 1 {
		return msgs[0]
	}
	return fmt.Sprintf("%d problems:\n  %s", len(l), strings.Join(msgs, "\n  "))
}
