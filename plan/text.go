package plan

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// shortHashLen is how many characters of the revision hash a header shows.
const shortHashLen = 12

// section is one group of the text rendering.
type section struct {
	title string
	types []Type
}

// sections in the order they print. Within a section, actions keep the
// plan's (dependency) order.
var sections = []section{
	{"Create:", []Type{Create}},
	{"Update in place:", []Type{Update}},
	{"Replace:", []Type{Replace}},
	{"Delete:", []Type{Delete}},
	{"Adopt (take over existing objects, which stay as they are):", []Type{Adopt}},
	{"Forget (drop the records, leave the objects in place):", []Type{Forget}},
	{"Not acted on:", []Type{Wait, Blocked, Conflict, Drift}},
	{"Could not observe (what apply would do there is unknown):", []Type{Error}},
}

// markers prefix an action's line.
var markers = map[Type]string{
	Create:   "+",
	Update:   "~",
	Replace:  "-/+",
	Delete:   "-",
	Adopt:    "=",
	Forget:   "=",
	Wait:     "wait    ",
	Blocked:  "blocked ",
	Conflict: "conflict",
	Drift:    "drift   ",
	Error:    "error   ",
}

// WriteText renders the plan for people, in the style of terraform plan: a
// header naming the revision, then the actions grouped into sections (create,
// update, replace, delete, adopt, forget, then the actions that change
// nothing now: wait, blocked, conflict, reported drift), each in the plan's
// order, with its reason and its field changes; then a summary line.
// Actions of type none are counted but not listed. Sensitive values are
// always masked. It returns an error, having written nothing, when an action
// has an unknown type.
func (p *Plan) WriteText(w io.Writer) error {
	title := "converge plan"
	if p != nil {
		if rev := ShortRevision(p.Revision); rev != "" {
			title = "converge plan for revision " + rev
		}
	}
	return p.WriteTextTitled(w, title)
}

// WriteTextTitled is WriteText with title as the header line (none when
// title is empty), for plans that a caller names otherwise: a destroy, or
// the plan an adoption leads to.
func (p *Plan) WriteTextTitled(w io.Writer, title string) error {
	if p == nil {
		p = &Plan{}
	}
	if err := p.validate(); err != nil {
		return err
	}
	var b bytes.Buffer
	if title != "" {
		b.WriteString(title + "\n")
	}
	for _, sec := range sections {
		first := true
		for _, a := range p.Actions {
			if !sec.has(a.Type) {
				continue
			}
			if first {
				fmt.Fprintf(&b, "\n%s\n", sec.title)
				first = false
			}
			writeAction(&b, a)
		}
	}
	b.WriteByte('\n')
	writeSummary(&b, p.Summary(), p.HasChanges())
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	return nil
}

func (s section) has(t Type) bool {
	for _, st := range s.types {
		if st == t {
			return true
		}
	}
	return false
}

// writeAction writes one action: its marker, ID and notes, then its field
// changes, masked, one a line.
func writeAction(b *bytes.Buffer, a Action) {
	fmt.Fprintf(b, "  %s %s", markers[a.Type], a.ID)
	if notes := actionNotes(a); len(notes) > 0 {
		fmt.Fprintf(b, " (%s)", strings.Join(notes, "; "))
	}
	b.WriteByte('\n')
	if a.Type == Wait {
		if rest := unmentioned(a.Reason, a.WaitFor); a.Reason != "" && len(rest) > 0 {
			fmt.Fprintf(b, "      waiting for: %s\n", strings.Join(rest, ", "))
		}
	}
	for _, c := range a.Diff.Masked() {
		if a.Type == Create {
			c.ForceNew = false // nothing to replace yet
		}
		fmt.Fprintf(b, "      %s\n", c)
	}
}

// actionNotes returns the parenthesized notes after an action's ID.
func actionNotes(a Action) []string {
	var notes []string
	if a.Deposed {
		notes = append(notes, "deposed object")
	}
	switch {
	case a.Reason != "":
		notes = append(notes, a.Reason)
	case a.Type == Wait && len(a.WaitFor) > 0:
		notes = append(notes, "waiting for "+strings.Join(a.WaitFor, ", "))
	}
	return notes
}

// unmentioned returns the IDs in ids that reason does not name.
func unmentioned(reason string, ids []string) []string {
	var out []string
	for _, id := range ids {
		if !strings.Contains(reason, id) {
			out = append(out, id)
		}
	}
	return out
}

// writeSummary writes the closing lines.
func writeSummary(b *bytes.Buffer, s Summary, changes bool) {
	var notes []string
	for _, n := range []struct {
		count int
		what  string
	}{
		{s.Wait, "waiting"},
		{s.Blocked, "blocked"},
		{s.Conflict, "in conflict"},
		{s.Drift, "drifted (report only)"},
	} {
		if n.count > 0 {
			notes = append(notes, fmt.Sprintf("%d %s", n.count, n.what))
		}
	}
	switch {
	case changes:
		fmt.Fprintf(b, "Plan: %d to create, %d to update, %d to replace, %d to delete", s.Create, s.Update, s.Replace, s.Delete)
		if s.Adopt > 0 {
			fmt.Fprintf(b, ", %d to adopt", s.Adopt)
		}
		if s.Forget > 0 {
			fmt.Fprintf(b, ", %d to forget", s.Forget)
		}
		b.WriteString(".\n")
	case len(notes) == 0 && s.Error > 0:
		b.WriteString("No changes in what could be observed.\n")
	case len(notes) == 0:
		b.WriteString("No changes. Observed state matches the manifests.\n")
	default:
		b.WriteString("No changes to apply.\n")
	}
	if len(notes) > 0 {
		fmt.Fprintf(b, "Not acted on: %s.\n", strings.Join(notes, ", "))
	}
	if s.Error > 0 {
		fmt.Fprintf(b, "Incomplete: %d could not be observed.\n", s.Error)
	}
}

// ShortRevision returns the first 12 characters of a revision hash, after
// any algorithm prefix such as "sha256:".
func ShortRevision(rev string) string {
	if _, after, ok := strings.Cut(rev, ":"); ok {
		rev = after
	}
	if len(rev) > shortHashLen {
		rev = rev[:shortHashLen]
	}
	return rev
}
