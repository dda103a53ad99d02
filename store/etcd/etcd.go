package etcd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/convergehq/converge/store"
)

// Defaults of Config.
const (
	DefaultPrefix      = "/converge/"
	DefaultDialTimeout = 5 * time.Second
	// DefaultMaxRequestBytes is etcd's default --max-request-bytes.
	DefaultMaxRequestBytes = 1536 * 1024
)

// requestOverhead is what a request carries beside the value it writes:
// the keys, the comparisons and the other operations of its transaction.
const requestOverhead = 4096

var (
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("etcd store is closed")
	// ErrTooLarge is matched by the error of a write whose value does not
	// fit in one etcd request.
	ErrTooLarge = errors.New("value too large for one etcd request")
)

// Config says which etcd to use and where in it.
type Config struct {
	// Endpoints are the etcd members' client URLs ("127.0.0.1:2379",
	// "https://etcd-1:2379").
	Endpoints []string
	// Prefix is the key prefix everything is kept under; DefaultPrefix
	// when empty. A "/" is added when it does not end with one, so that
	// "/a" and "/ab" stay apart.
	Prefix string
	// TLS, when set, is used to connect to the endpoints (see TLSConfig).
	TLS *tls.Config
	// DialTimeout bounds the first contact with etcd in Open;
	// DefaultDialTimeout when zero.
	DialTimeout time.Duration
	// MaxRequestBytes is the largest request the etcd cluster takes (its
	// --max-request-bytes); DefaultMaxRequestBytes when zero. Larger
	// values are refused before they are sent.
	MaxRequestBytes int
	// Client, when set, is used instead of a client made from Endpoints
	// and TLS; Close leaves it open.
	Client *clientv3.Client
}

// Store is a store.Store kept in etcd. Its methods are safe for
// concurrent use.
type Store struct {
	cli     *clientv3.Client
	ownsCli bool
	prefix  string
	maxReq  int

	eventMu sync.Mutex // serializes this process's AddEvent calls

	closeOnce sync.Once
	done      chan struct{} // closed by Close
}

var (
	_ store.Store                  = (*Store)(nil)
	_ store.Meta                   = (*Store)(nil)
	_ store.RevisionPruner         = (*Store)(nil)
	_ store.ConditionalRecordStore = (*Store)(nil)
	_ store.Fencer                 = (*Store)(nil)
	_ store.Watcher                = (*Store)(nil)
)

// Open connects to etcd and returns the Store under cfg.Prefix. It fails,
// naming the endpoints, when etcd does not answer within the dial
// timeout.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	timeout := cfg.DialTimeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	maxReq := cfg.MaxRequestBytes
	if maxReq <= 0 {
		maxReq = DefaultMaxRequestBytes
	}
	s := &Store{cli: cfg.Client, prefix: prefix, maxReq: maxReq, done: make(chan struct{})}
	if s.cli == nil {
		if len(cfg.Endpoints) == 0 {
			return nil, errors.New("etcd: open: no endpoints")
		}
		cli, err := clientv3.New(clientv3.Config{
			Endpoints:   cfg.Endpoints,
			DialTimeout: timeout,
			TLS:         cfg.TLS,
			Logger:      zap.NewNop(),
			// gRPC's own limit must not refuse what etcd takes.
			MaxCallSendMsgSize: max(2*1024*1024, maxReq+requestOverhead),
		})
		if err != nil {
			return nil, fmt.Errorf("etcd: open %s: %w", strings.Join(cfg.Endpoints, ","), err)
		}
		s.cli, s.ownsCli = cli, true
	}
	where := strings.Join(s.cli.Endpoints(), ",")
	// The client connects lazily: make sure etcd answers.
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := s.cli.Get(cctx, s.key(lastChangeKey), clientv3.WithKeysOnly()); err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s: %w", timeout, err)
		}
		s.Close()
		return nil, fmt.Errorf("etcd: open %s: %w", where, err)
	}
	return s, nil
}

// TLSConfig returns the TLS configuration of a client that trusts the CA
// certificates in caFile (the system's when empty) and presents the
// certificate in certFile with the key in keyFile (none when both are
// empty).
func TLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("etcd: TLS CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd: TLS CA %s: no PEM certificate in it", caFile)
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("etcd: TLS client certificate %q and key %q: give both or neither", certFile, keyFile)
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("etcd: TLS client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Close ends every watch and, when Open made the client, closes it. Every
// later call fails with ErrClosed. It is idempotent.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.done)
		if s.ownsCli {
			if cerr := s.cli.Close(); cerr != nil && !errors.Is(cerr, context.Canceled) {
				err = fmt.Errorf("etcd: close: %w", cerr)
			}
		}
	})
	return err
}

// Client returns the store's etcd client, for what shares the store's
// etcd (a cluster node's membership): it stays open until Close.
func (s *Store) Client() *clientv3.Client { return s.cli }

// Prefix returns the key prefix the store lives under, ending with "/".
func (s *Store) Prefix() string { return s.prefix }

// check returns the reason a call cannot proceed.
func (s *Store) check(ctx context.Context) error {
	select {
	case <-s.done:
		return ErrClosed
	default:
	}
	return ctx.Err()
}

// Keys, under the prefix.
const (
	stateKeys     = "state/"
	recordKeys    = stateKeys + "records/"
	targetKey     = stateKeys + "target"
	lastChangeKey = "lastchange"
	revisionKeys  = "revisions/"
	eventKeys     = "events/"
	fenceKeys     = "fences/"
	metaKeys      = "meta/"
)

func (s *Store) key(k string) string { return s.prefix + k }

// logChange is the operation every transaction that changes a record or
// the target makes too: the key's ModRevision is then the latest change's
// number (see LastSeq).
func (s *Store) logChange() clientv3.Op { return clientv3.OpPut(s.key(lastChangeKey), "") }

// fits returns the error of a write of data to key that etcd would refuse
// as too large.
func (s *Store) fits(key string, data []byte) error {
	if n := len(key) + len(data) + requestOverhead; n > s.maxReq {
		return fmt.Errorf("%w: %d bytes, and etcd takes at most %d bytes in one request (its --max-request-bytes; Config.MaxRequestBytes)",
			ErrTooLarge, len(data), s.maxReq)
	}
	return nil
}

// tooLarge returns err, saying the size of data, when etcd refused a
// request as too large: its limit is below Config.MaxRequestBytes.
func tooLarge(err error, data []byte) error {
	// etcd refuses a request above its limit; gRPC one above the limit
	// and a margin.
	if errors.Is(err, rpctypes.ErrRequestTooLarge) || status.Code(err) == codes.ResourceExhausted {
		return fmt.Errorf("%w: %d bytes, refused by etcd as larger than its --max-request-bytes: %v", ErrTooLarge, len(data), err)
	}
	return err
}

// txn commits a transaction: if cmps hold, then, else otherwise.
func (s *Store) txn(ctx context.Context, cmps []clientv3.Cmp, then, els []clientv3.Op) (*clientv3.TxnResponse, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	return s.cli.Txn(ctx).If(cmps...).Then(then...).Else(els...).Commit()
}

// get reads key, or the keys under it with clientv3.WithPrefix.
func (s *Store) get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	return s.cli.Get(ctx, key, opts...)
}
