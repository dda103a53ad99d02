package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/convergehq/converge/provider"
)

// maxIdentifier is the longest identifier PostgreSQL keeps (NAMEDATALEN
// - 1, in bytes); a longer one is silently truncated, and the object
// would never be found again by the name the manifest gives.
const maxIdentifier = 63

// ident quotes an identifier: always double-quoted, inner quotes doubled.
func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// idents quotes each name and joins them with ", ".
func idents(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = ident(n)
	}
	return strings.Join(q, ", ")
}

// literal quotes s as a string literal for the statements that take no
// parameters (CREATE ROLE ... PASSWORD, VALID UNTIL, CREATE DATABASE ...
// ENCODING): single quotes doubled and, when s holds a backslash, the
// escape-string form E'...' with backslashes doubled, so that the value
// reads back the same whatever standard_conforming_strings says. s must
// not hold a NUL byte (no PostgreSQL string can): checkIdentifier and
// checkText refuse those before anything is sent.
func literal(s string) string {
	q := "'" + strings.ReplaceAll(s, "'", "''") + "'"
	if strings.Contains(s, `\`) {
		return "E" + strings.ReplaceAll(q, `\`, `\\`)
	}
	return q
}

// checkIdentifier returns an error unless name is a name PostgreSQL keeps
// as it is: not empty, no NUL byte, at most 63 bytes.
func checkIdentifier(name string) error {
	switch {
	case name == "":
		return errors.New("must not be empty")
	case strings.ContainsRune(name, 0):
		return errors.New("must not contain a NUL byte")
	case len(name) > maxIdentifier:
		return fmt.Errorf("is %d bytes long; PostgreSQL keeps at most %d bytes of a name", len(name), maxIdentifier)
	}
	return nil
}

// checkText returns an error when s holds a NUL byte, which no
// PostgreSQL string can.
func checkText(s string) error {
	if strings.ContainsRune(s, 0) {
		return errors.New("must not contain a NUL byte")
	}
	return nil
}

// SQLSTATEs the provider treats specially.
const (
	codeDuplicateObject    = "42710"
	codeDuplicateDatabase  = "42P04"
	codeDuplicateSchema    = "42P06"
	codeUndefinedObject    = "42704"
	codeInvalidCatalogName = "3D000" // the database does not exist
	codeInvalidSchemaName  = "3F000" // the schema does not exist
	codeDependentObjects   = "2BP01"
	codeObjectInUse        = "55006"
	codeInsufficientPriv   = "42501"
)

// pgCode returns the SQLSTATE of err, "" when it is not a server error.
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// classify turns err, from a call doing what, into an error of the class
// the engine should give it, with a message that names what failed and
// never holds any of secrets (the server's messages do not echo
// statements, and the statements that carry a password are never put in
// an error; secrets are removed from the text all the same).
//
//   - connection failures, too many connections, the server starting or
//     shutting down, serialization failures and deadlocks, lock timeouts
//     and objects in use: retryable (ambiguous for a mutation whose
//     request may have reached the server);
//   - a missing database, schema or role (one not created yet): retryable,
//     with a hint to reference it so that the engine orders the two;
//   - permission denied, authentication failures, invalid names and
//     values, syntax and feature errors, dependent objects: terminal.
func classify(err error, what string, mutation bool, secrets ...string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if mutation && !pgconn.SafeToRetry(err) {
			return provider.Ambiguous(fmt.Errorf("%s: %w", what, err))
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	if errors.Is(err, errClosed) { // nothing was sent
		return provider.Retryable(fmt.Errorf("%s: %w", what, err))
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		msg := redact(err.Error(), secrets)
		e := fmt.Errorf("%s: %s", what, msg)
		if mutation && !pgconn.SafeToRetry(err) {
			return provider.Ambiguous(e)
		}
		return provider.Retryable(e)
	}
	msg := pe.Message
	if pe.Detail != "" {
		msg += " (" + strings.ReplaceAll(strings.TrimSpace(pe.Detail), "\n", "; ") + ")"
	}
	if pe.Hint != "" {
		msg += "; hint: " + pe.Hint
	}
	msg = redact(msg, secrets) + " [SQLSTATE " + pe.Code + "]"
	e := fmt.Errorf("%s: %s", what, msg)
	switch {
	case pe.Code == codeInvalidCatalogName || pe.Code == codeInvalidSchemaName ||
		pe.Code == codeUndefinedObject && strings.Contains(pe.Message, "does not exist"): // not an unknown encoding
		return provider.Retryable(fmt.Errorf("%w (retrying: it may not be created yet; reference its outputs so that converge creates it first)", e))
	case pe.Code == codeInsufficientPriv:
		return provider.Terminal(fmt.Errorf("%s: permission denied: %s: the provider's user lacks the privilege (connect as a superuser, or grant it)", what, msg))
	case pe.Code == "58P01": // an extension's control file: it is not installed
		return provider.Terminal(e)
	case pe.Code == "23505" || pe.Code == codeObjectInUse || pe.Code == "55P03":
		return provider.Retryable(e)
	case strings.HasPrefix(pe.Code, "08"), // connection exception
		strings.HasPrefix(pe.Code, "53"), // insufficient resources: too many connections
		strings.HasPrefix(pe.Code, "40"), // serialization failure, deadlock
		strings.HasPrefix(pe.Code, "57"), // operator intervention: shutdown, cannot connect now
		strings.HasPrefix(pe.Code, "58"), // system error
		strings.HasPrefix(pe.Code, "XX"): // internal error
		return provider.Retryable(e)
	case pe.Code == codeDependentObjects:
		return provider.Terminal(e)
	}
	return provider.Terminal(e)
}

// redact removes every secret of at least 4 bytes from s.
func redact(s string, secrets []string) string {
	for _, v := range secrets {
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, v, "(sensitive)")
		}
	}
	return s
}

// pgError returns the server error in err, nil when there is none.
func pgError(err error) *pgconn.PgError {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe
	}
	return nil
}

// duplicate reports whether err says the object exists already: code, or
// the unique violation of a create that raced another (23505).
func duplicate(err error, code string) bool {
	c := pgCode(err)
	return c == code || c == "23505"
}
