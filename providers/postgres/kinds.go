package postgres

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/convergehq/converge/provider"
)

// The kinds, after the provider's name: "postgres.Role" for New("postgres").
const (
	KindRole      = "Role"
	KindDatabase  = "Database"
	KindSchema    = "Schema"
	KindGrant     = "Grant"
	KindExtension = "Extension"
)

// PasswordDiffers is the observed password of a role whose stored
// verifier is not that of the desired password: never a password, never
// derived from one, so that the engine sees drift and nothing is revealed.
const PasswordDiffers = "(differs from the desired password)"

// Grant targets: the values of a Grant's on.
const (
	OnDatabase          = "database"
	OnSchema            = "schema"
	OnTablesInSchema    = "tables-in-schema"
	OnSequencesInSchema = "sequences-in-schema"
)

// privilegesOf lists the privileges of each grant target, as
// aclexplode names them.
var privilegesOf = map[string][]string{
	OnDatabase:          {"CONNECT", "CREATE", "TEMPORARY"},
	OnSchema:            {"CREATE", "USAGE"},
	OnTablesInSchema:    {"DELETE", "INSERT", "REFERENCES", "SELECT", "TRIGGER", "TRUNCATE", "UPDATE"},
	OnSequencesInSchema: {"SELECT", "UPDATE", "USAGE"},
}

var grantTargets = []string{OnDatabase, OnSchema, OnTablesInSchema, OnSequencesInSchema}

// sqlTarget is how GRANT names the objects of a target.
var sqlTarget = map[string]string{
	OnDatabase:          "DATABASE",
	OnSchema:            "SCHEMA",
	OnTablesInSchema:    "ALL TABLES IN SCHEMA",
	OnSequencesInSchema: "ALL SEQUENCES IN SCHEMA",
}

func validIdentifier(v any) error { return checkIdentifier(v.(string)) }

func validText(v any) error { return checkText(v.(string)) }

// validNames checks a list of identifiers, naming the bad element.
func validNames(v any) error {
	for i, e := range v.([]any) {
		s, ok := e.(string)
		if !ok {
			return fmt.Errorf("[%d]: must be a string", i)
		}
		if err := checkIdentifier(s); err != nil {
			return fmt.Errorf("[%d]: %q %w", i, s, err)
		}
	}
	return nil
}

// sortedSet normalizes a list of names: sorted, without duplicates (the
// order of a set never shows as a change).
func sortedSet(v any) (any, error) {
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("must be a list of names")
	}
	names := make([]string, 0, len(l))
	for i, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("[%d]: must be a string, got %T", i, e)
		}
		names = append(names, s)
	}
	slices.Sort(names)
	return toList(slices.Compact(names)), nil
}

// normalizePrivileges upper-cases privileges, spells TEMP and ALL
// PRIVILEGES TEMPORARY and ALL, sorts them and drops duplicates; ALL
// with others is ALL.
func normalizePrivileges(v any) (any, error) {
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("must be a list of privileges")
	}
	var out []string
	for i, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("[%d]: must be a string, got %T", i, e)
		}
		s = strings.Join(strings.Fields(strings.ToUpper(s)), " ")
		switch s {
		case "ALL PRIVILEGES":
			s = "ALL"
		case "TEMP":
			s = "TEMPORARY"
		}
		out = append(out, s)
	}
	if slices.Contains(out, "ALL") {
		return []any{"ALL"}, nil
	}
	slices.Sort(out)
	return toList(slices.Compact(out)), nil
}

func validPrivileges(v any) error {
	l := v.([]any)
	if len(l) == 0 {
		return errors.New("must name at least one privilege (or ALL)")
	}
	known := map[string]bool{"ALL": true}
	for _, ps := range privilegesOf {
		for _, p := range ps {
			known[p] = true
		}
	}
	for i, e := range l {
		if s, _ := e.(string); !known[s] {
			return fmt.Errorf("[%d]: %q is not a privilege converge grants (ALL, %s)", i, e, strings.Join(allPrivileges(), ", "))
		}
	}
	return nil
}

func allPrivileges() []string {
	var all []string
	for _, ps := range privilegesOf {
		all = append(all, ps...)
	}
	slices.Sort(all)
	return slices.Compact(all)
}

// normalizeEncoding upper-cases an encoding name and drops the dash of
// UTF-8, as pg_encoding_to_char spells it.
func normalizeEncoding(v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, errors.New("must be a string")
	}
	s = strings.ToUpper(strings.TrimSpace(s))
	if s == "UTF-8" {
		s = "UTF8"
	}
	return s, nil
}

// normalizeValidUntil reads "infinity", an RFC 3339 time or a date
// (midnight UTC) and writes it as RFC 3339 in UTC, to the microsecond
// PostgreSQL keeps.
func normalizeValidUntil(v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, errors.New("must be a string")
	}
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "infinity") {
		return "infinity", nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return formatTime(t), nil
		}
	}
	return nil, fmt.Errorf("%q is not infinity, an RFC 3339 time (2030-01-31T00:00:00Z) or a date (2030-01-31)", s)
}

func formatTime(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)
}

func validGrantTarget(v any) error {
	if slices.Contains(grantTargets, v.(string)) {
		return nil
	}
	return fmt.Errorf("must be one of %s", strings.Join(grantTargets, ", "))
}

func validConnectionLimit(v any) error {
	if n, ok := asInt(v); !ok || n < -1 || n > 1<<31-1 {
		return errors.New("must be -1 (no limit) or a number of connections")
	}
	return nil
}

func validPassword(v any) error {
	s := v.(string)
	if s == PasswordDiffers {
		return errors.New("must not be the marker converge uses for a password that differs")
	}
	return checkText(s)
}

func (p *Provider) kind(suffix string) string { return p.name + "." + suffix }

// Schemas describes the provider's kinds, in dependency order.
func (p *Provider) Schemas() []provider.Schema {
	name := func(what string) provider.Field {
		return provider.Field{Type: provider.String, ForceNew: true, Validate: validIdentifier,
			Description: "name of the " + what + " (default: the resource's metadata.name)"}
	}
	database := provider.Field{Type: provider.String, Required: true, ForceNew: true, Validate: validIdentifier,
		Description: "the database it lives in, on the provider's server"}
	return []provider.Schema{
		{
			Kind:        p.kind(KindRole),
			Description: "A role (user or group) of the server.",
			Fields: map[string]provider.Field{
				"name":       name("role"),
				"login":      {Type: provider.Bool, Default: false, Description: "may log in (a user)"},
				"password":   {Type: provider.String, Sensitive: true, Env: true, Validate: validPassword, Description: "password, sent as a SCRAM-SHA-256 verifier computed by converge (the server never sees it in clear); \"\" for none; may hold ${env:NAME}. Compared through the stored verifier when the provider's user may read pg_authid (a superuser)."},
				"superuser":  {Type: provider.Bool, Default: false, Description: "is a superuser"},
				"createdb":   {Type: provider.Bool, Default: false, Description: "may create databases"},
				"createrole": {Type: provider.Bool, Default: false, Description: "may create roles"},
				"inherit":    {Type: provider.Bool, Default: true, Description: "inherits the privileges of the roles it is a member of"},
				"connectionLimit": {Type: provider.Int, Default: int64(-1), Validate: validConnectionLimit,
					Description: "concurrent connections at most; -1 for no limit"},
				"validUntil": {Type: provider.String, Default: "infinity", Normalize: normalizeValidUntil,
					Description: "when the password stops working: infinity, an RFC 3339 time or a date"},
				"memberOf": {Type: provider.List, Normalize: sortedSet, Validate: validNames,
					Description: "roles it is a member of (unmanaged when absent; when set, exactly these)"},
			},
			Outputs: []string{"name"},
			// Only name is force-new: the new role never collides with the
			// old one, and what the old one owns (a database) moves to the
			// new one before the old one is dropped.
			CreateBeforeDestroy: true,
		},
		{
			Kind:        p.kind(KindDatabase),
			Description: "A database of the server.",
			Fields: map[string]provider.Field{
				"name":  name("database"),
				"owner": {Type: provider.String, Validate: validIdentifier, Description: "owning role (default: the provider's user)"},
				"encoding": {Type: provider.String, ForceNew: true, Normalize: normalizeEncoding, Validate: validText,
					Description: "character set, such as UTF8 (default: the template's); another than the template's needs template template0"},
				"lcCollate":        {Type: provider.String, ForceNew: true, Validate: validText, Description: "collation (LC_COLLATE), such as C (default: the template's)"},
				"lcCtype":          {Type: provider.String, ForceNew: true, Validate: validText, Description: "character classification (LC_CTYPE) (default: the template's)"},
				"template":         {Type: provider.String, ForceNew: true, Validate: validIdentifier, Description: "database to copy (default template1); known only from converge's own record"},
				"connectionLimit":  {Type: provider.Int, Default: int64(-1), Validate: validConnectionLimit, Description: "concurrent connections at most; -1 for no limit"},
				"allowConnections": {Type: provider.Bool, Default: true, Description: "accepts connections"},
			},
			Outputs: []string{"name", "owner", "host", "port", "encoding"},
		},
		{
			Kind:        p.kind(KindSchema),
			Description: "A schema (namespace) of a database.",
			Fields: map[string]provider.Field{
				"database": database,
				"name":     name("schema"),
				"owner":    {Type: provider.String, Validate: validIdentifier, Description: "owning role (default: the provider's user)"},
			},
			Outputs: []string{"name", "database", "owner"},
		},
		{
			Kind:        p.kind(KindGrant),
			Description: "Privileges of a role on a database, on schemas, or on every table or sequence of schemas.",
			Fields: map[string]provider.Field{
				"database": database,
				"role":     {Type: provider.String, Required: true, ForceNew: true, Validate: validIdentifier, Description: "the role that gets the privileges"},
				"privileges": {Type: provider.List, Required: true, Normalize: normalizePrivileges, Validate: validPrivileges,
					Description: "privileges (SELECT, USAGE, CONNECT, ...) or ALL; exactly these are held"},
				"on": {Type: provider.String, Required: true, ForceNew: true, Validate: validGrantTarget,
					Description: "what on: " + strings.Join(grantTargets, ", ")},
				"objects": {Type: provider.List, ForceNew: true, Normalize: sortedSet, Validate: validNames,
					Description: "the database names (on: database; default: database) or schema names (the other targets)"},
				"withGrantOption": {Type: provider.Bool, Default: false, Description: "the role may grant them to others"},
			},
			Outputs: []string{"role", "database", "on"},
		},
		{
			Kind:        p.kind(KindExtension),
			Description: "An extension installed in a database.",
			Fields: map[string]provider.Field{
				"database": database,
				"name":     name("extension"),
				"version":  {Type: provider.String, Validate: validText, Description: "version (default: the default version at create; unmanaged when absent)"},
				"schema":   {Type: provider.String, Validate: validIdentifier, Description: "schema of its objects (unmanaged when absent)"},
			},
			Outputs: []string{"name", "version", "schema"},
		},
	}
}

// spec accessors: values are in provider.Canonical form (int64, bool,
// string, []any), with the schema's defaults applied by the engine.

func specString(spec map[string]any, k string) (string, bool) {
	s, ok := spec[k].(string)
	return s, ok
}

func specBool(spec map[string]any, k string, def bool) bool {
	if b, ok := spec[k].(bool); ok {
		return b
	}
	return def
}

func specInt(spec map[string]any, k string, def int64) int64 {
	if n, ok := asInt(spec[k]); ok {
		return n
	}
	return def
}

// specNames returns the list k as strings; false when spec does not set
// it.
func specNames(spec map[string]any, k string) ([]string, bool) {
	l, ok := spec[k].([]any)
	if !ok {
		return nil, false
	}
	return stringsOf(l), true
}

// stringsOf returns the strings of v, a list.
func stringsOf(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case float64:
		if n == float64(int64(n)) {
			return int64(n), true
		}
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}

func toList(names []string) []any {
	out := make([]any, len(names))
	for i, n := range names {
		out[i] = n
	}
	return out
}
