package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/convergehq/converge/provider"
)

func queryExtension(ctx context.Context, c *pgx.Conn, name string) (version, schema string, ok bool, err error) {
	err = c.QueryRow(ctx, `SELECT e.extversion::text, n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = $1`, name).
		Scan(&version, &schema)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", false, nil
	}
	return version, schema, err == nil, err
}

func (p *Provider) observeExtension(ctx context.Context, srv *server, req provider.Request) (provider.Observation, error) {
	db, err := databaseOf(req.Spec)
	if err != nil {
		return provider.Observation{}, err
	}
	name, err := objectName(req)
	if err != nil {
		return provider.Observation{}, err
	}
	var version, schema string
	var ok bool
	err = srv.with(ctx, db, func(c *pgx.Conn) (err error) {
		version, schema, ok, err = queryExtension(ctx, c, name)
		return err
	})
	if missingDatabase(err) {
		return provider.Observation{}, nil
	}
	if err != nil {
		return provider.Observation{}, classify(err, fmt.Sprintf("read extension %s of database %s", ident(name), ident(db)), false)
	}
	if !ok {
		return provider.Observation{}, nil
	}
	return provider.Observation{
		Exists:  true,
		State:   map[string]any{"database": db, "name": name, "version": version, "schema": schema},
		Outputs: map[string]any{"name": name, "version": version, "schema": schema},
	}, nil
}

// applyExtension installs the extension when it is missing (CREATE
// EXTENSION IF NOT EXISTS, idempotent), then updates its version and
// moves its schema when the spec says otherwise.
func (p *Provider) applyExtension(ctx context.Context, srv *server, req provider.Request) (provider.Result, error) {
	db, err := databaseOf(req.Spec)
	if err != nil {
		return provider.Result{}, err
	}
	name, err := objectName(req)
	if err != nil {
		return provider.Result{}, err
	}
	what := fmt.Sprintf("extension %s of database %s", ident(name), ident(db))
	wantVersion, hasVersion := specString(req.Spec, "version")
	wantSchema, hasSchema := specString(req.Spec, "schema")
	var version, schema string
	err = srv.with(ctx, db, func(c *pgx.Conn) error {
		return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			var ok bool
			var err error
			if version, schema, ok, err = queryExtension(ctx, tx.Conn(), name); err != nil {
				return err
			}
			if !ok {
				stmt := "CREATE EXTENSION IF NOT EXISTS " + ident(name)
				if hasSchema {
					stmt += " SCHEMA " + ident(wantSchema)
				}
				if hasVersion {
					stmt += " VERSION " + literal(wantVersion)
				}
				if _, err := tx.Exec(ctx, stmt); err != nil {
					return err
				}
			} else {
				if hasVersion && version != wantVersion {
					if _, err := tx.Exec(ctx, "ALTER EXTENSION "+ident(name)+" UPDATE TO "+literal(wantVersion)); err != nil {
						return err
					}
				}
				if hasSchema && schema != wantSchema {
					if _, err := tx.Exec(ctx, "ALTER EXTENSION "+ident(name)+" SET SCHEMA "+ident(wantSchema)); err != nil {
						return err
					}
				}
			}
			version, schema, _, err = queryExtension(ctx, tx.Conn(), name)
			return err
		})
	})
	if err != nil {
		return provider.Result{}, classify(err, what, true)
	}
	return provider.Result{Outputs: map[string]any{"name": name, "version": version, "schema": schema}}, nil
}

func (p *Provider) deleteExtension(ctx context.Context, srv *server, req provider.Request) error {
	db, err := databaseOf(req.Spec)
	if err != nil {
		return err
	}
	name, err := objectName(req)
	if err != nil {
		return err
	}
	err = srv.with(ctx, db, func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, "DROP EXTENSION IF EXISTS "+ident(name))
		return err
	})
	switch {
	case missingDatabase(err):
		return nil
	case pgCode(err) == codeDependentObjects:
		return provider.Terminal(fmt.Errorf("extension %s of database %s is still used by other objects, so it cannot be dropped: %s. Drop those first, then delete it again",
			ident(name), ident(db), dependents(err)))
	}
	return classify(err, fmt.Sprintf("drop extension %s of database %s", ident(name), ident(db)), true)
}
