package rest

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Printable returns s with everything that could drive a terminal written
// as an escape, so that text a server sent can be put in a message that
// is printed: C0 controls (ESC, BEL, backspace, \r, \n, \t: "\x1b", "\r",
// ...), DEL, C1 controls (U+0080 to U+009F, among them the one-byte CSI),
// bytes that are not UTF-8 ("\xff"), line and paragraph separators, and
// the bidirectional overrides, isolates and marks that reorder what is
// shown (U+202E: "\u202e"). Other text, non-ASCII letters included, is
// kept. A backslash is kept as it is, so Printable(Printable(s)) equals
// Printable(s).
func Printable(s string) string { return printable(s, false) }

// PrintableText is Printable for a message of several lines: newlines and
// tabs are kept.
func PrintableText(s string) string { return printable(s, true) }

func printable(s string, text bool) string {
	unsafeRune := func(r rune, n int) bool {
		return unsafeRune(r, n) && !(text && (r == '\n' || r == '\t'))
	}
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if unsafeRune(r, n) {
			break
		}
		i += n
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case !unsafeRune(r, n):
			b.WriteString(s[i : i+n])
		case r == utf8.RuneError:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		i += n
	}
	return b.String()
}

// unsafeRune reports whether the rune r, n bytes long in its string, must
// be escaped (see Printable).
func unsafeRune(r rune, n int) bool {
	switch {
	case r == utf8.RuneError && n <= 1:
		return true // not UTF-8
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return true
	case r == '\u061c', r == '\u200e', r == '\u200f', r == '\u2028', r == '\u2029',
		r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}
