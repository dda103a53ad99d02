package cloudsim

import (
	"maps"
	"slices"
	"strconv"
	"time"
)

// Audit is what the server saw of its clients since it started or was last
// reset. Object figures (Live, Duplicates, Leaks, Missing) describe the
// current state, without lag.
type Audit struct {
	// Requests counts every API request (under /v1), whatever its answer.
	Requests int `json:"requests"`
	// ByMethod counts requests per HTTP method; ByKind per kind, then per
	// method ("Network" -> "POST" -> 3). Requests to unknown paths count
	// under the kind "".
	ByMethod map[string]int            `json:"byMethod"`
	ByKind   map[string]map[string]int `json:"byKind"`
	// ByStatus counts answers per status code ("201"). 499 means the client
	// went away before the answer.
	ByStatus map[string]int `json:"byStatus"`
	// RateLimited counts 429 answers.
	RateLimited int `json:"rateLimited"`
	// Faults counts injected faults: "error", "hang", "ambiguous", "outage".
	Faults map[string]int `json:"faults"`
	// MaxPerSecond is the most requests that arrived within any one-second
	// window (sliding, by arrival time); MaxAdmittedPerSecond counts only
	// those the rate limiter let through.
	MaxPerSecond         int `json:"maxPerSecond"`
	MaxAdmittedPerSecond int `json:"maxAdmittedPerSecond"`
	// InFlight is the number of API requests being handled now;
	// MutatingInFlight counts the mutating ones among them that the server
	// may still act on (see Overlaps).
	InFlight         int `json:"inFlight"`
	MutatingInFlight int `json:"mutatingInFlight"`
	// Created counts the objects made, per kind, then per name: each POST
	// that created an object, whatever answer reached the client (an
	// ambiguous 500, or none because the client went away). A create
	// answered from an idempotency key makes nothing and counts under
	// Replays.
	Created map[string]map[string]int `json:"created"`
	Replays int                       `json:"replays"`
	// StaleReads counts reads (GET by id and lists) that Config.Lag made
	// differ from the current state: an object shown in an older version,
	// not shown yet, or shown after it was deleted.
	StaleReads int `json:"staleReads"`
	// Live counts live objects per kind.
	Live map[string]int `json:"live"`
	// Duplicates lists every name held by two or more live objects of one
	// kind.
	Duplicates []Duplicate `json:"duplicates"`
	// Overlaps counts mutating requests that arrived while another mutating
	// request on the same object was in flight; OverlapIDs names those
	// objects (an ID, or "Kind:name" for creates). Requests the server
	// decided not to act on (rate limited, outage, injected error or hang)
	// stop counting as in flight at once.
	Overlaps   int      `json:"overlaps"`
	OverlapIDs []string `json:"overlapIds"`
	// LeakCheck is true once expectations were set (POST
	// /admin/audit/expect). Then Leaks lists live objects whose kind and
	// name were not expected, and Missing the expected names with no live
	// object.
	LeakCheck bool        `json:"leakCheck"`
	Leaks     []ObjectRef `json:"leaks"`
	Missing   []ObjectRef `json:"missing"`
}

// Duplicate is one name held by several live objects of one kind.
type Duplicate struct {
	Kind string   `json:"kind"`
	Name string   `json:"name"`
	IDs  []string `json:"ids"`
}

// ObjectRef names an object; ID is empty for a missing one.
type ObjectRef struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	ID   string `json:"id,omitempty"`
}

// auditor accumulates request figures. It is guarded by Server.mu.
type auditor struct {
	requests    int
	byMethod    map[string]int
	byKind      map[string]map[string]int
	byStatus    map[string]int
	faults      map[string]int
	seen        []time.Time // arrivals within the last second
	admitted    []time.Time // admitted arrivals within the last second
	maxSeen     int
	maxAdmitted int
	inFlight    int
	mutating    map[string]int // object key -> mutating requests in flight
	created     map[string]map[string]int
	replays     int
	staleReads  int
	overlaps    int
	overlapIDs  map[string]bool
	expect      map[string]map[string]bool // kind -> names; nil: no leak check
}

func newAuditor() *auditor {
	return &auditor{
		byMethod:   map[string]int{},
		byKind:     map[string]map[string]int{},
		byStatus:   map[string]int{},
		faults:     map[string]int{},
		mutating:   map[string]int{},
		created:    map[string]map[string]int{},
		overlapIDs: map[string]bool{},
	}
}

// create records that a POST made an object of kind with name.
func (a *auditor) create(kind, name string) {
	if a.created[kind] == nil {
		a.created[kind] = map[string]int{}
	}
	a.created[kind][name]++
}

// tracked is one API request from arrival to answer.
type tracked struct {
	key      string // object key of a mutating request; "" otherwise
	released bool
}

// begin records an arriving request. key names the object a mutating
// request acts on ("" for reads).
func (a *auditor) begin(now time.Time, method, kind, key string) *tracked {
	a.requests++
	a.byMethod[method]++
	if a.byKind[kind] == nil {
		a.byKind[kind] = map[string]int{}
	}
	a.byKind[kind][method]++
	a.maxSeen = max(a.maxSeen, slide(&a.seen, now))
	a.inFlight++
	t := &tracked{key: key}
	if key != "" {
		if a.mutating[key] > 0 {
			a.overlaps++
			a.overlapIDs[key] = true
		}
		a.mutating[key]++
	}
	return t
}

// admit records that the rate limiter let a request through.
func (a *auditor) admit(now time.Time) {
	a.maxAdmitted = max(a.maxAdmitted, slide(&a.admitted, now))
}

// release ends t's claim on its object: the server will not act on it.
func (a *auditor) release(t *tracked) {
	if t.released {
		return
	}
	t.released = true
	if t.key != "" {
		if a.mutating[t.key]--; a.mutating[t.key] <= 0 {
			delete(a.mutating, t.key)
		}
	}
}

// end records the answer to t.
func (a *auditor) end(t *tracked, status int) {
	a.release(t)
	a.inFlight--
	a.byStatus[strconv.Itoa(status)]++
}

// slide appends now to the one-second window q, drops arrivals that are a
// second or more older, and returns how many remain.
func slide(q *[]time.Time, now time.Time) int {
	*q = append(*q, now)
	cut := now.Add(-time.Second)
	i := 0
	for i < len(*q) && !(*q)[i].After(cut) {
		i++
	}
	*q = (*q)[i:]
	return len(*q)
}

// snapshot returns the audit of the request figures and the objects in st.
func (a *auditor) snapshot(st *state) Audit {
	out := Audit{
		Requests:             a.requests,
		ByMethod:             maps.Clone(a.byMethod),
		ByKind:               map[string]map[string]int{},
		ByStatus:             maps.Clone(a.byStatus),
		RateLimited:          a.byStatus["429"],
		Faults:               maps.Clone(a.faults),
		MaxPerSecond:         a.maxSeen,
		MaxAdmittedPerSecond: a.maxAdmitted,
		InFlight:             a.inFlight,
		Created:              map[string]map[string]int{},
		Replays:              a.replays,
		StaleReads:           a.staleReads,
		Live:                 map[string]int{},
		Duplicates:           []Duplicate{},
		Leaks:                []ObjectRef{},
		Missing:              []ObjectRef{},
		Overlaps:             a.overlaps,
		OverlapIDs:           append([]string{}, slices.Sorted(maps.Keys(a.overlapIDs))...),
		LeakCheck:            a.expect != nil,
	}
	for k, m := range a.byKind {
		out.ByKind[k] = maps.Clone(m)
	}
	for k, m := range a.created {
		out.Created[k] = maps.Clone(m)
	}
	for _, n := range a.mutating {
		out.MutatingInFlight += n
	}
	names := map[string]map[string][]string{} // kind -> name -> ids
	for _, o := range st.sorted() {
		cur := o.current()
		if cur == nil {
			continue
		}
		k, name := o.kind.name, cur["name"].(string)
		out.Live[k]++
		if names[k] == nil {
			names[k] = map[string][]string{}
		}
		names[k][name] = append(names[k][name], o.id)
		if a.expect != nil && !a.expect[k][name] {
			out.Leaks = append(out.Leaks, ObjectRef{Kind: k, Name: name, ID: o.id})
		}
	}
	for _, k := range kinds {
		for _, name := range slices.Sorted(maps.Keys(names[k.name])) {
			if ids := names[k.name][name]; len(ids) > 1 {
				out.Duplicates = append(out.Duplicates, Duplicate{Kind: k.name, Name: name, IDs: ids})
			}
		}
		for _, name := range slices.Sorted(maps.Keys(a.expect[k.name])) {
			if len(names[k.name][name]) == 0 {
				out.Missing = append(out.Missing, ObjectRef{Kind: k.name, Name: name})
			}
		}
	}
	return out
}
