// Package diff computes the field-level difference between a desired spec
// and an observed (or last applied) state, guided by the kind's schema:
// computed fields never differ, absent defaulted fields count as their
// default, fields the provider could not read are skipped, force-new fields
// are flagged, and sensitive values are masked whenever a diff is printed.
package diff
