// Command cloudsim runs the simulated cloud API server of package cloudsim.
//
//	cloudsim -listen 127.0.0.1:9000 -qps 20 -burst 20 -lag 2s -error-rate 0.3
//
// It logs with log/slog to stderr and shuts down gracefully on SIGINT or
// SIGTERM. See docs/cloudsim.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/convergehq/converge/cloudsim"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "cloudsim:", err)
		os.Exit(1)
	}
}

// options are the parsed command line.
type options struct {
	listen   string
	logLevel slog.Level
	logJSON  bool
	grace    time.Duration
	cfg      cloudsim.Config
}

// parseFlags turns args into options.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var (
		o                                       options
		latency, jitter, hangFor, lag, delay, t time.Duration
		noIdem                                  bool
	)
	fs := flag.NewFlagSet("cloudsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:9000", "listen address")
	fs.Float64Var(&o.cfg.QPS, "qps", 0, "requests per second the token bucket allows over all API requests (0: no limit)")
	fs.IntVar(&o.cfg.Burst, "burst", 1, "token bucket size")
	fs.DurationVar(&lag, "lag", 0, "how far reads trail writes (eventual consistency)")
	fs.DurationVar(&delay, "provision-delay", 0, "how long instances and load balancers stay pending")
	fs.BoolVar(&noIdem, "no-idempotency", false, "ignore Idempotency-Key headers")
	fs.DurationVar(&t, "idempotency-ttl", 24*time.Hour, "how long idempotency keys are remembered")
	fs.BoolVar(&o.cfg.RejectDuplicates, "reject-duplicates", false, "answer 409 to a create that would duplicate a live name (default: create the duplicate)")
	fs.Float64Var(&o.cfg.Faults.ErrorRate, "error-rate", 0, "fraction of API requests answered 500/503 without acting")
	fs.Float64Var(&o.cfg.Faults.HangRate, "hang-rate", 0, "fraction of API requests that hang for -hang-for, then answer 504 without acting")
	fs.DurationVar(&hangFor, "hang-for", 30*time.Second, "how long a hung request blocks")
	fs.Float64Var(&o.cfg.Faults.AmbiguousRate, "ambiguous-rate", 0, "fraction of successful writes committed and then answered 500")
	fs.DurationVar(&latency, "latency", 0, "fixed latency added to every API request")
	fs.DurationVar(&jitter, "latency-jitter", 0, "random extra latency, uniform in [0, jitter)")
	fs.Uint64Var(&o.cfg.Seed, "seed", 1, "seed for object IDs and fault draws")
	fs.DurationVar(&o.grace, "shutdown-grace", 5*time.Second, "how long in-flight requests may finish on shutdown")
	fs.TextVar(&o.logLevel, "log-level", slog.LevelInfo, "log level: debug (one line per request), info, warn, error")
	fs.BoolVar(&o.logJSON, "log-json", false, "log JSON lines instead of text")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.cfg.Lag, o.cfg.ProvisionDelay, o.cfg.IdempotencyTTL = lag, delay, t
	o.cfg.DisableIdempotency = noIdem
	o.cfg.Faults.Latency = cloudsim.Duration(latency)
	o.cfg.Faults.LatencyJitter = cloudsim.Duration(jitter)
	o.cfg.Faults.HangFor = cloudsim.Duration(hangFor)
	if err := o.cfg.Faults.Validate(); err != nil {
		return o, fmt.Errorf("faults: %w", err)
	}
	if o.cfg.QPS < 0 || o.cfg.Burst < 1 || lag < 0 || delay < 0 {
		return o, errors.New("-qps, -lag and -provision-delay must not be negative and -burst must be at least 1")
	}
	return o, nil
}

func run(args []string, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	hopts := &slog.HandlerOptions{Level: o.logLevel}
	var h slog.Handler = slog.NewTextHandler(stderr, hopts)
	if o.logJSON {
		h = slog.NewJSONHandler(stderr, hopts)
	}
	log := slog.New(h)
	o.cfg.Logger = log

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.listen, err)
	}
	srv := cloudsim.New(o.cfg)
	log.Info("cloudsim listening", "addr", ln.Addr().String(), "qps", o.cfg.QPS, "burst", o.cfg.Burst,
		"lag", o.cfg.Lag, "provisionDelay", o.cfg.ProvisionDelay, "idempotency", !o.cfg.DisableIdempotency,
		"rejectDuplicates", o.cfg.RejectDuplicates, "seed", o.cfg.Seed, "faults", o.cfg.Faults)
	if err := srv.Serve(ctx, ln, o.grace); err != nil {
		return err
	}
	log.Info("cloudsim stopped")
	return nil
}
