package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/convergehq/converge/provider"
)

// grant is a Grant's spec, checked.
type grant struct {
	database, role, on string
	objects            []string
	privileges         []string // normalized; ["ALL"] for all
	withGrantOption    bool
}

func grantOf(spec map[string]any) (grant, error) {
	db, err := databaseOf(spec)
	if err != nil {
		return grant{}, err
	}
	g := grant{database: db, withGrantOption: specBool(spec, "withGrantOption", false)}
	g.role, _ = specString(spec, "role")
	if err := checkIdentifier(g.role); err != nil {
		return grant{}, provider.Terminalf("spec.role: %q %v", g.role, err)
	}
	g.on, _ = specString(spec, "on")
	if validGrantTarget(g.on) != nil {
		return grant{}, provider.Terminalf("spec.on: %q must be one of %s", g.on, strings.Join(grantTargets, ", "))
	}
	objs, _ := sortedSet(spec["objects"])
	if l, ok := objs.([]any); ok && len(l) > 0 {
		g.objects = stringsOf(l)
	} else if g.on == OnDatabase {
		g.objects = []string{db}
	} else {
		return grant{}, provider.Terminalf("spec.objects: is required with on: %s (the names of the schemas)", g.on)
	}
	for _, o := range g.objects {
		if err := checkIdentifier(o); err != nil {
			return grant{}, provider.Terminalf("spec.objects: %q %v", o, err)
		}
	}
	privs, err := normalizePrivileges(spec["privileges"])
	if err != nil {
		return grant{}, provider.Terminalf("spec.privileges: %v", err)
	}
	g.privileges = stringsOf(privs)
	if msg := checkPrivileges(g.on, g.privileges); msg != "" {
		return grant{}, provider.Terminalf("spec.privileges: %s", msg)
	}
	return g, nil
}

// checkPrivileges says what in privs is not a privilege of target on
// ("" when all are).
func checkPrivileges(on string, privs []string) string {
	valid := privilegesOf[on]
	for _, p := range privs {
		if p != "ALL" && !slices.Contains(valid, p) {
			return fmt.Sprintf("%s is not a privilege of on: %s (ALL, %s)", p, on, strings.Join(valid, ", "))
		}
	}
	if len(privs) == 0 {
		return "must name at least one privilege (or ALL)"
	}
	return ""
}

// want is the set of privileges g asks for, ALL expanded.
func (g grant) want() []string {
	if slices.Contains(g.privileges, "ALL") {
		return privilegesOf[g.on]
	}
	return g.privileges
}

func (g grant) what() string {
	return fmt.Sprintf("grant to %s on %s %s of database %s", ident(g.role), g.on, idents(g.objects), ident(g.database))
}

// aclQueries read, for one target, the privileges each object grants to
// role $2 among the objects named in $1, and how many objects there are.
// A NULL ACL means the default one (acldefault): the owner holds
// everything.
var aclQueries = map[string]struct{ privileges, count string }{
	OnDatabase: {
		`SELECT d.datname::text, a.privilege_type, a.is_grantable FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
			WHERE d.datname = ANY($1) AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = $2)`,
		`SELECT count(*) FROM pg_database WHERE datname = ANY($1)`,
	},
	OnSchema: {
		`SELECT n.nspname::text, a.privilege_type, a.is_grantable FROM pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
			WHERE n.nspname = ANY($1) AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = $2)`,
		`SELECT count(*) FROM pg_namespace WHERE nspname = ANY($1)`,
	},
	OnTablesInSchema: {
		`SELECT c.oid::text, a.privilege_type, a.is_grantable FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
			WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = $2)`,
		`SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')`,
	},
	OnSequencesInSchema: {
		`SELECT c.oid::text, a.privilege_type, a.is_grantable FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(coalesce(c.relacl, acldefault('s', c.relowner))) a
			WHERE n.nspname = ANY($1) AND c.relkind = 'S' AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = $2)`,
		`SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY($1) AND c.relkind = 'S'`,
	},
}

// held is what a role holds on the objects of a grant.
type held struct {
	// privileges held on every object (of those the grant names that
	// exist), sorted; any: held on at least one.
	privileges, any []string
	grantable       bool // every privilege held is grantable on every object
}

// queryHeld reads the privileges g.role holds on g's objects, granted to
// it directly (not through PUBLIC or membership).
func queryHeld(ctx context.Context, c *pgx.Conn, g grant) (held, error) {
	q := aclQueries[g.on]
	var count int64
	if err := c.QueryRow(ctx, q.count, g.objects).Scan(&count); err != nil {
		return held{}, err
	}
	rows, err := c.Query(ctx, q.privileges, g.objects, g.role)
	if err != nil {
		return held{}, err
	}
	perObject := map[string]map[string]bool{} // object -> privilege -> grantable
	for rows.Next() {
		var obj, priv string
		var grantable bool
		if err := rows.Scan(&obj, &priv, &grantable); err != nil {
			rows.Close()
			return held{}, err
		}
		if perObject[obj] == nil {
			perObject[obj] = map[string]bool{}
		}
		perObject[obj][priv] = grantable
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return held{}, err
	}
	h := held{grantable: true}
	for _, priv := range privilegesOf[g.on] {
		n := 0
		for _, privs := range perObject {
			if grantable, ok := privs[priv]; ok {
				n++
				h.grantable = h.grantable && grantable
			}
		}
		if n > 0 {
			h.any = append(h.any, priv)
		}
		if n > 0 && int64(n) == count && len(perObject) == int(count) {
			h.privileges = append(h.privileges, priv)
		}
	}
	if len(h.any) == 0 {
		h.grantable = false
	}
	return h, nil
}

// observeGrant reports the grant as existing when the role holds at least
// one privilege on at least one of its objects; its state holds the
// privileges held on all of them.
func (p *Provider) observeGrant(ctx context.Context, srv *server, req provider.Request) (provider.Observation, error) {
	g, err := grantOf(req.Spec)
	if err != nil {
		return provider.Observation{}, err
	}
	var h held
	err = srv.with(ctx, g.database, func(c *pgx.Conn) (err error) {
		h, err = queryHeld(ctx, c, g)
		return err
	})
	if missingDatabase(err) {
		return provider.Observation{}, nil
	}
	if err != nil {
		return provider.Observation{}, classify(err, "read "+g.what(), false)
	}
	if len(h.any) == 0 {
		return provider.Observation{}, nil
	}
	privs := h.privileges
	if slices.Contains(g.privileges, "ALL") && slices.Equal(privs, privilegesOf[g.on]) {
		privs = []string{"ALL"}
	}
	state := map[string]any{
		"database":        g.database,
		"role":            g.role,
		"on":              g.on,
		"objects":         toList(g.objects),
		"privileges":      toList(privs),
		"withGrantOption": h.grantable,
	}
	return provider.Observation{Exists: true, State: state, Outputs: grantOutputs(g)}, nil
}

func grantOutputs(g grant) map[string]any {
	return map[string]any{"role": g.role, "database": g.database, "on": g.on}
}

// applyGrant makes the role hold exactly the privileges of the spec on
// its objects, in one transaction: REVOKE ALL, then GRANT (idempotent, so
// Create and Update are one).
func (p *Provider) applyGrant(ctx context.Context, srv *server, req provider.Request) (provider.Result, error) {
	g, err := grantOf(req.Spec)
	if err != nil {
		return provider.Result{}, err
	}
	target := sqlTarget[g.on] + " " + idents(g.objects)
	grant := "GRANT " + strings.Join(g.want(), ", ") + " ON " + target + " TO " + ident(g.role)
	if g.withGrantOption {
		grant += " WITH GRANT OPTION"
	}
	err = srv.with(ctx, g.database, func(c *pgx.Conn) error {
		return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "REVOKE ALL ON "+target+" FROM "+ident(g.role)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, grant)
			return err
		})
	})
	if err != nil {
		return provider.Result{}, classify(err, g.what(), true)
	}
	return provider.Result{Outputs: grantOutputs(g)}, nil
}

// deleteGrant revokes the privileges of the spec (and their grant
// option). A role, database or schema that is gone holds nothing: success.
func (p *Provider) deleteGrant(ctx context.Context, srv *server, req provider.Request) error {
	g, err := grantOf(req.Spec)
	if err != nil {
		return err
	}
	privs := strings.Join(g.want(), ", ")
	if slices.Contains(g.privileges, "ALL") {
		privs = "ALL"
	}
	err = srv.with(ctx, g.database, func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, "REVOKE "+privs+" ON "+sqlTarget[g.on]+" "+idents(g.objects)+" FROM "+ident(g.role)+" CASCADE")
		return err
	})
	switch pgCode(err) {
	case codeInvalidCatalogName, codeInvalidSchemaName, codeUndefinedObject:
		return nil
	}
	return classify(err, "revoke "+g.what(), true)
}
