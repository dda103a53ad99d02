package diff

// Change is one field that differs.
type Change struct {
	// Path is the field's path below spec: "content", "env.HOME", "args[2]".
	Path string `json:"path"`
	Old  any    `json:"old,omitempty"`
	New  any    `json:"new,omitempty"`
	// OldAbsent/NewAbsent tell an absent value from a null one.
	OldAbsent bool `json:"oldAbsent,omitempty"`
	NewAbsent bool `json:"newAbsent,omitempty"`
	// Unknown: the new value is known only after apply (it holds a reference).
	Unknown   bool `json:"unknown,omitempty"`
	ForceNew  bool `json:"forceNew,omitempty"`
	Sensitive bool `json:"sensitive,omitempty"`
}

// Diff is every change, sorted by path: fields and map keys in lexical
// order, list elements by index.
type Diff []Change

// Empty reports whether nothing differs.
func (d Diff) Empty() bool { return len(d) == 0 }

// ForceNew reports whether any change needs a replace.
func (d Diff) ForceNew() bool {
	for _, c := range d {
		if c.ForceNew {
			return true
		}
	}
	return false
}

// Paths returns the changed paths.
func (d Diff) Paths() []string {
	out := make([]string, len(d))
	for i, c := range d {
		out[i] = c.Path
	}
	return out
}
