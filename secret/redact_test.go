package secret

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"strings"
	"testing"
)

// hostile is a secret with every character that encoders like to escape.
const hostile = `s3cr"et/\tok+en é&<ü>😀`

func TestRedactForms(t *testing.T) {
	r := New(hostile)
	goJSON, _ := json.Marshal(hostile)
	tests := map[string]string{
		"exact":               hostile,
		"go json":             string(goJSON[1 : len(goJSON)-1]),
		"json no html escape": jsonEscape2(hostile, false, false, false),
		"json ascii only":     jsonEscape2(hostile, true, false, false),
		"json upper hex":      jsonEscape2(hostile, true, true, false),
		"json escaped slash":  jsonEscape2(hostile, true, false, true),
		"json quote as u0022": strings.ReplaceAll(jsonEscape2(hostile, true, false, false), `\"`, `\u0022`),
		"json twice":          string(mustJSON(string(mustJSON(hostile)))),
		"query escape":        url.QueryEscape(hostile),
		"path escape":         url.PathEscape(hostile),
		"percent every byte":  percentAll(hostile, "%%%02X"),
		"percent lower":       percentAll(hostile, "%%%02x"),
		"percent twice":       url.QueryEscape(url.QueryEscape(hostile)),
		"html escape":         html.EscapeString(hostile),
		"html numeric":        strings.ReplaceAll(hostile, `"`, "&#34;"),
		"html hex":            strings.ReplaceAll(hostile, `"`, "&#x22;"),
		"base64":              base64.StdEncoding.EncodeToString([]byte(hostile)),
		"base64 url raw":      base64.RawURLEncoding.EncodeToString([]byte(hostile)),
		"base64 followed":     base64.StdEncoding.EncodeToString([]byte(hostile + " and more")),
		"folded white space":  strings.Join(strings.Fields(hostile), " "),
	}
	for name, form := range tests {
		t.Run(name, func(t *testing.T) {
			for _, text := range []string{form, "token " + form + " is revoked", "{\"error\":\"bad " + form + "\"}"} {
				got := r.Redact(text)
				if strings.Contains(got, form) || !strings.Contains(got, Placeholder) {
					t.Errorf("Redact(%q) = %q; want the secret replaced by %s", text, got, Placeholder)
				}
				if !r.Contains(text) {
					t.Errorf("Contains(%q) = false", text)
				}
			}
		})
	}
}

func TestRedactKeepsTheRest(t *testing.T) {
	r := New("hunter22", "Bearer tok-123456", "Basic "+base64.StdEncoding.EncodeToString([]byte("alice:pa55word")), "abc", "sens")
	tests := map[string]string{
		"no secret":                  "GET http://h/x: 500 Internal Server Error: boom",
		"inside":                     "token=hunter22; retry",
		"two":                        "hunter22 and hunter22",
		"credential alone":           "bad token tok-123456",
		"whole header":               "got Bearer tok-123456!",
		"basic decoded":              "user alice:pa55word denied",
		"basic password":             "password pa55word denied",
		"short secrets are kept":     "abc is too short to hide",
		"inside placeholder is kept": "sens appears in (sensitive)",
		"percent literal kept":       "100% sure",
		"lone backslash":             `a\b \u12 \uD800x`,
		"html non entity":            "a & b &#xZZ; &;",
	}
	want := map[string]string{
		"no secret":                  "GET http://h/x: 500 Internal Server Error: boom",
		"inside":                     "token=(sensitive); retry",
		"two":                        "(sensitive) and (sensitive)",
		"credential alone":           "bad token (sensitive)",
		"whole header":               "got (sensitive)!",
		"basic decoded":              "user (sensitive) denied",
		"basic password":             "password (sensitive) denied",
		"short secrets are kept":     "abc is too short to hide",
		"inside placeholder is kept": "(sensitive) appears in (sensitive)",
		"percent literal kept":       "100% sure",
		"lone backslash":             `a\b \u12 \uD800x`,
		"html non entity":            "a & b &#xZZ; &;",
	}
	// "sens" is inside the placeholder: it is not a secret to hide, or
	// redacting twice would not be stable.
	want["inside placeholder is kept"] = "sens appears in (sensitive)"
	for name, in := range tests {
		if got := r.Redact(in); got != want[name] {
			t.Errorf("%s: Redact(%q) = %q; want %q", name, in, got, want[name])
		}
		if got := r.Redact(r.Redact(in)); got != r.Redact(in) {
			t.Errorf("%s: Redact is not stable: %q", name, got)
		}
	}
}

func TestRedactNil(t *testing.T) {
	var r *Redactor
	if got := r.Redact("hunter22"); got != "hunter22" {
		t.Errorf("nil Redact = %q", got)
	}
	if r.Contains("hunter22") || (&Redactor{}).Contains("hunter22") {
		t.Errorf("empty redactor contains a secret")
	}
}

func TestRedactOverlapping(t *testing.T) {
	r := New("abcdef", "defghi")
	if got, want := r.Redact("xabcdefghiy"), "x(sensitive)y"; got != want {
		t.Errorf("Redact = %q; want %q", got, want)
	}
}

func TestRedactManySecrets(t *testing.T) {
	r := &Redactor{}
	for i := 0; i < 20000; i++ {
		r.Add(fmt.Sprintf("token-%08d", i))
	}
	if got, want := r.Redact("a token-00012345 b"), "a (sensitive) b"; got != want {
		t.Errorf("Redact = %q; want %q", got, want)
	}
}

func BenchmarkRedact(b *testing.B) {
	r := &Redactor{}
	for i := 0; i < 10000; i++ {
		r.Add(fmt.Sprintf("token-%08d", i))
	}
	msg := strings.Repeat("observe http.Resource/web-1: GET http://127.0.0.1/v1/widgets/w-1: 500 Internal Server Error: ", 3)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.Redact(msg)
	}
}

func mustJSON(s string) []byte {
	b, _ := json.Marshal(s)
	return b[1 : len(b)-1]
}

// jsonEscape2 escapes s as JSON encoders other than Go's do: non-ASCII as
// \uXXXX (surrogate pairs above the BMP) when ascii, in upper case hex when
// upper, and / as \/ when slash.
func jsonEscape2(s string, ascii, upper, slash bool) string {
	var b strings.Builder
	hex := "\\u%04x"
	if upper {
		hex = "\\u%04X"
	}
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '/' && slash:
			b.WriteString(`\/`)
		case r == '\t':
			b.WriteString(`\t`)
		case r > 0x7e && ascii:
			if r > 0xffff {
				r -= 0x10000
				fmt.Fprintf(&b, hex, 0xd800+(r>>10))
				fmt.Fprintf(&b, hex, 0xdc00+(r&0x3ff))
				continue
			}
			fmt.Fprintf(&b, hex, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func percentAll(s, format string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, format, s[i])
	}
	return b.String()
}
