package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strconv"
)

// Owner returns which of nodes owns the resource id: the node of highest
// rendezvous weight for id (highest-random-weight hashing), the lowest
// name on a tie; "" when nodes is empty. It is pure: every node that
// sees the same names computes the same owner, and a change of the names
// moves only the resources whose highest weight changed: those of a node
// that left, and those a node that joined now weighs highest for (about
// one in N+1).
func Owner(id string, nodes []string) string {
	var (
		best  string
		bestW uint64
	)
	for i, n := range nodes {
		w := weight(n, id)
		if i == 0 || w > bestW || (w == bestW && n < best) {
			best, bestW = n, w
		}
	}
	return best
}

// Shares returns how many of ids each of nodes owns; nodes that own none
// are present with 0.
func Shares(ids, nodes []string) map[string]int {
	s := make(map[string]int, len(nodes))
	for _, n := range nodes {
		s[n] = 0
	}
	for _, id := range ids {
		if o := Owner(id, nodes); o != "" {
			s[o]++
		}
	}
	return s
}

// weight is the rendezvous weight of node for id: FNV-1a over both (a
// zero byte between), then the splitmix64 finalizer, so that weights of
// similar names do not correlate.
func weight(node, id string) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for i := 0; i < len(node); i++ {
		h ^= uint64(node[i])
		h *= prime
	}
	h *= prime // the zero byte between node and id
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= prime
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// A View is a set of live members, as one node saw it: the resources are
// divided among its members' names.
type View struct {
	// ID names the set: a hash of the members' names and leases, so that
	// a member that came back with another lease makes another view.
	ID      string
	Members []Member // sorted by name
	names   []string
}

// newView returns the view of members, sorted by name.
func newView(members []Member) View {
	ms := append([]Member(nil), members...)
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	h := sha256.New()
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.Name
		h.Write([]byte(m.Name))
		h.Write([]byte{0})
		h.Write([]byte(strconv.FormatInt(m.lease, 16)))
		h.Write([]byte{'\n'})
	}
	return View{ID: hex.EncodeToString(h.Sum(nil)[:8]), Members: ms, names: names}
}

// Names returns the members' names, sorted.
func (v View) Names() []string { return append([]string(nil), v.names...) }

// Owner returns the member that owns id in this view; "" when it has no
// members.
func (v View) Owner(id string) string { return Owner(id, v.names) }

// Place returns where the node name stands in the view: its index among
// the members sorted by name, and how many they are. A node the view does
// not hold yet (it joins) counts as one more member, where its name sorts.
// The nodes divide a provider's limits by their places
// (queue.LimiterConfig.Share).
func (v View) Place(name string) (index, count int) {
	count = len(v.names)
	in := false
	for _, n := range v.names {
		switch {
		case n == name:
			in = true
		case n < name:
			index++
		}
	}
	if !in {
		count++
	}
	return index, count
}

// has reports whether the view holds the member name with lease.
func (v View) has(name string, lease int64) bool {
	for _, m := range v.Members {
		if m.Name == name && m.lease == lease {
			return true
		}
	}
	return false
}
