package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"
)

// ServerConfig configures a Server.
type ServerConfig struct {
	// Addr is host:port to listen on; a port of 0 picks a free one.
	Addr string
	// Token is the API token; an address that is not loopback requires one.
	Token string
	// CertFile and KeyFile, both or neither, serve HTTPS.
	CertFile, KeyFile string
	Logger            *slog.Logger
}

// Server serves a Handler on an address of its own.
type Server struct {
	h   *Handler
	ln  net.Listener
	srv *http.Server
	tls bool
	log *slog.Logger
}

// CheckListen refuses to serve the API on an address that is not loopback
// without a token: anyone who can reach it could roll back or read every
// resource.
func CheckListen(addr, token string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: want host:port: %v", addr, err)
	}
	if token != "" || loopbackHost(host) {
		return nil
	}
	where := host
	if where == "" {
		where = "every interface"
	}
	return fmt.Errorf("listen address %q is not loopback (%s): give an API token (--api-token-file or CONVERGE_API_TOKEN), or listen on 127.0.0.1", addr, where)
}

// Listen checks cfg, loads its certificate and listens, so that an address
// in use or a bad certificate is an error at start-up. Serve serves h.
func Listen(h *Handler, cfg ServerConfig) (*Server, error) {
	if err := CheckListen(cfg.Addr, cfg.Token); err != nil {
		return nil, err
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return nil, errors.New("TLS needs both a certificate (--tls-cert) and its key (--tls-key)")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{h: h, log: cfg.Logger}
	s.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Above the plan's timeout; a stream extends it write by write.
		WriteTimeout:   h.cfg.PlanTimeout + 30*time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("TLS certificate: %w", err)
		}
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.tls = true
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("listen on %s: the address is already in use (by another converge run?): give this one its own address with --listen ADDR, or serve no API with --listen \"\": %w", cfg.Addr, err)
		}
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	s.ln = ln
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL is the server's base URL.
func (s *Server) URL() string {
	scheme := "http"
	if s.tls {
		scheme = "https"
	}
	return scheme + "://" + s.ln.Addr().String()
}

// Serve serves until ctx is done, then ends the streams and lets the
// requests in flight finish (for 5 seconds at most).
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() {
		var err error
		if s.tls {
			err = s.srv.ServeTLS(s.ln, "", "")
		} else {
			err = s.srv.Serve(s.ln)
		}
		errc <- err
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve the API: %w", err)
	case <-ctx.Done():
	}
	s.h.CloseStreams()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	<-errc
	if err != nil {
		_ = s.srv.Close()
		return fmt.Errorf("stop the API: %w", err)
	}
	return nil
}
