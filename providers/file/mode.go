package file

import (
	"fmt"
	"io/fs"
	"math"
	"strconv"
	"strings"
)

// maxMode is the largest mode accepted: permission bits plus setuid, setgid
// and sticky.
const maxMode = 0o7777

// NormalizeMode maps a mode to its canonical form, a 4-character octal string
// such as "0644". It is the Normalize function of every mode field.
//
// Strings are always read as octal, with or without a leading "0" or "0o":
// "0644", "644" and "0o644" all give "0644". Integers are the numeric mode,
// which is what YAML 0644 and 0o644 (both 420) and JSON 420 mean. An integer
// from 512 to 999 is rejected as ambiguous: it is almost surely a mode
// written unquoted without its leading zero (`mode: 644`, which YAML reads as
// the decimal number 644, octal 1204) or with a non-octal digit (`mode: 0800`
// reads as 800), while every common mode with setuid, setgid or sticky bits
// is 1000 or more. Anything above 07777 or not octal is rejected.
func NormalizeMode(v any) (any, error) {
	m, err := parseMode(v)
	if err != nil {
		return nil, err
	}
	return formatMode(m), nil
}

// parseMode returns the octal mode bits (0 to 07777) v stands for.
func parseMode(v any) (uint32, error) {
	switch x := v.(type) {
	case string:
		return parseModeString(x)
	case int:
		return parseModeInt(int64(x))
	case int64:
		return parseModeInt(x)
	case int32:
		return parseModeInt(int64(x))
	case uint32:
		return parseModeInt(int64(x))
	case uint64:
		if x > math.MaxInt64 {
			return 0, fmt.Errorf("mode %d is larger than 07777", x)
		}
		return parseModeInt(int64(x))
	case float64:
		if x != math.Trunc(x) || math.IsInf(x, 0) || math.Abs(x) > 1<<53 {
			return 0, fmt.Errorf("mode %v is not an integer", x)
		}
		return parseModeInt(int64(x))
	case nil:
		return 0, fmt.Errorf("mode is null")
	}
	return 0, fmt.Errorf("mode must be an octal string such as \"0644\", got %T", v)
}

func parseModeString(s string) (uint32, error) {
	digits := s
	if len(digits) > 2 && (digits[:2] == "0o" || digits[:2] == "0O") {
		digits = digits[2:]
	}
	if digits == "" || strings.Trim(digits, "01234567") != "" {
		return 0, fmt.Errorf("mode %q is not an octal number such as \"0644\"", s)
	}
	n, err := strconv.ParseUint(digits, 8, 32)
	if err != nil || n > maxMode {
		return 0, fmt.Errorf("mode %q is larger than 07777", s)
	}
	return uint32(n), nil
}

func parseModeInt(n int64) (uint32, error) {
	switch {
	case n < 0:
		return 0, fmt.Errorf("mode %d is negative", n)
	case n > maxMode:
		return 0, fmt.Errorf("mode %d (octal %o) is larger than 07777; quote modes: mode: \"0644\"", n, n)
	case n >= 512 && n <= 999:
		return 0, fmt.Errorf("mode %d is ambiguous: YAML reads an unquoted mode: %d as the decimal number %d (octal %04o); write modes as quoted octal strings such as \"0644\"", n, n, n, n)
	}
	return uint32(n), nil
}

// formatMode is the canonical form of mode bits: "0644", "4755".
func formatMode(m uint32) string { return fmt.Sprintf("%04o", m) }

// fileMode converts octal mode bits to an fs.FileMode, moving setuid, setgid
// and sticky to the bits os.Chmod understands.
func fileMode(m uint32) fs.FileMode {
	fm := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		fm |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		fm |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		fm |= fs.ModeSticky
	}
	return fm
}

// modeBits is the inverse of fileMode.
func modeBits(fm fs.FileMode) uint32 {
	m := uint32(fm.Perm())
	if fm&fs.ModeSetuid != 0 {
		m |= 0o4000
	}
	if fm&fs.ModeSetgid != 0 {
		m |= 0o2000
	}
	if fm&fs.ModeSticky != 0 {
		m |= 0o1000
	}
	return m
}
