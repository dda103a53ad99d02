// Command embed is a Go program that embeds converge: it keeps the
// key/value entries its manifests declare (examples/custom-provider's kv
// provider) converged, as a daemon, with its state in SQLite.
//
//	go run ./examples/embed -f manifests -state /tmp/embed.db
//
// It reloads when the manifests change and on SIGHUP, observes everything
// every -resync, and on SIGINT or SIGTERM lets the calls in flight finish.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/convergehq/converge/controller"
	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/examples/custom-provider/kv"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/store/sqlite"
)

func main() {
	dir := flag.String("f", "manifests", "manifest directory")
	state := flag.String("state", "embed.db", "state database")
	resync := flag.Duration("resync", 30*time.Second, "observe everything this often")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, config{dir: *dir, state: *state, resync: *resync, kv: &kv.Provider{}, log: log}); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// config is what run needs.
type config struct {
	dir, state string
	resync     time.Duration
	kv         *kv.Provider
	log        *slog.Logger
}

// run converges the manifests in cfg.dir until ctx is done.
func run(ctx context.Context, cfg config) error {
	reg, err := provider.NewRegistry(cfg.kv)
	if err != nil {
		return err
	}
	load := func() (*manifest.Revision, error) { return manifest.Load([]string{cfg.dir}, reg) }
	rv, err := load()
	if err != nil {
		return err // every problem, with file and line
	}
	st, err := sqlite.Open(ctx, cfg.state)
	if err != nil {
		return err
	}
	defer st.Close()
	e := engine.New(reg, st, engine.Options{Workers: 4, Logger: cfg.log})
	c := controller.New(e, st, controller.Options{
		Load:   load,
		Paths:  []string{cfg.dir},
		Guard:  engine.Guard{MaxDelete: engine.DeleteLimit{Percent: 50, IsPercent: true}},
		Resync: cfg.resync,
		Logger: cfg.log,
	})
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			c.Reload()
		}
	}()
	return c.Run(ctx, rv)
}
