package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/convergehq/converge/provider"
)

// roleRow is a role as pg_roles shows it.
type roleRow struct {
	super, inherit, createRole, createDB, login bool
	connLimit                                   int32
	validUntil                                  pgtype.Timestamptz
	memberOf                                    []string
}

// queryRole reads role name; nil when there is none.
func queryRole(ctx context.Context, c *pgx.Conn, name string) (*roleRow, error) {
	var r roleRow
	err := c.QueryRow(ctx, `SELECT r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin, r.rolconnlimit, r.rolvaliduntil,
			ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid ORDER BY 1)
		FROM pg_roles r WHERE r.rolname = $1`, name).
		Scan(&r.super, &r.inherit, &r.createRole, &r.createDB, &r.login, &r.connLimit, &r.validUntil, &r.memberOf)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// storedPassword reads the verifier of role name from pg_authid: readable
// false when the provider's user may not read it (it is not a superuser),
// which is logged once per server.
func (p *Provider) storedPassword(ctx context.Context, srv *server, c *pgx.Conn, name string) (stored *string, readable bool, err error) {
	if srv.authid.Load() == 2 {
		return nil, false, nil
	}
	err = c.QueryRow(ctx, `SELECT rolpassword FROM pg_authid WHERE rolname = $1`, name).Scan(&stored)
	switch {
	case pgCode(err) == codeInsufficientPriv:
		if srv.authid.Swap(2) != 2 {
			p.log.Warn("pg_authid is not readable by the provider's user: role passwords are set but not compared (no drift is seen on them); connect as a superuser to compare them", "provider", p.name)
		}
		return nil, false, nil
	case errors.Is(err, pgx.ErrNoRows):
		srv.authid.Store(1)
		return nil, true, nil
	case err != nil:
		return nil, false, err
	}
	srv.authid.Store(1)
	return stored, true, nil
}

// password returns the expanded spec.password and the secrets to keep out
// of messages; ok false when the spec sets none.
func (p *Provider) password(spec map[string]any) (clear string, secrets []string, ok bool, err error) {
	tmpl, ok := specString(spec, "password")
	if !ok {
		return "", nil, false, nil
	}
	clear, used, err := provider.ExpandEnv(tmpl, p.lookupEnv)
	if err != nil {
		return "", nil, true, provider.Terminal(fmt.Errorf("spec.password: %w", err))
	}
	return clear, append([]string{tmpl, clear}, used...), true, nil
}

func formatValidUntil(t pgtype.Timestamptz) string {
	switch {
	case !t.Valid || t.InfinityModifier == pgtype.Infinity:
		return "infinity"
	case t.InfinityModifier == pgtype.NegativeInfinity:
		return "-infinity"
	}
	return formatTime(t.Time)
}

func (p *Provider) observeRole(ctx context.Context, srv *server, req provider.Request) (provider.Observation, error) {
	name, err := objectName(req)
	if err != nil {
		return provider.Observation{}, err
	}
	clear, secrets, wantPassword, pwErr := p.password(req.Spec)
	var (
		row      *roleRow
		stored   *string
		readable bool
	)
	err = srv.with(ctx, "", func(c *pgx.Conn) error {
		var err error
		if row, err = queryRole(ctx, c, name); err != nil || row == nil || !wantPassword || pwErr != nil {
			return err
		}
		stored, readable, err = p.storedPassword(ctx, srv, c, name)
		return err
	})
	if err != nil {
		return provider.Observation{}, classify(err, fmt.Sprintf("read role %s", ident(name)), false, secrets...)
	}
	if row == nil {
		return provider.Observation{}, nil
	}
	state := map[string]any{
		"name":            name,
		"login":           row.login,
		"superuser":       row.super,
		"createdb":        row.createDB,
		"createrole":      row.createRole,
		"inherit":         row.inherit,
		"connectionLimit": int64(row.connLimit),
		"validUntil":      formatValidUntil(row.validUntil),
		"memberOf":        toList(row.memberOf),
	}
	// The password is never read back: the stored verifier is checked
	// against the desired password, and the state says only whether it
	// matches. Unreadable (or not expandable): not compared.
	if wantPassword && pwErr == nil && readable {
		if passwordMatches(stored, clear, name) {
			state["password"] = req.Spec["password"]
		} else {
			state["password"] = PasswordDiffers
		}
	}
	return provider.Observation{Exists: true, State: state, Outputs: map[string]any{"name": name}}, nil
}

// roleOptions returns the options of CREATE ROLE (have nil: every
// attribute) or ALTER ROLE (only those that differ from have: a role
// without superuser rights may not even restate NOSUPERUSER), with VALID
// UNTIL as a literal.
func roleOptions(spec map[string]any, have *roleRow) (string, error) {
	var opts []string
	flag := func(k, on, off string, def, current bool) {
		want := specBool(spec, k, def)
		if have != nil && want == current {
			return
		}
		if want {
			opts = append(opts, on)
		} else {
			opts = append(opts, off)
		}
	}
	var cur roleRow
	if have != nil {
		cur = *have
	}
	flag("login", "LOGIN", "NOLOGIN", false, cur.login)
	flag("superuser", "SUPERUSER", "NOSUPERUSER", false, cur.super)
	flag("createdb", "CREATEDB", "NOCREATEDB", false, cur.createDB)
	flag("createrole", "CREATEROLE", "NOCREATEROLE", false, cur.createRole)
	flag("inherit", "INHERIT", "NOINHERIT", true, cur.inherit)
	if limit := specInt(spec, "connectionLimit", -1); have == nil || limit != int64(cur.connLimit) {
		opts = append(opts, fmt.Sprintf("CONNECTION LIMIT %d", limit))
	}
	until := "infinity"
	if s, ok := specString(spec, "validUntil"); ok {
		n, err := normalizeValidUntil(s)
		if err != nil {
			return "", provider.Terminal(fmt.Errorf("spec.validUntil: %w", err))
		}
		until = n.(string)
	}
	if have == nil || until != formatValidUntil(cur.validUntil) {
		opts = append(opts, "VALID UNTIL "+literal(until))
	}
	return strings.Join(opts, " "), nil
}

// passwordOption is the PASSWORD option for clear: a SCRAM-SHA-256
// verifier computed here (PostgreSQL stores a verifier it is given as it
// is), or NULL for "". It returns the verifier as a secret too.
func passwordOption(clear string) (string, string, error) {
	if clear == "" {
		return "PASSWORD NULL", "", nil
	}
	v, err := newSCRAMVerifier(clear)
	if err != nil {
		return "", "", provider.Terminal(errors.New("spec.password: the SCRAM verifier could not be computed"))
	}
	return "PASSWORD " + literal(v), v, nil
}

func (p *Provider) applyRole(ctx context.Context, srv *server, req provider.Request, create bool) (provider.Result, error) {
	name, err := objectName(req)
	if err != nil {
		return provider.Result{}, err
	}
	if _, err := roleOptions(req.Spec, nil); err != nil {
		return provider.Result{}, err
	}
	clear, secrets, setPassword, err := p.password(req.Spec)
	if err != nil {
		return provider.Result{}, err
	}
	members, manageMembers := specNames(req.Spec, "memberOf")
	what := fmt.Sprintf("role %s", ident(name))
	err = srv.with(ctx, "", func(c *pgx.Conn) error {
		// Read first, outside the transaction: a refused read of
		// pg_authid would abort it.
		row, err := queryRole(ctx, c, name)
		if err != nil {
			return err
		}
		if row == nil && !create {
			return provider.Retryable(fmt.Errorf("%s does not exist (dropped out of band?)", what))
		}
		pw := ""
		if setPassword {
			keep := false
			if row != nil {
				stored, readable, err := p.storedPassword(ctx, srv, c, name)
				if err != nil {
					return err
				}
				keep = readable && passwordMatches(stored, clear, name)
			}
			if !keep { // the same password keeps its verifier: no write
				opt, verifier, err := passwordOption(clear)
				if err != nil {
					return err
				}
				pw, secrets = " "+opt, append(secrets, verifier)
			}
		}
		opts, err := roleOptions(req.Spec, row)
		if err != nil {
			return err
		}
		return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			if row == nil {
				if _, err := tx.Exec(ctx, "CREATE ROLE "+ident(name)+" WITH "+opts+pw); err != nil {
					return err
				}
				row = &roleRow{}
			} else if opts+pw != "" {
				if _, err := tx.Exec(ctx, "ALTER ROLE "+ident(name)+" WITH "+opts+pw); err != nil {
					return err
				}
			}
			if !manageMembers {
				return nil
			}
			for _, g := range members {
				if !slices.Contains(row.memberOf, g) {
					if _, err := tx.Exec(ctx, "GRANT "+ident(g)+" TO "+ident(name)); err != nil {
						return fmt.Errorf("make it a member of %s: %w", ident(g), err)
					}
				}
			}
			for _, g := range row.memberOf {
				if !slices.Contains(members, g) {
					if _, err := tx.Exec(ctx, "REVOKE "+ident(g)+" FROM "+ident(name)); err != nil {
						return fmt.Errorf("remove it from %s: %w", ident(g), err)
					}
				}
			}
			return nil
		})
	})
	if create && duplicate(err, codeDuplicateObject) {
		// Made by a concurrent or interrupted create: bring it to the spec.
		return p.applyRole(ctx, srv, req, false)
	}
	var pe *provider.Error
	if errors.As(err, &pe) {
		return provider.Result{}, err
	}
	if err != nil {
		return provider.Result{}, classify(err, what, true, secrets...)
	}
	return provider.Result{Outputs: map[string]any{"name": name}}, nil
}

func (p *Provider) deleteRole(ctx context.Context, srv *server, req provider.Request) error {
	name, err := objectName(req)
	if err != nil {
		return err
	}
	err = srv.with(ctx, "", func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, "DROP ROLE IF EXISTS "+ident(name))
		return err
	})
	if pgCode(err) == codeDependentObjects {
		return provider.Terminal(fmt.Errorf("role %s still owns or holds privileges on objects, so it cannot be dropped: %s. "+
			"Delete those objects (or their Grants) first, give them to another role (ALTER ... OWNER TO, or REASSIGN OWNED BY %s TO other_role in each database), "+
			"or drop what it owns with DROP OWNED BY %s in each database; then delete it again",
			ident(name), dependents(err), ident(name), ident(name)))
	}
	return classify(err, fmt.Sprintf("drop role %s", ident(name)), true)
}

// dependents is the server's list of what depends on an object, from the
// detail of a dependent-objects error, on one line.
func dependents(err error) string {
	var d string
	if pe := pgError(err); pe != nil {
		d = pe.Detail
		if d == "" {
			d = pe.Message
		}
	}
	return strings.Join(strings.Fields(strings.ReplaceAll(d, "\n", "; ")), " ")
}
