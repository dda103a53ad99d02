package graph

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// build returns a graph with the given edges, each "from>to" (why is
// "why from>to"), and extra isolated nodes.
func build(edges []string, nodes ...string) *Graph {
	g := New()
	for _, n := range nodes {
		g.AddNode(n)
	}
	for _, e := range edges {
		var from, to string
		for i := 0; i < len(e); i++ {
			if e[i] == '>' {
				from, to = e[:i], e[i+1:]
			}
		}
		g.AddEdge(from, to, "why "+e)
	}
	return g
}

func TestQueries(t *testing.T) {
	g := New()
	g.AddNode("z")
	g.AddEdge("b", "a", "first")
	g.AddEdge("c", "a", "c needs a")
	g.AddEdge("b", "a", "second") // collapses
	g.AddEdge("b", "c", "b needs c")
	g.AddNode("a") // already there

	if diff := cmp.Diff([]string{"a", "b", "c", "z"}, g.Nodes()); diff != "" {
		t.Errorf("Nodes() mismatch (-want +got):\n%s", diff)
	}
	tests := []struct {
		id             string
		deps, depended []string
	}{
		{id: "a", depended: []string{"b", "c"}},
		{id: "b", deps: []string{"a", "c"}},
		{id: "c", deps: []string{"a"}, depended: []string{"b"}},
		{id: "z"},
		{id: "missing"},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.deps, g.Deps(tt.id)); diff != "" {
			t.Errorf("Deps(%q) mismatch (-want +got):\n%s", tt.id, diff)
		}
		if diff := cmp.Diff(tt.depended, g.Dependents(tt.id)); diff != "" {
			t.Errorf("Dependents(%q) mismatch (-want +got):\n%s", tt.id, diff)
		}
	}
	got, ok := g.Edge("b", "a")
	if want := (Edge{From: "b", To: "a", Why: "first"}); !ok || got != want {
		t.Errorf("Edge(b, a) = %v, %v; want %v, true", got, ok, want)
	}
	if _, ok := g.Edge("a", "b"); ok {
		t.Errorf("Edge(a, b) found; want none")
	}
	if _, ok := g.Edge("a", "nope"); ok {
		t.Errorf("Edge(a, nope) found; want none")
	}
	wantEdges := []Edge{{"b", "a", "first"}, {"b", "c", "b needs c"}, {"c", "a", "c needs a"}}
	if diff := cmp.Diff(wantEdges, g.Edges()); diff != "" {
		t.Errorf("Edges() mismatch (-want +got):\n%s", diff)
	}
}

func TestCycles(t *testing.T) {
	tests := map[string]struct {
		edges []string
		want  [][]string // each cycle as its edges "from>to"
	}{
		"empty":     {},
		"acyclic":   {edges: []string{"a>b", "b>c", "a>c"}},
		"self loop": {edges: []string{"a>b", "b>b"}, want: [][]string{{"b>b"}}},
		"pair":      {edges: []string{"b>a", "a>b"}, want: [][]string{{"a>b", "b>a"}}},
		"triangle starts at smallest": {
			edges: []string{"c>a", "b>c", "a>b", "c>x"},
			want:  [][]string{{"a>b", "b>c", "c>a"}},
		},
		"shortest through smallest": {
			// a>b>c>d>a and a chord d... c>a makes a>b>c>a shortest.
			edges: []string{"a>b", "b>c", "c>d", "d>a", "c>a"},
			want:  [][]string{{"a>b", "b>c", "c>a"}},
		},
		"self loop inside a component": {
			edges: []string{"b>c", "c>b", "b>b"},
			want:  [][]string{{"b>b"}},
		},
		"two components sorted": {
			edges: []string{"y>z", "z>y", "m>n", "n>m", "n>y"},
			want:  [][]string{{"m>n", "n>m"}, {"y>z", "z>y"}},
		},
		"names with separators": {
			edges: []string{"file.File/b.c>file.File/a-b", "file.File/a-b>file.File/b.c"},
			want:  [][]string{{"file.File/a-b>file.File/b.c", "file.File/b.c>file.File/a-b"}},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			g := build(tt.edges)
			var want []Cycle
			for _, c := range tt.want {
				var cy Cycle
				for _, e := range c {
					got := build([]string{e}).Edges()[0]
					cy = append(cy, got)
				}
				want = append(want, cy)
			}
			if diff := cmp.Diff(want, g.Cycles()); diff != "" {
				t.Errorf("Cycles() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCycleString(t *testing.T) {
	g := New()
	g.AddEdge("a", "b", "dependsOn at x.yaml:3")
	g.AddEdge("b", "a", "reference in spec.content at y.yaml:7")
	cs := g.Cycles()
	if len(cs) != 1 {
		t.Fatalf("got %d cycles; want 1", len(cs))
	}
	want := "a needs b: dependsOn at x.yaml:3\n  b needs a: reference in spec.content at y.yaml:7"
	if got := cs[0].String(); got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
	if diff := cmp.Diff([]string{"a", "b"}, cs[0].Nodes()); diff != "" {
		t.Errorf("Nodes() mismatch (-want +got):\n%s", diff)
	}
}

func TestOrder(t *testing.T) {
	tests := map[string]struct {
		edges   []string
		nodes   []string
		want    []string
		reverse []string
		cyclic  bool
	}{
		"empty": {want: []string{}, reverse: []string{}},
		"ties by id": {
			nodes:   []string{"d", "a"},
			edges:   []string{"c>b", "b>a"},
			want:    []string{"a", "b", "c", "d"},
			reverse: []string{"c", "b", "a", "d"},
		},
		"diamond": {
			edges:   []string{"app>db", "app>net", "db>net", "web>app"},
			want:    []string{"net", "db", "app", "web"},
			reverse: []string{"web", "app", "db", "net"},
		},
		"dependencies first even when larger": {
			edges:   []string{"a>z"},
			want:    []string{"z", "a"},
			reverse: []string{"a", "z"},
		},
		"cycle": {edges: []string{"a>b", "b>a", "c>a"}, cyclic: true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			g := build(tt.edges, tt.nodes...)
			got, err := g.Order()
			rgot, rerr := g.ReverseOrder()
			if tt.cyclic {
				var ce *CycleError
				if !errors.As(err, &ce) || !errors.Is(err, ErrCycle) || len(ce.Cycles) != 1 {
					t.Errorf("Order() error = %v; want a *CycleError with 1 cycle", err)
				}
				if !errors.Is(rerr, ErrCycle) {
					t.Errorf("ReverseOrder() error = %v; want ErrCycle", rerr)
				}
				return
			}
			if err != nil || rerr != nil {
				t.Fatalf("Order() error = %v, ReverseOrder() error = %v; want none", err, rerr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Order() mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.reverse, rgot); diff != "" {
				t.Errorf("ReverseOrder() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCycleErrorMessage(t *testing.T) {
	_, err := build([]string{"a>b", "b>a"}).Order()
	want := "dependency graph has 1 cycle(s)\n  a needs b: why a>b\n  b needs a: why b>a"
	if err == nil || err.Error() != want {
		t.Errorf("Order() error = %v; want %q", err, want)
	}
}

// TestLongChain checks that 100,000 nodes in a chain neither blow the stack
// nor take quadratic time, acyclic and closed into one big cycle.
func TestLongChain(t *testing.T) {
	const n = 100000
	id := func(i int) string { return fmt.Sprintf("n%06d", i) }
	g := New()
	for i := 0; i+1 < n; i++ {
		g.AddEdge(id(i), id(i+1), "")
	}
	if cs := g.Cycles(); len(cs) != 0 {
		t.Fatalf("Cycles() found %d cycles in a chain; want 0", len(cs))
	}
	order, err := g.Order()
	if err != nil {
		t.Fatalf("Order() error = %v", err)
	}
	if len(order) != n || order[0] != id(n-1) || order[n-1] != id(0) {
		t.Errorf("Order() = [%s ... %s] (%d); want [%s ... %s] (%d)", order[0], order[len(order)-1], len(order), id(n-1), id(0), n)
	}
	length, path := g.CriticalPath(func(string) float64 { return 1 })
	if length != n || len(path) != n {
		t.Errorf("CriticalPath() = %v, %d nodes; want %d, %d nodes", length, len(path), n, n)
	}

	g.AddEdge(id(n-1), id(0), "closes")
	cs := g.Cycles()
	if len(cs) != 1 || len(cs[0]) != n {
		t.Fatalf("Cycles() = %d cycles; want 1 of %d edges", len(cs), n)
	}
	if got, want := cs[0][n-1], (Edge{From: id(n - 1), To: id(0), Why: "closes"}); got != want {
		t.Errorf("last edge = %v; want %v", got, want)
	}
}

func TestCriticalPath(t *testing.T) {
	weights := map[string]float64{"net": 5, "db": 30, "cache": 10, "app": 2, "web": 1, "docs": 40}
	tests := map[string]struct {
		edges  []string
		nodes  []string
		length float64
		path   []string
	}{
		"empty":  {},
		"single": {nodes: []string{"web"}, length: 1, path: []string{"web"}},
		"heaviest branch": {
			edges:  []string{"app>db", "app>cache", "db>net", "cache>net", "web>app"},
			length: 38,
			path:   []string{"net", "db", "app", "web"},
		},
		"isolated heavy node wins": {
			edges:  []string{"app>db", "db>net"},
			nodes:  []string{"docs"},
			length: 40,
			path:   []string{"docs"},
		},
		"cycle ignored": {
			edges:  []string{"app>db", "db>app", "web>net"},
			length: 6,
			path:   []string{"net", "web"},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			g := build(tt.edges, tt.nodes...)
			length, path := g.CriticalPath(func(id string) float64 { return weights[id] })
			if length != tt.length {
				t.Errorf("length = %v; want %v", length, tt.length)
			}
			if diff := cmp.Diff(tt.path, path); diff != "" {
				t.Errorf("path mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGrow(t *testing.T) {
	tests := map[string]struct {
		before []string // edges added before Grow
		after  []string // edges added after it
	}{
		"empty":          {after: []string{"a>b", "b>c"}},
		"already filled": {before: []string{"a>b"}, after: []string{"b>c", "a>b"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			g := build(tt.before)
			g.Grow(10, 10)
			for _, e := range build(tt.after).Edges() {
				g.AddEdge(e.From, e.To, e.Why)
			}
			want := build(append(append([]string(nil), tt.before...), tt.after...))
			if diff := cmp.Diff(want.Edges(), g.Edges()); diff != "" {
				t.Errorf("Edges() after Grow mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want.Nodes(), g.Nodes()); diff != "" {
				t.Errorf("Nodes() after Grow mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
