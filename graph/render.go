package graph

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
)

// RenderOptions say how to draw a graph.
type RenderOptions struct {
	// Status maps an ID to its phase (Ready, Failed, Waiting, Creating, ...);
	// the node is coloured by it and the phase is shown under the ID. IDs
	// without a status are drawn plain.
	Status map[string]string
}

// style is how one phase is drawn.
type style struct{ fill, stroke string }

// phaseStyles colours the phases of store.Phase; unknown phases are grey.
var phaseStyles = map[string]style{
	"Ready":     {"#d4edda", "#2e7d32"},
	"Failed":    {"#f8d7da", "#c62828"},
	"Error":     {"#fde2c8", "#e65100"},
	"Drifted":   {"#fff3cd", "#b26a00"},
	"Waiting":   {"#e2e3e5", "#616161"},
	"Pending":   {"#f1f3f5", "#9e9e9e"},
	"Creating":  {"#d6e9f8", "#1565c0"},
	"Updating":  {"#d6e9f8", "#1565c0"},
	"Replacing": {"#d6e9f8", "#1565c0"},
	"Deleting":  {"#e8daef", "#6a1b9a"},
}

var otherStyle = style{"#eeeeee", "#757575"}

const cycleColor = "#d50000"

func styleOf(phase string) style {
	if s, ok := phaseStyles[phase]; ok {
		return s
	}
	return otherStyle
}

// cycleNodes returns the IDs that lie on a cycle.
func cycleNodes(on map[[2]string]bool) map[string]bool {
	out := map[string]bool{}
	for e := range on {
		out[e[0]] = true
		out[e[1]] = true
	}
	return out
}

// WriteDot draws the graph in Graphviz DOT. An edge points from a resource to
// what it needs. Edges on a cycle are red, bold and labelled "cycle"; nodes
// on a cycle get a red double border. Output is deterministic.
func (g *Graph) WriteDot(w io.Writer, o RenderOptions) error {
	bw := bufio.NewWriter(w)
	onCycle := g.OnCycle()
	cyc := cycleNodes(onCycle)
	fmt.Fprintln(bw, "digraph converge {")
	fmt.Fprintln(bw, "  rankdir=LR;")
	fmt.Fprintln(bw, `  node [shape=box, style="rounded,filled", fillcolor="white", fontname="Helvetica"];`)
	fmt.Fprintln(bw, `  edge [fontname="Helvetica", fontsize=10];`)
	for _, id := range g.Nodes() {
		label := id
		var attrs []string
		stroke := ""
		if phase, ok := o.Status[id]; ok {
			label += "\n" + phase
			s := styleOf(phase)
			attrs = append(attrs, "fillcolor="+dotQuote(s.fill))
			stroke = s.stroke
		}
		if cyc[id] {
			stroke = cycleColor
			attrs = append(attrs, "peripheries=2", "penwidth=2")
		}
		if stroke != "" {
			attrs = append(attrs, "color="+dotQuote(stroke))
		}
		attrs = append([]string{"label=" + dotQuote(label)}, attrs...)
		fmt.Fprintf(bw, "  %s [%s];\n", dotQuote(id), strings.Join(attrs, ", "))
	}
	for _, e := range g.Edges() {
		var attrs []string
		if e.Why != "" {
			attrs = append(attrs, "tooltip="+dotQuote(e.Why))
		}
		if onCycle[[2]string{e.From, e.To}] {
			attrs = append(attrs, `label="cycle"`, "color="+dotQuote(cycleColor), "fontcolor="+dotQuote(cycleColor), "style=bold", "penwidth=2")
		}
		fmt.Fprintf(bw, "  %s -> %s", dotQuote(e.From), dotQuote(e.To))
		if len(attrs) > 0 {
			fmt.Fprintf(bw, " [%s]", strings.Join(attrs, ", "))
		}
		fmt.Fprintln(bw, ";")
	}
	fmt.Fprintln(bw, "}")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write dot: %w", err)
	}
	return nil
}

// dotQuote returns s as a DOT double-quoted string.
func dotQuote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// mermaidEscape makes s safe inside a quoted Mermaid label.
var mermaidEscape = strings.NewReplacer(
	`"`, "#quot;",
	"#", "#35;",
	"<", "#lt;",
	">", "#gt;",
	"\n", "<br/>",
	"\r", "",
)

// WriteMermaid draws the graph as a Mermaid flowchart. Nodes are aliased n0,
// n1, ... in ID order and labelled with their ID (and phase), since IDs hold
// characters Mermaid reserves. Edges on a cycle are red, bold and labelled
// "cycle"; nodes on a cycle get the "cycle" class. Output is deterministic.
func (g *Graph) WriteMermaid(w io.Writer, o RenderOptions) error {
	bw := bufio.NewWriter(w)
	onCycle := g.OnCycle()
	cyc := cycleNodes(onCycle)
	nodes := g.Nodes()
	alias := make(map[string]string, len(nodes))
	fmt.Fprintln(bw, "flowchart LR")
	classes := map[string][]string{} // class -> aliases
	for i, id := range nodes {
		a := fmt.Sprintf("n%d", i)
		alias[id] = a
		label := mermaidEscape.Replace(id)
		if phase, ok := o.Status[id]; ok {
			label += "<br/>" + mermaidEscape.Replace(phase)
			c := "phase_" + classSafe(phase)
			classes[c] = append(classes[c], a)
		}
		if cyc[id] {
			classes["cycle"] = append(classes["cycle"], a)
		}
		fmt.Fprintf(bw, "  %s[\"%s\"]\n", a, label)
	}
	var cycleLinks []string
	for i, e := range g.Edges() {
		if onCycle[[2]string{e.From, e.To}] {
			fmt.Fprintf(bw, "  %s ==>|cycle| %s\n", alias[e.From], alias[e.To])
			cycleLinks = append(cycleLinks, fmt.Sprint(i))
			continue
		}
		fmt.Fprintf(bw, "  %s --> %s\n", alias[e.From], alias[e.To])
	}
	for _, c := range sortedKeys(classes) {
		s := otherStyle
		if c == "cycle" {
			continue
		}
		for phase, ps := range phaseStyles {
			if "phase_"+classSafe(phase) == c {
				s = ps
			}
		}
		fmt.Fprintf(bw, "  classDef %s fill:%s,stroke:%s\n", c, s.fill, s.stroke)
	}
	if len(classes["cycle"]) > 0 {
		fmt.Fprintf(bw, "  classDef cycle stroke:%s,stroke-width:3px\n", cycleColor)
	}
	for _, c := range sortedKeys(classes) {
		if c == "cycle" {
			continue
		}
		fmt.Fprintf(bw, "  class %s %s\n", strings.Join(classes[c], ","), c)
	}
	if len(classes["cycle"]) > 0 {
		fmt.Fprintf(bw, "  class %s cycle\n", strings.Join(classes["cycle"], ","))
	}
	if len(cycleLinks) > 0 {
		fmt.Fprintf(bw, "  linkStyle %s stroke:%s,stroke-width:3px,color:%s\n", strings.Join(cycleLinks, ","), cycleColor, cycleColor)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write mermaid: %w", err)
	}
	return nil
}

// classSafe keeps letters, digits and '_' of a phase for a class name.
func classSafe(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
