package postgres_test

import (
	"testing"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/providers/postgres/pgtest"
)

// BenchmarkObserve observes a role with a password (checked against the
// stored verifier: PBKDF2 with 4096 iterations), one without, and a
// database, over the provider's pools.
func BenchmarkObserve(b *testing.B) {
	srv := pgtest.Shared(b)
	p := newProvider(b, srv, "postgres")
	name := pgtest.Name("bench")
	b.Cleanup(func() { dropDatabase(srv, name); dropRole(srv, name) })
	withPassword := request("postgres.Role", "r", applied(b, p, "postgres.Role", map[string]any{"name": name, "login": true, "password": "bench-password"}))
	noPassword := request("postgres.Role", "r", applied(b, p, "postgres.Role", map[string]any{"name": name, "login": true}))
	db := request("postgres.Database", "d", applied(b, p, "postgres.Database", map[string]any{"name": name, "owner": name}))
	for _, req := range []provider.Request{withPassword, db} {
		if _, err := p.Create(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		req  provider.Request
	}{{"Role", noPassword}, {"RoleWithPassword", withPassword}, {"Database", db}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				obs, err := p.Observe(b.Context(), c.req)
				if err != nil || !obs.Exists {
					b.Fatalf("observe: %v, exists %v", err, obs.Exists)
				}
			}
		})
	}
}
