// Package plan holds what converge intends to do, one Action per resource,
// and renders it for people (text grouped by action, in dependency order,
// with a summary line) and machines (JSON).
package plan
