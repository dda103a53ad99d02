package queue

// Share returns the part of the limits c that falls to the node at index i
// of n nodes (a cluster's live members, sorted by name), so that n nodes
// together keep within c:
//
//   - QPS is split evenly: c.QPS/n each.
//   - Burst (at least 1 with a QPS) and MaxInFlight are split as integers:
//     node i gets L/n, plus one when i < L mod n, so the parts add up to L.
//   - A part is never below what lets a node make progress: a Burst and a
//     MaxInFlight of 1. With more nodes than the limit (n > MaxInFlight),
//     each node still gets 1, so the nodes together may have n calls in
//     flight, more than the limit; likewise n tokens at once when n > Burst.
//   - Unlimited stays unlimited (QPS 0, MaxInFlight 0).
//
// With n <= 1, or an index outside [0, n), c is returned as it is. Share is
// pure.
func (c LimiterConfig) Share(i, n int) LimiterConfig {
	if n <= 1 || i < 0 || i >= n {
		return c
	}
	out := LimiterConfig{Burst: c.Burst}
	if c.QPS > 0 {
		out.QPS = c.QPS / float64(n)
		out.Burst = part(max(c.Burst, 1), i, n)
	}
	if c.MaxInFlight > 0 {
		out.MaxInFlight = part(c.MaxInFlight, i, n)
	}
	return out
}

// part is node i's part of the integer limit l among n nodes, at least 1.
func part(l, i, n int) int {
	p := l / n
	if i < l%n {
		p++
	}
	return max(p, 1)
}
