package postgres_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/providers/postgres"
	"github.com/convergehq/converge/providers/postgres/pgtest"
)

func q(name string) string { return pgx.Identifier{name}.Sanitize() }

// unreachable is a provider configured for a port where nothing listens.
func unreachable(t *testing.T) *postgres.Provider {
	return configured(t, map[string]any{"host": "127.0.0.1", "port": int64(1), "user": "nobody", "sslmode": "disable"}, "postgres")
}

// TestConformanceRole runs the conformance suite for postgres.Role: the
// backend is every role with the harness's prefix, read from pg_authid
// (the row's xmin changes with every write).
func TestConformanceRole(t *testing.T) {
	srv := pgtest.Shared(t)
	providertest.Run(t, func(t *testing.T) providertest.Harness {
		p := newProvider(t, srv, "postgres")
		pfx := pgtest.Name("cr")
		group := role(t, srv, pfx+"_group", "NOLOGIN")
		weak := role(t, srv, pfx+"_weak", "LOGIN PASSWORD 'weak-password-1'")
		names := func(name string) string { return pfx + "_" + name }
		t.Cleanup(func() {
			for _, r := range query(t, srv, "postgres", "SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)", pfx+"_") {
				dropRole(srv, r[0])
			}
		})
		spec := func(name string) map[string]any {
			return map[string]any{"name": names(name), "login": true, "superuser": true, "password": "correct-horse-" + name,
				"connectionLimit": 5, "validUntil": "2031-01-02T03:04:05Z", "memberOf": []any{group}}
		}
		return providertest.Harness{
			Provider: p,
			Kind:     "postgres.Role",
			Spec:     spec,
			Updated: func(name string) map[string]any {
				s := spec(name)
				s["connectionLimit"], s["createdb"], s["password"], s["memberOf"] = 10, true, "battery-staple-"+name, []any{}
				return s
			},
			Replaced: func(name string) map[string]any {
				s := spec(name)
				s["name"] = names(name) + "_new"
				return s
			},
			ObserveFinds: true,
			Objects: func(t *testing.T) map[string]any {
				out := map[string]any{}
				for _, r := range query(t, srv, "postgres", `SELECT rolname, concat_ws(' ', rolsuper, rolcanlogin, rolcreatedb, rolconnlimit, rolvaliduntil, xmin, rolpassword IS NOT NULL)
					FROM pg_authid WHERE starts_with(rolname, $1) AND rolname NOT IN ($2, $3)`, pfx+"_", group, weak) {
					out[r[0]] = r[1]
				}
				return out
			},
			// By hand: no longer a superuser, and another password.
			Tamper: func(t *testing.T, name string, _ map[string]string) {
				srv.Exec(t, "postgres", "ALTER ROLE "+q(names(name))+" NOSUPERUSER PASSWORD 'set-by-hand-123'")
			},
			Failures: []providertest.Failure{
				{Name: "member of a missing role", Spec: map[string]any{"name": names("f1"), "password": "secret-password-1", "memberOf": []any{pfx + "_missing"}}, Class: provider.ClassRetryable},
				{Name: "invalid validUntil", Spec: map[string]any{"name": names("f2"), "password": "secret-password-2", "validUntil": "someday"}, Class: provider.ClassTerminal},
				{Name: "server unreachable", Provider: unreachable(t), Spec: map[string]any{"name": names("f3"), "password": "secret-password-3"}, Class: provider.ClassRetryable},
				{Name: "permission denied", Provider: configured(t, map[string]any{"host": srv.Host, "port": int64(srv.Port), "user": weak, "password": "weak-password-1", "sslmode": "disable"}, "postgres"),
					Spec: map[string]any{"name": names("f4"), "password": "secret-password-4"}, Class: provider.ClassTerminal},
				{Name: "update of a missing role", Op: providertest.OpUpdate, Spec: map[string]any{"name": names("f5"), "password": "secret-password-5"}, Class: provider.ClassRetryable},
				{Name: "unknown environment variable", Spec: map[string]any{"name": names("f6"), "password": "${env:PGTEST_NO_SUCH_VARIABLE}-secret"}, Class: provider.ClassTerminal},
				{Name: "name too long", Spec: map[string]any{"name": strings.Repeat("n", 64), "password": "secret-password-7"}, Class: provider.ClassTerminal},
				{Name: "unknown kind", Kind: "postgres.Table", Spec: map[string]any{"password": "secret-password-8"}, Class: provider.ClassTerminal},
				{Name: "not configured", Provider: postgres.New("postgres"), Spec: map[string]any{"name": names("f9"), "password": "secret-password-9"}, Class: provider.ClassTerminal},
			},
		}
	})
}

// TestConformanceDatabase runs the suite for postgres.Database: the
// backend is every database with the harness's prefix.
func TestConformanceDatabase(t *testing.T) {
	srv := pgtest.Shared(t)
	providertest.Run(t, func(t *testing.T) providertest.Harness {
		p := newProvider(t, srv, "postgres")
		pfx := pgtest.Name("cd")
		owner := role(t, srv, pfx+"_owner", "NOLOGIN")
		owner2 := role(t, srv, pfx+"_owner2", "NOLOGIN")
		names := func(name string) string { return pfx + "_" + name }
		t.Cleanup(func() {
			for _, r := range query(t, srv, "postgres", "SELECT datname FROM pg_database WHERE starts_with(datname, $1)", pfx+"_") {
				dropDatabase(srv, r[0])
			}
		})
		spec := func(name string) map[string]any {
			return map[string]any{"name": names(name), "owner": owner, "connectionLimit": 3, "encoding": "utf-8", "lcCollate": "C", "lcCtype": "C"}
		}
		return providertest.Harness{
			Provider: p,
			Kind:     "postgres.Database",
			Spec:     spec,
			Updated: func(name string) map[string]any {
				s := spec(name)
				s["owner"], s["connectionLimit"], s["allowConnections"] = owner2, 7, false
				return s
			},
			Replaced: func(name string) map[string]any {
				s := spec(name)
				s["encoding"], s["template"] = "SQL_ASCII", "template0"
				return s
			},
			ObserveFinds: true,
			Objects: func(t *testing.T) map[string]any {
				out := map[string]any{}
				for _, r := range query(t, srv, "postgres", `SELECT datname, concat_ws(' ', pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datconnlimit, datallowconn, xmin)
					FROM pg_database WHERE starts_with(datname, $1)`, pfx+"_") {
					out[r[0]] = r[1]
				}
				return out
			},
			Tamper: func(t *testing.T, name string, _ map[string]string) {
				srv.Exec(t, "postgres", "ALTER DATABASE "+q(names(name))+" CONNECTION LIMIT 99")
			},
			Failures: []providertest.Failure{
				{Name: "owner missing", Spec: map[string]any{"name": names("f1"), "owner": pfx + "_missing"}, Class: provider.ClassRetryable},
				{Name: "encoding the template refuses", Spec: map[string]any{"name": names("f2"), "encoding": "SQL_ASCII"}, Class: provider.ClassTerminal},
				{Name: "unknown encoding", Spec: map[string]any{"name": names("f3"), "encoding": "NO_SUCH_ENCODING"}, Class: provider.ClassTerminal},
				{Name: "server unreachable", Provider: unreachable(t), Spec: map[string]any{"name": names("f4")}, Class: provider.ClassRetryable},
				{Name: "delete of the maintenance database", Op: providertest.OpDelete, Spec: map[string]any{"name": "postgres"}, Class: provider.ClassTerminal},
			},
		}
	})
}

// TestConformanceSchema runs the suite for postgres.Schema in a database
// of its own.
func TestConformanceSchema(t *testing.T) {
	srv := pgtest.Shared(t)
	providertest.Run(t, func(t *testing.T) providertest.Harness {
		p := newProvider(t, srv, "postgres")
		pfx := pgtest.Name("cs")
		db := database(t, srv, pfx+"_db")
		owner := role(t, srv, pfx+"_owner", "NOLOGIN")
		owner2 := role(t, srv, pfx+"_owner2", "NOLOGIN")
		t.Cleanup(func() { p.Close() }) // before the database is dropped
		// A schema holding a table, which a delete must refuse.
		srv.Exec(t, db, "CREATE SCHEMA full_schema; CREATE TABLE full_schema.t (id int)")
		names := func(name string) string { return pfx + "_" + name }
		spec := func(name string) map[string]any {
			return map[string]any{"database": db, "name": names(name), "owner": owner}
		}
		return providertest.Harness{
			Provider: p,
			Kind:     "postgres.Schema",
			Spec:     spec,
			Updated: func(name string) map[string]any {
				s := spec(name)
				s["owner"] = owner2
				return s
			},
			Replaced: func(name string) map[string]any {
				s := spec(name)
				s["name"] = names(name) + "_new"
				return s
			},
			ObserveFinds: true,
			Objects: func(t *testing.T) map[string]any {
				out := map[string]any{}
				for _, r := range query(t, srv, db, `SELECT nspname, concat_ws(' ', pg_get_userbyid(nspowner), xmin) FROM pg_namespace WHERE starts_with(nspname, $1)`, pfx+"_") {
					out[r[0]] = r[1]
				}
				return out
			},
			Tamper: func(t *testing.T, name string, _ map[string]string) {
				srv.Exec(t, db, "ALTER SCHEMA "+q(names(name))+" OWNER TO postgres")
			},
			Failures: []providertest.Failure{
				{Name: "owner missing", Spec: map[string]any{"database": db, "name": names("f1"), "owner": pfx + "_missing"}, Class: provider.ClassRetryable},
				{Name: "database missing", Spec: map[string]any{"database": pfx + "_missing", "name": names("f2")}, Class: provider.ClassRetryable},
				{Name: "delete of a schema holding a table", Op: providertest.OpDelete, Spec: map[string]any{"database": db, "name": "full_schema"}, Class: provider.ClassTerminal},
				{Name: "name too long", Spec: map[string]any{"database": db, "name": strings.Repeat("s", 64)}, Class: provider.ClassTerminal},
			},
		}
	})
}

// TestConformanceGrant runs the suite for postgres.Grant, for each
// target: each resource grants to a role of its own, in a database
// holding a schema app with two tables and two sequences; the backend is
// the privileges those roles hold on the target's objects.
func TestConformanceGrant(t *testing.T) {
	srv := pgtest.Shared(t)
	// acl reads the privileges of the roles with a prefix ($1) on the
	// target's objects, one row per role.
	targets := map[string]struct {
		objects            []any
		privileges, update []any
		acl, tamper        string
	}{
		"database": {nil, []any{"CONNECT", "TEMP"}, []any{"ALL"},
			`SELECT r.rolname, string_agg(d.datname || ':' || a.privilege_type || ':' || a.is_grantable, ' ' ORDER BY 1)
				FROM pg_database d, aclexplode(d.datacl) a JOIN pg_roles r ON r.oid = a.grantee
				WHERE d.datname = current_database() AND starts_with(r.rolname, $1) GROUP BY r.rolname`,
			"REVOKE TEMPORARY ON DATABASE %[2]s FROM %[1]s"},
		"schema": {[]any{"app"}, []any{"USAGE", "CREATE"}, []any{"USAGE"},
			`SELECT r.rolname, string_agg(n.nspname || ':' || a.privilege_type || ':' || a.is_grantable, ' ' ORDER BY 1)
				FROM pg_namespace n, aclexplode(n.nspacl) a JOIN pg_roles r ON r.oid = a.grantee
				WHERE n.nspname = 'app' AND starts_with(r.rolname, $1) GROUP BY r.rolname`,
			"REVOKE CREATE ON SCHEMA app FROM %[1]s"},
		"tables-in-schema": {[]any{"app"}, []any{"select", "INSERT"}, []any{"SELECT", "UPDATE", "DELETE"},
			`SELECT r.rolname, string_agg(c.relname || ':' || a.privilege_type || ':' || a.is_grantable, ' ' ORDER BY 1)
				FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a JOIN pg_roles r ON r.oid = a.grantee
				WHERE n.nspname = 'app' AND c.relkind = 'r' AND starts_with(r.rolname, $1) GROUP BY r.rolname`,
			// A revoke done by hand, on one table.
			"REVOKE INSERT ON app.b FROM %[1]s"},
		"sequences-in-schema": {[]any{"app"}, []any{"USAGE", "SELECT"}, []any{"ALL"},
			`SELECT r.rolname, string_agg(c.relname || ':' || a.privilege_type || ':' || a.is_grantable, ' ' ORDER BY 1)
				FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a JOIN pg_roles r ON r.oid = a.grantee
				WHERE n.nspname = 'app' AND c.relkind = 'S' AND starts_with(r.rolname, $1) GROUP BY r.rolname`,
			"REVOKE USAGE ON SEQUENCE app.s2 FROM %[1]s"},
	}
	for on, tg := range targets {
		t.Run(on, func(t *testing.T) {
			providertest.Run(t, func(t *testing.T) providertest.Harness {
				p := newProvider(t, srv, "postgres")
				pfx := pgtest.Name("cg")
				db := database(t, srv, pfx+"_db")
				t.Cleanup(func() { p.Close() })
				srv.Exec(t, db, "CREATE SCHEMA app; CREATE TABLE app.a (id int); CREATE TABLE app.b (id int); CREATE SEQUENCE app.s1; CREATE SEQUENCE app.s2")
				var mu sync.Mutex
				made := map[string]bool{}
				grantee := func(name string) string {
					r := pfx + "_" + name
					mu.Lock()
					defer mu.Unlock()
					if !made[r] {
						made[r] = true
						role(t, srv, r, "NOLOGIN")
					}
					return r
				}
				spec := func(name string) map[string]any {
					s := map[string]any{"database": db, "role": grantee(name), "on": on, "privileges": tg.privileges}
					if tg.objects != nil {
						s["objects"] = tg.objects
					}
					return s
				}
				return providertest.Harness{
					Provider: p,
					Kind:     "postgres.Grant",
					Spec:     spec,
					Updated: func(name string) map[string]any {
						s := spec(name)
						s["privileges"], s["withGrantOption"] = tg.update, true
						return s
					},
					Replaced: func(name string) map[string]any {
						s := spec(name)
						s["role"] = grantee(name + "_new")
						return s
					},
					ObserveFinds: true,
					Objects: func(t *testing.T) map[string]any {
						out := map[string]any{}
						for _, r := range query(t, srv, db, tg.acl, pfx+"_") {
							out[r[0]] = r[1]
						}
						return out
					},
					Tamper: func(t *testing.T, name string, _ map[string]string) {
						srv.Exec(t, db, fmt.Sprintf(tg.tamper, q(pfx+"_"+name), q(db)))
					},
					Failures: []providertest.Failure{
						{Name: "privilege of another target", Spec: map[string]any{"database": db, "role": grantee("f1"), "on": "database", "privileges": []any{"SELECT"}}, Class: provider.ClassTerminal},
						{Name: "schema missing", Spec: map[string]any{"database": db, "role": grantee("f2"), "on": "schema", "objects": []any{"nowhere"}, "privileges": []any{"USAGE"}}, Class: provider.ClassRetryable},
						{Name: "role missing", Spec: map[string]any{"database": db, "role": pfx + "_missing", "on": "schema", "objects": []any{"app"}, "privileges": []any{"USAGE"}}, Class: provider.ClassRetryable},
						{Name: "objects missing", Spec: map[string]any{"database": db, "role": grantee("f3"), "on": "schema", "privileges": []any{"USAGE"}}, Class: provider.ClassTerminal},
						{Name: "unknown target", Spec: map[string]any{"database": db, "role": grantee("f4"), "on": "table", "objects": []any{"app"}, "privileges": []any{"SELECT"}}, Class: provider.ClassTerminal},
					},
				}
			})
		})
	}
}

// extensions returns two extensions the server has available, can move
// between schemas, and installs in no database by default.
func extensions(t *testing.T, srv *pgtest.Server) (string, string) {
	t.Helper()
	rows := query(t, srv, "postgres", `SELECT DISTINCT v.name FROM pg_available_extension_versions v
		WHERE v.relocatable AND v.superuser IS NOT NULL AND v.name IN ('citext', 'hstore', 'ltree', 'cube', 'pg_trgm', 'isn', 'seg', 'intarray', 'fuzzystrmatch', 'unaccent')
		AND NOT EXISTS (SELECT 1 FROM pg_extension e WHERE e.extname = v.name) AND cardinality(coalesce(v.requires, '{}')) = 0 ORDER BY 1`)
	if len(rows) < 2 {
		t.Skipf("the server has fewer than two relocatable extensions available (%v): the contrib extensions are not installed", rows)
	}
	return rows[0][0], rows[1][0]
}

// TestConformanceExtension runs the suite for postgres.Extension: each
// resource in a database of its own (made when the suite first names it),
// the backend being the extensions of those databases.
func TestConformanceExtension(t *testing.T) {
	srv := pgtest.Shared(t)
	ext, ext2 := extensions(t, srv)
	providertest.Run(t, func(t *testing.T) providertest.Harness {
		p := newProvider(t, srv, "postgres")
		pfx := pgtest.Name("ce")
		var mu sync.Mutex
		made := map[string]bool{}
		dbFor := func(name string) string {
			db := pfx + "_" + name
			mu.Lock()
			defer mu.Unlock()
			if !made[db] {
				made[db] = true
				database(t, srv, db)
				srv.Exec(t, db, "CREATE SCHEMA a; CREATE SCHEMA b; CREATE SCHEMA c")
			}
			return db
		}
		t.Cleanup(func() { p.Close() })
		spec := func(name string) map[string]any {
			return map[string]any{"database": dbFor(name), "name": ext, "schema": "a"}
		}
		return providertest.Harness{
			Provider: p,
			Kind:     "postgres.Extension",
			Spec:     spec,
			Updated: func(name string) map[string]any {
				s := spec(name)
				s["schema"] = "b"
				return s
			},
			Replaced: func(name string) map[string]any {
				s := spec(name)
				s["name"] = ext2
				return s
			},
			ObserveFinds: true,
			Objects: func(t *testing.T) map[string]any {
				out := map[string]any{}
				mu.Lock()
				dbs := make([]string, 0, len(made))
				for db := range made {
					dbs = append(dbs, db)
				}
				mu.Unlock()
				for _, db := range dbs {
					for _, r := range query(t, srv, db, `SELECT e.extname, concat_ws(' ', e.extversion, n.nspname, e.xmin) FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname <> 'plpgsql'`) {
						out[db+"/"+r[0]] = r[1]
					}
				}
				return out
			},
			Tamper: func(t *testing.T, name string, _ map[string]string) {
				srv.Exec(t, dbFor(name), "ALTER EXTENSION "+q(ext)+" SET SCHEMA c")
			},
			Failures: []providertest.Failure{
				{Name: "not available", Spec: map[string]any{"database": dbFor("f1"), "name": "no_such_extension"}, Class: provider.ClassTerminal},
				{Name: "schema missing", Spec: map[string]any{"database": dbFor("f2"), "name": ext, "schema": "nowhere"}, Class: provider.ClassRetryable},
				{Name: "version not available", Spec: map[string]any{"database": dbFor("f3"), "name": ext, "version": "99.9"}, Class: provider.ClassTerminal},
			},
		}
	})
}
