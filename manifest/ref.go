package manifest

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/convergehq/converge/provider"
)

// part is a piece of a template string: a literal, a reference or, when
// asked for, an environment variable.
type part struct {
	lit    string
	target string // "file.Directory/www"; empty for a literal
	output string
	env    string // "API_TOKEN" for ${env:API_TOKEN} (lit holds it as written)
}

// isTemplate reports whether s holds a reference or an escape: whether it
// must go through parseTemplate to mean anything.
func isTemplate(s string) bool { return strings.Contains(s, "${") }

// parseTemplate splits s into literals and references. "$${" is a literal
// "${"; it is read left to right. ${env:NAME} is literal text.
func parseTemplate(s string) (parts []part, hasRef bool, err error) {
	return parseParts(s, false)
}

// parseParts is parseTemplate; with env, each ${env:NAME} is a part of its
// own, so that it can be told from a literal "${env:NAME}" written $${.
func parseParts(s string, env bool) (parts []part, hasRef bool, err error) {
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, part{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			lit.WriteString("${")
			i += 3
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			lit.WriteByte(s[i])
			i++
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return nil, false, fmt.Errorf("unterminated reference %q: want ${KIND/NAME.outputs.FIELD} (write $${ for a literal ${)", s[i:])
		}
		expr := s[i+2 : i+end]
		if name, ok := strings.CutPrefix(expr, "env:"); ok {
			// ${env:NAME} is not a reference: it stays as written, and the
			// provider that reads it expands it at call time (in the
			// fields whose schema says Env), so the value is never stored.
			if !validEnvName(name) {
				return nil, false, fmt.Errorf("malformed environment variable %q: want ${env:NAME} with NAME made of letters, digits and _", s[i:i+end+1])
			}
			if env {
				flush()
				parts = append(parts, part{lit: "${" + expr + "}", env: name})
			} else {
				lit.WriteString("${" + expr + "}")
			}
			i += end + 1
			continue
		}
		target, output, ok := parseRef(expr)
		if !ok {
			return nil, false, fmt.Errorf("malformed reference %q: want ${KIND/NAME.outputs.FIELD} (write $${ for a literal ${)", s[i:i+end+1])
		}
		flush()
		parts = append(parts, part{target: target, output: output})
		hasRef = true
		i += end + 1
	}
	flush()
	return parts, hasRef, nil
}

const outputsSep = ".outputs."

// parseRef parses "KIND/NAME.outputs.FIELD".
func parseRef(expr string) (target, output string, ok bool) {
	slash := strings.IndexByte(expr, '/')
	if slash < 0 {
		return "", "", false
	}
	kind, rest := expr[:slash], expr[slash+1:]
	sep := strings.LastIndex(rest, outputsSep)
	if sep < 0 {
		return "", "", false
	}
	name, field := rest[:sep], rest[sep+len(outputsSep):]
	if !validKind(kind) || validName(name) != "" || !validField(field) {
		return "", "", false
	}
	return kind + "/" + name, field, true
}

// validKind reports whether k looks like a provider-qualified kind: dotted
// words of letters, digits, '_' and '-'.
func validKind(k string) bool {
	if k == "" || k[0] == '.' || k[len(k)-1] == '.' || !strings.Contains(k, ".") || strings.Contains(k, "..") {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; !(isAlnum(c) || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func validField(f string) bool {
	if f == "" {
		return false
	}
	for i := 0; i < len(f); i++ {
		if c := f[i]; !(isAlnum(c) || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// maxNameLen is the longest name allowed, as in Kubernetes.
const maxNameLen = 253

// validName returns why name is not a valid resource name, or "".
func validName(name string) string {
	if name == "" {
		return "must not be empty"
	}
	if len(name) > maxNameLen {
		return fmt.Sprintf("is %d characters long; the limit is %d", len(name), maxNameLen)
	}
	if !isAlnum(name[0]) {
		return fmt.Sprintf("%q must start with a letter or digit", name)
	}
	for i := 1; i < len(name); i++ {
		if c := name[i]; !(isAlnum(c) || c == '.' || c == '_' || c == '-') {
			return fmt.Sprintf("%q may hold only letters, digits, '.', '_' and '-'", name)
		}
	}
	return ""
}

// escape returns s with every "${" written "$${", so that parseTemplate
// gives s back as a literal.
func escape(s string) string {
	if !isTemplate(s) {
		return s
	}
	return strings.ReplaceAll(s, "${", "$${")
}

// escapeAll escapes every string in v, deeply, in place for maps and lists.
func escapeAll(v any) any {
	switch x := v.(type) {
	case string:
		return escape(x)
	case map[string]any:
		for k, e := range x {
			x[k] = escapeAll(e)
		}
	case []any:
		for i, e := range x {
			x[i] = escapeAll(e)
		}
	}
	return v
}

// literal returns a copy of the template value v in which strings holding a
// reference are provider.Unknown and escapes are undone: the value as a
// schema can check it before references are known. hasRef reports whether
// any reference was found. Malformed templates are kept as written (they
// were reported when loading).
func literal(v any) (out any, hasRef bool) {
	switch x := v.(type) {
	case string:
		if !isTemplate(x) {
			return x, false
		}
		parts, ref, err := parseTemplate(x)
		if err != nil {
			return x, false
		}
		if ref {
			return provider.Unknown{Expr: x}, true
		}
		return joinLiterals(parts), false
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			var r bool
			m[k], r = literal(e)
			hasRef = hasRef || r
		}
		return m, hasRef
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			var r bool
			l[i], r = literal(e)
			hasRef = hasRef || r
		}
		return l, hasRef
	}
	return v, false
}

func joinLiterals(parts []part) string {
	if len(parts) == 1 {
		return parts[0].lit
	}
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.lit)
	}
	return b.String()
}

// Resolve returns a deep copy of r.Spec with every reference replaced by the
// output it names, taken from outputs (which gives the outputs of Ready
// resources by ID) and every escape undone. A string that is exactly one
// reference takes the output's value and type; a reference inside a longer
// string is formatted into it (numbers and booleans as Go formats them,
// null as nothing, maps and lists as JSON). When a reference's target has no
// outputs yet, or lacks that output, the whole string becomes
// provider.Unknown{Expr: the string as written} and the target is listed in
// unresolved (sorted, without duplicates).
//
// The strings of the fields schema marks Env are templates for
// provider.ExpandEnv instead: the ${env:NAME} the manifest wrote stay live,
// and every other "$" is doubled, those of outputs and of escapes ($${)
// included, so that no value another resource's API returned, and no text
// the manifest escaped, is ever expanded from the environment.
func Resolve(r *Resource, schema provider.Schema, outputs func(id string) (map[string]any, bool)) (spec map[string]any, unresolved []string) {
	missing := map[string]bool{}
	var out map[string]any
	if r.Spec != nil {
		out = make(map[string]any, len(r.Spec))
		for k, v := range r.Spec {
			if schema.Fields[k].Env {
				out[k] = resolveValue(v, outputs, missing, resolveEnvString)
			} else {
				out[k] = resolveValue(v, outputs, missing, resolveString)
			}
		}
	}
	for id := range missing {
		unresolved = append(unresolved, id)
	}
	sort.Strings(unresolved)
	return out, unresolved
}

// outputsFunc returns a resource's outputs, false when it has none yet.
type outputsFunc = func(string) (map[string]any, bool)

// resolveValue resolves every string in v with str (resolveString, or
// resolveEnvString for an Env field), maps and lists deeply.
func resolveValue(v any, outputs outputsFunc, missing map[string]bool, str func(string, outputsFunc, map[string]bool) any) any {
	switch x := v.(type) {
	case string:
		return str(x, outputs, missing)
	case map[string]any:
		if x == nil {
			return map[string]any(nil)
		}
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = resolveValue(e, outputs, missing, str)
		}
		return m
	case []any:
		if x == nil {
			return []any(nil)
		}
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = resolveValue(e, outputs, missing, str)
		}
		return l
	}
	return v
}

// lookupParts returns the value of every reference among parts (nil for
// literals); false when some target has no such output yet, each such
// target added to missing.
func lookupParts(parts []part, outputs outputsFunc, missing map[string]bool) ([]any, bool) {
	values := make([]any, len(parts))
	known := true
	for i, p := range parts {
		if p.target == "" {
			continue
		}
		outs, ok := outputs(p.target)
		var val any
		if ok {
			val, ok = outs[p.output]
		}
		if !ok {
			missing[p.target] = true
			known = false
			continue
		}
		values[i] = val
	}
	return values, known
}

func resolveString(s string, outputs outputsFunc, missing map[string]bool) any {
	if !isTemplate(s) {
		return s
	}
	parts, hasRef, err := parseTemplate(s)
	if err != nil {
		return s // not a valid template: a loaded revision never holds one
	}
	if !hasRef {
		return joinLiterals(parts)
	}
	values, ok := lookupParts(parts, outputs, missing)
	if !ok {
		return provider.Unknown{Expr: s}
	}
	if len(parts) == 1 {
		return provider.Canonical(deepCopy(values[0]))
	}
	var b strings.Builder
	for i, p := range parts {
		if p.target == "" {
			b.WriteString(p.lit)
			continue
		}
		b.WriteString(format(values[i]))
	}
	return b.String()
}

// resolveEnvString resolves s, a string of an Env field, into a template
// for provider.ExpandEnv (see Resolve).
func resolveEnvString(s string, outputs outputsFunc, missing map[string]bool) any {
	parts, _, err := parseParts(s, true)
	if err != nil {
		// Not a valid template (a loaded revision never holds one): all
		// of it is text.
		return provider.EscapeEnv(s)
	}
	values, ok := lookupParts(parts, outputs, missing)
	if !ok {
		return provider.Unknown{Expr: s}
	}
	if len(parts) == 1 && parts[0].target != "" {
		return escapeEnvAll(provider.Canonical(deepCopy(values[0])))
	}
	var b strings.Builder
	for i, p := range parts {
		switch {
		case p.env != "":
			b.WriteString(p.lit) // the manifest's own: live
		case p.target != "":
			b.WriteString(provider.EscapeEnv(format(values[i])))
		default:
			b.WriteString(provider.EscapeEnv(p.lit))
		}
	}
	return b.String()
}

// escapeEnvAll escapes every string in v for provider.ExpandEnv, deeply,
// in place (v is a copy).
func escapeEnvAll(v any) any {
	switch x := v.(type) {
	case string:
		return provider.EscapeEnv(x)
	case map[string]any:
		for k, e := range x {
			x[k] = escapeEnvAll(e)
		}
	case []any:
		for i, e := range x {
			x[i] = escapeEnvAll(e)
		}
	}
	return v
}

// format renders an output value inside a longer string.
func format(v any) string {
	switch x := provider.Canonical(v).(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	}
}

// deepCopy copies maps and lists so that a resolved spec never aliases the
// outputs it was built from.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}

// validEnvName reports whether n is a portable environment variable name.
func validEnvName(n string) bool { return provider.ValidEnvName(n) }

// ExpandConfig returns config, a ProviderConfig's spec.config as written,
// with every escape undone and every ${env:NAME} expanded by lookup, deeply.
// A top-level key with a variable that is not set is left out, with an
// error naming the key and the variable (never a value). config is not
// modified.
func ExpandConfig(config map[string]any, lookup func(string) (string, bool)) (map[string]any, []error) {
	if config == nil {
		return nil, nil
	}
	none := func(string) (map[string]any, bool) { return nil, false }
	out := make(map[string]any, len(config))
	var errs []error
	for _, k := range provider.SortedKeys(config) {
		var err error
		v := resolveValue(config[k], none, map[string]bool{}, resolveEnvString)
		v = mapStrings(v, func(s string) string {
			x, _, e := provider.ExpandEnv(s, lookup)
			if e != nil && err == nil {
				err = e
			}
			return x
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("spec.config.%s: %w", k, err))
			continue
		}
		out[k] = v
	}
	return out, errs
}

// mapStrings replaces every string s in v, a copy, with f(s), deeply and in
// place.
func mapStrings(v any, f func(string) string) any {
	switch x := v.(type) {
	case string:
		return f(x)
	case map[string]any:
		for k, e := range x {
			x[k] = mapStrings(e, f)
		}
	case []any:
		for i, e := range x {
			x[i] = mapStrings(e, f)
		}
	}
	return v
}
