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
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
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
// hashing it: ASCII as it is; otherwise SASLprep (RFC 4013, here the
// PRECIS OpaqueString profile, its successor), falling back to the raw
// bytes when the password is not valid UTF-8 or the profile refuses it,
// as PostgreSQL falls back.
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
	out, err := precis.OpaqueString.String(p)
	if err != nil {
		return p
	}
	return out
}
