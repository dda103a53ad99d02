package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/convergehq/converge/manifest"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/providers/postgres"
	"github.com/convergehq/converge/providers/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// newProvider returns a provider called name, configured for srv as its
// superuser, closed when t ends.
func newProvider(t testing.TB, srv *pgtest.Server, name string, opts ...postgres.Option) *postgres.Provider {
	t.Helper()
	return configured(t, srv.Config(), name, opts...)
}

// configured returns a provider called name configured with config.
func configured(t testing.TB, config map[string]any, name string, opts ...postgres.Option) *postgres.Provider {
	t.Helper()
	opts = append([]postgres.Option{postgres.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}, opts...)
	p := postgres.New(name, opts...)
	if err := p.Configure(provider.Settings{Config: config}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// database creates a database out of band, dropped when t ends.
func database(t testing.TB, srv *pgtest.Server, name string) string {
	t.Helper()
	srv.Exec(t, "postgres", "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	t.Cleanup(func() { dropDatabase(srv, name) })
	return name
}

func dropDatabase(srv *pgtest.Server, name string) {
	_ = srv.TryExec("postgres", "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
}

// role creates a role out of band (options such as "LOGIN"), dropped
// when t ends: what it owns or holds on the server is dropped first.
func role(t testing.TB, srv *pgtest.Server, name, options string) string {
	t.Helper()
	srv.Exec(t, "postgres", "CREATE ROLE "+pgx.Identifier{name}.Sanitize()+" "+options)
	t.Cleanup(func() { dropRole(srv, name) })
	return name
}

// dropRole drops a role and, in the maintenance database, what it owns.
func dropRole(srv *pgtest.Server, name string) {
	q := pgx.Identifier{name}.Sanitize()
	_ = srv.TryExec("postgres", "DROP OWNED BY "+q)
	_ = srv.TryExec("postgres", "DROP ROLE IF EXISTS "+q)
}

// query returns the rows of sql on db as strings, one []string a row.
func query(t testing.TB, srv *pgtest.Server, db, sql string, args ...any) [][]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, srv.ConnConfig(db))
	if err != nil {
		t.Fatalf("connect to %s: %v", db, err)
	}
	defer c.Close(context.Background())
	rows, err := c.Query(ctx, sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			if v == nil {
				row[i] = "<null>"
				continue
			}
			row[i] = toString(v)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}

// request is the request of one operation on a resource of kind.
func request(kind, name string, spec map[string]any) provider.Request {
	return provider.Request{ID: kind + "/" + name, Kind: kind, Name: name, Spec: provider.CanonicalMap(spec), IdempotencyKey: name}
}

// applied is spec with the schema's defaults, as the engine passes it.
func applied(t testing.TB, p provider.Provider, kind string, spec map[string]any) map[string]any {
	t.Helper()
	for _, s := range p.Schemas() {
		if s.Kind == kind {
			out, err := s.Apply(provider.CanonicalMap(spec))
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
	}
	t.Fatalf("no kind %s", kind)
	return nil
}

func fmtAny(v any) string { return fmt.Sprint(v) }

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func mustRegistry(t testing.TB, ps ...provider.Provider) *provider.Registry {
	t.Helper()
	reg, err := provider.NewRegistry(ps...)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func loadWith(reg *provider.Registry, doc string) (*manifest.Revision, error) {
	return manifest.LoadBytes(map[string][]byte{"m.yaml": []byte(doc)}, reg)
}
