package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/convergehq/converge/provider"
)

// privateTemplate is the Private key of the template a database was
// created from: the catalogs do not keep it.
const privateTemplate = "template"

type databaseRow struct {
	owner, encoding, collate, ctype string
	connLimit                       int32
	allowConn                       bool
}

func queryDatabase(ctx context.Context, c *pgx.Conn, name string) (*databaseRow, error) {
	var r databaseRow
	err := c.QueryRow(ctx, `SELECT pg_get_userbyid(d.datdba)::text, pg_encoding_to_char(d.encoding)::text, coalesce(d.datcollate, '')::text, coalesce(d.datctype, '')::text, d.datconnlimit, d.datallowconn
		FROM pg_database d WHERE d.datname = $1`, name).
		Scan(&r.owner, &r.encoding, &r.collate, &r.ctype, &r.connLimit, &r.allowConn)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

func (srv *server) databaseOutputs(name string, r *databaseRow) map[string]any {
	return map[string]any{"name": name, "owner": r.owner, "host": srv.base.Host, "port": int64(srv.base.Port), "encoding": r.encoding}
}

func (p *Provider) observeDatabase(ctx context.Context, srv *server, req provider.Request) (provider.Observation, error) {
	name, err := objectName(req)
	if err != nil {
		return provider.Observation{}, err
	}
	var row *databaseRow
	err = srv.with(ctx, "", func(c *pgx.Conn) (err error) {
		row, err = queryDatabase(ctx, c, name)
		return err
	})
	if err != nil {
		return provider.Observation{}, classify(err, fmt.Sprintf("read database %s", ident(name)), false)
	}
	if row == nil {
		return provider.Observation{}, nil
	}
	state := map[string]any{
		"name":             name,
		"owner":            row.owner,
		"encoding":         row.encoding,
		"lcCollate":        row.collate,
		"lcCtype":          row.ctype,
		"connectionLimit":  int64(row.connLimit),
		"allowConnections": row.allowConn,
	}
	var private map[string]string
	if t, ok := req.Private[privateTemplate]; ok {
		state["template"] = t
		private = map[string]string{privateTemplate: t}
	}
	return provider.Observation{Exists: true, State: state, Outputs: srv.databaseOutputs(name, row), Private: private}, nil
}

func (p *Provider) applyDatabase(ctx context.Context, srv *server, req provider.Request, create bool) (provider.Result, error) {
	name, err := objectName(req)
	if err != nil {
		return provider.Result{}, err
	}
	what := fmt.Sprintf("database %s", ident(name))
	owner, hasOwner := specString(req.Spec, "owner")
	limit := specInt(req.Spec, "connectionLimit", -1)
	allow := specBool(req.Spec, "allowConnections", true)
	var row *databaseRow
	var private map[string]string
	err = srv.with(ctx, "", func(c *pgx.Conn) error {
		var err error
		if row, err = queryDatabase(ctx, c, name); err != nil {
			return err
		}
		if row == nil && !create {
			return provider.Retryable(fmt.Errorf("%s does not exist (dropped out of band?)", what))
		}
		if row == nil {
			// CREATE DATABASE runs outside a transaction: it is one
			// statement, and a create interrupted after it is found by
			// the next attempt (here or in Observe).
			stmt := "CREATE DATABASE " + ident(name)
			if hasOwner {
				stmt += " OWNER " + ident(owner)
			}
			if t, ok := specString(req.Spec, "template"); ok {
				stmt += " TEMPLATE " + ident(t)
				private = map[string]string{privateTemplate: t}
			}
			for _, o := range []struct{ field, option string }{{"encoding", "ENCODING"}, {"lcCollate", "LC_COLLATE"}, {"lcCtype", "LC_CTYPE"}} {
				if v, ok := specString(req.Spec, o.field); ok {
					stmt += " " + o.option + " " + literal(v)
				}
			}
			stmt += fmt.Sprintf(" CONNECTION LIMIT %d ALLOW_CONNECTIONS %t", limit, allow)
			if _, err := c.Exec(ctx, stmt); err != nil {
				return err
			}
			row, err = queryDatabase(ctx, c, name)
			if err == nil && row == nil {
				err = fmt.Errorf("%s is not found after its create", what)
			}
			return err
		}
		if t, ok := req.Private[privateTemplate]; ok {
			private = map[string]string{privateTemplate: t}
		}
		// In place: the owner, the connection limit, whether it accepts
		// connections. Each ALTER is idempotent; one transaction for all.
		return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			if hasOwner && owner != row.owner {
				if _, err := tx.Exec(ctx, "ALTER DATABASE "+ident(name)+" OWNER TO "+ident(owner)); err != nil {
					return err
				}
				row.owner = owner
			}
			if int64(row.connLimit) != limit {
				if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s CONNECTION LIMIT %d", ident(name), limit)); err != nil {
					return err
				}
			}
			if row.allowConn != allow {
				if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s ALLOW_CONNECTIONS %t", ident(name), allow)); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if create && duplicate(err, codeDuplicateDatabase) {
		return p.applyDatabase(ctx, srv, req, false)
	}
	var pe *provider.Error
	if errors.As(err, &pe) {
		return provider.Result{}, err
	}
	if err != nil {
		return provider.Result{}, classify(err, what, true)
	}
	return provider.Result{Outputs: srv.databaseOutputs(name, row), Private: private}, nil
}

func (p *Provider) deleteDatabase(ctx context.Context, srv *server, req provider.Request) error {
	name, err := objectName(req)
	if err != nil {
		return err
	}
	if name == srv.maintenance {
		return provider.Terminalf("database %s is the one the provider connects to (spec.config.database): converge will not drop it", ident(name))
	}
	// Our own connections to it would keep it from being dropped.
	srv.closeDB(name)
	err = srv.with(ctx, "", func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name))
		return err
	})
	if pgCode(err) == codeObjectInUse {
		return provider.Retryable(fmt.Errorf("drop database %s: other sessions are connected to it; retrying until they leave (%s)", ident(name), dependents(err)))
	}
	return classify(err, fmt.Sprintf("drop database %s", ident(name)), true)
}
