package secret

import (
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// view is a text decoded from the raw text in one way, with where in the
// raw text each of its bytes came from.
type view struct {
	text       string
	start, end []int // raw span of text[k]; nil: the raw text itself
}

// raw returns the span of the raw text that text[i:j] was decoded from.
func (v view) raw(i, j int) span {
	if v.start == nil {
		return span{i, j}
	}
	return span{v.start[i], v.end[j-1]}
}

// views returns s as written and every decoding of it that differs: JSON
// string escapes (once and twice), percent-encoding with and without + for
// a space (once and twice), and HTML character references.
func views(s string) []view {
	out := []view{{text: s}}
	add := func(v view, ok bool) (view, bool) {
		if ok {
			out = append(out, v)
		}
		return v, ok
	}
	if strings.IndexByte(s, '\\') >= 0 {
		if j, ok := add(decode(out[0], jsonEscape)); ok && strings.IndexByte(j.text, '\\') >= 0 {
			add(decode(j, jsonEscape))
		}
	}
	if strings.IndexByte(s, '%') >= 0 || strings.IndexByte(s, '+') >= 0 {
		if q, ok := add(decode(out[0], queryEscape)); ok && strings.IndexByte(q.text, '%') >= 0 {
			add(decode(q, queryEscape))
		}
		if strings.IndexByte(s, '%') >= 0 {
			if p, ok := add(decode(out[0], pathEscape)); ok && strings.IndexByte(p.text, '%') >= 0 {
				add(decode(p, pathEscape))
			}
		}
	}
	if strings.IndexByte(s, '&') >= 0 {
		add(decode(out[0], htmlEscape))
	}
	return out
}

// An unescaper reads the escape at s[i:], if there is one, and returns what
// it stands for and its length; n == 0 when s[i] is not an escape.
type unescaper func(s string, i int) (decoded string, n int)

// decode applies un to v, composing the raw spans. It reports false when
// nothing was decoded.
func decode(v view, un unescaper) (view, bool) {
	s := v.text
	var b strings.Builder
	var start, end []int
	changed := false
	rawStart := func(k int) int {
		if v.start == nil {
			return k
		}
		return v.start[k]
	}
	rawEnd := func(k int) int {
		if v.end == nil {
			return k + 1
		}
		return v.end[k]
	}
	for i := 0; i < len(s); {
		dec, n := un(s, i)
		if n == 0 {
			b.WriteByte(s[i])
			start, end = append(start, rawStart(i)), append(end, rawEnd(i))
			i++
			continue
		}
		changed = true
		for k := 0; k < len(dec); k++ {
			b.WriteByte(dec[k])
			start, end = append(start, rawStart(i)), append(end, rawEnd(i+n-1))
		}
		i += n
	}
	if !changed {
		return view{}, false
	}
	return view{text: b.String(), start: start, end: end}, true
}

func jsonEscape(s string, i int) (string, int) {
	if s[i] != '\\' || i+1 >= len(s) {
		return "", 0
	}
	switch c := s[i+1]; c {
	case '"', '\\', '/':
		return string(c), 2
	case 'b':
		return "\b", 2
	case 'f':
		return "\f", 2
	case 'n':
		return "\n", 2
	case 'r':
		return "\r", 2
	case 't':
		return "\t", 2
	case 'u':
		r, ok := hex4(s, i+2)
		if !ok {
			return "", 0
		}
		if utf16.IsSurrogate(r) {
			if i+12 <= len(s) && s[i+6] == '\\' && s[i+7] == 'u' {
				if r2, ok := hex4(s, i+8); ok {
					if c := utf16.DecodeRune(r, r2); c != utf8.RuneError {
						return string(c), 12
					}
				}
			}
			return string(utf8.RuneError), 6
		}
		return string(r), 6
	}
	return "", 0
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	n, err := strconv.ParseUint(s[i:i+4], 16, 16)
	return rune(n), err == nil
}

func pathEscape(s string, i int) (string, int) {
	if s[i] != '%' || i+3 > len(s) {
		return "", 0
	}
	n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
	if err != nil {
		return "", 0
	}
	return string([]byte{byte(n)}), 3
}

func queryEscape(s string, i int) (string, int) {
	if s[i] == '+' {
		return " ", 1
	}
	return pathEscape(s, i)
}

var htmlNamed = map[string]string{"quot": `"`, "amp": "&", "lt": "<", "gt": ">", "apos": "'", "sol": "/", "nbsp": "\u00a0"}

func htmlEscape(s string, i int) (string, int) {
	if s[i] != '&' {
		return "", 0
	}
	semi := strings.IndexByte(s[i:min(len(s), i+12)], ';')
	if semi < 2 {
		return "", 0
	}
	name := s[i+1 : i+semi]
	if v, ok := htmlNamed[name]; ok {
		return v, semi + 1
	}
	if name[0] != '#' || len(name) < 2 {
		return "", 0
	}
	var n uint64
	var err error
	if name[1] == 'x' || name[1] == 'X' {
		n, err = strconv.ParseUint(name[2:], 16, 32)
	} else {
		n, err = strconv.ParseUint(name[1:], 10, 32)
	}
	if err != nil || !utf8.ValidRune(rune(n)) {
		return "", 0
	}
	return string(rune(n)), semi + 1
}
