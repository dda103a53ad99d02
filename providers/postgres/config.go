package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/convergehq/converge/provider"
)

// DefaultPoolSize is the number of connections each database's pool may
// hold when spec.config.poolSize is not set.
const DefaultPoolSize = 4

// sslModes are the values of spec.config.sslmode, libpq's.
var sslModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// ConfigSchema describes spec.config of the ProviderConfig named after
// the provider: either dsn, or host, port, user, password and sslmode;
// database, the one server-level statements run in; poolSize.
func (p *Provider) ConfigSchema() provider.Schema {
	return provider.Schema{
		Description: "how the " + p.name + " provider connects to its PostgreSQL server",
		Fields: map[string]provider.Field{
			"dsn": {Type: provider.String, Sensitive: true, Env: true,
				Description: "connection string, keyword/value (host=... user=...) or URL (postgres://user:pass@host:5432/db); typically ${env:PGDSN}. Excludes host, port, user, password and sslmode.",
				Validate:    func(v any) error { return checkText(v.(string)) }},
			"host": {Type: provider.String, Description: "server host name, address or unix socket directory", Validate: nonEmpty},
			"port": {Type: provider.Int, Description: "server port (default 5432)", Validate: func(v any) error {
				if n, ok := asInt(v); !ok || n < 1 || n > 65535 {
					return errors.New("must be a port number from 1 to 65535")
				}
				return nil
			}},
			"user":     {Type: provider.String, Description: "user to connect as", Validate: nonEmpty},
			"password": {Type: provider.String, Sensitive: true, Env: true, Description: "password of user; typically ${env:PGPASSWORD}", Validate: func(v any) error { return checkText(v.(string)) }},
			"sslmode": {Type: provider.String, Description: "libpq's sslmode: " + strings.Join(sslModes, ", "), Validate: func(v any) error {
				for _, m := range sslModes {
					if v == m {
						return nil
					}
				}
				return fmt.Errorf("must be one of %s", strings.Join(sslModes, ", "))
			}},
			"database": {Type: provider.String, Description: "database to connect to for roles and databases (default: the DSN's, else postgres)", Validate: func(v any) error { return checkIdentifier(v.(string)) }},
			"poolSize": {Type: provider.Int, Description: fmt.Sprintf("connections per database at most (default %d)", DefaultPoolSize), Validate: func(v any) error {
				if n, ok := asInt(v); !ok || n < 1 || n > 100 {
					return errors.New("must be from 1 to 100")
				}
				return nil
			}},
		},
	}
}

func nonEmpty(v any) error {
	if s, _ := v.(string); s == "" {
		return errors.New("must not be empty")
	}
	return checkText(v.(string))
}

// Configure takes spec.config of the ProviderConfig named after the
// provider. Settings that did not change keep the pools; new ones close
// the old pools (calls in flight finish on their connections) and later
// calls connect anew. Without spec.config the provider is not configured:
// every call fails, terminally, saying so. Configure returns an error,
// and changes nothing, when a setting is invalid; the error never shows a
// password or a DSN.
func (p *Provider) Configure(s provider.Settings) error {
	var next *server
	if len(s.Config) > 0 {
		st, key, err := parseSettings(s.Config)
		if err != nil {
			return err
		}
		p.mu.Lock()
		same := p.srv != nil && p.srv.key == key
		p.mu.Unlock()
		if same {
			return nil
		}
		next = &server{settings: st, key: key, pools: map[string]*pool{}}
	}
	p.mu.Lock()
	old := p.srv
	p.srv = next
	p.mu.Unlock()
	if old != nil {
		old.close()
	}
	return nil
}

// settings are the connection facts of one server.
type settings struct {
	base        *pgx.ConnConfig
	maintenance string // the database server-level statements run in
	poolSize    int
}

// parseSettings reads spec.config (expanded) and returns the settings and
// a key that differs whenever they do.
func parseSettings(cfg map[string]any) (settings, string, error) {
	str := func(k string) (string, error) {
		v, ok := cfg[k]
		if !ok {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("spec.config.%s: must be a string", k)
		}
		return s, nil
	}
	for _, k := range provider.SortedKeys(cfg) {
		switch k {
		case "dsn", "host", "port", "user", "password", "sslmode", "database", "poolSize":
		default:
			return settings{}, "", fmt.Errorf("spec.config.%s: unknown setting", k)
		}
	}
	dsn, err := str("dsn")
	if err != nil {
		return settings{}, "", err
	}
	var conn string
	if dsn != "" {
		for _, k := range []string{"host", "port", "user", "password", "sslmode"} {
			if _, ok := cfg[k]; ok {
				return settings{}, "", fmt.Errorf("spec.config: set either dsn or %s, not both", k)
			}
		}
		conn = dsn
	} else {
		var parts []string
		for _, k := range []string{"host", "user", "password", "sslmode"} {
			v, err := str(k)
			if err != nil {
				return settings{}, "", err
			}
			if v != "" {
				parts = append(parts, k+"="+connValue(v))
			}
		}
		if v, ok := cfg["port"]; ok {
			n, ok := asInt(v)
			if !ok || n < 1 || n > 65535 {
				return settings{}, "", errors.New("spec.config.port: must be a port number from 1 to 65535")
			}
			parts = append(parts, fmt.Sprintf("port=%d", n))
		}
		if len(parts) == 0 {
			return settings{}, "", errors.New("spec.config: set dsn, or host (with port, user, password and sslmode as needed)")
		}
		conn = strings.Join(parts, " ")
	}
	base, err := pgx.ParseConfig(conn)
	if err != nil {
		// The text may hold the password: it is not shown.
		what := "spec.config.dsn"
		if dsn == "" {
			what = "spec.config"
		}
		return settings{}, "", fmt.Errorf("%s: not a valid connection string (its text is not shown, as it may hold a password)", what)
	}
	if base.ConnectTimeout == 0 {
		base.ConnectTimeout = 10 * time.Second
	}
	if _, ok := base.RuntimeParams["application_name"]; !ok {
		base.RuntimeParams["application_name"] = "converge"
	}
	st := settings{base: base, maintenance: base.Database, poolSize: DefaultPoolSize}
	if db, err := str("database"); err != nil {
		return settings{}, "", err
	} else if db != "" {
		st.maintenance = db
	}
	if st.maintenance == "" {
		st.maintenance = "postgres"
	}
	if err := checkIdentifier(st.maintenance); err != nil {
		return settings{}, "", fmt.Errorf("spec.config.database: %w", err)
	}
	if v, ok := cfg["poolSize"]; ok {
		n, ok := asInt(v)
		if !ok || n < 1 || n > 100 {
			return settings{}, "", errors.New("spec.config.poolSize: must be from 1 to 100")
		}
		st.poolSize = int(n)
	}
	b, _ := json.Marshal(cfg) // map keys are sorted
	sum := sha256.Sum256(b)
	return st, hex.EncodeToString(sum[:]), nil
}

// connValue quotes v for a keyword/value connection string.
func connValue(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// server is one configured server and the pools of the databases the
// provider touched on it.
type server struct {
	settings
	key string

	mu     sync.Mutex
	pools  map[string]*pool
	closed bool

	// authid says whether pg_authid is readable: 0 not known yet, 1 yes,
	// 2 no (and it was logged).
	authid atomic.Int32
}

// pool returns the pool of database db ("" is the maintenance database),
// made when first asked for.
func (s *server) pool(db string) (*pool, error) {
	if db == "" {
		db = s.maintenance
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	if p, ok := s.pools[db]; ok {
		return p, nil
	}
	cfg := s.base.Copy()
	cfg.Database = db
	p := newPool(cfg, s.poolSize)
	s.pools[db] = p
	return p, nil
}

// with runs fn on a connection to database db.
func (s *server) with(ctx context.Context, db string, fn func(*pgx.Conn) error) error {
	p, err := s.pool(db)
	if err != nil {
		return err
	}
	err = p.with(ctx, fn)
	if db != "" && missingDatabase(err) {
		s.closeDB(db) // no pool kept for a database that is not there
	}
	return err
}

// closeDB closes the pool of db, so that the database can be dropped.
func (s *server) closeDB(db string) {
	s.mu.Lock()
	p := s.pools[db]
	delete(s.pools, db)
	s.mu.Unlock()
	if p != nil {
		p.close()
	}
}

// closePools closes every pool; later calls open new ones.
func (s *server) closePools() {
	s.mu.Lock()
	pools := s.pools
	s.pools = map[string]*pool{}
	s.mu.Unlock()
	for _, p := range pools {
		p.close()
	}
}

// close closes every pool for good: the settings were replaced.
func (s *server) close() {
	s.mu.Lock()
	pools := s.pools
	s.pools, s.closed = map[string]*pool{}, true
	s.mu.Unlock()
	for _, p := range pools {
		p.close()
	}
}
