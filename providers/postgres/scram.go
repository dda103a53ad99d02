package postgres

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// scramIterations is the iteration count of the verifiers the provider
// makes: PostgreSQL's default (scram_iterations).
const scramIterations = 4096

// scramVerifier is a parsed SCRAM-SHA-256 verifier, as pg_authid keeps it:
// SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>.
type scramVerifier struct {
	iterations           int
	salt                 []byte
	storedKey, serverKey []byte
}

// parseSCRAM parses a SCRAM-SHA-256 verifier; false when s is not one.
func parseSCRAM(s string) (scramVerifier, bool) {
	rest, ok := strings.CutPrefix(s, "SCRAM-SHA-256$")
	if !ok {
		return scramVerifier{}, false
	}
	params, keys, ok := strings.Cut(rest, "$")
	if !ok {
		return scramVerifier{}, false
	}
	iter, salt, ok1 := strings.Cut(params, ":")
	stored, server, ok2 := strings.Cut(keys, ":")
	if !ok1 || !ok2 {
		return scramVerifier{}, false
	}
	var v scramVerifier
	var err error
	if v.iterations, err = strconv.Atoi(iter); err != nil || v.iterations <= 0 {
		return scramVerifier{}, false
	}
	dec := base64.StdEncoding.DecodeString
	if v.salt, err = dec(salt); err != nil {
		return scramVerifier{}, false
	}
	if v.storedKey, err = dec(stored); err != nil || len(v.storedKey) != sha256.Size {
		return scramVerifier{}, false
	}
	if v.serverKey, err = dec(server); err != nil || len(v.serverKey) != sha256.Size {
		return scramVerifier{}, false
	}
	return v, true
}

// scramKeys computes StoredKey and ServerKey of password for salt and
// iterations (RFC 5802, RFC 7677): SaltedPassword = PBKDF2-HMAC-SHA-256,
// ClientKey = HMAC(SaltedPassword, "Client Key"), StoredKey =
// SHA-256(ClientKey), ServerKey = HMAC(SaltedPassword, "Server Key").
func scramKeys(password string, salt []byte, iterations int) (storedKey, serverKey []byte, err error) {
	salted, err := pbkdf2.Key(sha256.New, saslprep(password), salt, iterations, sha256.Size)
	if err != nil {
		return nil, nil, err
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	sk := sha256.Sum256(clientKey)
	return sk[:], mac(salted, "Server Key"), nil
}

// matches reports whether password is the one v was made from. It
// compares in constant time.
func (v scramVerifier) matches(password string) bool {
	stored, server, err := scramKeys(password, v.salt, v.iterations)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(stored, v.storedKey) == 1 && subtle.ConstantTimeCompare(server, v.serverKey) == 1
}

// newSCRAMVerifier makes the verifier of password with a new random salt,
// as PostgreSQL itself would store it: sent as the role's PASSWORD, the
// server keeps it as it is and the clear password never reaches it.
func newSCRAMVerifier(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	return formatSCRAM(password, salt, scramIterations)
}

func formatSCRAM(password string, salt []byte, iterations int) (string, error) {
	stored, server, err := scramKeys(password, salt, iterations)
	if err != nil {
		return "", fmt.Errorf("compute the SCRAM verifier: %w", err)
	}
	enc := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, enc(salt), enc(stored), enc(server)), nil
}

// md5Matches reports whether stored, an MD5 verifier ("md5" and the hex
// MD5 of the password followed by the role name), is that of password.
func md5Matches(stored, password, role string) bool {
	sum := md5.Sum([]byte(password + role))
	want := "md5" + hex.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(stored), []byte(want)) == 1
}

// passwordMatches reports whether stored, a pg_authid.rolpassword value
// (nil: no password), is that of password for role. An empty password
// means none.
func passwordMatches(stored *string, password, role string) bool {
	if stored == nil {
		return password == ""
	}
	if password == "" {
		return false
	}
	if v, ok := parseSCRAM(*stored); ok {
		return v.matches(password)
	}
	if strings.HasPrefix(*stored, "md5") {
		return md5Matches(*stored, password, role)
	}
	return false
}

// saslprep prepares a password as PostgreSQL (and libpq) do before
// hashing it (RFC 4013 SASLprep, as pg_saslprep applies it): ASCII as it
// is; otherwise non-ASCII spaces mapped to a space, the characters
// "commonly mapped to nothing" removed, NFKC, and the raw bytes after
// all when the result holds a prohibited character or breaks the bidi
// rule, or the password is not valid UTF-8. Unlike PostgreSQL, it does
// not fall back to the raw bytes for code points unassigned in Unicode
// 3.2 (see docs/providers/postgres.md).
func saslprep(p string) string {
	ascii := true
	for i := 0; i < len(p); i++ {
		if p[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii || !utf8.ValidString(p) {
		return p
	}
	var b strings.Builder
	for _, r := range p {
		switch {
		case unicode.Is(nonASCIISpace, r):
			b.WriteRune(' ')
		case unicode.Is(mappedToNothing, r):
		default:
			b.WriteRune(r)
		}
	}
	out := norm.NFKC.String(b.String())
	if out == "" {
		return p
	}
	randAL, l := false, false
	for _, r := range out {
		if unicode.Is(nonASCIISpace, r) || unicode.Is(prohibited, r) {
			return p
		}
		randAL = randAL || unicode.In(r, unicode.Hebrew, unicode.Arabic) // RandALCat, approximately
		l = l || unicode.IsLetter(r) && !unicode.In(r, unicode.Hebrew, unicode.Arabic)
	}
	if randAL {
		first, _ := utf8.DecodeRuneInString(out)
		last, _ := utf8.DecodeLastRuneInString(out)
		if l || !unicode.In(first, unicode.Hebrew, unicode.Arabic) || !unicode.In(last, unicode.Hebrew, unicode.Arabic) {
			return p
		}
	}
	return out
}

// nonASCIISpace is RFC 3454 table C.1.2.
var nonASCIISpace = &unicode.RangeTable{R16: []unicode.Range16{
	{0x00a0, 0x00a0, 1}, {0x1680, 0x1680, 1}, {0x2000, 0x200b, 1}, {0x202f, 0x202f, 1},
	{0x205f, 0x205f, 1}, {0x3000, 0x3000, 1},
}}

// mappedToNothing is RFC 3454 table B.1.
var mappedToNothing = &unicode.RangeTable{R16: []unicode.Range16{
	{0x00ad, 0x00ad, 1}, {0x034f, 0x034f, 1}, {0x1806, 0x1806, 1}, {0x180b, 0x180d, 1},
	{0x200b, 0x200d, 1}, {0x2060, 0x2060, 1}, {0xfe00, 0xfe0f, 1}, {0xfeff, 0xfeff, 1},
}}

// prohibited is RFC 3454 tables C.2.1 to C.9 (C.1.2 is nonASCIISpace).
var prohibited = &unicode.RangeTable{
	R16: []unicode.Range16{
		{0x0000, 0x001f, 1}, {0x007f, 0x009f, 1}, {0x0340, 0x0341, 1}, {0x06dd, 0x06dd, 1},
		{0x070f, 0x070f, 1}, {0x180e, 0x180e, 1}, {0x200c, 0x200f, 1}, {0x2028, 0x202e, 1},
		{0x2060, 0x2063, 1}, {0x206a, 0x206f, 1}, {0x2ff0, 0x2ffb, 1}, {0xd800, 0xf8ff, 1},
		{0xfdd0, 0xfdef, 1}, {0xfeff, 0xfeff, 1}, {0xfff9, 0xffff, 1},
	},
	R32: []unicode.Range32{
		{0x1d173, 0x1d17a, 1}, {0x1fffe, 0x1ffff, 1}, {0x2fffe, 0x2ffff, 1}, {0x3fffe, 0x3ffff, 1},
		{0x4fffe, 0x4ffff, 1}, {0x5fffe, 0x5ffff, 1}, {0x6fffe, 0x6ffff, 1}, {0x7fffe, 0x7ffff, 1},
		{0x8fffe, 0x8ffff, 1}, {0x9fffe, 0x9ffff, 1}, {0xafffe, 0xaffff, 1}, {0xbfffe, 0xbffff, 1},
		{0xcfffe, 0xcffff, 1}, {0xdfffe, 0xdffff, 1}, {0xe0001, 0xe0001, 1}, {0xe0020, 0xe007f, 1},
		{0xefffe, 0x10ffff, 1},
	},
}
