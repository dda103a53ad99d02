package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/convergehq/converge/alert"
	"github.com/convergehq/converge/api"
	"github.com/convergehq/converge/controller"
	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/metrics"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/store"
)

// serveFlags are converge run's flags of the HTTP API (see docs/api.md).
type serveFlags struct {
	listen    string
	tokenFile string
	tlsCert   string
	tlsKey    string
	cmd       *cobra.Command

	// Set by a cluster node before serve (cluster.go): the cluster view
	// and the node's gauges.
	cluster      api.Cluster
	clusterStats func() metrics.ClusterStats
}

func (f *serveFlags) register(cmd *cobra.Command) {
	f.cmd = cmd
	cmd.Flags().StringVar(&f.listen, "listen", defaultListen, "serve the HTTP API, the stream and /metrics on this address (empty: none; default: $CONVERGE_LISTEN when set); an address that is not loopback needs an API token")
	cmd.Flags().StringVar(&f.tokenFile, "api-token-file", "", "file holding the token every /api/ request must send as Authorization: Bearer TOKEN (default: $CONVERGE_API_TOKEN)")
	cmd.Flags().StringVar(&f.tlsCert, "tls-cert", "", "serve HTTPS with this certificate (PEM; with --tls-key)")
	cmd.Flags().StringVar(&f.tlsKey, "tls-key", "", "the key of --tls-cert (PEM)")
}

// defaultListen is --listen's default, when $CONVERGE_LISTEN is not set.
const defaultListen = "127.0.0.1:7070"

// addr returns the address to serve on: --listen's when given, else
// $CONVERGE_LISTEN's when set (empty: none), else the default.
func (f *serveFlags) addr() string {
	if f.cmd != nil && f.cmd.Flags().Changed("listen") {
		return f.listen
	}
	if v, ok := os.LookupEnv("CONVERGE_LISTEN"); ok {
		return strings.TrimSpace(v)
	}
	return f.listen
}

// token returns the API token: --api-token-file's, else
// $CONVERGE_API_TOKEN; empty when neither is set.
func (f *serveFlags) token() (string, error) {
	if f.tokenFile == "" {
		return strings.TrimSpace(os.Getenv("CONVERGE_API_TOKEN")), nil
	}
	b, err := os.ReadFile(f.tokenFile)
	if err != nil {
		return "", fmt.Errorf("--api-token-file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("--api-token-file %s: the file is empty", f.tokenFile)
	}
	return t, nil
}

// serve starts the API of the running controller c, unless the address
// (see addr) is empty. It returns once the server listens, and the
// function that stops it. An address in use is an error here, at
// start-up, the default one too: two daemons on one machine each need
// their own address.
// Its /metrics reports e's reconciles, work queue and provider calls: call
// it before c runs.
func (f *serveFlags) serve(ctx context.Context, c *controller.Controller, e *engine.Engine, reg *provider.Registry, st store.Store, alerts *alert.Notifier, log *slog.Logger) (stop func(), err error) {
	listen := f.addr()
	if listen == "" {
		return func() {}, nil
	}
	token, err := f.token()
	if err != nil {
		return nil, err
	}
	watched, ok := st.(store.Watcher)
	if !ok {
		return nil, errors.New("the state cannot be watched: the API's stream and metrics need it")
	}
	feed := struct {
		store.Store
		store.Watcher
	}{st, watched}
	m := metrics.New()
	if alerts != nil {
		m.Alerts(alerts.Stats)
	} else {
		m.Alerts(nil)
	}
	if f.clusterStats != nil {
		m.Cluster(f.clusterStats)
	}
	live := c.Live(reg)
	h := api.New(api.Config{Views: live, Actions: live, Readiness: live, Feed: feed, Metrics: m.Handler(log), Cluster: f.cluster, Token: token, Logger: log})
	srv, err := api.Listen(h, api.ServerConfig{Addr: listen, Token: token, CertFile: f.tlsCert, KeyFile: f.tlsKey, Logger: log})
	if err != nil {
		return nil, err
	}
	e.Instrument(m)
	log.Info("serving the API", "url", srv.URL(), "token", token != "")
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		m.Follow(ctx, feed, log, nil)
	}()
	go func() {
		defer wg.Done()
		if err := srv.Serve(ctx); err != nil {
			log.Error("api", "err", err)
		}
	}()
	return func() { cancel(); wg.Wait() }, nil
}
