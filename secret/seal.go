package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// SealedPrefix starts every sealed value: "sealed:v1:<key id>:<data>".
// Stored strings that start with "sealed:" are reserved for sealed values.
const SealedPrefix = "sealed:v1:"

// KeySize is the size of a sealing key: AES-256.
const KeySize = 32

// ErrWrongKey is returned by Open for a value sealed with another key.
var ErrWrongKey = errors.New("sealed with another key")

// Sealer encrypts values for the state file with AES-256-GCM under a key
// kept outside it. It is safe for concurrent use.
type Sealer struct {
	aead     cipher.AEAD
	nonceKey []byte
	id       string // identifies the key, not secret
}

// NewSealer returns a Sealer with key (KeySize bytes). The encryption key,
// the key that derives nonces and the key id are derived from key, each
// with its own label.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("sealing key: %d bytes; want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(derive(key, "converge seal v1 encryption"))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead, nonceKey: derive(key, "converge seal v1 nonce"), id: hex.EncodeToString(derive(key, "converge seal v1 key id")[:4])}, nil
}

func derive(key []byte, label string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// KeyID names the key in sealed values (8 hex digits), so that a value
// sealed with another key is reported as such.
func (s *Sealer) KeyID() string { return s.id }

// Seal encrypts plain. where (a resource ID and field) changes the result,
// so that one value sealed in two places does not show as equal; the same
// value in the same place seals the same way every time (the nonce is an
// HMAC of where and the value: GCM never sees one nonce with two values).
func (s *Sealer) Seal(where string, plain []byte) string {
	m := hmac.New(sha256.New, s.nonceKey)
	m.Write([]byte(where))
	m.Write([]byte{0})
	m.Write(plain)
	nonce := m.Sum(nil)[:s.aead.NonceSize()]
	out := s.aead.Seal(append([]byte(nil), nonce...), nonce, plain, []byte(SealedPrefix))
	return SealedPrefix + s.id + ":" + base64.RawURLEncoding.EncodeToString(out)
}

// IsSealed reports whether v is shaped like a sealed value:
// SealedPrefix, a key id of 8 hex digits, ":", and base64url data.
func IsSealed(v string) bool {
	rest, ok := strings.CutPrefix(v, SealedPrefix)
	if !ok || len(rest) < 10 || rest[8] != ':' {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		switch {
		case i < 8 && (c >= '0' && c <= '9' || c >= 'a' && c <= 'f'):
		case i == 8:
		case i > 8 && (c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_'):
		default:
			return false
		}
	}
	return true
}

// Open decrypts a value Seal returned. A value sealed with another key is
// ErrWrongKey; a value altered, truncated or not sealed at all is an error
// too.
func (s *Sealer) Open(v string) ([]byte, error) {
	rest, ok := strings.CutPrefix(v, SealedPrefix)
	if !ok {
		return nil, errors.New("not a sealed value")
	}
	id, data, ok := strings.Cut(rest, ":")
	if !ok {
		return nil, errors.New("malformed sealed value")
	}
	if id != s.id {
		return nil, fmt.Errorf("%w (key %s; this key is %s)", ErrWrongKey, id, s.id)
	}
	b, err := base64.RawURLEncoding.DecodeString(data)
	if err != nil || len(b) < s.aead.NonceSize()+s.aead.Overhead() {
		return nil, errors.New("malformed sealed value")
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, b[:n], b[n:], []byte(SealedPrefix))
	if err != nil {
		return nil, errors.New("sealed value does not authenticate: altered, or sealed with another key")
	}
	return plain, nil
}
