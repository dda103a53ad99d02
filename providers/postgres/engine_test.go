package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/plan"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/providers/postgres"
	"github.com/convergehq/converge/providers/postgres/pgtest"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
)

// scenario runs the engine with the postgres provider over one store, a
// fresh engine per Apply, as consecutive `converge apply` runs do.
type scenario struct {
	t   *testing.T
	srv *pgtest.Server
	reg *provider.Registry
	st  store.Store
	env map[string]string
}

func newScenario(t *testing.T, srv *pgtest.Server, providers ...provider.Provider) *scenario {
	t.Helper()
	reg, err := provider.NewRegistry(providers...)
	if err != nil {
		t.Fatal(err)
	}
	return &scenario{t: t, srv: srv, reg: reg, st: memory.New(), env: map[string]string{}}
}

func (s *scenario) engine() *engine.Engine {
	return engine.New(s.reg, s.st, engine.Options{
		Workers: 4, BackoffBase: 10 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		LookupEnv: func(k string) (string, bool) {
			v, ok := s.env[k]
			return v, ok
		},
	})
}

func (s *scenario) load(manifests string) (*manifest.Revision, error) {
	return manifest.LoadBytes(map[string][]byte{"postgres.yaml": []byte(manifests)}, s.reg)
}

func (s *scenario) mustLoad(manifests string) *manifest.Revision {
	s.t.Helper()
	rv, err := s.load(manifests)
	if err != nil {
		s.t.Fatalf("load: %v", err)
	}
	return rv
}

// apply converges rv (nil destroys) and returns the report.
func (s *scenario) apply(rv *manifest.Revision, timeout time.Duration) engine.Report {
	s.t.Helper()
	e := s.engine()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := e.Load(ctx); err != nil {
		s.t.Fatal(err)
	}
	rep, err := e.Apply(ctx, rv)
	if err != nil {
		s.t.Fatalf("apply: %v (report %+v)", err, rep)
	}
	return rep
}

func (s *scenario) mustConverge(what string, rv *manifest.Revision) {
	s.t.Helper()
	if rep := s.apply(rv, 60*time.Second); !rep.OK() {
		s.t.Fatalf("%s: apply did not converge: %+v", what, rep.Failures)
	}
}

func (s *scenario) drift(rv *manifest.Revision) []plan.Action {
	s.t.Helper()
	e := s.engine()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.Load(ctx); err != nil {
		s.t.Fatal(err)
	}
	acts, err := e.Drift(ctx, rv)
	if err != nil {
		s.t.Fatalf("drift: %v", err)
	}
	return acts
}

// one returns the one value of a one-column query ("" when no row).
func one(t *testing.T, srv *pgtest.Server, db, sql string, args ...any) string {
	t.Helper()
	rows := query(t, srv, db, sql, args...)
	if len(rows) == 0 {
		return ""
	}
	return rows[0][0]
}

const providerConfig = `
kind: ProviderConfig
metadata: {name: postgres}
spec:
  config:
    dsn: ${env:PGDSN}
    poolSize: 3
`

// TestEngineScenario converges a role, a database it owns, a schema, a
// grant and an extension; then changes the connection limit (an update),
// the encoding (a replace), repairs drift made by hand (NOSUPERUSER, a
// dropped database, a revoked grant), moves the database to a new owner
// role (the role is replaced, the database updated), and deletes it all
// in dependency order.
func TestEngineScenario(t *testing.T) {
	srv := pgtest.Shared(t)
	ext := "plpgsql"
	if rows := query(t, srv, "postgres", `SELECT name FROM pg_available_extensions WHERE name IN ('citext', 'hstore', 'ltree', 'cube', 'pg_trgm') AND installed_version IS NULL ORDER BY 1`); len(rows) > 0 {
		ext = rows[0][0]
	}
	env := map[string]string{"PGDSN": srv.DSN("postgres")}
	p := postgres.New("postgres", postgres.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), postgres.WithLookupEnv(lookup(env)))
	t.Cleanup(func() { p.Close() })
	s := newScenario(t, srv, p)
	s.env = env
	pfx := pgtest.Name("sc")
	s.env["APP_PASSWORD"] = "app-password-1"
	t.Cleanup(func() {
		for _, r := range query(t, srv, "postgres", "SELECT datname FROM pg_database WHERE starts_with(datname, $1)", pfx) {
			dropDatabase(srv, r[0])
		}
		for _, r := range query(t, srv, "postgres", "SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)", pfx) {
			dropRole(srv, r[0])
		}
	})
	manifests := func(owner, encoding string, limit int) string {
		dbExtra := ""
		if encoding != "" {
			dbExtra = fmt.Sprintf(", encoding: %s, template: template0", encoding)
		}
		return providerConfig + fmt.Sprintf(`---
kind: postgres.Role
metadata: {name: app}
spec: {name: %[1]s_%[2]s, login: true, password: "${env:APP_PASSWORD}", connectionLimit: 20}
---
kind: postgres.Role
metadata: {name: admin}
spec: {name: %[1]s_admin, superuser: true}
---
kind: postgres.Database
metadata: {name: appdb}
spec: {name: %[1]s_appdb, owner: "${postgres.Role/app.outputs.name}", connectionLimit: %[3]d%[4]s}
---
kind: postgres.Database
metadata: {name: scratch}
spec: {name: %[1]s_scratch}
---
kind: postgres.Schema
metadata: {name: data}
spec: {database: "${postgres.Database/appdb.outputs.name}", name: data, owner: "${postgres.Role/app.outputs.name}"}
---
kind: postgres.Grant
metadata: {name: admin-data}
spec:
  database: "${postgres.Database/appdb.outputs.name}"
  role: "${postgres.Role/admin.outputs.name}"
  on: schema
  objects: ["${postgres.Schema/data.outputs.name}"]
  privileges: [USAGE, CREATE]
---
kind: postgres.Grant
metadata: {name: admin-connect}
spec:
  database: "${postgres.Database/appdb.outputs.name}"
  role: "${postgres.Role/admin.outputs.name}"
  on: database
  privileges: [CONNECT, TEMP]
---
kind: postgres.Extension
metadata: {name: ext}
spec: {database: "${postgres.Database/appdb.outputs.name}", name: %[5]s, schema: "${postgres.Schema/data.outputs.name}"}
`, pfx, owner, limit, dbExtra, ext)
	}
	appdb := pfx + "_appdb"
	oid := func() string {
		return one(t, srv, "postgres", "SELECT oid::text FROM pg_database WHERE datname = $1", appdb)
	}

	// Create.
	s.mustConverge("create", s.mustLoad(manifests("app", "", 5)))
	if got := one(t, srv, "postgres", "SELECT pg_get_userbyid(datdba)::text || ' ' || datconnlimit FROM pg_database WHERE datname = $1", appdb); got != pfx+"_app 5" {
		t.Errorf("database owner and limit %q; want %s_app 5", got, pfx)
	}
	if got := one(t, srv, appdb, "SELECT pg_get_userbyid(nspowner)::text FROM pg_namespace WHERE nspname = 'data'"); got != pfx+"_app" {
		t.Errorf("schema data owned by %q; want %s_app", got, pfx)
	}
	if got := one(t, srv, appdb, "SELECT has_schema_privilege($1, 'data', 'USAGE, CREATE')::text", pfx+"_admin"); got != "true" {
		t.Errorf("admin's privileges on schema data: %q; want true", got)
	}
	if got := one(t, srv, appdb, "SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = $1", ext); ext != "plpgsql" && got != "data" {
		t.Errorf("extension %s in schema %q; want data", ext, got)
	}
	first := oid()

	// Update in place.
	s.mustConverge("update", s.mustLoad(manifests("app", "", 10)))
	if got := one(t, srv, "postgres", "SELECT datconnlimit::text FROM pg_database WHERE datname = $1", appdb); got != "10" {
		t.Errorf("connection limit %s after the update; want 10", got)
	}
	if oid() != first {
		t.Error("the update replaced the database")
	}

	// Replace: another encoding.
	rv := s.mustLoad(manifests("app", "SQL_ASCII", 10))
	s.mustConverge("replace", rv)
	if got := one(t, srv, "postgres", "SELECT pg_encoding_to_char(encoding)::text FROM pg_database WHERE datname = $1", appdb); got != "SQL_ASCII" {
		t.Errorf("encoding %s after the replace; want SQL_ASCII", got)
	}
	if oid() == first {
		t.Error("the encoding changed without a new database")
	}
	if got := one(t, srv, appdb, "SELECT has_schema_privilege($1, 'data', 'USAGE, CREATE')::text", pfx+"_admin"); got != "true" {
		t.Errorf("after the replace, admin's privileges on the new database's schema data: %q; want true", got)
	}
	if acts := s.drift(rv); len(acts) != 0 {
		t.Errorf("drift right after converging: %+v; want none", acts)
	}

	// Drift by hand: NOSUPERUSER, a dropped database, a revoked grant.
	srv.Exec(t, "postgres", "ALTER ROLE "+q(pfx+"_admin")+" NOSUPERUSER")
	p.Close() // no pool of ours keeps scratch open (the next Apply opens new ones)
	srv.Exec(t, "postgres", "DROP DATABASE "+q(pfx+"_scratch"))
	srv.Exec(t, appdb, "REVOKE CREATE ON SCHEMA data FROM "+q(pfx+"_admin"))
	drifted := map[string]bool{}
	for _, a := range s.drift(rv) {
		drifted[a.ID] = true
	}
	for _, id := range []string{"postgres.Role/admin", "postgres.Database/scratch", "postgres.Grant/admin-data"} {
		if !drifted[id] {
			t.Errorf("Drift does not report %s (reported %v)", id, drifted)
		}
	}
	s.mustConverge("drift correction", rv)
	if got := one(t, srv, "postgres", "SELECT rolsuper::text FROM pg_roles WHERE rolname = $1", pfx+"_admin"); got != "true" {
		t.Errorf("admin superuser %s after the correction; want true", got)
	}
	if got := one(t, srv, "postgres", "SELECT count(*)::text FROM pg_database WHERE datname = $1", pfx+"_scratch"); got != "1" {
		t.Error("the database dropped by hand is not created again")
	}
	if got := one(t, srv, appdb, "SELECT has_schema_privilege($1, 'data', 'CREATE')::text", pfx+"_admin"); got != "true" {
		t.Error("the revoked privilege is not granted again")
	}

	// A new owner role: the role is replaced (created first), the database
	// and schema move to it, the old role goes.
	s.mustConverge("new owner", s.mustLoad(manifests("owner2", "SQL_ASCII", 10)))
	if got := one(t, srv, "postgres", "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1", appdb); got != pfx+"_owner2" {
		t.Errorf("database owner %q; want %s_owner2", got, pfx)
	}
	if got := one(t, srv, "postgres", "SELECT count(*)::text FROM pg_roles WHERE rolname = $1", pfx+"_app"); got != "0" {
		t.Error("the old owner role is still there")
	}

	// Delete everything, dependents first.
	if rep := s.apply(nil, 60*time.Second); !rep.OK() {
		t.Fatalf("destroy: %+v", rep.Failures)
	}
	if got := one(t, srv, "postgres", "SELECT (SELECT count(*) FROM pg_roles WHERE starts_with(rolname, $1)) + (SELECT count(*) FROM pg_database WHERE starts_with(datname, $1))", pfx); got != "0" {
		t.Errorf("%s roles and databases left after the destroy; want 0", got)
	}
}

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

// TestEngineRoleOwningADatabase: a role removed from the manifests while
// it still owns a database made by hand fails terminally, promptly, with
// a message naming the database and the way out; the role stays.
func TestEngineRoleOwningADatabase(t *testing.T) {
	srv := pgtest.Shared(t)
	p := postgres.New("postgres", postgres.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(func() { p.Close() })
	s := newScenario(t, srv, p)
	s.env["PGDSN"] = srv.DSN("postgres")
	name := pgtest.Name("owning")
	t.Cleanup(func() { dropRole(srv, name) })
	s.mustConverge("create", s.mustLoad(providerConfig+fmt.Sprintf("---\nkind: postgres.Role\nmetadata: {name: r}\nspec: {name: %s}\n", name)))
	db := database(t, srv, name+"_db")
	srv.Exec(t, "postgres", "ALTER DATABASE "+q(db)+" OWNER TO "+q(name))

	start := time.Now()
	rep := s.apply(s.mustLoad(providerConfig), 30*time.Second)
	took := time.Since(start)
	if len(rep.Failures) != 1 || rep.Failures[0].ID != "postgres.Role/r" {
		t.Fatalf("failures %+v; want postgres.Role/r to fail", rep.Failures)
	}
	msg := rep.Failures[0].Message
	for _, want := range []string{"owner of database " + db, "REASSIGN OWNED BY", "DROP OWNED BY"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q; want it to contain %q", msg, want)
		}
	}
	if took > 10*time.Second {
		t.Errorf("apply took %s; want a prompt terminal failure, not retries", took)
	}
	if got := one(t, srv, "postgres", "SELECT count(*)::text FROM pg_roles WHERE rolname = $1", name); got != "1" {
		t.Error("the role was dropped")
	}
}

// TestEngineInterruptedCreate is the provider-level equivalent of a crash
// after the statement ran, for every kind: the first Create makes the
// object, then fails as if the connection dropped before the answer. The
// engine observes, finds the object and takes it as its own: one create
// only, no "already exists", the resource converged.
func TestEngineInterruptedCreate(t *testing.T) {
	srv := pgtest.Shared(t)
	pfx := pgtest.Name("interrupted")
	db := database(t, srv, pfx+"_db")
	role(t, srv, pfx+"_grantee", "NOLOGIN")
	t.Cleanup(func() { dropDatabase(srv, pfx+"_made"); dropRole(srv, pfx+"_r") })
	ext := "plpgsql"
	if rows := query(t, srv, db, `SELECT name FROM pg_available_extensions WHERE name IN ('citext', 'hstore', 'ltree', 'cube') AND installed_version IS NULL ORDER BY 1`); len(rows) > 0 {
		ext = rows[0][0]
	} else {
		srv.Exec(t, db, "DROP EXTENSION plpgsql")
	}
	tests := []struct {
		kind, doc, check, want string
	}{
		{"postgres.Role", fmt.Sprintf("{name: %s_r, login: true, connectionLimit: 3}", pfx),
			fmt.Sprintf("SELECT rolconnlimit::text FROM pg_roles WHERE rolname = '%s_r'", pfx), "3"},
		{"postgres.Database", fmt.Sprintf("{name: %s_made, connectionLimit: 4}", pfx),
			fmt.Sprintf("SELECT datconnlimit::text FROM pg_database WHERE datname = '%s_made'", pfx), "4"},
		{"postgres.Schema", fmt.Sprintf("{database: %s, name: made}", db),
			"SELECT count(*)::text FROM pg_namespace WHERE nspname = 'made'", "1"},
		{"postgres.Grant", fmt.Sprintf("{database: %s, role: %s_grantee, on: database, privileges: [CONNECT]}", db, pfx),
			fmt.Sprintf("SELECT has_database_privilege('%s_grantee', current_database(), 'CONNECT')::text", pfx), "true"},
		{"postgres.Extension", fmt.Sprintf("{database: %s, name: %s}", db, ext),
			fmt.Sprintf("SELECT count(*)::text FROM pg_extension WHERE extname = '%s'", ext), "1"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			p := newProvider(t, srv, "postgres")
			var creates, cut atomic.Int64
			w := providertest.Wrap(p)
			w.CreateFn = func(ctx context.Context, req provider.Request) (provider.Result, error) {
				creates.Add(1)
				res, err := p.Create(ctx, req)
				if err == nil && cut.Add(1) == 1 {
					return provider.Result{}, provider.Ambiguous(errors.New("connection reset after the statement was sent"))
				}
				return res, err
			}
			s := newScenario(t, srv, w)
			rep := s.apply(s.mustLoad(fmt.Sprintf("kind: %s\nmetadata: {name: x}\nspec: %s\n", tt.kind, tt.doc)), 30*time.Second)
			if !rep.OK() {
				t.Fatalf("apply: %+v", rep.Failures)
			}
			if cut.Load() < 1 {
				t.Fatal("the create was not interrupted: the premise fails")
			}
			if n := creates.Load(); n != 1 {
				t.Errorf("%d creates; want 1 (the retry observes and finds the object)", n)
			}
			if got := one(t, srv, db, tt.check); got != tt.want {
				t.Errorf("%s = %q; want %q", tt.check, got, tt.want)
			}
			p.Close()
		})
	}
}

// TestCreateOfWhatExists: a Create that meets the object (a second
// create racing the first) brings it to the spec, with no "already
// exists" error.
func TestCreateOfWhatExists(t *testing.T) {
	srv := pgtest.Shared(t)
	p := newProvider(t, srv, "postgres")
	pfx := pgtest.Name("exists")
	db := database(t, srv, pfx+"_db")
	t.Cleanup(func() { p.Close() })
	r := role(t, srv, pfx+"_r", "CONNECTION LIMIT 1")
	srv.Exec(t, db, "CREATE SCHEMA s")
	for _, c := range []struct {
		kind        string
		spec        map[string]any
		check, want string
	}{
		{"postgres.Role", map[string]any{"name": r, "connectionLimit": 4}, "SELECT rolconnlimit::text FROM pg_roles WHERE rolname = $1", "4"},
		{"postgres.Database", map[string]any{"name": db, "connectionLimit": 5}, "SELECT datconnlimit::text FROM pg_database WHERE datname = $1", "5"},
		{"postgres.Schema", map[string]any{"database": db, "name": "s", "owner": r}, "SELECT pg_get_userbyid(nspowner)::text FROM pg_namespace WHERE nspname = 's' AND $1 <> ''", r},
	} {
		if _, err := p.Create(t.Context(), request(c.kind, "x", applied(t, p, c.kind, c.spec))); err != nil {
			t.Errorf("Create of a %s that exists: %v; want it brought to the spec", c.kind, err)
			continue
		}
		name, _ := c.spec["name"].(string)
		if got := one(t, srv, db, c.check, name); got != c.want {
			t.Errorf("%s after the Create: %q; want %q", c.kind, got, c.want)
		}
	}
}

// TestConcurrentCreates: creates of one role, database and schema racing
// each other all succeed, and make one object each.
func TestConcurrentCreates(t *testing.T) {
	srv := pgtest.Shared(t)
	p := newProvider(t, srv, "postgres")
	pfx := pgtest.Name("race")
	t.Cleanup(func() { p.Close(); dropDatabase(srv, pfx); dropRole(srv, pfx) })
	for _, req := range []provider.Request{
		request("postgres.Role", "r", applied(t, p, "postgres.Role", map[string]any{"name": pfx})),
		request("postgres.Database", "d", applied(t, p, "postgres.Database", map[string]any{"name": pfx})),
		request("postgres.Schema", "s", map[string]any{"database": pfx, "name": "s"}),
	} {
		errs := make(chan error, 4)
		for range 4 {
			go func() {
				_, err := p.Create(t.Context(), req)
				errs <- err
			}()
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Errorf("concurrent Create of %s: %v", req.Kind, err)
			}
		}
	}
	if got := one(t, srv, pfx, "SELECT count(*)::text FROM pg_namespace WHERE nspname = 's'"); got != "1" {
		t.Errorf("%s schemas; want 1", got)
	}
}

// TestObserveInAMissingDatabase: a schema, grant or extension of a
// database that does not exist is absent, not an error, and deleting it
// succeeds.
func TestObserveInAMissingDatabase(t *testing.T) {
	srv := pgtest.Shared(t)
	p := newProvider(t, srv, "postgres")
	db := pgtest.Name("nowhere")
	for _, req := range []provider.Request{
		request("postgres.Schema", "s", map[string]any{"database": db, "name": "s"}),
		request("postgres.Grant", "g", map[string]any{"database": db, "role": "postgres", "on": "schema", "objects": []any{"s"}, "privileges": []any{"USAGE"}}),
		request("postgres.Extension", "e", map[string]any{"database": db, "name": "plpgsql"}),
	} {
		obs, err := p.Observe(t.Context(), req)
		if err != nil || obs.Exists {
			t.Errorf("Observe(%s) in a missing database = exists %v, %v; want absent", req.Kind, obs.Exists, err)
		}
		if err := p.Delete(t.Context(), req); err != nil {
			t.Errorf("Delete(%s) in a missing database: %v; want nil", req.Kind, err)
		}
	}
}
