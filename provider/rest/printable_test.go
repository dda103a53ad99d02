package rest

import (
	"strings"
	"testing"
)

func TestPrintable(t *testing.T) {
	tests := map[string]string{
		"plain":                         "plain",
		"caf\u00e9 \u65e5\u672c":        "caf\u00e9 \u65e5\u672c",
		"a\x1b]0;pwned\x07\x1b[2Jb":     `a\x1b]0;pwned\x07\x1b[2Jb`,
		"over\rwrite":                   `over\rwrite`,
		"back\bspace":                   `back\x08space`,
		"line\nbreak\ttab":              `line\nbreak\ttab`,
		"del\x7f":                       `del\x7f`,
		"c1 \u009b31m":                  `c1 \u009b31m`,
		"bidi \u202egnp.exe":            `bidi \u202egnp.exe`,
		"isolate \u2066x\u2069":         `isolate \u2066x\u2069`,
		"marks \u200e\u200f\u061c":      `marks \u200e\u200f\u061c`,
		"invalid \x9b31m \xff":          `invalid \x9b31m \xff`,
		`already \x1b escaped`:          `already \x1b escaped`,
		"zero width joiner \u200d kept": "zero width joiner \u200d kept",
	}
	for in, want := range tests {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q; want %q", in, got, want)
		}
		if got := Printable(Printable(in)); got != Printable(in) {
			t.Errorf("Printable is not idempotent on %q: %q", in, got)
		}
	}
}

// Server text never reaches a message with a control character in it, so
// that status and apply output cannot drive the terminal.
func TestMessageEscapesControls(t *testing.T) {
	hostile := "\x1b]0;pwned\x07\x1b[2J"
	bodies := []string{
		hostile,
		`{"error": "` + strings.ReplaceAll(strings.ReplaceAll(hostile, "\x1b", `\u001b`), "\x07", `\u0007`) + `"}`,
		`{"message": "ok\u202eexe.txt"}`,
		"text \r\x08 body",
	}
	for _, b := range bodies {
		for name, got := range map[string]string{"Message": Message([]byte(b)), "Truncate": Truncate(b)} {
			for _, r := range got {
				if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u202e' {
					t.Errorf("%s(%q) = %q: holds control character %U", name, b, got, r)
				}
			}
		}
	}
}

func TestPrintableText(t *testing.T) {
	if got, want := PrintableText("a\n\tb\x1b[2J\r"), "a\n\tb\\x1b[2J\\r"; got != want {
		t.Errorf("PrintableText = %q; want %q", got, want)
	}
}
