package postgres

import (
	"fmt"
	"strings"

	"github.com/convergehq/converge/provider"
)

// ValidateSpec checks what each field alone cannot: a Grant's privileges
// against its target, its objects (required, and schema names, for the
// targets in a schema), a role that is a member of itself. Values that
// are references not resolved yet are skipped.
func (p *Provider) ValidateSpec(kind string, spec map[string]any) []provider.FieldError {
	k, err := p.suffix(kind)
	if err != nil {
		return []provider.FieldError{{Field: "kind", Msg: fmt.Sprintf("unknown kind %s for the %s provider", kind, p.name)}}
	}
	var errs []provider.FieldError
	switch k {
	case KindRole:
		name, _ := spec["name"].(string)
		if members, ok := spec["memberOf"].([]any); ok && name != "" && !provider.IsUnknown(spec["name"]) {
			for i, m := range members {
				if m == name {
					errs = append(errs, provider.FieldError{Field: fmt.Sprintf("spec.memberOf[%d]", i), Msg: fmt.Sprintf("role %q cannot be a member of itself", name)})
				}
			}
		}
	case KindGrant:
		errs = append(errs, validateGrant(spec)...)
	}
	return errs
}

func validateGrant(spec map[string]any) []provider.FieldError {
	on, ok := spec["on"].(string)
	if !ok || validGrantTarget(on) != nil {
		return nil // the field's own check says so
	}
	var errs []provider.FieldError
	if privs, ok := spec["privileges"].([]any); ok && !provider.IsUnknown(spec["privileges"]) {
		if n, err := normalizePrivileges(privs); err == nil {
			names := stringsOf(n)
			if msg := checkPrivileges(on, names); msg != "" {
				errs = append(errs, provider.FieldError{Field: "spec.privileges", Msg: msg})
			}
		}
	}
	objects, hasObjects := spec["objects"].([]any)
	if on != OnDatabase {
		if !hasObjects || len(objects) == 0 {
			errs = append(errs, provider.FieldError{Field: "spec.objects", Msg: fmt.Sprintf("is required with on: %s: the names of the schemas%s", on, inSchema(on))})
		}
		for i, o := range objects {
			s, ok := o.(string)
			if !ok || provider.IsUnknown(o) {
				continue
			}
			if on != OnSchema && strings.Contains(s, ".") {
				errs = append(errs, provider.FieldError{Field: fmt.Sprintf("spec.objects[%d]", i),
					Msg: fmt.Sprintf("%q looks like a qualified table name: with on: %s, objects are schema names%s", s, on, inSchema(on))})
			}
		}
	}
	return errs
}

func inSchema(on string) string {
	switch on {
	case OnTablesInSchema:
		return " (every table, view and materialized view in each gets the privileges)"
	case OnSequencesInSchema:
		return " (every sequence in each gets the privileges)"
	}
	return ""
}
