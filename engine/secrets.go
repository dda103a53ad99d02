package engine

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/convergehq/converge/diff"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/plan"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/rest"
	"github.com/convergehq/converge/store"
)

// The engine is the second line of defense for secrets: providers keep
// them out of their errors, and the engine keeps every secret it knows out
// of everything it writes (events, records, alerts, logs, plans), whatever
// a provider returned. The secrets it knows are the values of sensitive
// fields in every spec it handles (and, for Env fields, the values of
// their ${env:NAME} and the expanded strings) and the passwords of URLs in
// any field. Every message is also made printable, so that no text a
// server sent can drive a terminal.

// learn adds the secrets of specs of kind to e.secrets.
func (e *Engine) learn(kind string, specs ...map[string]any) {
	schema, _ := e.reg.Schema(kind)
	var found []string
	for _, spec := range specs {
		for k, v := range spec {
			f := schema.Fields[k]
			walkStrings(v, func(s string) {
				if f.Sensitive {
					found = append(found, s)
					if f.Env {
						if x, used, err := provider.ExpandEnv(s, e.opts.LookupEnv); err == nil {
							found = append(found, x)
							found = append(found, used...)
						}
					}
				}
				found = append(found, urlPasswords(s)...)
			})
			if f.Sensitive {
				walkScalars(v, func(x any) { found = append(found, fmt.Sprint(x)) })
			}
		}
	}
	e.secrets.Add(found...)
}

// learnConfig adds the values of the sensitive settings of a provider's
// spec.config, as written and as expanded, to e.secrets.
func (e *Engine) learnConfig(schema provider.Schema, written, expanded map[string]any) {
	var found []string
	for _, m := range []map[string]any{written, expanded} {
		for k, v := range m {
			sensitive := schema.Fields[k].Sensitive
			walkStrings(v, func(s string) {
				if sensitive {
					found = append(found, s)
				}
				found = append(found, urlPasswords(s)...)
			})
			if sensitive {
				walkScalars(v, func(x any) { found = append(found, fmt.Sprint(x)) })
			}
		}
	}
	e.secrets.Add(found...)
}

// learnOutputs adds the values of kind's sensitive outputs to e.secrets:
// from then on they are redacted wherever they show (a spec built from
// one, an error echoing it) and sealed at rest in every record, as
// Terraform's sensitive marks follow references.
func (e *Engine) learnOutputs(kind string, outputs ...map[string]any) {
	schema, _ := e.reg.Schema(kind)
	if len(schema.SensitiveOutputs) == 0 {
		return
	}
	var found []string
	for _, m := range outputs {
		for _, name := range schema.SensitiveOutputs {
			v, ok := m[name]
			if !ok || v == nil {
				continue
			}
			walkStrings(v, func(s string) { found = append(found, s) })
			walkScalars(v, func(x any) { found = append(found, fmt.Sprint(x)) })
		}
	}
	e.secrets.Add(found...)
}

// learnRecord learns the secrets of every spec and sensitive output r
// holds.
func (e *Engine) learnRecord(r *store.Record) {
	if r == nil {
		return
	}
	specs := []map[string]any{r.AppliedSpec}
	outputs := []map[string]any{r.Outputs}
	if r.Pending != nil {
		specs = append(specs, r.Pending.Spec)
	}
	for _, d := range r.Deposed {
		specs = append(specs, d.Spec)
		outputs = append(outputs, d.Outputs)
	}
	e.learn(r.Kind, specs...)
	e.learnOutputs(r.Kind, outputs...)
}

// learnRevision learns the secrets of rv's specs as written.
func (e *Engine) learnRevision(rv *manifest.Revision) {
	if rv == nil {
		return
	}
	for _, r := range rv.Resources {
		e.learn(r.Kind, r.Spec)
	}
}

// urlPasswords returns the password, and user:password, of every URL with
// one in s.
func urlPasswords(s string) []string {
	if !strings.Contains(s, "://") || !strings.Contains(s, "@") {
		return nil
	}
	var out []string
	for _, w := range strings.Fields(s) {
		i := strings.Index(w, "://")
		if i < 0 {
			continue
		}
		u, err := url.Parse(w[max(0, strings.LastIndexAny(w[:i], `"'([{<=`)+1):])
		if err != nil || u.User == nil {
			continue
		}
		if pw, ok := u.User.Password(); ok {
			out = append(out, pw, u.User.Username()+":"+pw)
		}
	}
	return out
}

func walkStrings(v any, fn func(string)) {
	switch x := v.(type) {
	case string:
		fn(x)
	case map[string]any:
		for _, e := range x {
			walkStrings(e, fn)
		}
	case []any:
		for _, e := range x {
			walkStrings(e, fn)
		}
	}
}

func walkScalars(v any, fn func(any)) {
	switch x := v.(type) {
	case int64, float64:
		fn(x)
	case map[string]any:
		for _, e := range x {
			walkScalars(e, fn)
		}
	case []any:
		for _, e := range x {
			walkScalars(e, fn)
		}
	}
}

// clean makes s fit to be written: every known secret redacted, in every
// form the redactor knows (see package secret), and made printable (lines
// and tabs kept).
func (e *Engine) clean(s string) string {
	return rest.PrintableText(e.secrets.Redact(s))
}

// cleanRecord cleans the messages of r in place.
func (e *Engine) cleanRecord(r *store.Record) {
	r.Message = e.clean(r.Message)
	r.LastError = e.clean(r.LastError)
	for i := range r.Conditions {
		r.Conditions[i].Message = e.clean(r.Conditions[i].Message)
	}
}

// cleanDiff returns d masked, with the strings of the changes that are not
// sensitive cleaned (a URL's password, a secret an output carried).
func (e *Engine) cleanDiff(d diff.Diff) diff.Diff {
	d = d.Masked()
	for i := range d {
		c := &d[i]
		if c.Sensitive {
			continue
		}
		c.Old, c.New = e.cleanValue(c.Old), e.cleanValue(c.New)
	}
	return d
}

func (e *Engine) cleanValue(v any) any {
	switch x := v.(type) {
	case string:
		return e.clean(x)
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, v := range x {
			m[k] = e.cleanValue(v)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, v := range x {
			l[i] = e.cleanValue(v)
		}
		return l
	}
	return v
}

// cleanAction cleans what a plan shows of a.
func (e *Engine) cleanAction(a plan.Action) plan.Action {
	a.Reason = e.clean(a.Reason)
	a.Diff = e.cleanDiff(a.Diff)
	return a
}
