package provider

import (
	"fmt"
	"strings"
)

// ExpandEnv expands a template of an Env field: "${env:NAME}" is the
// variable's value (lookup), "$$" is one "$" (so "$${" is a literal "${"),
// and any other "$" is itself. It returns the expanded string and the
// values of the variables it used, so that callers can keep them out of
// messages. A variable that is not set is an error naming it, never a
// value.
func ExpandEnv(template string, lookup func(string) (string, bool)) (string, []string, error) {
	if !strings.Contains(template, "$") {
		return template, nil, nil
	}
	var b strings.Builder
	var used []string
	for i := 0; i < len(template); {
		rest := template[i:]
		switch {
		case strings.HasPrefix(rest, "$$"):
			b.WriteByte('$')
			i += 2
		case strings.HasPrefix(rest, "${env:"):
			end := strings.IndexByte(rest, '}')
			name := ""
			if end > 0 {
				name = rest[len("${env:"):end]
			}
			if !ValidEnvName(name) {
				b.WriteByte('$')
				i++
				continue
			}
			v, ok := lookup(name)
			if !ok {
				return "", nil, fmt.Errorf("environment variable %s is not set", name)
			}
			b.WriteString(v)
			used = append(used, v)
			i += end + 1
		default:
			b.WriteByte(template[i])
			i++
		}
	}
	return b.String(), used, nil
}

// EscapeEnv returns s written so that ExpandEnv gives it back as it is:
// every "$" doubled.
func EscapeEnv(s string) string { return strings.ReplaceAll(s, "$", "$$") }

// ValidEnvName reports whether n is a portable environment variable name:
// letters, digits and _, not starting with a digit.
func ValidEnvName(n string) bool {
	if n == "" || n[0] >= '0' && n[0] <= '9' {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
