package postgres_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/providers/postgres"
	"github.com/convergehq/converge/providers/postgres/pgtest"
)

// TestConfigureRefuses: each invalid spec.config is an error naming the
// setting and never showing a password or the DSN.
func TestConfigureRefuses(t *testing.T) {
	const secret = "Top-Secret-pw"
	tests := map[string]struct {
		config map[string]any
		want   string
	}{
		"bad dsn":               {map[string]any{"dsn": "postgres://u:" + secret + "@host:notaport/db"}, "spec.config.dsn"},
		"dsn and host":          {map[string]any{"dsn": "host=x", "host": "y"}, "spec.config"},
		"port out of range":     {map[string]any{"host": "x", "port": int64(70000), "password": secret}, "spec.config.port"},
		"pool size zero":        {map[string]any{"host": "x", "poolSize": int64(0), "password": secret}, "spec.config.poolSize"},
		"unknown setting":       {map[string]any{"host": "x", "hots": "y"}, "spec.config.hots"},
		"nothing to connect to": {map[string]any{"poolSize": int64(2)}, "spec.config"},
		"database too long":     {map[string]any{"host": "x", "database": strings.Repeat("d", 64)}, "spec.config.database"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			p := postgres.New("postgres")
			err := p.Configure(provider.Settings{Config: tt.config})
			if err == nil {
				t.Fatal("Configure succeeded; want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q; want it to name %s", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

// TestConfigLoad: spec.config is checked when the manifests load, each
// message naming the setting; ${env:PGDSN} passes, unexpanded.
func TestConfigLoad(t *testing.T) {
	reg := mustRegistry(t, postgres.New("postgres"))
	good := "kind: ProviderConfig\nmetadata: {name: postgres}\nspec:\n  config: {dsn: \"${env:PGDSN}\", poolSize: 2}\n"
	if _, err := loadWith(reg, good); err != nil {
		t.Errorf("load: %v", err)
	}
	for _, tt := range []struct{ config, want string }{
		{"{poolSize: many}", "spec.config.poolSize"},
		{"{sslmode: sometimes}", "spec.config.sslmode"},
		{"{port: 0}", "spec.config.port"},
		{"{dsn: 5432}", "spec.config.dsn"},
		{"{hostname: x}", "spec.config.hostname"},
	} {
		_, err := loadWith(reg, "kind: ProviderConfig\nmetadata: {name: postgres}\nspec:\n  config: "+tt.config+"\n")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("load of config %s: %v; want an error naming %s", tt.config, err, tt.want)
		}
	}
}

// TestValidationAtLoad: the checks of each field and across fields run
// when the manifests load, and each message names the field.
func TestValidationAtLoad(t *testing.T) {
	reg := mustRegistry(t, postgres.New("postgres"))
	tests := map[string]struct{ doc, want string }{
		"grant on tables needs schemas": {"kind: postgres.Grant\nmetadata: {name: g}\nspec: {database: d, role: r, on: tables-in-schema, privileges: [SELECT]}\n", "spec.objects"},
		"a table is not a schema":       {"kind: postgres.Grant\nmetadata: {name: g}\nspec: {database: d, role: r, on: tables-in-schema, objects: [public.users], privileges: [SELECT]}\n", "spec.objects[0]"},
		"privilege of another target":   {"kind: postgres.Grant\nmetadata: {name: g}\nspec: {database: d, role: r, on: database, privileges: [SELECT]}\n", "spec.privileges"},
		"unknown privilege":             {"kind: postgres.Grant\nmetadata: {name: g}\nspec: {database: d, role: r, on: schema, objects: [s], privileges: [FLY]}\n", "spec.privileges"},
		"unknown target":                {"kind: postgres.Grant\nmetadata: {name: g}\nspec: {database: d, role: r, on: table, privileges: [SELECT]}\n", "spec.on"},
		"bad validUntil":                {"kind: postgres.Role\nmetadata: {name: r}\nspec: {validUntil: tomorrow}\n", "spec.validUntil"},
		"name too long":                 {"kind: postgres.Role\nmetadata: {name: r}\nspec: {name: " + strings.Repeat("r", 64) + "}\n", "spec.name"},
		"member of itself":              {"kind: postgres.Role\nmetadata: {name: r}\nspec: {name: r, memberOf: [a, r]}\n", "spec.memberOf[1]"},
		"connection limit":              {"kind: postgres.Database\nmetadata: {name: d}\nspec: {connectionLimit: -5}\n", "spec.connectionLimit"},
		"login is a bool":               {"kind: postgres.Role\nmetadata: {name: r}\nspec: {login: maybe}\n", "spec.login"},
		"database is required":          {"kind: postgres.Schema\nmetadata: {name: s}\nspec: {}\n", "spec.database"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := loadWith(reg, tt.doc)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("load: %v; want an error naming %s", err, tt.want)
			}
		})
	}
}

// TestTwoInstances: New("postgres") and New("analytics"), each with the
// ProviderConfig of its name, converge a database each on their own
// server through one engine.
func TestTwoInstances(t *testing.T) {
	main := pgtest.Shared(t)
	other := pgtest.Start(t)
	env := map[string]string{"PGDSN": main.DSN("postgres"), "ANALYTICS_DSN": other.DSN("postgres")}
	quiet := postgres.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	a := postgres.New("postgres", quiet, postgres.WithLookupEnv(lookup(env)))
	b := postgres.New("analytics", quiet, postgres.WithLookupEnv(lookup(env)))
	t.Cleanup(func() { a.Close(); b.Close() })
	s := newScenario(t, main, a, b)
	s.env = env
	name := pgtest.Name("two")
	t.Cleanup(func() { dropDatabase(main, name+"_main") })
	rv := s.mustLoad(fmt.Sprintf(`kind: ProviderConfig
metadata: {name: postgres}
spec: {config: {dsn: "${env:PGDSN}"}}
---
kind: ProviderConfig
metadata: {name: analytics}
spec: {config: {dsn: "${env:ANALYTICS_DSN}", poolSize: 1}}
---
kind: postgres.Database
metadata: {name: main}
spec: {name: %[1]s_main}
---
kind: analytics.Database
metadata: {name: warehouse}
spec: {name: %[1]s_warehouse}
---
kind: analytics.Role
metadata: {name: reader}
spec: {name: %[1]s_reader}
`, name))
	s.mustConverge("two servers", rv)
	count := func(srv *pgtest.Server, sql, arg string) string { return one(t, srv, "postgres", sql, arg) }
	const dbs = "SELECT count(*)::text FROM pg_database WHERE datname = $1"
	for _, c := range []struct {
		srv        *pgtest.Server
		where, sql string
		arg, want  string
	}{
		{main, "main", dbs, name + "_main", "1"},
		{main, "main", dbs, name + "_warehouse", "0"},
		{other, "analytics", dbs, name + "_warehouse", "1"},
		{other, "analytics", dbs, name + "_main", "0"},
		{other, "analytics", "SELECT count(*)::text FROM pg_roles WHERE rolname = $1", name + "_reader", "1"},
		{main, "main", "SELECT count(*)::text FROM pg_roles WHERE rolname = $1", name + "_reader", "0"},
	} {
		if got := count(c.srv, c.sql, c.arg); got != c.want {
			t.Errorf("on the %s server, %s for %s = %s; want %s", c.where, c.sql, c.arg, got, c.want)
		}
	}
	if rep := s.apply(nil, 30*time.Second); !rep.OK() {
		t.Fatalf("destroy: %+v", rep.Failures)
	}
}

// TestPoolPerDatabase: the provider keeps one pool per database it
// touches, each within poolSize, and Close closes them all.
func TestPoolPerDatabase(t *testing.T) {
	srv := pgtest.Shared(t)
	cfg := srv.Config()
	cfg["poolSize"] = int64(2)
	p := configured(t, cfg, "postgres")
	pfx := pgtest.Name("pool")
	dbs := []string{database(t, srv, pfx+"_a"), database(t, srv, pfx+"_b")}
	for _, db := range dbs {
		for i := range 5 {
			req := request("postgres.Schema", "s", map[string]any{"database": db, "name": fmt.Sprintf("s%d", i)})
			if _, err := p.Create(t.Context(), req); err != nil {
				t.Fatal(err)
			}
		}
	}
	conns := func(db string) int {
		var n int
		if err := srv.QueryRow(t, "postgres", "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'converge'", []any{db}, &n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, db := range dbs {
		if n := conns(db); n < 1 || n > 2 {
			t.Errorf("%d connections of the provider to %s; want 1 or 2 (poolSize 2)", n, db)
		}
	}
	p.Close()
	deadline := time.Now().Add(10 * time.Second)
	for _, db := range dbs {
		for conns(db) > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := conns(db); n != 0 {
			t.Errorf("%d connections to %s after Close; want 0", n, db)
		}
	}
}

// TestErrorClasses: errors the server raises with each SQLSTATE get the
// class the engine needs, and a secret in a message is removed.
func TestErrorClasses(t *testing.T) {
	srv := pgtest.Shared(t)
	c := srv.Connect(t, "postgres")
	tests := map[string]provider.Class{
		"08006": provider.ClassRetryable, // connection failure
		"53300": provider.ClassRetryable, // too many connections
		"40001": provider.ClassRetryable, // serialization failure
		"40P01": provider.ClassRetryable, // deadlock
		"57P03": provider.ClassRetryable, // cannot connect now
		"55006": provider.ClassRetryable, // object in use
		"3D000": provider.ClassRetryable, // database does not exist (yet)
		"42501": provider.ClassTerminal,  // permission denied
		"42602": provider.ClassTerminal,  // invalid name
		"42601": provider.ClassTerminal,  // syntax error
		"2BP01": provider.ClassTerminal,  // dependent objects
		"22023": provider.ClassTerminal,  // invalid parameter value
		"28P01": provider.ClassTerminal,  // invalid password
	}
	for code, want := range tests {
		_, err := c.Exec(t.Context(), fmt.Sprintf("DO $$ BEGIN RAISE EXCEPTION 'raised with the-secret-value' USING ERRCODE = '%s'; END $$", code))
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != code {
			t.Fatalf("raise %s: %v; the premise fails", code, err)
		}
		got := postgres.Classify(err, "the-secret-value")
		if class, _ := provider.Classify(got); class != want {
			t.Errorf("SQLSTATE %s: class %s; want %s (%v)", code, class, want, got)
		}
		if strings.Contains(got.Error(), "the-secret-value") {
			t.Errorf("SQLSTATE %s: %q shows the secret", code, got)
		}
	}
	// Too many connections, for real: a role allowed none.
	limited := role(t, srv, pgtest.Name("limited"), "LOGIN CONNECTION LIMIT 0 PASSWORD 'limited-password'")
	cfg := srv.Config()
	cfg["user"], cfg["password"] = limited, "limited-password"
	p := configured(t, cfg, "postgres")
	_, err := p.Observe(t.Context(), request("postgres.Role", "r", map[string]any{"name": "x"}))
	if class, _ := provider.Classify(err); err == nil || class != provider.ClassRetryable || !strings.Contains(err.Error(), "53300") {
		t.Errorf("observe over a role allowed no connection: %v (%s); want a retryable too-many-connections error", err, class)
	}
	// A wrong password of the provider's own: terminal, and not shown.
	cfg["user"], cfg["password"] = limited, "Wrong-password-here"
	p = configured(t, cfg, "postgres")
	_, err = p.Observe(t.Context(), request("postgres.Role", "r", map[string]any{"name": "x"}))
	if class, _ := provider.Classify(err); err == nil || class != provider.ClassTerminal || strings.Contains(err.Error(), "Wrong-password-here") {
		t.Errorf("observe with a wrong password: %v (%s); want a terminal error without the password", err, class)
	}
}
