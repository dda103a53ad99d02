package cloudsim

import (
	"cmp"
	"encoding/json"
	"maps"
	"slices"
	"time"
)

// version is one state of an object: fields holds the whole stored object
// (client fields plus id, name, createdAt, updatedAt and outputs), nil once
// deleted.
type version struct {
	at     time.Time
	fields map[string]any
}

// object is the history of one object, kept as long as a lagging read may
// still see an old version.
type object struct {
	kind     *kind
	id       string
	seq      uint64 // creation order, for stable listings
	created  time.Time
	versions []version // oldest first; never empty
}

func (o *object) current() map[string]any { return o.versions[len(o.versions)-1].fields }

// at returns the object as a read at time t sees it, nil if it did not exist
// (yet, or any more).
func (o *object) at(t time.Time) map[string]any {
	if i := o.visible(t); i >= 0 {
		return o.versions[i].fields
	}
	return nil
}

// visible returns the index of the version a read at t sees, -1 for none.
func (o *object) visible(t time.Time) int {
	for i := len(o.versions) - 1; i >= 0; i-- {
		if !o.versions[i].at.After(t) {
			return i
		}
	}
	return -1
}

// stale reports whether a read at t sees o other than it is now: an older
// version, nothing while o exists, or o after it was deleted.
func (o *object) stale(t time.Time) bool {
	i := o.visible(t)
	if i < 0 {
		return o.current() != nil
	}
	return i != len(o.versions)-1
}

// compact drops the versions no read at or after horizon can see. It
// reports whether the object is gone for every such read and can be
// forgotten.
func (o *object) compact(horizon time.Time) (gone bool) {
	keep := 0
	for i := len(o.versions) - 1; i >= 0; i-- {
		if !o.versions[i].at.After(horizon) {
			keep = i
			break
		}
	}
	o.versions = o.versions[keep:]
	return len(o.versions) == 1 && o.versions[0].fields == nil
}

// idempotent is a remembered create: a repeated key replays it.
type idempotent struct {
	collection string
	bodyHash   string
	id         string
	status     int
	reply      map[string]any // the rendered object as first returned
	at         time.Time
}

// state is every object and idempotency record. It is guarded by
// Server.mu.
type state struct {
	objects map[string]*object
	seq     uint64
	keys    map[string]idempotent // by collection + "\x00" + key
}

func newState() *state {
	return &state{objects: map[string]*object{}, keys: map[string]idempotent{}}
}

// live returns the current fields of the live object id of kind k.
func (st *state) live(k, id string) (map[string]any, bool) {
	o, ok := st.objects[id]
	if !ok || o.kind.name != k {
		return nil, false
	}
	cur := o.current()
	return cur, cur != nil
}

// put appends a new version of o (fields nil to delete).
func (st *state) put(o *object, now time.Time, fields map[string]any) {
	if n := len(o.versions); n > 0 && !o.versions[n-1].at.Before(now) {
		// Same instant as the last write: replace it.
		o.versions[n-1].fields = fields
		return
	}
	o.versions = append(o.versions, version{at: now, fields: fields})
}

// sorted returns objects in creation order.
func (st *state) sorted() []*object {
	objs := slices.Collect(maps.Values(st.objects))
	slices.SortFunc(objs, func(a, b *object) int { return cmp.Compare(a.seq, b.seq) })
	return objs
}

// compactAll forgets history no read at or after horizon can see.
func (st *state) compactAll(horizon time.Time) {
	for id, o := range st.objects {
		if o.compact(horizon) {
			delete(st.objects, id)
		}
	}
}

// referrers returns the IDs of live objects that reference id.
func (st *state) referrers(id string) []string {
	var out []string
	for _, o := range st.sorted() {
		cur := o.current()
		if cur == nil {
			continue
		}
		for _, f := range o.kind.fields {
			if f.ref != "" && slices.Contains(refIDs(cur[f.name]), id) {
				out = append(out, o.id)
				break
			}
		}
	}
	return out
}

// cloneFields deep-copies a stored object (maps and slices of JSON values).
func cloneFields(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return cloneFields(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = cloneValue(e)
		}
		return out
	}
	return v
}

// hashBody is a canonical form of a request body, to tell whether a repeated
// idempotency key came with the same request.
func hashBody(m map[string]any) string {
	b, _ := json.Marshal(m) // map keys are sorted; values are JSON values
	return string(b)
}
