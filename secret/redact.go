package secret

import (
	"encoding/base64"
	"sort"
	"strings"
	"sync"
)

// Placeholder replaces every secret Redact finds.
const Placeholder = "(sensitive)"

// MinLen is the length, in bytes, of the shortest secret redacted.
const MinLen = 4

// Redactor removes secrets from text. The zero value and nil redact
// nothing. It is safe for concurrent use; Add may be called at any time.
type Redactor struct {
	mu sync.RWMutex
	// byPrefix indexes every form of every secret by its first MinLen
	// bytes, so that one pass over a text finds them all however many
	// secrets there are.
	byPrefix map[[MinLen]byte]*bucket
	seen     map[string]bool // the secrets added, as given
}

// bucket holds the forms that share their first MinLen bytes.
type bucket struct {
	lens  []int // the lengths of the forms, longest first
	forms map[string]bool
}

// New returns a Redactor of secrets.
func New(secrets ...string) *Redactor {
	r := &Redactor{}
	r.Add(secrets...)
	return r
}

// Add makes Redact hide secrets too (see the package guarantees for the
// forms derived from each).
func (r *Redactor) Add(secrets ...string) {
	var fresh []string
	r.mu.RLock()
	for _, s := range secrets {
		if len(s) >= MinLen && !r.seen[s] {
			fresh = append(fresh, s)
		}
	}
	r.mu.RUnlock()
	if len(fresh) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byPrefix == nil {
		r.byPrefix = map[[MinLen]byte]*bucket{}
		r.seen = map[string]bool{}
	}
	for _, s := range fresh {
		if r.seen[s] {
			continue
		}
		r.seen[s] = true
		for _, f := range forms(s) {
			r.insert(f)
		}
	}
}

func (r *Redactor) insert(f string) {
	k := prefix(f)
	b := r.byPrefix[k]
	if b == nil {
		b = &bucket{forms: map[string]bool{}}
		r.byPrefix[k] = b
	}
	if b.forms[f] {
		return
	}
	b.forms[f] = true
	i := sort.Search(len(b.lens), func(i int) bool { return b.lens[i] <= len(f) })
	if i < len(b.lens) && b.lens[i] == len(f) {
		return
	}
	b.lens = append(b.lens, 0)
	copy(b.lens[i+1:], b.lens[i:])
	b.lens[i] = len(f)
}

func prefix(s string) [MinLen]byte {
	var k [MinLen]byte
	copy(k[:], s)
	return k
}

// Len returns how many secrets were added.
func (r *Redactor) Len() int {
	if r == nil {
		return 0
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.seen)
}

// forms returns s and the other strings that give s away: its credential
// when it is "Scheme credential", the decoded user:password of a Basic
// one, with white space folded, and base64 encodings. Those too short to
// redact safely are left out.
func forms(s string) []string {
	base := []string{s}
	if f := strings.Join(strings.Fields(s), " "); f != s {
		base = append(base, f)
	}
	if fs := strings.Fields(s); len(fs) == 2 && isScheme(fs[0]) {
		base = append(base, fs[1])
		if strings.EqualFold(fs[0], "basic") {
			if dec, err := base64.StdEncoding.DecodeString(fs[1]); err == nil {
				userPass := string(dec)
				base = append(base, userPass)
				if _, pass, ok := strings.Cut(userPass, ":"); ok {
					base = append(base, pass)
				}
			}
		}
	}
	var out []string
	for _, b := range base {
		out = append(out, b)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
			e := enc.EncodeToString([]byte(b))
			out = append(out, e)
			// The characters that depend on b alone, whatever follows
			// it in the encoded data.
			if n := len(b) / 3 * 4; n >= 2*MinLen {
				out = append(out, e[:n])
			}
		}
	}
	kept := out[:0]
	for _, f := range out {
		if len(f) >= MinLen && !strings.Contains(Placeholder, f) {
			kept = append(kept, f)
		}
	}
	return kept
}

// isScheme reports whether w looks like an HTTP authentication scheme
// ("Bearer", "Basic", "Token"): letters only.
func isScheme(w string) bool {
	for i := 0; i < len(w); i++ {
		if c := w[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return w != ""
}

// Redact returns s with every secret, in every form it recognizes,
// replaced by Placeholder.
func (r *Redactor) Redact(s string) string {
	spans := r.find(s, false)
	if len(spans) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		b.WriteString(s[last:sp.start])
		b.WriteString(Placeholder)
		last = sp.end
	}
	b.WriteString(s[last:])
	return b.String()
}

// Contains reports whether s holds a secret in a form Redact recognizes.
func (r *Redactor) Contains(s string) bool { return len(r.find(s, true)) > 0 }

// find returns the spans of s that hold a secret, sorted and merged; with
// first, it stops at the first one.
func (r *Redactor) find(s string, first bool) []span {
	if r == nil || len(s) < MinLen {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(r.byPrefix) == 0 {
		return nil
	}
	var spans []span
	for _, v := range views(s) {
		b := v.text
		for i := 0; i+MinLen <= len(b); i++ {
			bk, ok := r.byPrefix[prefix(b[i:])]
			if !ok {
				continue
			}
			for _, n := range bk.lens { // longest first
				if i+n <= len(b) && bk.forms[b[i:i+n]] {
					spans = append(spans, v.raw(i, i+n))
					if first {
						return spans
					}
					break
				}
			}
		}
	}
	return merge(spans)
}

// span is [start, end) of the raw text.
type span struct{ start, end int }

func merge(spans []span) []span {
	if len(spans) < 2 {
		return spans
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	out := spans[:1]
	for _, sp := range spans[1:] {
		last := &out[len(out)-1]
		if sp.start < last.end {
			last.end = max(last.end, sp.end)
			continue
		}
		out = append(out, sp)
	}
	return out
}
