package provider

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
)

// Canonical returns v in the one form converge compares and stores spec
// values in: nil, bool, string, int64, float64, json.Number, []any and
// map[string]any, recursively. YAML, JSON and Go values that mean the same
// thing become equal under reflect.DeepEqual, and each canonical value
// encodes to JSON that decodes (with UseNumber) to the same canonical value.
//
// Numbers keep their exact value, whatever their size or precision: an
// integer is never rounded, and a decimal is never changed into another.
// The value of a float64 is taken to be the decimal encoding/json writes
// for it (the shortest that reads back as the same float64: 0.1 for 0.1),
// and each value has exactly one form:
//   - int64 for every integer from math.MinInt64 to math.MaxInt64;
//   - float64 for a number that is not an integer when a float64 holds
//     exactly its value and encoding/json writes exactly that value back
//     (1.5, 0.25, -3.125);
//   - json.Number for every other number, its text normalized: integers
//     beyond int64 in plain digits ("12345678901234567891"; in exponent form
//     only past 20 trailing zeros: "1e+40"), other decimals as encoding/json
//     would write them ("0.1", "3.14159265358979323846", "1.5e-7"), never a
//     leading "+" or zeros, trailing fractional zeros or "-0".
//
// A json.Number that is not a number ("abc", or an exponent past a billion)
// is returned unchanged, and so are NaN and infinite float64s.
func Canonical(v any) any {
	switch x := v.(type) {
	case nil, bool, string, int64:
		return x
	case int:
		return int64(x)
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint:
		return Canonical(uint64(x))
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x)
		}
		return json.Number(strconv.FormatUint(x, 10))
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return float64(x)
		}
		// encoding/json writes the shortest text for a float32.
		n, _ := ParseNumber(strconv.FormatFloat(float64(x), 'g', -1, 32))
		return n
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x)
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return x
		}
		n, _ := ParseNumber(strconv.FormatFloat(x, 'g', -1, 64))
		return n
	case json.Number:
		if n, ok := ParseNumber(string(x)); ok {
			return n
		}
		return x
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = Canonical(e)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = Canonical(e)
		}
		return out
	case map[string]string:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = e
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = Canonical(e)
		}
		return out
	}
	return v
}

// ParseNumber returns the canonical form (see Canonical) of the number s
// writes, exactly: a JSON number, or a decimal as YAML writes it (a leading
// "+", ".5", "5.", "1E3"); false when s is not one.
func ParseNumber(s string) (any, bool) {
	if len(s) <= 18 {
		// The common case: a plain integer, which fits.
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, true
		}
	}
	d, ok := parseDecimal(s)
	if !ok {
		return nil, false
	}
	return d.canonical(), true
}

// decimal is the exact value of a number: digits × 10^exp, negative when
// neg. digits has no leading or trailing zeros; it is empty for zero.
type decimal struct {
	neg    bool
	digits string
	exp    int
}

// maxExponent bounds the exponents parseDecimal accepts.
const maxExponent = 1_000_000_000

// parseDecimal reads s: [+-] digits [. digits] [(e|E) [+-] digits], with
// digits on at least one side of the point.
func parseDecimal(s string) (decimal, bool) {
	var d decimal
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		d.neg = s[i] == '-'
		i++
	}
	intStart := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intPart := s[intStart:i]
	frac := ""
	if i < len(s) && s[i] == '.' {
		i++
		start := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		frac = s[start:i]
	}
	if intPart == "" && frac == "" {
		return decimal{}, false
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		neg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			neg = s[i] == '-'
			i++
		}
		start := i
		for i < len(s) && isDigit(s[i]) {
			if exp > maxExponent {
				return decimal{}, false
			}
			exp = exp*10 + int(s[i]-'0')
			i++
		}
		if i == start {
			return decimal{}, false
		}
		if neg {
			exp = -exp
		}
	}
	if i != len(s) {
		return decimal{}, false
	}
	// digits × 10^exp, without leading and trailing zeros.
	digits := intPart + frac
	exp -= len(frac)
	digits = strings.TrimLeft(digits, "0")
	trimmed := strings.TrimRight(digits, "0")
	exp += len(digits) - len(trimmed)
	d.digits = trimmed
	if d.digits == "" {
		return decimal{}, true // zero, of either sign
	}
	d.exp = exp
	if p := len(d.digits) + d.exp; p > maxExponent || p < -maxExponent {
		return decimal{}, false
	}
	return d, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// maxPlainZeros is how many trailing zeros an integer beyond int64 is
// written with before its canonical text takes the exponent form.
const maxPlainZeros = 20

// canonical returns the canonical form of d.
func (d decimal) canonical() any {
	if d.digits == "" {
		return int64(0)
	}
	if d.exp >= 0 {
		if len(d.digits)+d.exp <= 19 {
			s := d.digits + strings.Repeat("0", d.exp)
			if d.neg {
				s = "-" + s
			}
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return i
			}
		}
		return json.Number(d.String())
	}
	if f, ok := d.float(); ok {
		return f
	}
	return json.Number(d.String())
}

// float returns the float64 that is d exactly and that encoding/json
// writes as d; false when there is none.
func (d decimal) float() (float64, bool) {
	// A float64 takes at most 17 digits to write, and its magnitude is
	// within 1e-324 and 1e309.
	if len(d.digits) > 17 || d.exp < -400 || d.exp > 400 {
		return 0, false
	}
	s := d.String()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f == 0 {
		return 0, false
	}
	if back, ok := parseDecimal(strconv.FormatFloat(f, 'g', -1, 64)); !ok || back != d {
		return 0, false // the shortest text for f is another number
	}
	exact, ok := new(big.Rat).SetString(s)
	if !ok || exact.Cmp(new(big.Rat).SetFloat64(f)) != 0 {
		return 0, false // f is only near d
	}
	return f, true
}

// String returns the canonical text of d: integers in plain digits up to
// maxPlainZeros trailing zeros, other numbers plain from 1e-6 up to 1e21
// (as encoding/json writes a float64), in exponent form beyond.
func (d decimal) String() string {
	if d.digits == "" {
		return "0"
	}
	var b strings.Builder
	if d.neg {
		b.WriteByte('-')
	}
	p := len(d.digits) + d.exp // the point is after p digits
	if (d.exp >= 0 && d.exp <= maxPlainZeros) || (d.exp < 0 && p >= -5 && p <= 21) {
		d.plain(&b)
		return b.String()
	}
	b.WriteByte(d.digits[0])
	if len(d.digits) > 1 {
		b.WriteByte('.')
		b.WriteString(d.digits[1:])
	}
	b.WriteByte('e')
	if p-1 >= 0 {
		b.WriteByte('+')
	}
	b.WriteString(strconv.Itoa(p - 1))
	return b.String()
}

// plain writes the digits of d with the point in its place.
func (d decimal) plain(b *strings.Builder) {
	p := len(d.digits) + d.exp
	switch {
	case d.exp >= 0:
		b.WriteString(d.digits)
		b.WriteString(strings.Repeat("0", d.exp))
	case p > 0:
		b.WriteString(d.digits[:p])
		b.WriteByte('.')
		b.WriteString(d.digits[p:])
	default:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -p))
		b.WriteString(d.digits)
	}
}

// isInteger reports whether the json.Number n is an integer.
func isInteger(n json.Number) bool {
	d, ok := parseDecimal(string(n))
	return ok && d.exp >= 0
}

// CanonicalMap is Canonical for a spec map; nil stays nil.
func CanonicalMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	return Canonical(m).(map[string]any)
}

// SortedKeys returns the keys of m in sorted order.
func SortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Unknown stands for a value not known yet: a spec string holding a
// reference to an output of a resource that is not Ready. Plans show it as
// "(known after apply)".
type Unknown struct {
	Expr string // the string as written, "${file.Directory/www.outputs.path}/index.html"
}

// IsUnknown reports whether v is, or contains, an Unknown value.
func IsUnknown(v any) bool {
	switch x := v.(type) {
	case Unknown:
		return true
	case []any:
		for _, e := range x {
			if IsUnknown(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if IsUnknown(e) {
				return true
			}
		}
	}
	return false
}

// MarshalJSON writes an Unknown as the expression it stands for.
func (u Unknown) MarshalJSON() ([]byte, error) { return json.Marshal(u.Expr) }
