// Package postgres is converge's PostgreSQL provider: roles, databases,
// schemas, grants and extensions of one server, over pgx.
//
// Kinds, after the provider's name (New("postgres") serves postgres.Role,
// New("analytics") serves analytics.Role, each with its own server):
// Role, Database, Schema, Grant and Extension. The ProviderConfig of that
// name says how to connect (spec.config: dsn, or host, port, user,
// password and sslmode; database; poolSize). docs/providers/postgres.md
// describes every field.
//
// Guarantees:
//   - Every method is idempotent; Observe only reads the catalogs
//     (pg_roles, pg_auth_members, pg_authid, pg_database, pg_namespace,
//     the ACLs through aclexplode, pg_extension). A create whose answer
//     was lost is found by name, and a Create of an object that exists
//     brings it to the spec instead of failing with "already exists".
//   - Identifiers are always quoted (pgx.Identifier.Sanitize), values are
//     parameters wherever SQL takes them, and the literals of DDL that
//     takes none (PASSWORD, VALID UNTIL, ENCODING) are quoted by literal,
//     which reads back the same under either standard_conforming_strings.
//     Names PostgreSQL would truncate (over 63 bytes) or cannot hold (a
//     NUL byte) are refused.
//   - A role's password is never read back, stored, logged or put in an
//     error, an output or Private. It is sent as a SCRAM-SHA-256 verifier
//     computed here, so the server (and its statement log) never sees it
//     in clear. When pg_authid is readable (a superuser connection),
//     Observe checks the stored verifier against the desired password and
//     reports either the desired value or PasswordDiffers; otherwise it
//     reports nothing and no drift is seen on passwords.
//   - One connection pool per database touched, opened lazily, at most
//     poolSize connections each, closed by Close; a database's own pool
//     is closed before it is dropped.
//   - Errors are classified by SQLSTATE (see classify): connection
//     failures, too many connections, serialization failures, deadlocks
//     and objects in use are retryable; a database, schema or role that
//     does not exist yet is retryable (it may be created next); permission
//     denied, invalid names and values, and objects others depend on are
//     terminal, with a message that says what to do.
package postgres
