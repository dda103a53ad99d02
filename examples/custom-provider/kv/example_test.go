package kv_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/convergehq/converge/controller"
	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/examples/custom-provider/kv"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/store/memory"
	"github.com/convergehq/converge/store/sqlite"
)

const manifests = `kind: kv.Entry
metadata: {name: db}
spec: {key: db-host, value: db.internal, secret: hunter2}
---
kind: kv.Entry
metadata: {name: app}
spec:
  key: app-config
  value: "db=${kv.Entry/db.outputs.key} v${kv.Entry/db.outputs.version}"
`

// Converge once, as converge apply does: build a registry of providers,
// load the manifests, open the state, and Apply.
func Example() {
	ctx := context.Background()

	// The providers, in a registry: it gives the loader the schemas and
	// the engine the provider of each kind.
	entries := &kv.Provider{}
	reg, err := provider.NewRegistry(entries)
	if err != nil {
		log.Fatal(err)
	}

	// The desired state: manifest.Load reads files and directories,
	// LoadBytes manifests held in memory. Either validates the whole set
	// and returns every problem at once, with its file and line.
	rv, err := manifest.LoadBytes(map[string][]byte{"app.yaml": []byte(manifests)}, reg)
	if err != nil {
		log.Fatal(err)
	}

	// The state: an SQLite file (memory.New() keeps it in the process).
	dir, err := os.MkdirTemp("", "converge-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(ctx, filepath.Join(dir, "state.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	// One engine per Apply. Load reads what earlier runs recorded.
	eng := engine.New(reg, st, engine.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := eng.Load(ctx); err != nil {
		log.Fatal(err)
	}
	// The engine deletes whatever left the manifests: refuse, as the CLI
	// does, a set that declares nothing or deletes over half of the state.
	guard := engine.Guard{MaxDelete: engine.DeleteLimit{Percent: 50, IsPercent: true}}
	if err := guard.Check(eng.Records(), rv); err != nil {
		log.Fatal(err)
	}
	// Apply returns when everything is Ready or has failed in a way
	// retrying cannot fix; the report says which.
	rep, err := eng.Apply(ctx, rv)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("ok=%v ready=%d creates=%d\n", rep.OK(), rep.Ready, rep.Stats.Creates)

	obs, _ := entries.Observe(ctx, provider.Request{Spec: map[string]any{"key": "app-config"}})
	fmt.Println(obs.State["value"])
	// Output:
	// ok=true ready=2 creates=2
	// db=db-host v1
}

// Run as a daemon, as converge run does: the controller targets the
// manifests' revision, loads them again on every Reload (and, given Paths,
// whenever the files change), observes everything every Resync to find
// drift, and judges each revision; Run returns when ctx ends.
func Example_daemon() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	entries := &kv.Provider{}
	reg, err := provider.NewRegistry(entries)
	if err != nil {
		log.Fatal(err)
	}
	var mu sync.Mutex
	host := "db.internal"
	load := func() (*manifest.Revision, error) { // manifest.Load, for files
		mu.Lock()
		defer mu.Unlock()
		return manifest.LoadBytes(map[string][]byte{"db.yaml": []byte(
			"kind: kv.Entry\nmetadata: {name: db}\nspec: {key: db-host, value: " + host + "}\n")}, reg)
	}
	rv, err := load()
	if err != nil {
		log.Fatal(err) // report invalid manifests before starting
	}
	st := memory.New()
	quiet := slog.New(slog.DiscardHandler)
	c := controller.New(engine.New(reg, st, engine.Options{Logger: quiet}), st, controller.Options{
		Load:   load,
		Guard:  engine.Guard{MaxDelete: engine.DeleteLimit{Percent: 50, IsPercent: true}},
		Resync: 50 * time.Millisecond, // 30s by default
		Logger: quiet,
	})
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, rv) }()

	// Only so that the example can print: wait until the entry holds want.
	await := func(want string) {
		for {
			obs, _ := entries.Observe(ctx, provider.Request{Spec: map[string]any{"key": "db-host"}})
			if obs.State["value"] == want {
				fmt.Println(want)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	await("db.internal")

	// The manifests change; Reload (a SIGHUP, an API call) converges them.
	mu.Lock()
	host = "db2.internal"
	mu.Unlock()
	c.Reload()
	await("db2.internal")

	// Someone changes the entry behind converge's back; the next resync
	// observes every resource again and puts it back.
	if _, err := entries.Update(ctx, provider.Request{Spec: map[string]any{"key": "db-host", "value": "defaced", "secret": ""}}); err != nil {
		log.Fatal(err)
	}
	await("db2.internal")

	cancel() // Run lets the calls in flight finish and saves the state
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	// Output:
	// db.internal
	// db2.internal
	// db2.internal
}
