package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/convergehq/converge/provider"
)

// querySchema returns the owner of schema name; ok false when there is
// no such schema.
func querySchema(ctx context.Context, c *pgx.Conn, name string) (owner string, ok bool, err error) {
	err = c.QueryRow(ctx, `SELECT pg_get_userbyid(nspowner)::text FROM pg_namespace WHERE nspname = $1`, name).Scan(&owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return owner, err == nil, err
}

func (p *Provider) observeSchema(ctx context.Context, srv *server, req provider.Request) (provider.Observation, error) {
	db, err := databaseOf(req.Spec)
	if err != nil {
		return provider.Observation{}, err
	}
	name, err := objectName(req)
	if err != nil {
		return provider.Observation{}, err
	}
	var owner string
	var ok bool
	err = srv.with(ctx, db, func(c *pgx.Conn) (err error) {
		owner, ok, err = querySchema(ctx, c, name)
		return err
	})
	if missingDatabase(err) {
		return provider.Observation{}, nil
	}
	if err != nil {
		return provider.Observation{}, classify(err, fmt.Sprintf("read schema %s of database %s", ident(name), ident(db)), false)
	}
	if !ok {
		return provider.Observation{}, nil
	}
	return provider.Observation{
		Exists:  true,
		State:   map[string]any{"database": db, "name": name, "owner": owner},
		Outputs: map[string]any{"name": name, "database": db, "owner": owner},
	}, nil
}

func (p *Provider) applySchema(ctx context.Context, srv *server, req provider.Request, create bool) (provider.Result, error) {
	db, err := databaseOf(req.Spec)
	if err != nil {
		return provider.Result{}, err
	}
	name, err := objectName(req)
	if err != nil {
		return provider.Result{}, err
	}
	what := fmt.Sprintf("schema %s of database %s", ident(name), ident(db))
	want, hasOwner := specString(req.Spec, "owner")
	var owner string
	err = srv.with(ctx, db, func(c *pgx.Conn) error {
		return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			have, ok, err := querySchema(ctx, tx.Conn(), name)
			if err != nil {
				return err
			}
			if !ok && !create {
				return provider.Retryable(fmt.Errorf("%s does not exist (dropped out of band?)", what))
			}
			if !ok {
				stmt := "CREATE SCHEMA " + ident(name)
				if hasOwner {
					stmt += " AUTHORIZATION " + ident(want)
				}
				if _, err := tx.Exec(ctx, stmt); err != nil {
					return err
				}
			} else if hasOwner && have != want {
				if _, err := tx.Exec(ctx, "ALTER SCHEMA "+ident(name)+" OWNER TO "+ident(want)); err != nil {
					return err
				}
			}
			owner, _, err = querySchema(ctx, tx.Conn(), name)
			return err
		})
	})
	if create && duplicate(err, codeDuplicateSchema) {
		return p.applySchema(ctx, srv, req, false)
	}
	var pe *provider.Error
	if errors.As(err, &pe) {
		return provider.Result{}, err
	}
	if err != nil {
		return provider.Result{}, classify(err, what, true)
	}
	return provider.Result{Outputs: map[string]any{"name": name, "database": db, "owner": owner}}, nil
}

func (p *Provider) deleteSchema(ctx context.Context, srv *server, req provider.Request) error {
	db, err := databaseOf(req.Spec)
	if err != nil {
		return err
	}
	name, err := objectName(req)
	if err != nil {
		return err
	}
	err = srv.with(ctx, db, func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, "DROP SCHEMA IF EXISTS "+ident(name))
		return err
	})
	switch {
	case missingDatabase(err):
		return nil
	case pgCode(err) == codeDependentObjects:
		return provider.Terminal(fmt.Errorf("schema %s of database %s still holds objects, so it cannot be dropped: %s. "+
			"Drop or move them first (converge drops schemas only when empty; DROP SCHEMA %s CASCADE by hand drops them all), then delete it again",
			ident(name), ident(db), dependents(err), ident(name)))
	}
	return classify(err, fmt.Sprintf("drop schema %s of database %s", ident(name), ident(db)), true)
}
