package provider

import (
	"bytes"
	"encoding/json"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

func TestCanonicalNumbers(t *testing.T) {
	tests := map[string]struct {
		in   any
		want any
	}{
		"int":                         {in: 7, want: int64(7)},
		"uint64 in range":             {in: uint64(7), want: int64(7)},
		"uint64 beyond int64":         {in: uint64(12345678901234567891), want: json.Number("12345678901234567891")},
		"json integer":                {in: json.Number("-42"), want: int64(-42)},
		"json integer beyond int64":   {in: json.Number("12345678901234567891"), want: json.Number("12345678901234567891")},
		"json integer beyond uint64":  {in: json.Number("123456789012345678901234567890"), want: json.Number("123456789012345678901234567890")},
		"max int64":                   {in: json.Number("9223372036854775807"), want: int64(math.MaxInt64)},
		"max int64 + 1":               {in: json.Number("9223372036854775808"), want: json.Number("9223372036854775808")},
		"min int64":                   {in: json.Number("-9223372036854775808"), want: int64(math.MinInt64)},
		"min int64 - 1":               {in: json.Number("-9223372036854775809"), want: json.Number("-9223372036854775809")},
		"integer in exponent form":    {in: json.Number("1e2"), want: int64(100)},
		"integer with a point":        {in: json.Number("100.000"), want: int64(100)},
		"negative zero":               {in: json.Number("-0.0"), want: int64(0)},
		"float negative zero":         {in: math.Copysign(0, -1), want: int64(0)},
		"big integer, exponent":       {in: json.Number("1.5e20"), want: json.Number("150000000000000000000")},
		"20 trailing zeros":           {in: json.Number("1e20"), want: json.Number("100000000000000000000")},
		"21 trailing zeros":           {in: json.Number("1000000000000000000000"), want: json.Number("1e+21")},
		"float 1e20":                  {in: 1e20, want: json.Number("100000000000000000000")},
		"float 1e300":                 {in: 1e300, want: json.Number("1e+300")},
		"float 2^60 is what JSON has": {in: float64(1 << 60), want: int64(1152921504606847000)},
		"exact binary fraction":       {in: json.Number("1.5"), want: 1.5},
		"float 1.5":                   {in: 1.5, want: 1.5},
		"fraction in exponent form":   {in: json.Number("2.5e-1"), want: 0.25},
		"small binary fraction":       {in: json.Number("0.0009765625"), want: 0.0009765625},
		"0.1 is not a float64":        {in: json.Number("0.1"), want: json.Number("0.1")},
		"float 0.1":                   {in: 0.1, want: json.Number("0.1")},
		"float32 0.1":                 {in: float32(0.1), want: json.Number("0.1")},
		"float32 1.5":                 {in: float32(1.5), want: 1.5},
		"0.1 spelled otherwise":       {in: json.Number("1.000e-1"), want: json.Number("0.1")},
		"trailing zeros":              {in: json.Number("-0.10"), want: json.Number("-0.1")},
		"many digits":                 {in: json.Number("3.14159265358979323846264338327950288"), want: json.Number("3.14159265358979323846264338327950288")},
		"exact float's full expansion": {in: json.Number("0.1000000000000000055511151231257827021181583404541015625"),
			want: json.Number("0.1000000000000000055511151231257827021181583404541015625")},
		"small":                {in: json.Number("0.000001"), want: json.Number("0.000001")},
		"smaller":              {in: json.Number("0.0000001"), want: json.Number("1e-7")},
		"float small":          {in: 1.5e-7, want: json.Number("1.5e-7")},
		"tiny":                 {in: json.Number("-1.25E-400"), want: json.Number("-1.25e-400")},
		"huge":                 {in: json.Number("7e+1000"), want: json.Number("7e+1000")},
		"large fraction":       {in: json.Number("1000000000000000000000.5"), want: json.Number("1.0000000000000000000005e+21")},
		"YAML spelling":        {in: json.Number("+.5"), want: 0.5},
		"YAML spelling 2":      {in: json.Number("5."), want: int64(5)},
		"not a number":         {in: json.Number("abc"), want: json.Number("abc")},
		"empty":                {in: json.Number(""), want: json.Number("")},
		"exponent past bounds": {in: json.Number("1e99999999999"), want: json.Number("1e99999999999")},
		"in a list and a map": {in: []any{json.Number("1e2"), map[string]any{"id": uint64(1 << 63)}},
			want: []any{int64(100), map[string]any{"id": json.Number("9223372036854775808")}}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got := Canonical(tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Canonical(%T %v) = %T %v; want %T %v", tt.in, tt.in, got, got, tt.want, tt.want)
			}
			if again := Canonical(got); !reflect.DeepEqual(again, got) {
				t.Errorf("Canonical(Canonical(%v)) = %T %v; want it unchanged", tt.in, again, again)
			}
		})
	}
	if got := Canonical(math.NaN()); !math.IsNaN(got.(float64)) {
		t.Errorf("Canonical(NaN) = %v; want NaN", got)
	}
}

// TestCanonicalSpellings checks that every spelling of one value has the
// same canonical form, so that reflect.DeepEqual compares numbers by value.
func TestCanonicalSpellings(t *testing.T) {
	same := [][]any{
		{int64(100), 100, uint8(100), 100.0, float32(100), json.Number("100"), json.Number("1e2"), json.Number("1E+2"), json.Number("100.00"), json.Number("0.1e3"), json.Number("+100")},
		{json.Number("12345678901234567891"), uint64(12345678901234567891), json.Number("1.2345678901234567891e19"), json.Number("12345678901234567891.000")},
		{0.1, float32(0.1), json.Number("0.1"), json.Number("1e-1"), json.Number("0.10"), json.Number(".1")},
		{1.5, float32(1.5), json.Number("1.5"), json.Number("15e-1"), json.Number("1.50")},
		{int64(0), 0.0, math.Copysign(0, -1), json.Number("-0"), json.Number("0e10"), json.Number("0.000")},
	}
	for _, values := range same {
		want := Canonical(values[0])
		for _, v := range values[1:] {
			if got := Canonical(v); !reflect.DeepEqual(got, want) {
				t.Errorf("Canonical(%T %v) = %T %v; want %T %v, as for %T %v", v, v, got, got, want, want, values[0], values[0])
			}
		}
	}
}

// exactValue returns the exact value of a number written s.
func exactValue(t *rapid.T, s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("%q is not a number", s)
	}
	return r
}

// TestCanonicalNumbersAreExact checks, for numbers of every size and
// precision, that the canonical form has the exact value written, that it
// survives a JSON round trip (as in the store, or to an API and back)
// unchanged, and that an integer is echoed back in the very text it was
// written in.
func TestCanonicalNumbersAreExact(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var text string // the number, as JSON writes it
		var in any
		switch rapid.IntRange(0, 3).Draw(t, "kind") {
		case 0: // an integer of any size
			digits := rapid.StringMatching(`[1-9][0-9]{0,40}`).Draw(t, "digits")
			if rapid.Bool().Draw(t, "negative") {
				digits = "-" + digits
			}
			text, in = digits, json.Number(digits)
		case 1: // a decimal
			text = rapid.StringMatching(`-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,25})?([eE][-+]?[0-9]{1,3})?`).Draw(t, "decimal")
			in = json.Number(text)
		case 2:
			f := rapid.Float64().Draw(t, "float")
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return
			}
			b, _ := json.Marshal(f)
			text, in = string(b), f
		default:
			i := rapid.Uint64().Draw(t, "uint")
			text, in = strconv.FormatUint(i, 10), i
		}
		c := Canonical(in)
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("json.Marshal(Canonical(%v)) error = %v", in, err)
		}
		if exactValue(t, string(b)).Cmp(exactValue(t, text)) != 0 {
			t.Fatalf("Canonical(%T %v) encodes as %s; want the value of %s", in, in, b, text)
		}
		if isPlainInteger(text) && string(b) != text {
			t.Fatalf("integer %s encodes as %s; want the same text", text, b)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var back any
		if err := dec.Decode(&back); err != nil {
			t.Fatal(err)
		}
		if got := Canonical(back); !reflect.DeepEqual(got, c) {
			t.Fatalf("after a JSON round trip, Canonical(%v) = %T %v; want %T %v", in, got, got, c, c)
		}
		if got := Canonical(c); !reflect.DeepEqual(got, c) {
			t.Fatalf("Canonical(Canonical(%v)) = %T %v; want %T %v", in, got, got, c, c)
		}
	})
}

// isPlainInteger reports whether s is an integer as people write one, with
// at most maxPlainZeros trailing zeros.
func isPlainInteger(s string) bool {
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || strings.Trim(digits, "0123456789") != "" || (digits[0] == '0' && digits != "0") {
		return false
	}
	return s != "-0" && len(digits)-len(strings.TrimRight(digits, "0")) <= maxPlainZeros
}

func TestParseNumber(t *testing.T) {
	for _, s := range []string{"", "-", "+", ".", "e5", "1e", "1e+", "0x10", "1_000", "1.2.3", "--1", "1 ", "inf", "NaN"} {
		if v, ok := ParseNumber(s); ok {
			t.Errorf("ParseNumber(%q) = %v, true; want false", s, v)
		}
	}
	got, ok := ParseNumber("12345678901234567891")
	if diff := cmp.Diff(any(json.Number("12345678901234567891")), got); !ok || diff != "" {
		t.Errorf("ParseNumber() mismatch (-want +got):\n%s", diff)
	}
}
