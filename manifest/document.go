package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/convergehq/converge/provider"
)

// KindProviderConfig is the kind of the documents that set a provider's
// limits.
const KindProviderConfig = "ProviderConfig"

// doc is what one document yields: a resource or a provider config, with
// what the checks across documents need to know about where things were.
type doc struct {
	res    *Resource
	depSrc []Source // the line of each dependsOn entry
	cfg    *ProviderConfig
}

// docParser reads one document of one file.
type docParser struct {
	file     string
	reg      Registry
	known    *knownKinds
	expanded *atomic.Int64 // bytes aliases expanded to in the load (MaxAliasBytes)
	errs     []*Error
}

func (d *docParser) errorf(line int, field, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// topLevel holds the value nodes of a mapping's known keys and the lines of
// those keys. Manifests know only a few keys per mapping, so it is a small
// array searched in order rather than a map.
type topLevel struct {
	n       int
	entries [maxKnownKeys]struct {
		key  string
		node *yaml.Node
		line int
	}
}

// maxKnownKeys is the size of the largest set of allowed keys (topKeys).
const maxKnownKeys = 7

// node returns the value of key, or nil.
func (t *topLevel) node(key string) *yaml.Node {
	for i := range t.n {
		if t.entries[i].key == key {
			return t.entries[i].node
		}
	}
	return nil
}

// line returns the line of key, or 0.
func (t *topLevel) line(key string) int {
	for i := range t.n {
		if t.entries[i].key == key {
			return t.entries[i].line
		}
	}
	return 0
}

var topKeys = map[string]bool{"apiVersion": true, "kind": true, "metadata": true, "dependsOn": true, "policy": true, "spec": true, "importId": true}

// fields reads the keys of mapping n, reporting duplicates and keys not in
// allowed (at most maxKnownKeys); prefix names the map in errors ("" for the
// top level).
func (d *docParser) fields(n *yaml.Node, prefix string, allowed map[string]bool) *topLevel {
	t := &topLevel{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key, ok := d.key(k, strings.TrimSuffix(prefix, "."))
		if !ok {
			continue
		}
		switch {
		case !allowed[key]:
			if near := provider.Suggest(key, sortedKeys(allowed)); near != "" {
				d.errorf(k.Line, prefix+key, "unknown field: did you mean %s%s?", prefix, near)
			} else {
				d.errorf(k.Line, prefix+key, "unknown field")
			}
		case t.node(key) != nil:
			d.errorf(k.Line, prefix+key, "duplicate key")
		default:
			e := &t.entries[t.n]
			e.key, e.node, e.line = key, v, k.Line
			t.n++
		}
	}
	return t
}

// parse reads the document whose content is root. It returns nil when the
// document is not even shaped like a manifest; otherwise the resource is
// filled as far as it could be read, for drawing graphs of broken manifests.
func (d *docParser) parse(root *yaml.Node) *doc {
	for root.Kind == yaml.AliasNode && root.Alias != nil {
		root = root.Alias
	}
	if root.Kind != yaml.MappingNode {
		d.errorf(root.Line, "", "a manifest document must be a map, got %s", nodeKind(root))
		return nil
	}
	top := d.fields(root, "", topKeys)

	kind := ""
	kindLine := root.Line
	if n := top.node("kind"); n == nil {
		d.errorf(root.Line, "kind", "is required")
	} else {
		kindLine = top.line("kind")
		s, err := scalarString(n)
		switch {
		case err != nil:
			d.errorf(n.Line, "kind", "%v", err)
		case s == "":
			d.errorf(n.Line, "kind", "must not be empty")
		default:
			kind = s
		}
	}
	if n := top.node("apiVersion"); n != nil {
		if _, err := scalarString(n); err != nil {
			d.errorf(n.Line, "apiVersion", "%v", err)
		}
	}
	name, labels := d.metadata(top, root.Line)

	if kind == KindProviderConfig {
		return d.providerConfig(top, name, kindLine)
	}

	res := &Resource{Kind: kind, Name: name, Labels: labels, Source: Source{File: d.file, Line: kindLine}}
	schema, known := provider.Schema{}, false
	if kind != "" {
		if schema, known = d.reg.Schema(kind); !known {
			if near := suggestKind(kind, d.known.kinds); near != "" {
				d.errorf(top.node("kind").Line, "kind", "unknown kind %q: did you mean %s? (known kinds: %s)", kind, near, d.known.list())
			} else {
				d.errorf(top.node("kind").Line, "kind", "unknown kind %q (known kinds: %s)", kind, d.known.list())
			}
		}
	}
	out := &doc{res: res}
	if n := top.node("importId"); n != nil {
		if s, err := scalarString(n); err != nil || strings.TrimSpace(s) == "" {
			d.errorf(n.Line, "importId", "must be a non-empty string: the remote ID of the object to take over")
		} else {
			res.ImportID = s
		}
	}
	res.DependsOn, out.depSrc = d.dependsOn(top)
	res.Policy = d.policy(top)
	d.spec(res, top, schema, known)

	if kind != "" && name != "" {
		res.ID = kind + "/" + name
		for _, e := range d.errs {
			e.Resource = res.ID
		}
	}
	return out
}

var metadataKeys = map[string]bool{"name": true, "labels": true}

func (d *docParser) metadata(top *topLevel, docLine int) (name string, labels map[string]string) {
	n := top.node("metadata")
	if n == nil {
		d.errorf(docLine, "metadata.name", "is required")
		return "", nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n.Line, "metadata", "must be a map, got %s", nodeKind(n))
		return "", nil
	}
	meta := d.fields(n, "metadata.", metadataKeys)
	if nn := meta.node("name"); nn == nil {
		d.errorf(top.line("metadata"), "metadata.name", "is required")
	} else if s, err := scalarString(nn); err != nil {
		d.errorf(nn.Line, "metadata.name", "%v", err)
	} else if why := validName(s); why != "" {
		d.errorf(nn.Line, "metadata.name", "%s", why)
	} else {
		name = s
	}
	if ln := meta.node("labels"); ln != nil && !isNull(ln) {
		if ln.Kind != yaml.MappingNode {
			d.errorf(ln.Line, "metadata.labels", "must be a map, got %s", nodeKind(ln))
			return name, nil
		}
		for i := 0; i+1 < len(ln.Content); i += 2 {
			k, v := ln.Content[i], ln.Content[i+1]
			key, ok := d.key(k, "metadata.labels")
			if !ok {
				continue
			}
			val, err := scalarString(v)
			if err != nil {
				d.errorf(v.Line, "metadata.labels."+key, "%v", err)
				continue
			}
			if labels == nil {
				labels = map[string]string{}
			}
			if _, dup := labels[key]; dup {
				d.errorf(k.Line, "metadata.labels."+key, "duplicate key")
			}
			labels[key] = val
		}
	}
	return name, labels
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// dependsOn reads the dependsOn list: IDs written kind/name.
func (d *docParser) dependsOn(top *topLevel) ([]string, []Source) {
	n := top.node("dependsOn")
	if n == nil || isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n.Line, "dependsOn", "must be a list of IDs (kind/name), got %s", nodeKind(n))
		return nil, nil
	}
	var ids []string
	var srcs []Source
	for i, e := range n.Content {
		field := "dependsOn[" + strconv.Itoa(i) + "]"
		s, err := scalarString(e)
		if err != nil {
			d.errorf(e.Line, field, "%v", err)
			continue
		}
		kind, name, ok := strings.Cut(s, "/")
		if !ok || !validKind(kind) || validName(name) != "" {
			d.errorf(e.Line, field, "%q is not an ID: want kind/name, as in file.File/index", s)
			continue
		}
		ids = append(ids, s)
		srcs = append(srcs, Source{File: d.file, Line: e.Line})
	}
	return ids, srcs
}

var policyKeys = map[string]bool{"drift": true, "deletion": true}

func (d *docParser) policy(top *topLevel) Policy {
	p := Policy{Deletion: DeletionDelete} // Drift unset: the --drift default applies
	n := top.node("policy")
	if n == nil || isNull(n) {
		return p
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n.Line, "policy", "must be a map, got %s", nodeKind(n))
		return p
	}
	f := d.fields(n, "policy.", policyKeys)
	pick := func(key string, dst *string, allowed ...string) {
		v := f.node(key)
		if v == nil {
			return
		}
		s, err := scalarString(v)
		if err != nil {
			d.errorf(v.Line, "policy."+key, "%v", err)
			return
		}
		for _, a := range allowed {
			if s == a {
				*dst = s
				return
			}
		}
		d.errorf(v.Line, "policy."+key, "%q is not one of %s", s, strings.Join(allowed, ", "))
	}
	pick("drift", &p.Drift, DriftCorrect, DriftAlert, DriftIgnore)
	pick("deletion", &p.Deletion, DeletionDelete, DeletionOrphan)
	return p
}

// spec converts the spec, records its references, checks it against the
// kind's schema and the provider's validator, and applies defaults.
func (d *docParser) spec(res *Resource, top *topLevel, schema provider.Schema, known bool) {
	n := top.node("spec")
	specLine := top.line("spec")
	if specLine == 0 {
		specLine = res.Source.Line
	}
	written := map[string]any{}
	if n != nil && !isNull(n) {
		if n.Kind != yaml.MappingNode {
			d.errorf(n.Line, "spec", "must be a map, got %s", nodeKind(n))
		} else {
			c := converter{d: d, root: "spec", budget: maxNodes}
			written, _ = c.value(n, 0).(map[string]any)
			if written == nil {
				written = map[string]any{}
			}
			res.Refs = c.refs
		}
	}
	res.Spec = written
	before := len(d.errs)
	if !known {
		return
	}

	// Check the spec with references as Unknown and escapes undone.
	lit := make(map[string]any, len(written))
	var refFields map[string]bool // most specs have no reference
	for k, v := range written {
		l, hasRef := literal(v)
		lit[k] = l
		if hasRef {
			if refFields == nil {
				refFields = map[string]bool{}
			}
			refFields[k] = true
		}
	}
	line := func(field string) int { return lineOf(n, "spec", field, specLine) }
	for _, fe := range schema.Check(lit, provider.IsUnknown) {
		d.errorf(line(fe.Field), fe.Field, "%s", fe.Msg)
	}
	if len(d.errs) > before {
		return
	}

	// Apply defaults and normalization to what is known.
	known2 := lit // Apply does not modify its argument
	if len(refFields) > 0 {
		known2 = make(map[string]any, len(lit))
		for k, v := range lit {
			if !refFields[k] {
				known2[k] = v
			}
		}
	}
	applied, err := schema.Apply(known2)
	if err != nil {
		field, msg := "spec", err.Error()
		var fe provider.FieldError
		if errors.As(err, &fe) {
			field, msg = fe.Field, fe.Msg
		}
		d.errorf(line(field), field, "%s", msg)
		return
	}
	applied = provider.CanonicalMap(applied)

	if p, ok := d.reg.For(res.Kind); ok {
		if v, ok := p.(provider.Validator); ok {
			check := make(map[string]any, len(applied)+len(refFields))
			for k, v := range applied {
				check[k] = v
			}
			for k := range refFields {
				check[k] = lit[k]
			}
			for _, fe := range v.ValidateSpec(res.Kind, check) {
				d.errorf(line(fe.Field), fe.Field, "%s", fe.Msg)
			}
		}
	}

	final := escapeAll(applied).(map[string]any)
	for k := range refFields {
		final[k] = written[k]
	}
	for k, f := range schema.Fields {
		if v, ok := written[k]; ok && f.Env {
			// A template as written: only its escapes tell the manifest's
			// own ${env:NAME} from a literal $${env:NAME} (see Resolve).
			final[k] = v
		}
	}
	res.Spec = final
}

var providerConfigSpecKeys = map[string]bool{"qps": true, "burst": true, "maxInFlight": true, "timeout": true, "readAfterWriteGrace": true, "followRedirects": true, "config": true, "source": true, "version": true, "idempotentCreates": true}

// providerSettings reads n, the spec.config of the ProviderConfig of
// provider name, checked against the provider's ConfigSchema. It returns
// the map as written (nil when empty). keyLine is the line of the config
// key.
func (d *docParser) providerSettings(n *yaml.Node, keyLine int, name string) map[string]any {
	const root = "spec.config"
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n.Line, root, "must be a map, got %s", nodeKind(n))
		return nil
	}
	c := converter{d: d, root: root, budget: maxNodes}
	written, _ := c.value(n, 0).(map[string]any)
	for _, r := range c.refs {
		d.errorf(r.Source.Line, r.Field, "references (${%s.outputs.%s}) are not allowed in a %s: its settings are known before any resource is; use ${env:NAME} for a value from the environment", r.Target, r.Output, KindProviderConfig)
	}
	if len(written) == 0 || len(c.refs) > 0 || name == "" || !d.known.provider(name) {
		return written
	}
	line := func(field string) int { return lineOf(n, root, field, n.Line) }
	var schema provider.Schema
	hasSchema := false
	for _, kind := range d.known.kinds {
		if provider.ProviderName(kind) != name {
			continue
		}
		if p, ok := d.reg.For(kind); ok {
			if cs, ok := p.(provider.ConfigSchemer); ok {
				schema, hasSchema = cs.ConfigSchema(), true
			}
		}
		break
	}
	if !hasSchema {
		d.errorf(keyLine, root, "provider %q takes no settings of its own: spec.config must be empty", name)
		return written
	}
	names := schema.FieldNames()
	check := make(map[string]any, len(written))
	for k, v := range written {
		if _, ok := schema.Fields[k]; !ok {
			msg := fmt.Sprintf("unknown setting of provider %q (known: %s)", name, listOrNone(names))
			if near := provider.Suggest(k, names); near != "" {
				msg = fmt.Sprintf("unknown setting of provider %q: did you mean %s? (known: %s)", name, near, listOrNone(names))
			}
			d.errorf(line(root+"."+k), root+"."+k, "%s", msg)
			continue
		}
		check[k] = configLiteral(v)
	}
	for _, fe := range schema.Check(check, provider.IsUnknown) {
		field := root + strings.TrimPrefix(fe.Field, "spec")
		d.errorf(line(field), field, "%s", fe.Msg)
	}
	return written
}

// configLiteral returns the value of a spec.config value v as the schema
// checks it: a string holding a live ${env:NAME} is provider.Unknown (its
// value is known only when the provider is configured), escapes are undone.
func configLiteral(v any) any {
	if s, ok := v.(string); ok && isTemplate(s) {
		if parts, _, err := parseParts(s, true); err == nil {
			for _, p := range parts {
				if p.env != "" {
					return provider.Unknown{Expr: s}
				}
			}
		}
	}
	out, _ := literal(v)
	return out
}

// providerConfig reads a ProviderConfig document.
func (d *docParser) providerConfig(top *topLevel, name string, kindLine int) *doc {
	for _, k := range []string{"dependsOn", "policy", "importId"} {
		if top.node(k) != nil {
			d.errorf(top.line(k), k, "is not allowed in a %s", KindProviderConfig)
		}
	}
	cfg := &ProviderConfig{Name: name, Source: Source{File: d.file, Line: kindLine}}
	if name != "" && !d.known.provider(name) {
		d.errorf(top.node("metadata").Line, "metadata.name", "no provider %q is registered (known providers: %s)", name, d.known.providerList())
	}
	n := top.node("spec")
	if n != nil && !isNull(n) {
		if n.Kind != yaml.MappingNode {
			d.errorf(n.Line, "spec", "must be a map, got %s", nodeKind(n))
		} else {
			f := d.fields(n, "spec.", providerConfigSpecKeys)
			c := converter{d: d, budget: maxNodes}
			num := func(key string) (any, int, bool) {
				v := f.node(key)
				if v == nil {
					return nil, 0, false
				}
				c.root = "spec." + key
				return c.value(v, 0), v.Line, true
			}
			if v, line, ok := num("qps"); ok {
				switch x := v.(type) {
				case int64:
					cfg.QPS = float64(x)
				case float64:
					cfg.QPS = x
				case json.Number: // 0.1, or beyond int64
					cfg.QPS, _ = x.Float64()
				}
				if cfg.QPS <= 0 {
					d.errorf(line, "spec.qps", "must be a number greater than 0")
				}
			}
			for _, k := range []struct {
				key string
				dst *int
			}{{"burst", &cfg.Burst}, {"maxInFlight", &cfg.MaxInFlight}} {
				if v, line, ok := num(k.key); ok {
					i, isInt := v.(int64)
					if !isInt || i < 1 || i > 1<<31-1 {
						d.errorf(line, "spec."+k.key, "must be an integer of at least 1")
						continue
					}
					*k.dst = int(i)
				}
			}
			if v, line, ok := num("timeout"); ok {
				s, _ := v.(string)
				if dur, err := time.ParseDuration(s); err != nil || dur <= 0 {
					d.errorf(line, "spec.timeout", "must be a positive Go duration such as 30s or 2m, got %v", v)
				} else {
					cfg.Timeout = s
				}
			}
			if v, line, ok := num("readAfterWriteGrace"); ok {
				s, _ := v.(string)
				if dur, err := time.ParseDuration(s); err != nil || dur < 0 {
					d.errorf(line, "spec.readAfterWriteGrace", "must be a Go duration such as 10s or 0s, got %v", v)
				} else {
					cfg.ReadAfterWriteGrace = s
				}
			}
			if v, line, ok := num("idempotentCreates"); ok {
				b, isBool := v.(bool)
				switch {
				case !isBool:
					d.errorf(line, "spec.idempotentCreates", "must be true or false, got %v", v)
				case b && cfg.ReadAfterWriteGrace != "":
					d.errorf(line, "spec.idempotentCreates", "and spec.readAfterWriteGrace both say how long to wait after an ambiguous create: with idempotentCreates: true converge does not wait; remove one")
				default:
					cfg.IdempotentCreates = b
				}
			}
			if v, line, ok := num("followRedirects"); ok {
				s, _ := v.(string)
				if s == "" || provider.CheckFollowRedirects(s) != nil {
					d.errorf(line, "spec.followRedirects", "must be %s or %s, got %v", provider.RedirectsNone, provider.RedirectsSameOrigin, v)
				} else {
					cfg.FollowRedirects = s
				}
			}
			for _, k := range []struct {
				key string
				dst *string
			}{{"source", &cfg.Plugin}, {"version", &cfg.Version}} {
				if v, line, ok := num(k.key); ok {
					s, isString := v.(string)
					if !isString || strings.TrimSpace(s) == "" {
						d.errorf(line, "spec."+k.key, "must be a non-empty string, got %v", v)
						continue
					}
					*k.dst = strings.TrimSpace(s)
				}
			}
			if cfg.Version != "" && cfg.Plugin == "" {
				d.errorf(f.line("version"), "spec.version", "needs spec.source: a version constrains the provider source names")
			}
			if v := f.node("config"); v != nil {
				cfg.Config = d.providerSettings(v, f.line("config"), name)
			}
		}
	}
	for _, e := range d.errs {
		if e.Resource == "" && name != "" {
			e.Resource = KindProviderConfig + "/" + name
		}
	}
	return &doc{cfg: cfg}
}

// sortedKeys returns m's keys, sorted.
func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// suggestKind is the known kind an unknown one most likely means: one a
// typo away ("file.Fil"), or the only kind with that name in any provider
// (a bare "File" for file.File); empty when there is none.
func suggestKind(kind string, kinds []string) string {
	if near := provider.Suggest(kind, kinds); near != "" {
		return near
	}
	if strings.Contains(kind, ".") {
		return ""
	}
	var match []string
	for _, k := range kinds {
		if _, name, ok := strings.Cut(k, "."); ok && (strings.EqualFold(name, kind) || provider.Suggest(kind, []string{name}) != "") {
			match = append(match, k)
		}
	}
	return strings.Join(match, " or ")
}
