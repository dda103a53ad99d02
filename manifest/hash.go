package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash"
	"runtime"
	"sort"
	"sync"
)

// hashedContent is what a resource's hash covers.
type hashedContent struct {
	Kind      string         `json:"kind"`
	Name      string         `json:"name"`
	Spec      map[string]any `json:"spec"`
	DependsOn []string       `json:"dependsOn"`
	Policy    Policy         `json:"policy"`
}

// ResourceHash returns the content hash of r: the hex SHA-256 of the
// canonical JSON (sorted keys) of its kind, name, spec, dependsOn (as a
// sorted set) and policy. Labels and sources do not count.
func ResourceHash(r *Resource) string {
	deps := append([]string{}, r.DependsOn...)
	sort.Strings(deps)
	deps = compact(deps)
	b, err := json.Marshal(hashedContent{Kind: r.Kind, Name: r.Name, Spec: r.Spec, DependsOn: deps, Policy: r.Policy})
	if err != nil {
		// Specs hold canonical values only, which always encode.
		panic("manifest: hashing " + r.ID + ": " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
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
			for i := w; i < len(rs); i += workers {
				rs[i].Hash = ResourceHash(rs[i])
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
		b, _ := json.Marshal(c) // plain fields: cannot fail
		write(h, "providerConfig", string(b))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func write(h hash.Hash, fields ...string) {
	for _, f := range fields {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	h.Write([]byte{'\n'})
}

func sortedConfigNames(m map[string]ProviderConfig) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
