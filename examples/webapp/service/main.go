// Command service is the web application of examples/webapp: a small HTTP
// service that converge runs as a process.Process, with its database from
// postgres resources.
//
// It reads DATABASE_URL (a PostgreSQL DSN) and PORT from its environment
// and serves:
//   - /healthz: 200 when the database answers SELECT 1, 503 otherwise;
//   - /: which database it is connected to and as whom, and a visit
//     counter kept in a table it creates when missing.
//
// It stops gracefully on SIGTERM or SIGINT.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// db is one connection, made when first needed and made again after a
// failure: the service starts, and says it is unhealthy, while the
// database is down.
type db struct {
	dsn  string
	mu   sync.Mutex
	conn *pgx.Conn
}

// with runs fn on the connection, one caller at a time.
func (d *db) with(ctx context.Context, fn func(*pgx.Conn) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn == nil {
		c, err := pgx.Connect(ctx, d.dsn)
		if err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		if _, err := c.Exec(ctx, `CREATE TABLE IF NOT EXISTS visits (id int PRIMARY KEY, count bigint NOT NULL)`); err != nil {
			c.Close(ctx)
			return fmt.Errorf("create table visits: %w", err)
		}
		d.conn = c
	}
	err := fn(d.conn)
	if err != nil && d.conn.IsClosed() {
		d.conn = nil
	}
	return err
}

func (d *db) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn != nil {
		d.conn.Close(context.Background())
	}
}

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	dsn, port := os.Getenv("DATABASE_URL"), os.Getenv("PORT")
	if dsn == "" || port == "" {
		log.Error("DATABASE_URL and PORT must be set")
		os.Exit(2)
	}
	if _, err := pgx.ParseConfig(dsn); err != nil {
		log.Error("DATABASE_URL is not a PostgreSQL DSN", "err", err)
		os.Exit(2)
	}
	d := &db{dsn: dsn}
	defer d.close()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		err := d.with(ctx, func(c *pgx.Conn) error {
			var one int
			return c.QueryRow(ctx, "SELECT 1").Scan(&one)
		})
		if err != nil {
			log.Warn("health check", "err", err)
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		var name, user string
		var visits int64
		err := d.with(ctx, func(c *pgx.Conn) error {
			if err := c.QueryRow(ctx, "SELECT current_database(), current_user").Scan(&name, &user); err != nil {
				return err
			}
			return c.QueryRow(ctx, `INSERT INTO visits (id, count) VALUES (1, 1)
				ON CONFLICT (id) DO UPDATE SET count = visits.count + 1 RETURNING count`).Scan(&visits)
		})
		if err != nil {
			log.Error("visit", "err", err)
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "connected to database %s as %s; visit %d\n", name, user, visits)
	})

	srv := &http.Server{Addr: ":" + port, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	log.Info("listening", "port", port)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}
