package manifest

import "github.com/convergehq/converge/graph"

// BuildGraph returns the dependency graph of rv: a node per resource and an
// edge from each resource to every dependency that exists in rv, explained
// as "dependsOn at a.yaml:3" or "reference in spec.content at c.yaml:12".
// A revision from the loader keeps its graph, which names the line of each
// dependsOn entry; one decoded from the store names the resource's kind:
// line instead.
//
// The graph is built once per revision (the loader's own, when it loaded
// rv) and shared: callers must not modify it.
func BuildGraph(rv *Revision) *graph.Graph {
	rv.graphOnce.Do(func() {
		if rv.graph == nil {
			rv.graph = buildGraph(rv)
		}
	})
	return rv.graph
}

func buildGraph(rv *Revision) *graph.Graph {
	g := graph.New()
	for _, r := range rv.Resources {
		g.AddNode(r.ID)
	}
	for _, r := range rv.Resources {
		for _, dep := range r.DependsOn {
			if _, ok := rv.Get(dep); ok {
				g.AddEdge(r.ID, dep, "dependsOn at "+sourceString(r.Source))
			}
		}
		for _, ref := range r.Refs {
			if _, ok := rv.Get(ref.Target); ok {
				g.AddEdge(r.ID, ref.Target, "reference in "+ref.Field+" at "+sourceString(ref.Source))
			}
		}
	}
	return g
}
