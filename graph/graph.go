package graph

import (
	"container/heap"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Edge is one dependency: From needs To, because of Why
// ("dependsOn at a.yaml:3", "reference in spec.content at c.yaml:12").
type Edge struct {
	From string
	To   string
	Why  string
}

func (e Edge) String() string {
	if e.Why == "" {
		return e.From + " needs " + e.To
	}
	return e.From + " needs " + e.To + ": " + e.Why
}

// Graph is a directed graph of dependencies. The zero value is not usable;
// call New.
type Graph struct {
	index map[string]int // ID -> node number
	ids   []string       // node number -> ID
	deps  [][]int        // node -> nodes it needs, in insertion order
	rdeps [][]int        // node -> nodes that need it, in insertion order
	why   map[uint64]string
}

// New returns an empty graph.
func New() *Graph {
	return &Graph{index: map[string]int{}, why: map[uint64]string{}}
}

// Grow makes room for at least nodes more nodes and edges more edges, so
// that building a large graph does not rehash its indexes as it grows.
func (g *Graph) Grow(nodes, edges int) {
	if nodes > 0 && len(g.ids) == 0 {
		index := make(map[string]int, nodes)
		for id, n := range g.index {
			index[id] = n
		}
		g.index = index
		g.ids = append(make([]string, 0, nodes), g.ids...)
		g.deps = append(make([][]int, 0, nodes), g.deps...)
		g.rdeps = append(make([][]int, 0, nodes), g.rdeps...)
	}
	if edges > 0 && len(g.why) == 0 {
		g.why = make(map[uint64]string, edges)
	}
}

func key(from, to int) uint64 { return uint64(from)<<32 | uint64(uint32(to)) }

// AddNode adds id if it is not there yet.
func (g *Graph) AddNode(id string) { g.node(id) }

func (g *Graph) node(id string) int {
	if n, ok := g.index[id]; ok {
		return n
	}
	n := len(g.ids)
	g.index[id] = n
	g.ids = append(g.ids, id)
	g.deps = append(g.deps, nil)
	g.rdeps = append(g.rdeps, nil)
	return n
}

// AddEdge records that from needs to, adding both nodes as needed. A second
// edge between the same nodes is ignored: the first why is kept.
func (g *Graph) AddEdge(from, to, why string) {
	f, t := g.node(from), g.node(to)
	k := key(f, t)
	if _, dup := g.why[k]; dup {
		return
	}
	g.why[k] = why
	g.deps[f] = append(g.deps[f], t)
	g.rdeps[t] = append(g.rdeps[t], f)
}

// Len returns the number of nodes.
func (g *Graph) Len() int { return len(g.ids) }

// Has reports whether id is a node.
func (g *Graph) Has(id string) bool {
	_, ok := g.index[id]
	return ok
}

// Nodes returns every node ID, sorted.
func (g *Graph) Nodes() []string {
	out := append([]string(nil), g.ids...)
	sort.Strings(out)
	return out
}

// Edges returns every edge, sorted by From then To.
func (g *Graph) Edges() []Edge {
	out := make([]Edge, 0, len(g.why))
	for f, ts := range g.deps {
		for _, t := range ts {
			out = append(out, Edge{From: g.ids[f], To: g.ids[t], Why: g.why[key(f, t)]})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].From != out[j].From {
			return out[i].From < out[j].From
		}
		return out[i].To < out[j].To
	})
	return out
}

// Deps returns the IDs id needs, sorted. Unknown IDs have none.
func (g *Graph) Deps(id string) []string {
	n, ok := g.index[id]
	if !ok {
		return nil
	}
	return g.names(g.deps[n])
}

// Dependents returns the IDs that need id, sorted.
func (g *Graph) Dependents(id string) []string {
	n, ok := g.index[id]
	if !ok {
		return nil
	}
	return g.names(g.rdeps[n])
}

func (g *Graph) names(ns []int) []string {
	if len(ns) == 0 {
		return nil
	}
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = g.ids[n]
	}
	sort.Strings(out)
	return out
}

// Edge returns the edge from -> to, if there is one.
func (g *Graph) Edge(from, to string) (Edge, bool) {
	f, ok1 := g.index[from]
	t, ok2 := g.index[to]
	if !ok1 || !ok2 {
		return Edge{}, false
	}
	why, ok := g.why[key(f, t)]
	if !ok {
		return Edge{}, false
	}
	return Edge{From: from, To: to, Why: why}, true
}

// Cycle is an elementary cycle as the edges that form it, in order: a->b,
// b->c, c->a. The first edge starts at the smallest ID on the cycle.
type Cycle []Edge

// String renders the cycle one edge a line:
//
//	a needs b: dependsOn at x.yaml:3
//	  b needs a: reference in spec.content at y.yaml:7
func (c Cycle) String() string {
	parts := make([]string, len(c))
	for i, e := range c {
		parts[i] = e.String()
	}
	return strings.Join(parts, "\n  ")
}

// Nodes returns the IDs on the cycle in order, starting at the smallest.
func (c Cycle) Nodes() []string {
	out := make([]string, len(c))
	for i, e := range c {
		out[i] = e.From
	}
	return out
}

// CycleError is returned by Order and ReverseOrder on a cyclic graph.
type CycleError struct {
	Cycles []Cycle
}

func (e *CycleError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dependency graph has %d cycle(s)", len(e.Cycles))
	for _, c := range e.Cycles {
		b.WriteString("\n  ")
		b.WriteString(c.String())
	}
	return b.String()
}

// ErrCycle is matched by errors.Is for every *CycleError.
var ErrCycle = errors.New("dependency cycle")

// Is makes errors.Is(err, ErrCycle) true.
func (e *CycleError) Is(target error) bool { return target == ErrCycle }

// sccs returns the strongly connected components with an iterative Tarjan.
// Each component is a list of node numbers.
func (g *Graph) sccs() [][]int {
	n := len(g.ids)
	const unvisited = -1
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	for i := range index {
		index[i] = unvisited
	}
	var (
		stack []int
		comps [][]int
		next  int
	)
	type frame struct{ v, i int } // node and the position in its deps
	var call []frame
	for root := 0; root < n; root++ {
		if index[root] != unvisited {
			continue
		}
		call = append(call, frame{v: root})
		index[root], low[root] = next, next
		next++
		stack = append(stack, root)
		onStack[root] = true
		for len(call) > 0 {
			top := &call[len(call)-1]
			v := top.v
			if top.i < len(g.deps[v]) {
				w := g.deps[v][top.i]
				top.i++
				if index[w] == unvisited {
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					onStack[w] = true
					call = append(call, frame{v: w})
				} else if onStack[w] && index[w] < low[v] {
					low[v] = index[w]
				}
				continue
			}
			// v is done.
			call = call[:len(call)-1]
			if len(call) > 0 {
				p := call[len(call)-1].v
				if low[v] < low[p] {
					low[p] = low[v]
				}
			}
			if low[v] == index[v] {
				var comp []int
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[w] = false
					comp = append(comp, w)
					if w == v {
						break
					}
				}
				comps = append(comps, comp)
			}
		}
	}
	return comps
}

// Cycles returns one elementary cycle for every strongly connected component
// of more than one node and for every self-loop: the shortest cycle through
// the component's smallest ID, preferring smaller IDs at each step. Cycles
// are sorted by their first ID. An acyclic graph has none.
func (g *Graph) Cycles() []Cycle {
	var out []Cycle
	for _, comp := range g.sccs() {
		if len(comp) == 1 {
			v := comp[0]
			if _, self := g.why[key(v, v)]; self {
				out = append(out, Cycle{{From: g.ids[v], To: g.ids[v], Why: g.why[key(v, v)]}})
			}
			continue
		}
		out = append(out, g.cycleIn(comp))
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0].From < out[j][0].From })
	return out
}

// cycleIn finds the shortest cycle through the smallest ID of a strongly
// connected component with a breadth-first search inside it.
func (g *Graph) cycleIn(comp []int) Cycle {
	in := make(map[int]bool, len(comp))
	start := comp[0]
	for _, v := range comp {
		in[v] = true
		if g.ids[v] < g.ids[start] {
			start = v
		}
	}
	if _, self := g.why[key(start, start)]; self {
		return Cycle{{From: g.ids[start], To: g.ids[start], Why: g.why[key(start, start)]}}
	}
	parent := map[int]int{start: -1}
	queue := []int{start}
	end := -1
	for len(queue) > 0 && end < 0 {
		v := queue[0]
		queue = queue[1:]
		for _, w := range g.sortedDeps(v) {
			if !in[w] {
				continue
			}
			if w == start {
				end = v
				break
			}
			if _, seen := parent[w]; !seen {
				parent[w] = v
				queue = append(queue, w)
			}
		}
	}
	// Walk back from end to start, then close the cycle.
	var path []int
	for v := end; v >= 0; v = parent[v] {
		path = append(path, v)
	}
	for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
		path[i], path[j] = path[j], path[i]
	}
	c := make(Cycle, len(path))
	for i, v := range path {
		w := start
		if i+1 < len(path) {
			w = path[i+1]
		}
		c[i] = Edge{From: g.ids[v], To: g.ids[w], Why: g.why[key(v, w)]}
	}
	return c
}

func (g *Graph) sortedDeps(v int) []int {
	ds := append([]int(nil), g.deps[v]...)
	sort.Slice(ds, func(i, j int) bool { return g.ids[ds[i]] < g.ids[ds[j]] })
	return ds
}

// OnCycle returns the set of edges that lie on some cycle (every edge inside
// a strongly connected component, and self-loops), keyed by From and To.
func (g *Graph) OnCycle() map[[2]string]bool {
	out := map[[2]string]bool{}
	comp := make([]int, len(g.ids))
	for c, members := range g.sccs() {
		for _, v := range members {
			comp[v] = c
		}
	}
	for f, ts := range g.deps {
		for _, t := range ts {
			if comp[f] == comp[t] {
				out[[2]string{g.ids[f], g.ids[t]}] = true
			}
		}
	}
	return out
}

// Order returns every ID with dependencies before their dependents; among
// IDs that are ready at the same time the smallest comes first. It returns a
// *CycleError naming every cycle when there is one.
func (g *Graph) Order() ([]string, error) {
	out := g.kahn(g.deps, g.rdeps)
	if len(out) < len(g.ids) {
		return nil, &CycleError{Cycles: g.Cycles()}
	}
	return out, nil
}

// ReverseOrder returns every ID with dependents before their dependencies,
// the order to delete in; ties are broken by ID. It returns a *CycleError
// when the graph is cyclic.
func (g *Graph) ReverseOrder() ([]string, error) {
	out := g.kahn(g.rdeps, g.deps)
	if len(out) < len(g.ids) {
		return nil, &CycleError{Cycles: g.Cycles()}
	}
	return out, nil
}

// kahn orders the nodes so that every node comes after all of its "before"
// nodes (before[v] must precede v; after[v] are the nodes that wait on v).
// Nodes on or behind a cycle are left out.
func (g *Graph) kahn(before, after [][]int) []string {
	pending := make([]int, len(g.ids))
	h := &idHeap{ids: g.ids}
	for v := range g.ids {
		pending[v] = len(before[v])
		if pending[v] == 0 {
			h.nodes = append(h.nodes, v)
		}
	}
	heap.Init(h)
	out := make([]string, 0, len(g.ids))
	for h.Len() > 0 {
		v := heap.Pop(h).(int)
		out = append(out, g.ids[v])
		for _, w := range after[v] {
			pending[w]--
			if pending[w] == 0 {
				heap.Push(h, w)
			}
		}
	}
	return out
}

type idHeap struct {
	nodes []int
	ids   []string
}

func (h *idHeap) Len() int           { return len(h.nodes) }
func (h *idHeap) Less(i, j int) bool { return h.ids[h.nodes[i]] < h.ids[h.nodes[j]] }
func (h *idHeap) Swap(i, j int)      { h.nodes[i], h.nodes[j] = h.nodes[j], h.nodes[i] }
func (h *idHeap) Push(x any)         { h.nodes = append(h.nodes, x.(int)) }
func (h *idHeap) Pop() any {
	n := h.nodes[len(h.nodes)-1]
	h.nodes = h.nodes[:len(h.nodes)-1]
	return n
}

// CriticalPath returns the heaviest chain of dependencies, where a chain
// weighs the sum of weight over its nodes: with unlimited parallelism, the
// least time it takes to converge everything when weight is each node's
// duration. The path lists dependencies first. Among equally heavy chains it
// returns the one that ends earliest in Order. Nodes on or behind a cycle are
// ignored; an empty graph gives 0 and nil.
func (g *Graph) CriticalPath(weight func(id string) float64) (length float64, path []string) {
	order := g.kahn(g.deps, g.rdeps) // every dependency of a node precedes it
	dist := make([]float64, len(g.ids))
	prev := make([]int, len(g.ids))
	best := -1
	for _, id := range order {
		v := g.index[id]
		prev[v] = -1
		var base float64
		for _, d := range g.sortedDeps(v) {
			if prev[v] == -1 || dist[d] > base {
				base, prev[v] = dist[d], d
			}
		}
		dist[v] = base + weight(id)
		if best < 0 || dist[v] > dist[best] {
			best = v
		}
	}
	if best < 0 {
		return 0, nil
	}
	for v := best; v >= 0; v = prev[v] {
		path = append(path, g.ids[v])
	}
	for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
		path[i], path[j] = path[j], path[i]
	}
	return dist[best], path
}
