// Package etcdtest starts an etcd server inside a test binary, for the
// tests of what runs on etcd (store/etcd, cluster). Only tests import it,
// so the shipped binary does not carry the etcd server.
package etcdtest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
)

// Start starts a one-member etcd on free loopback ports, tuned for
// speed: a 10 ms tick, no fsync, no logs; with TLS for its clients when
// tlsInfo is set. Free ports are found by listening on port 0; another
// process may take one before etcd does, so it tries a few times.
func Start(dir string, tlsInfo *transport.TLSInfo) (*embed.Etcd, error) {
	var err error
	for attempt := range 5 {
		cfg := embed.NewConfig()
		cfg.Dir = fmt.Sprintf("%s/%d", dir, attempt)
		cfg.TickMs, cfg.ElectionMs = 10, 100
		cfg.UnsafeNoFsync = true
		cfg.LogOutputs = []string{"/dev/null"}
		var client, peer *url.URL
		if client, err = FreeURL(); err != nil {
			return nil, err
		}
		if peer, err = FreeURL(); err != nil {
			return nil, err
		}
		if tlsInfo != nil {
			client.Scheme = "https"
			cfg.ClientTLSInfo = *tlsInfo
		}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*client}, []url.URL{*client}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*peer}
		cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
		var e *embed.Etcd
		if e, err = embed.StartEtcd(cfg); err != nil {
			continue
		}
		select {
		case <-e.Server.ReadyNotify():
			return e, nil
		case <-time.After(30 * time.Second):
			e.Close()
			return nil, errors.New("etcd not ready within 30s")
		}
	}
	return nil, err
}

// FreeURL is a loopback URL on a port that was free a moment ago.
func FreeURL() (*url.URL, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer l.Close()
	return &url.URL{Scheme: "http", Host: l.Addr().String()}, nil
}

// Prefix returns a prefix no other test uses.
func Prefix(t testing.TB) string {
	b := make([]byte, 6)
	rand.Read(b)
	return fmt.Sprintf("/test/%s-%s/", strings.ReplaceAll(t.Name(), "/", "_"), hex.EncodeToString(b))
}

// Main is a TestMain: it starts one etcd for the whole test binary, in a
// temporary directory, sets *endpoint to its client address, runs the
// tests, stops etcd and exits with the tests' code.
func Main(m *testing.M, endpoint *string) {
	os.Exit(run(m, endpoint))
}

func run(m *testing.M, endpoint *string) int {
	dir, err := os.MkdirTemp("", "converge-etcd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	e, err := Start(dir, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start etcd:", err)
		return 1
	}
	defer func() {
		e.Close()
		<-e.Err()
	}()
	*endpoint = e.Clients[0].Addr().String()
	return m.Run()
}
