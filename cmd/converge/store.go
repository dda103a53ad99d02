package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/convergehq/converge/cluster"
	"github.com/convergehq/converge/secret"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/etcd"
)

// storeFlags are the flags that choose where the state is kept: the
// embedded SQLite file of --state (the default), or etcd.
type storeFlags struct {
	url         string // --store: "", a SQLite path, or etcd://HOST:PORT[,HOST:PORT...]
	prefix      string
	caCert      string
	cert        string
	key         string
	stateKey    string
	dialTimeout time.Duration

	endpoints []string // parsed from an etcd:// url
}

// etcdScheme starts a --store that names etcd.
const etcdScheme = "etcd://"

// storeEnv is the environment variable --store defaults to.
const storeEnv = "CONVERGE_STORE"

// stateKeyFileEnv is not read: CONVERGE_STATE_KEY (secret.KeyEnv) holds the
// key itself, and --state-key names a file.

func (f *storeFlags) register(pf *pflag.FlagSet) {
	pf.StringVar(&f.url, "store", os.Getenv(storeEnv), "where the state is kept: empty or a file path for the embedded SQLite state (see --state), or etcd://HOST:PORT[,HOST:PORT...] for etcd, shared by several nodes (env "+storeEnv+")")
	pf.StringVar(&f.prefix, "etcd-prefix", etcd.DefaultPrefix, "with --store etcd://: the key prefix the state lives under, so that several installations share one etcd")
	pf.StringVar(&f.caCert, "etcd-cacert", "", "with --store etcd://: connect over TLS, trusting the CA certificates in this PEM file")
	pf.StringVar(&f.cert, "etcd-cert", "", "with --store etcd://: the client certificate to present over TLS (PEM; with --etcd-key)")
	pf.StringVar(&f.key, "etcd-key", "", "the key of --etcd-cert (PEM)")
	pf.DurationVar(&f.dialTimeout, "etcd-dial-timeout", etcd.DefaultDialTimeout, "with --store etcd://: how long to wait for etcd to answer before giving up")
	pf.StringVar(&f.stateKey, "state-key", "", "file holding the key that seals the state's secrets (base64 of 32 bytes, mode 0600; default: $"+secret.KeyEnv+", else the file next to a SQLite state); with --store etcd:// one of the two is required, the same on every node")
}

// resolve checks --store and, when it names a SQLite file, makes it the
// --state. state is --state, stateGiven whether it was given.
func (f *storeFlags) resolve(state *string, stateGiven bool) error {
	u := strings.TrimSpace(f.url)
	switch {
	case u == "":
		return nil
	case strings.HasPrefix(u, etcdScheme):
		eps, err := parseEtcdURL(u)
		if err != nil {
			return err
		}
		f.endpoints = eps
		return nil
	case strings.Contains(u, "://"):
		return fmt.Errorf("--store %q: want etcd://HOST:PORT[,HOST:PORT...], or the path of a SQLite state file", f.url)
	}
	if stateGiven && *state != u {
		return fmt.Errorf("--store %s and --state %s name two SQLite states: give one", u, *state)
	}
	*state = u
	return nil
}

// parseEtcdURL returns the endpoints of etcd://HOST:PORT[,HOST:PORT...].
func parseEtcdURL(u string) ([]string, error) {
	rest := strings.TrimPrefix(u, etcdScheme)
	rest = strings.TrimSuffix(rest, "/")
	bad := func(why string) error {
		return fmt.Errorf("--store %q: %s: want etcd://HOST:PORT[,HOST:PORT...], such as etcd://127.0.0.1:2379", u, why)
	}
	if rest == "" {
		return nil, bad("no endpoint")
	}
	var eps []string
	for _, hp := range strings.Split(rest, ",") {
		host, port, err := net.SplitHostPort(strings.TrimSpace(hp))
		switch {
		case err != nil:
			return nil, bad(fmt.Sprintf("endpoint %q is not HOST:PORT", hp))
		case host == "":
			return nil, bad(fmt.Sprintf("endpoint %q has no host", hp))
		case strings.ContainsAny(host, "/?#@"):
			return nil, bad(fmt.Sprintf("endpoint %q is not HOST:PORT", hp))
		}
		if n, err := net.LookupPort("tcp", port); err != nil || n <= 0 {
			return nil, bad(fmt.Sprintf("endpoint %q has no valid port", hp))
		}
		eps = append(eps, net.JoinHostPort(host, port))
	}
	return eps, nil
}

// onEtcd reports whether the state is kept in etcd.
func (g *globals) onEtcd() bool { return len(g.backend.endpoints) > 0 }

// storeName names the state for people: the SQLite file, or the etcd
// endpoints and prefix.
func (g *globals) storeName() string {
	if !g.onEtcd() {
		return g.state
	}
	return etcdScheme + strings.Join(g.backend.endpoints, ",") + " (prefix " + g.prefix() + ")"
}

// prefix is --etcd-prefix, ending with "/".
func (g *globals) prefix() string {
	p := g.backend.prefix
	if p == "" {
		p = etcd.DefaultPrefix
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// openEtcd connects to the etcd of --store, and names the state on
// stderr.
func (g *globals) openEtcd(ctx context.Context) (*etcd.Store, error) {
	f := &g.backend
	where := etcdScheme + strings.Join(f.endpoints, ",")
	cfg := etcd.Config{Prefix: g.prefix(), DialTimeout: f.dialTimeout}
	eps := f.endpoints
	if f.caCert != "" || f.cert != "" || f.key != "" {
		tlsCfg, err := etcd.TLSConfig(f.caCert, f.cert, f.key)
		if err != nil {
			return nil, fmt.Errorf("--store %s: %w", where, err)
		}
		cfg.TLS = tlsCfg
		eps = make([]string, len(f.endpoints))
		for i, ep := range f.endpoints {
			eps[i] = "https://" + ep
		}
	}
	cfg.Endpoints = eps
	st, err := etcd.Open(ctx, cfg)
	if err != nil {
		timeout := f.dialTimeout
		if timeout <= 0 {
			timeout = etcd.DefaultDialTimeout
		}
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return nil, fmt.Errorf("--store %s: etcd did not answer at %s within %s (--etcd-dial-timeout): is it running and reachable from here%s?",
				where, strings.Join(f.endpoints, ", "), timeout, tlsHint(cfg.TLS != nil))
		}
		return nil, fmt.Errorf("--store %s: %w", where, err)
	}
	g.announce(where, "", "prefix "+g.prefix())
	return st, nil
}

func tlsHint(tls bool) string {
	if tls {
		return ", and does it serve TLS with a certificate --etcd-cacert trusts"
	}
	return ", and does it serve plain HTTP (give --etcd-cacert for TLS)"
}

// stateSealer returns the key that seals the state's secrets:
// $CONVERGE_STATE_KEY, else the file --state-key, else, for a SQLite
// state, the key file next to it (made 0600 by the first command that may
// write the state). On etcd the key is never made nor kept in etcd: a
// command that may write needs it given, the same on every node.
func (g *globals) stateSealer(dryRun bool) (*secret.Sealer, error) {
	if strings.TrimSpace(os.Getenv(secret.KeyEnv)) != "" {
		return secret.StateSealer("", false, nil)
	}
	if g.backend.stateKey != "" {
		s, err := secret.LoadKeyFile(g.backend.stateKey)
		if err != nil {
			return nil, fmt.Errorf("--state-key: %w", err)
		}
		return s, nil
	}
	if g.onEtcd() {
		if dryRun {
			return nil, nil // nothing is written; sealed values read as an error
		}
		return nil, fmt.Errorf("--store etcd:// needs the key that seals the state's secrets, the same on every node: "+
			"give --state-key FILE or $%s (make one with: head -c 32 /dev/urandom | base64 > state.key && chmod 600 state.key)", secret.KeyEnv)
	}
	statePath, _, err := g.statePath()
	if err != nil {
		return nil, err
	}
	return secret.StateSealer(statePath, !dryRun, nil)
}

// metaKeyID is the state's setting that names the sealing key (its ID,
// which reveals nothing of the key) on etcd, where several nodes must use
// the same key.
const metaKeyID = "state-key-id"

// checkKeyID fails when the etcd state was sealed with another key than
// s, and records s's ID when it names none yet (write: the command may
// write).
func (g *globals) checkKeyID(ctx context.Context, st store.Store, s *secret.Sealer, write bool) error {
	m, ok := st.(store.Meta)
	if !g.onEtcd() || s == nil || !ok {
		return nil
	}
	got, err := m.GetMeta(ctx, metaKeyID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if write {
			return m.SetMeta(ctx, metaKeyID, s.KeyID())
		}
		return nil
	case err != nil:
		return fmt.Errorf("read the state's key ID: %w", err)
	case got != s.KeyID():
		return fmt.Errorf("the state key (key ID %s) is not the one this state's secrets are sealed with (key ID %s): give every node and command the same --state-key or $%s",
			s.KeyID(), got, secret.KeyEnv)
	}
	return nil
}

// liveNodes returns the names of the cluster nodes running on the etcd
// state st.
func (g *globals) liveNodes(ctx context.Context, st *etcd.Store) ([]string, error) {
	ms, err := cluster.Members(ctx, st.Client(), st.Prefix())
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.Name
	}
	return names, nil
}

// openEtcdState opens the etcd state for a command: every command may
// read it; one that converges (write) is refused while nodes run on it,
// since they own the resources (converge push gives them a revision).
func (g *globals) openEtcdState(ctx context.Context, write bool) (store.Store, error) {
	st, err := g.openEtcd(ctx)
	if err != nil {
		return nil, err
	}
	if write {
		names, err := g.liveNodes(ctx, st)
		if err != nil {
			st.Close()
			return nil, err
		}
		if len(names) > 0 {
			st.Close()
			return nil, fmt.Errorf("%s running converge run on this state (%s): they own its resources; publish a revision with converge push instead, or stop them first",
				pluralVerb(len(names), "node", "is", "are"), strings.Join(names, ", "))
		}
	}
	return wrapStore(st), nil
}

// openEtcdForRollback opens the etcd state for converge rollback, shared
// (only the target is set, and the nodes converge it) when nodes run on
// it.
func (g *globals) openEtcdForRollback(ctx context.Context) (store.Store, bool, error) {
	st, err := g.openEtcd(ctx)
	if err != nil {
		return nil, false, err
	}
	names, err := g.liveNodes(ctx, st)
	if err != nil {
		st.Close()
		return nil, false, err
	}
	return wrapStore(st), len(names) > 0, nil
}
