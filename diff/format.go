package diff

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/convergehq/converge/provider"
)

// Placeholders printed instead of values.
const (
	// SensitiveValue replaces the value of a sensitive field.
	SensitiveValue = "(sensitive)"
	// UnknownValue stands for a value known only after apply.
	UnknownValue = "(known after apply)"
	// AbsentValue stands for a value that does not exist (as opposed to null).
	AbsentValue = "(none)"
)

// Limits above which FormatValue shortens a string.
const (
	maxLines    = 3
	maxChars    = 120
	previewRune = 60
)

// Masked returns a copy of d in which the Old and New values of sensitive
// changes are replaced by the string "(sensitive)". Absent sides stay absent.
// d itself is not modified.
func (d Diff) Masked() Diff {
	if d == nil {
		return nil
	}
	out := make(Diff, len(d))
	copy(out, d)
	for i := range out {
		c := &out[i]
		if !c.Sensitive {
			continue
		}
		if !c.OldAbsent {
			c.Old = SensitiveValue
		}
		if !c.NewAbsent {
			c.New = SensitiveValue
		}
	}
	return out
}

// String renders the change for people, one line:
//
//	content: "a" -> "b"
//	mode: "0644" -> "0600" (forces replacement)
//	path: (none) -> "x"
//	token: (sensitive) -> (sensitive)
//
// Sensitive values are never printed, whether or not the diff was masked.
func (c Change) String() string {
	var b strings.Builder
	b.WriteString(c.Path)
	b.WriteString(": ")
	if line, ok := lineChange(c); ok {
		b.WriteString(line)
		if c.ForceNew {
			b.WriteString(" (forces replacement)")
		}
		return b.String()
	}
	switch {
	case c.OldAbsent:
		b.WriteString(AbsentValue)
	case c.Sensitive:
		b.WriteString(SensitiveValue)
	default:
		b.WriteString(FormatValue(c.Old))
	}
	b.WriteString(" -> ")
	switch {
	case c.NewAbsent:
		b.WriteString(AbsentValue)
	case c.Unknown:
		b.WriteString(UnknownValue)
	case c.Sensitive:
		b.WriteString(SensitiveValue)
	default:
		b.WriteString(FormatValue(c.New))
	}
	if c.ForceNew {
		b.WriteString(" (forces replacement)")
	}
	return b.String()
}

// FormatValue renders v compactly and deterministically for people:
// strings Go-quoted (long or multi-line ones shortened to their first line,
// with a note of their size), numbers exactly (in provider.Canonical form:
// 12345678901234567891 stays that), booleans as Go prints them, null
// as "null", lists as [a, b], maps as {"k": v} with sorted keys, and
// provider.Unknown as "(known after apply)".
func FormatValue(v any) string {
	var b strings.Builder
	formatValue(&b, provider.Canonical(v))
	return b.String()
}

func formatValue(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case string:
		b.WriteString(formatString(x))
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		b.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
	case json.Number:
		b.WriteString(string(x)) // exact: 12345678901234567891, 0.1
	case provider.Unknown:
		b.WriteString(UnknownValue)
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			formatValue(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		b.WriteByte('{')
		for i, k := range provider.SortedKeys(x) {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.Quote(k))
			b.WriteString(": ")
			formatValue(b, x[k])
		}
		b.WriteByte('}')
	default:
		fmt.Fprintf(b, "%v", x)
	}
}

// formatString quotes s; a string of more than maxLines lines or maxChars
// characters is shortened to the start of its first line and a note:
// "<!doctype html>"... (12 lines).
func formatString(s string) string {
	lines := strings.Count(strings.TrimSuffix(s, "\n"), "\n") + 1
	chars := utf8.RuneCountInString(s)
	if lines <= maxLines && chars <= maxChars {
		return strconv.Quote(s)
	}
	first, _, _ := strings.Cut(s, "\n")
	if r := []rune(first); len(r) > previewRune {
		first = string(r[:previewRune])
	}
	note := fmt.Sprintf("(%d lines)", lines)
	if lines == 1 {
		note = fmt.Sprintf("(%d chars)", chars)
	}
	return strconv.Quote(first) + "... " + note
}

// lineChange renders a change between two long or multi-line strings as
// the first line that differs, so that a person sees what changed rather
// than two shortened copies of the same first line.
func lineChange(c Change) (string, bool) {
	if c.OldAbsent || c.NewAbsent || c.Unknown || c.Sensitive {
		return "", false
	}
	o, ok1 := c.Old.(string)
	n, ok2 := c.New.(string)
	if !ok1 || !ok2 || (!isLong(o) && !isLong(n)) {
		return "", false
	}
	ol, nl := lines(o), lines(n)
	i := 0
	for i < len(ol) && i < len(nl) && ol[i] == nl[i] {
		i++
	}
	at := func(ls []string) string {
		if i >= len(ls) {
			return AbsentValue
		}
		return FormatValue(ls[i])
	}
	return fmt.Sprintf("line %d: %s -> %s (%d -> %d lines)", i+1, at(ol), at(nl), len(ol), len(nl)), true
}

func isLong(s string) bool { return strings.Count(s, "\n") > 0 || len(s) > 120 }

// lines splits s into lines; a final newline ends the last line rather
// than starting another.
func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}
