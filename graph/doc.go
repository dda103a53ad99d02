// Package graph is a directed graph over string IDs in which an edge from A
// to B means "A needs B": B must be ready before A is acted on, and A must be
// gone before B is deleted. Every edge carries why it exists, so that errors
// and drawings can say where in the manifests it came from.
//
// Guarantees:
//   - Deterministic: every list it returns is sorted by ID or follows a fixed
//     rule with ties broken by ID, so the same graph always gives the same
//     order, cycles and drawings.
//   - No recursion: cycle detection (an iterative Tarjan SCC) and ordering
//     handle chains of hundreds of thousands of nodes without growing the
//     goroutine stack.
//   - Duplicate edges collapse; the first reason given is kept.
//
// A Graph is not safe for concurrent mutation; concurrent reads are safe.
package graph
