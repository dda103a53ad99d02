package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/secret"
	"github.com/convergehq/converge/store"
)

// At rest, with Options.Sealer, a record or a revision holds no sensitive
// value in clear. Before it goes to the store:
//   - the value of every field its kind's schema marks Sensitive, in the
//     applied spec, the pending intent's spec, the replaced objects' specs
//     and the revision's specs, is sealed whole (JSON, then AES-256-GCM:
//     "sealed:v1:<key id>:<data>");
//   - so is every other string of those specs and of the outputs that
//     holds a secret the engine knows (a URL's password, an API echoing a
//     token in the object it returns), and every string that starts with
//     "sealed:", so that what is opened is always what the engine sealed.
//
// Records and revisions read back are opened before use; memory holds
// values in clear, so decisions, diffs and provider calls (a Delete after
// the resource left the manifests included) see the real values. Without
// a Sealer values are stored as they are, and a state holding sealed
// values is refused rather than used with sealed strings in place of the
// values.

// errNoKey is the error of opening a sealed value without a Sealer.
var errNoKey = errors.New("the state holds sealed values and no state key is configured (the key file next to the state, or " + secret.KeyEnv + ")")

// sealedLike reports whether s must be sealed whatever it holds: it looks
// like a sealed value.
func sealedLike(s string) bool { return strings.HasPrefix(s, "sealed:") }

// stored returns the copy of r that goes to the store.
func (e *Engine) stored(r *store.Record) store.Record {
	c := *cloneRecord(r)
	e.learnOutputs(r.Kind, r.Outputs)
	s := e.opts.Sealer
	if s == nil {
		return c
	}
	schema, _ := e.reg.Schema(r.Kind)
	where := "record/" + r.ID + "/"
	c.AppliedSpec = e.sealSpec(s, where+"appliedSpec", schema, c.AppliedSpec)
	c.Outputs = e.sealOutputs(s, where+"outputs", schema, c.Outputs)
	c.Private = sealPrivate(s, where+"private", schema, c.Private)
	if c.Pending != nil {
		c.Pending.Spec = e.sealSpec(s, where+"pending", schema, c.Pending.Spec)
	}
	for i := range c.Deposed {
		d := &c.Deposed[i]
		w := fmt.Sprintf("%sdeposed/%d/", where, i)
		d.Spec = e.sealSpec(s, w+"spec", schema, d.Spec)
		d.Outputs = e.sealOutputs(s, w+"outputs", schema, d.Outputs)
		d.Private = sealPrivate(s, w+"private", schema, d.Private)
	}
	return c
}

// sealOutputs seals outputs as sealMap does, and the schema's sensitive
// outputs whole.
func (e *Engine) sealOutputs(s *secret.Sealer, where string, schema provider.Schema, outputs map[string]any) map[string]any {
	if outputs == nil {
		return nil
	}
	out := make(map[string]any, len(outputs))
	for k, v := range outputs {
		if schema.SensitiveOutput(k) && v != nil {
			out[k] = seal(s, where+"."+k, v)
			continue
		}
		out[k] = e.sealStrings(s, where+"."+k, v)
	}
	return out
}

// sealPrivate seals every Private value of a kind whose schema says they
// may hold secrets, and any value that looks sealed.
func sealPrivate(s *secret.Sealer, where string, schema provider.Schema, private map[string]string) map[string]string {
	if private == nil {
		return nil
	}
	out := make(map[string]string, len(private))
	for k, v := range private {
		if schema.SealPrivate || sealedLike(v) {
			out[k] = seal(s, where+"."+k, v)
			continue
		}
		out[k] = v
	}
	return out
}

// openPrivate opens the sealed values of private: private itself when it
// holds none.
func (e *Engine) openPrivate(private map[string]string) (map[string]string, error) {
	sealed := false
	for _, v := range private {
		sealed = sealed || secret.IsSealed(v)
	}
	if !sealed {
		return private, nil
	}
	out := make(map[string]string, len(private))
	for k, v := range private {
		o, err := e.open(v)
		if err != nil {
			return nil, fmt.Errorf("private %s: %w", k, err)
		}
		str, ok := o.(string)
		if !ok {
			return nil, fmt.Errorf("private %s: a sealed value that is not a string", k)
		}
		out[k] = str
	}
	return out, nil
}

// storedRevision returns rv as it goes to the store.
func (e *Engine) storedRevision(rv *manifest.Revision) *manifest.Revision {
	s := e.opts.Sealer
	if s == nil {
		return rv
	}
	out := &manifest.Revision{Hash: rv.Hash, Paths: rv.Paths, ProviderConfigs: rv.ProviderConfigs, Commit: rv.Commit}
	for _, r := range rv.Resources {
		c := *r
		schema, _ := e.reg.Schema(r.Kind)
		c.Spec = e.sealSpec(s, "revision/"+rv.Hash+"/"+r.ID, schema, r.Spec)
		out.Resources = append(out.Resources, &c)
	}
	if len(rv.ProviderConfigs) > 0 {
		out.ProviderConfigs = make(map[string]manifest.ProviderConfig, len(rv.ProviderConfigs))
		for name, pc := range rv.ProviderConfigs {
			pc.Config = e.sealSpec(s, "revision/"+rv.Hash+"/providerConfig/"+name, e.configSchema(name), pc.Config)
			out.ProviderConfigs[name] = pc
		}
	}
	return out
}

// configSchema is the spec.config schema of the provider called name; the
// zero Schema when it has none.
func (e *Engine) configSchema(name string) provider.Schema {
	for _, p := range e.providers() {
		if c, ok := p.(provider.ConfigSchemer); ok && p.Name() == name {
			return c.ConfigSchema()
		}
	}
	return provider.Schema{}
}

func (e *Engine) sealSpec(s *secret.Sealer, where string, schema provider.Schema, spec map[string]any) map[string]any {
	if spec == nil {
		return nil
	}
	out := make(map[string]any, len(spec))
	for k, v := range spec {
		if schema.Fields[k].Sensitive && v != nil {
			out[k] = seal(s, where+"."+k, v)
			continue
		}
		out[k] = e.sealStrings(s, where+"."+k, v)
	}
	return out
}

func (e *Engine) sealMap(s *secret.Sealer, where string, m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	return e.sealStrings(s, where, m).(map[string]any)
}

// sealStrings seals the strings of v that hold a known secret or look
// sealed.
func (e *Engine) sealStrings(s *secret.Sealer, where string, v any) any {
	switch x := v.(type) {
	case string:
		if sealedLike(x) || e.secrets.Contains(x) {
			return seal(s, where, x)
		}
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e2 := range x {
			m[k] = e.sealStrings(s, where+"."+k, e2)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e2 := range x {
			l[i] = e.sealStrings(s, fmt.Sprintf("%s[%d]", where, i), e2)
		}
		return l
	}
	return v
}

func seal(s *secret.Sealer, where string, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(fmt.Sprint(v)) // spec values are JSON: cannot happen
	}
	return s.Seal(where, b)
}

// openRecord opens every sealed value of r in place.
func (e *Engine) openRecord(r *store.Record) error {
	var err error
	open := func(m map[string]any) map[string]any {
		if err != nil || !holdsSealed(m) {
			return m
		}
		var v any
		v, err = e.open(m)
		if err != nil {
			return m
		}
		return v.(map[string]any)
	}
	openPriv := func(m map[string]string) map[string]string {
		if err != nil {
			return m
		}
		var p map[string]string
		if p, err = e.openPrivate(m); err != nil {
			return m
		}
		return p
	}
	r.AppliedSpec = open(r.AppliedSpec)
	r.Outputs = open(r.Outputs)
	r.Private = openPriv(r.Private)
	if r.Pending != nil {
		r.Pending.Spec = open(r.Pending.Spec)
	}
	for i := range r.Deposed {
		r.Deposed[i].Spec = open(r.Deposed[i].Spec)
		r.Deposed[i].Outputs = open(r.Deposed[i].Outputs)
		r.Deposed[i].Private = openPriv(r.Deposed[i].Private)
	}
	if err != nil {
		return fmt.Errorf("record %s: %w", r.ID, err)
	}
	return nil
}

// openRevision returns rv with every sealed value opened: rv itself when
// it holds none.
func (e *Engine) openRevision(rv *manifest.Revision) (*manifest.Revision, error) {
	if rv == nil {
		return nil, nil
	}
	sealed := false
	for _, r := range rv.Resources {
		sealed = sealed || holdsSealed(r.Spec)
	}
	for _, pc := range rv.ProviderConfigs {
		sealed = sealed || holdsSealed(pc.Config)
	}
	if !sealed {
		return rv, nil
	}
	out := &manifest.Revision{Hash: rv.Hash, Paths: rv.Paths, ProviderConfigs: rv.ProviderConfigs, Commit: rv.Commit}
	if len(rv.ProviderConfigs) > 0 {
		out.ProviderConfigs = make(map[string]manifest.ProviderConfig, len(rv.ProviderConfigs))
		for name, pc := range rv.ProviderConfigs {
			v, err := e.open(pc.Config)
			if err != nil {
				return nil, fmt.Errorf("revision %s: ProviderConfig %s: %w", short(rv.Hash), name, err)
			}
			pc.Config, _ = v.(map[string]any)
			out.ProviderConfigs[name] = pc
		}
	}
	for _, r := range rv.Resources {
		c := *r
		v, err := e.open(r.Spec)
		if err != nil {
			return nil, fmt.Errorf("revision %s: %s: %w", short(rv.Hash), r.ID, err)
		}
		c.Spec, _ = v.(map[string]any)
		out.Resources = append(out.Resources, &c)
	}
	return out, nil
}

// holdsSealed reports whether v holds a sealed string.
func holdsSealed(v any) bool {
	switch x := v.(type) {
	case string:
		return secret.IsSealed(x)
	case map[string]any:
		for _, e := range x {
			if holdsSealed(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if holdsSealed(e) {
				return true
			}
		}
	}
	return false
}

// open returns a copy of v with every sealed string opened.
func (e *Engine) open(v any) (any, error) {
	switch x := v.(type) {
	case string:
		if !secret.IsSealed(x) {
			return x, nil
		}
		if e.opts.Sealer == nil {
			return nil, errNoKey
		}
		b, err := e.opts.Sealer.Open(x)
		if errors.Is(err, secret.ErrWrongKey) {
			return nil, fmt.Errorf("open a sealed value: %w: restore the state key that sealed it (the key file next to the state, or %s); without it the sealed values are lost", err, secret.KeyEnv)
		}
		if err != nil {
			return nil, fmt.Errorf("open a sealed value: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var out any
		if err := dec.Decode(&out); err != nil {
			return nil, fmt.Errorf("open a sealed value: %w", err)
		}
		return provider.Canonical(out), nil
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e2 := range x {
			o, err := e.open(e2)
			if err != nil {
				return nil, err
			}
			m[k] = o
		}
		return m, nil
	case []any:
		l := make([]any, len(x))
		for i, e2 := range x {
			o, err := e.open(e2)
			if err != nil {
				return nil, err
			}
			l[i] = o
		}
		return l, nil
	}
	return v, nil
}
