package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/convergehq/converge/provider"
)

// Marshal encodes rv as JSON, the form revisions are kept in the store.
func Marshal(rv *Revision) ([]byte, error) {
	if rv == nil {
		return nil, fmt.Errorf("marshal revision: nil revision")
	}
	b, err := json.Marshal(rv)
	if err != nil {
		return nil, fmt.Errorf("marshal revision %s: %w", rv.Hash, err)
	}
	return b, nil
}

// Unmarshal decodes a revision encoded by Marshal. Spec values come back in
// provider.Canonical form (integers as int64, exactly), so the result equals
// the revision that was marshaled.
func Unmarshal(b []byte) (*Revision, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var rv Revision
	if err := dec.Decode(&rv); err != nil {
		return nil, fmt.Errorf("unmarshal revision: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("unmarshal revision: trailing data after the revision")
	}
	for i, r := range rv.Resources {
		if r == nil {
			return nil, fmt.Errorf("unmarshal revision %s: resource %d is null", rv.Hash, i)
		}
		r.Spec = provider.CanonicalMap(r.Spec)
	}
	rv.index()
	return &rv, nil
}
