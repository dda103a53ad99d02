package postgres

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/convergehq/converge/provider"
)

// Provider manages the kinds of one PostgreSQL server. It is safe for
// concurrent use; it keeps one connection pool per database it touches,
// opened when first needed and closed by Close (or when Configure points
// it at other settings).
type Provider struct {
	name      string
	lookupEnv func(string) (string, bool)
	log       *slog.Logger

	mu  sync.Mutex
	srv *server // nil until configured
}

// Option configures a Provider.
type Option func(*Provider)

// WithLookupEnv sets how the ${env:NAME} of a role's password are
// expanded (default os.LookupEnv).
func WithLookupEnv(f func(string) (string, bool)) Option {
	return func(p *Provider) { p.lookupEnv = f }
}

// WithLogger sets the logger (default slog.Default()). Nothing the
// provider logs holds a password.
func WithLogger(l *slog.Logger) Option { return func(p *Provider) { p.log = l } }

// New returns a provider whose kinds are name.Role, name.Database,
// name.Schema, name.Grant and name.Extension ("postgres" when name is
// empty), configured by the ProviderConfig of that name. Each instance
// has its own server and pools: New("analytics") serves analytics.Role
// next to New("postgres").
func New(name string, opts ...Option) *Provider {
	if name == "" {
		name = "postgres"
	}
	p := &Provider{name: name, lookupEnv: os.LookupEnv, log: slog.Default()}
	for _, o := range opts {
		o(p)
	}
	return p
}

var (
	_ provider.Provider      = (*Provider)(nil)
	_ provider.Configurer    = (*Provider)(nil)
	_ provider.ConfigSchemer = (*Provider)(nil)
	_ provider.Validator     = (*Provider)(nil)
	_ provider.Closer        = (*Provider)(nil)
)

// Name returns the kind prefix given to New.
func (p *Provider) Name() string { return p.name }

// Close closes every pool. The provider stays configured: a later call
// (of an engine that runs it again) opens new pools.
func (p *Provider) Close() error {
	p.mu.Lock()
	srv := p.srv
	p.mu.Unlock()
	if srv != nil {
		srv.closePools()
	}
	return nil
}

// server returns the configured server, or a terminal error saying how
// to configure it.
func (p *Provider) server() (*server, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.srv == nil {
		return nil, provider.Terminalf("provider %s is not configured: add a ProviderConfig named %s with spec.config.dsn (or host, port, user, password)", p.name, p.name)
	}
	return p.srv, nil
}

// suffix returns the kind of req without the provider's prefix.
func (p *Provider) suffix(kind string) (string, error) {
	s, ok := strings.CutPrefix(kind, p.name+".")
	switch {
	case !ok:
	case s == KindRole, s == KindDatabase, s == KindSchema, s == KindGrant, s == KindExtension:
		return s, nil
	}
	return "", provider.Terminalf("kind %s is not managed by the %s provider", kind, p.name)
}

// objectName is the object's name: spec.name, else the resource's name.
func objectName(req provider.Request) (string, error) {
	name := req.Name
	if s, ok := specString(req.Spec, "name"); ok && s != "" {
		name = s
	}
	if err := checkIdentifier(name); err != nil {
		return "", provider.Terminalf("spec.name: %q %v", name, err)
	}
	return name, nil
}

// Observe reads the object from the catalogs. It never changes anything.
// A Schema, Grant or Extension whose database does not exist is absent.
//
// Errors: terminal (unknown kind, not configured, invalid name,
// permission denied), retryable (connection failures and the other
// transient SQLSTATEs, see classify).
func (p *Provider) Observe(ctx context.Context, req provider.Request) (provider.Observation, error) {
	obs, err := p.observe(ctx, req)
	if err != nil {
		return provider.Observation{}, provider.OpFailed(provider.OpObserve, req.ID, err)
	}
	return obs, nil
}

func (p *Provider) observe(ctx context.Context, req provider.Request) (provider.Observation, error) {
	k, err := p.suffix(req.Kind)
	if err != nil {
		return provider.Observation{}, err
	}
	srv, err := p.server()
	if err != nil {
		return provider.Observation{}, err
	}
	switch k {
	case KindRole:
		return p.observeRole(ctx, srv, req)
	case KindDatabase:
		return p.observeDatabase(ctx, srv, req)
	case KindSchema:
		return p.observeSchema(ctx, srv, req)
	case KindGrant:
		return p.observeGrant(ctx, srv, req)
	}
	return p.observeExtension(ctx, srv, req)
}

// Create makes the object. It is idempotent: an object that exists
// already (a create whose answer was lost) is brought to the spec as
// Update would, never an "already exists" error.
//
// Errors: as Observe, and terminal for what the server refuses (invalid
// values, an encoding the template does not allow).
func (p *Provider) Create(ctx context.Context, req provider.Request) (provider.Result, error) {
	res, err := p.apply(ctx, req, true)
	if err != nil {
		return res, provider.OpFailed(provider.OpCreate, req.ID, err)
	}
	return res, nil
}

// Update brings the object to the spec in place. Idempotent. An object
// that is gone is a retryable error: the engine observes again and
// creates it.
func (p *Provider) Update(ctx context.Context, req provider.Request) (provider.Result, error) {
	res, err := p.apply(ctx, req, false)
	if err != nil {
		return res, provider.OpFailed(provider.OpUpdate, req.ID, err)
	}
	return res, nil
}

func (p *Provider) apply(ctx context.Context, req provider.Request, create bool) (provider.Result, error) {
	k, err := p.suffix(req.Kind)
	if err != nil {
		return provider.Result{}, err
	}
	srv, err := p.server()
	if err != nil {
		return provider.Result{}, err
	}
	switch k {
	case KindRole:
		return p.applyRole(ctx, srv, req, create)
	case KindDatabase:
		return p.applyDatabase(ctx, srv, req, create)
	case KindSchema:
		return p.applySchema(ctx, srv, req, create)
	case KindGrant:
		return p.applyGrant(ctx, srv, req)
	}
	return p.applyExtension(ctx, srv, req)
}

// Delete drops the object; what is gone already is success. An object
// others still depend on (a role owning a database, a schema holding
// tables) is a terminal error naming them and what to do.
func (p *Provider) Delete(ctx context.Context, req provider.Request) error {
	if err := p.delete(ctx, req); err != nil {
		return provider.OpFailed(provider.OpDelete, req.ID, err)
	}
	return nil
}

func (p *Provider) delete(ctx context.Context, req provider.Request) error {
	k, err := p.suffix(req.Kind)
	if err != nil {
		return err
	}
	srv, err := p.server()
	if err != nil {
		return err
	}
	switch k {
	case KindRole:
		return p.deleteRole(ctx, srv, req)
	case KindDatabase:
		return p.deleteDatabase(ctx, srv, req)
	case KindSchema:
		return p.deleteSchema(ctx, srv, req)
	case KindGrant:
		return p.deleteGrant(ctx, srv, req)
	}
	return p.deleteExtension(ctx, srv, req)
}

// databaseOf returns spec.database, checked.
func databaseOf(spec map[string]any) (string, error) {
	db, _ := specString(spec, "database")
	if err := checkIdentifier(db); err != nil {
		return "", provider.Terminalf("spec.database: %q %v", db, err)
	}
	return db, nil
}

// missingDatabase reports whether err says the database to connect to
// does not exist.
func missingDatabase(err error) bool { return pgCode(err) == codeInvalidCatalogName }
