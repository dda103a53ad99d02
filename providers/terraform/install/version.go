package install

import (
	"fmt"
	"strings"

	"github.com/convergehq/converge/provider"
	version "github.com/hashicorp/go-version"
)

// constraint is a parsed Terraform version constraint.
type constraint struct {
	text  string
	cs    version.Constraints // nil: any version
	exact []*version.Version  // versions named by = or a bare version
}

// parseConstraint reads a Terraform version constraint: comma-separated
// terms of =, !=, >, >=, <, <=, ~> or a bare version (meaning =). An empty
// constraint allows any version. Errors wrap ErrInvalid and are terminal.
func parseConstraint(s string) (constraint, error) {
	c := constraint{text: strings.TrimSpace(s)}
	if c.text == "" {
		return c, nil
	}
	cs, err := version.NewConstraint(c.text)
	if err != nil {
		return c, provider.Terminal(fmt.Errorf("version constraint %q: %v: %w", s, err, ErrInvalid))
	}
	c.cs = cs
	for _, term := range strings.Split(c.text, ",") {
		term = strings.TrimSpace(term)
		if strings.HasPrefix(term, "!=") || strings.HasPrefix(term, ">") || strings.HasPrefix(term, "<") || strings.HasPrefix(term, "~>") {
			continue
		}
		v, err := version.NewVersion(strings.TrimSpace(strings.TrimPrefix(term, "=")))
		if err != nil {
			return c, provider.Terminal(fmt.Errorf("version constraint %q: term %q: %v: %w", s, term, err, ErrInvalid))
		}
		c.exact = append(c.exact, v)
	}
	return c, nil
}

// allows reports whether v satisfies the constraint. As in Terraform, a
// prerelease is allowed only when a term names exactly that version.
func (c constraint) allows(v *version.Version) bool {
	if v.Prerelease() != "" {
		named := false
		for _, e := range c.exact {
			if e.Equal(v) && e.Prerelease() == v.Prerelease() {
				named = true
			}
		}
		if !named {
			return false
		}
	}
	return c.cs == nil || c.cs.Check(v)
}

func (c constraint) String() string {
	if c.text == "" {
		return "any version"
	}
	return fmt.Sprintf("%q", c.text)
}

// normalVersion returns the canonical form of a version: three numbers,
// then -PRERELEASE and +METADATA when present.
func normalVersion(v *version.Version) string { return v.String() }
