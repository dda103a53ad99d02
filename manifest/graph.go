package manifest

import "github.com/convergehq/converge/graph"

// BuildGraph returns the dependency graph of rv: a node per resource and an
// edge from each resource to every dependency that exists in rv, explained
// as "dependsOn at a.yaml:3" or "reference in spec.content at c.yaml:12".
// A Revision does not keep the line of each dependsOn entry, so dependsOn
// edges name the resource's kind: line; LoadGraph names the entry's own.
func BuildGraph(rv *Revision) *graph.Graph {
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
