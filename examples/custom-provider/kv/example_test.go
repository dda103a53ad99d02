package kv_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"

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

// Run as a daemon, as converge run does: start the workers once, then set
// a new target whenever the manifests change and resync now and then to
// find drift.
func Example_daemon() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	entries := &kv.Provider{}
	reg, err := provider.NewRegistry(entries)
	if err != nil {
		log.Fatal(err)
	}
	eng := engine.New(reg, memory.New(), engine.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := eng.Load(ctx); err != nil { // the records of earlier runs
		log.Fatal(err)
	}
	wg := eng.Start(ctx)

	value := func() any {
		obs, _ := entries.Observe(ctx, provider.Request{Spec: map[string]any{"key": "db-host"}})
		return obs.State["value"]
	}
	for _, host := range []string{"db.internal", "db2.internal"} {
		// A file watcher would load the manifests again on each change.
		rv, err := manifest.LoadBytes(map[string][]byte{"db.yaml": []byte(
			"kind: kv.Entry\nmetadata: {name: db}\nspec: {key: db-host, value: " + host + "}\n")}, reg)
		if err != nil {
			log.Fatal(err) // a daemon logs it and keeps its current target
		}
		if err := eng.SetTarget(ctx, rv); err != nil {
			log.Fatal(err)
		}
		if err := eng.WaitIdle(ctx); err != nil { // only so that the example can print
			log.Fatal(err)
		}
		fmt.Println(value())
	}

	// Someone changes the entry behind converge's back; the next resync
	// observes every resource again and puts it back.
	if _, err := entries.Update(ctx, provider.Request{Spec: map[string]any{"key": "db-host", "value": "defaced", "secret": ""}}); err != nil {
		log.Fatal(err)
	}
	eng.ResyncAll()
	if err := eng.WaitIdle(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println(value())

	eng.Stop(wg) // finishes the calls in flight and saves the state
	// Output:
	// db.internal
	// db2.internal
	// db2.internal
}
