package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash"
	"io"
	"math"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/convergehq/converge/provider"
)

// ResourceHash returns the content hash of r: the hex SHA-256 of the
// canonical JSON (sorted keys) of its kind, name, spec, dependsOn (as a
// sorted set), policy and importId (when set). Labels and sources do not
// count. Spec numbers are
// hashed in provider.Canonical form: their exact value, whatever its
// spelling (1e2 and 100 hash alike; 12345678901234567891 and
// 12345678901234567892 do not).
func ResourceHash(r *Resource) string {
	var e canonicalEncoder
	return e.resourceHash(r)
}

// canonicalEncoder writes the JSON that encoding/json writes for the hashed
// content of a resource, byte for byte, without reflection; its buffers are
// reused from one resource to the next.
type canonicalEncoder struct {
	buf  []byte
	keys []string
	deps []string
}

func (e *canonicalEncoder) resourceHash(r *Resource) string {
	e.deps = append(e.deps[:0], r.DependsOn...)
	sort.Strings(e.deps)
	e.deps = compact(e.deps)

	b := append(e.buf[:0], `{"kind":`...)
	b = appendString(b, r.Kind)
	b = append(b, `,"name":`...)
	b = appendString(b, r.Name)
	b = append(b, `,"spec":`...)
	if r.Spec == nil {
		b = append(b, "null"...)
	} else {
		b = e.appendValue(b, r.Spec)
	}
	b = append(b, `,"dependsOn":[`...)
	for i, d := range e.deps {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, d)
	}
	b = append(b, `],"policy":{"drift":`...)
	b = appendString(b, r.Policy.Drift)
	b = append(b, `,"deletion":`...)
	b = appendString(b, r.Policy.Deletion)
	b = append(b, '}')
	if r.ImportID != "" {
		// Only when set, so that other resources keep their hashes: naming
		// the object to take over is a change (a resource blocked on an
		// interrupted create is retried when one is given).
		b = append(b, `,"importId":`...)
		b = appendString(b, r.ImportID)
	}
	b = append(b, '}')
	e.buf = b
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// appendValue appends v as encoding/json encodes it.
func (e *canonicalEncoder) appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, x)
	case string:
		return appendString(b, x)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case float64:
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			// A float64 that is not canonical stands for a number that is.
			if c, ok := provider.Canonical(x).(float64); ok {
				return appendFloat(b, c)
			}
			return e.appendValue(b, provider.Canonical(x))
		}
	case json.Number:
		// Canonical, the text is the same for every spelling of a value
		// ("1e2" is 100).
		switch c := provider.Canonical(x).(type) {
		case json.Number:
			return append(b, c...)
		case int64, float64:
			return e.appendValue(b, c)
		}
	case map[string]any:
		if x == nil {
			return append(b, "null"...)
		}
		start := len(e.keys)
		for k := range x {
			e.keys = append(e.keys, k)
		}
		sort.Strings(e.keys[start:])
		b = append(b, '{')
		for i := start; i < len(e.keys); i++ {
			if i > start {
				b = append(b, ',')
			}
			k := e.keys[i]
			b = appendString(b, k)
			b = append(b, ':')
			b = e.appendValue(b, x[k])
		}
		e.keys = e.keys[:start]
		return append(b, '}')
	case []any:
		if x == nil {
			return append(b, "null"...)
		}
		b = append(b, '[')
		for i, el := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = e.appendValue(b, el)
		}
		return append(b, ']')
	}
	// Not a canonical value: encoding/json knows best.
	j, err := json.Marshal(v)
	if err != nil {
		// Specs hold canonical values only, which always encode.
		panic("manifest: hashing a spec: " + err.Error())
	}
	return append(b, j...)
}

// appendString appends s quoted as encoding/json quotes it (HTML-safe).
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			j, _ := json.Marshal(s) // strings always encode
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendFloat appends a finite f as encoding/json formats a float64.
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

func compact(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// hashResources sets the hash of every resource, a few at a time.
func hashResources(rs []*Resource) {
	workers := min(runtime.GOMAXPROCS(0), 1+len(rs)/1000)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var e canonicalEncoder
			for i := w; i < len(rs); i += workers {
				rs[i].Hash = e.resourceHash(rs[i])
			}
		}()
	}
	wg.Wait()
}

// RevisionHash returns the content hash of rv: SHA-256 over its resources'
// IDs and hashes in ID order and its provider configs in name order (their
// sources do not count). Paths do not count either: the same content loaded
// from other files has the same hash.
func RevisionHash(rv *Revision) string { return revisionHash(rv) }

func revisionHash(rv *Revision) string {
	h := sha256.New()
	ids := make([]*Resource, len(rv.Resources))
	copy(ids, rv.Resources)
	sort.Slice(ids, func(i, j int) bool { return ids[i].ID < ids[j].ID })
	for _, r := range ids {
		write(h, "resource", r.ID, r.Hash)
	}
	for _, name := range sortedConfigNames(rv.ProviderConfigs) {
		c := rv.ProviderConfigs[name]
		c.Source = Source{}
		b, _ := json.Marshal(c) // plain fields and loaded values: cannot fail
		write(h, "providerConfig", string(b))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func write(h hash.Hash, fields ...string) {
	for _, f := range fields {
		io.WriteString(h, f)
		h.Write(sep[:])
	}
	h.Write(newline[:])
}

var sep, newline = [1]byte{0}, [1]byte{'\n'}

func sortedConfigNames(m map[string]ProviderConfig) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
