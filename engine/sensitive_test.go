package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/secret"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/sqlite"
)

// generated is the secret the gen.Password kind makes up, as a Terraform
// random_password does: the provider returns it as an output and keeps it
// in its private state.
const generated = "gen-Secret-9f8e7d6c5b4a"

// sensitiveWorld is a provider whose gen.Password outputs a generated
// secret and whose gen.Consumer takes it through a reference, failing once
// with an error that echoes it.
func sensitiveWorld() (*providertest.Funcs, *sync.Map) {
	objects := &sync.Map{}
	failed := false
	var mu sync.Mutex
	p := &providertest.Funcs{
		ProviderName: "gen",
		KindSchemas: []provider.Schema{
			{Kind: "gen.Password", Fields: map[string]provider.Field{"length": {Type: provider.Int}},
				Outputs: []string{"result", "length"}, SensitiveOutputs: []string{"result"}, SealPrivate: true},
			{Kind: "gen.Consumer", Fields: map[string]provider.Field{"value": {Type: provider.String, Required: true}},
				Outputs: []string{"value"}},
		},
		ObserveFn: func(_ context.Context, req provider.Request) (provider.Observation, error) {
			v, ok := objects.Load(req.ID)
			if !ok {
				return provider.Observation{}, nil
			}
			o := v.(map[string]any)
			if req.Kind == "gen.Password" {
				return provider.Observation{Exists: true, State: map[string]any{"length": o["length"]},
					Outputs: map[string]any{"result": generated, "length": o["length"]}, Private: map[string]string{"state": `{"result":"` + generated + `"}`}}, nil
			}
			return provider.Observation{Exists: true, State: o, Outputs: o}, nil
		},
		CreateFn: func(_ context.Context, req provider.Request) (provider.Result, error) {
			if req.Kind == "gen.Password" {
				objects.Store(req.ID, map[string]any{"length": req.Spec["length"]})
				return provider.Result{Outputs: map[string]any{"result": generated, "length": req.Spec["length"]},
					Private: map[string]string{"state": `{"result":"` + generated + `"}`}}, nil
			}
			mu.Lock()
			first := !failed
			failed = true
			mu.Unlock()
			if first {
				return provider.Result{}, provider.Retryable(fmt.Errorf("the API refused value %q", req.Spec["value"]))
			}
			objects.Store(req.ID, map[string]any{"value": req.Spec["value"]})
			return provider.Result{Outputs: map[string]any{"value": req.Spec["value"]}}, nil
		},
		DeleteFn: func(_ context.Context, req provider.Request) error {
			objects.Delete(req.ID)
			return nil
		},
	}
	return p, objects
}

// TestSensitiveOutputsFollowReferences: a kind's sensitive output is
// sealed at rest, and so is every value built from it (a dependent's
// applied spec and outputs) and the kind's private state; errors that
// echo it are redacted; in memory the values are whole.
func TestSensitiveOutputsFollowReferences(t *testing.T) {
	p, objects := sensitiveWorld()
	reg, err := provider.NewRegistry(p)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	sealer, err := secret.StateSealer(path, true, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	opts := Options{Workers: 2, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Sealer: sealer, BackoffBase: time.Millisecond, BackoffMax: 10 * time.Millisecond}
	ctx := context.Background()
	rv, err := manifest.LoadBytes(map[string][]byte{"m.yaml": []byte(`kind: gen.Password
metadata: {name: p}
spec: {length: 24}
---
kind: gen.Consumer
metadata: {name: c}
spec: {value: "password=${gen.Password/p.outputs.result} user=app"}
`)}, reg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e := New(reg, st, opts)
	if err := e.Load(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := e.Apply(ctx, rv)
	if err != nil || !rep.OK() {
		t.Fatalf("apply: %v, %+v", err, rep)
	}
	v, ok := objects.Load("gen.Consumer/c")
	if !ok || v.(map[string]any)["value"] != "password="+generated+" user=app" {
		t.Fatalf("the consumer got %v; want the generated secret in its value", v)
	}
	if b := stateBytes(t, path); bytes.Contains(b, []byte(generated)) {
		t.Errorf("the state holds the generated secret in clear")
	}
	evs, err := st.ListEvents(ctx, store.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	refused := false
	for _, ev := range evs {
		if strings.Contains(ev.Message, generated) {
			t.Errorf("event %s holds the secret: %q", ev.Reason, ev.Message)
		}
		refused = refused || strings.Contains(ev.Message, "the API refused value")
	}
	if !refused {
		t.Errorf("no event records the refused create (the premise: an error echoed the secret); events: %+v", evs)
	}
	if strings.Contains(logs.String(), generated) {
		t.Errorf("the log holds the secret:\n%s", logs.String())
	}

	// Read back raw, the values are sealed; opened by an engine, whole.
	recs, err := st.ListRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		switch r.ID {
		case "gen.Password/p":
			if !secret.IsSealed(fmt.Sprint(r.Outputs["result"])) || !secret.IsSealed(r.Private["state"]) {
				t.Errorf("stored password record: outputs %v private %v; want result and state sealed", r.Outputs, r.Private)
			}
			if r.Outputs["length"] != int64(24) && fmt.Sprint(r.Outputs["length"]) != "24" {
				t.Errorf("stored outputs.length = %v; a value that is not secret stays as it is", r.Outputs["length"])
			}
		case "gen.Consumer/c":
			if !secret.IsSealed(fmt.Sprint(r.AppliedSpec["value"])) || !secret.IsSealed(fmt.Sprint(r.Outputs["value"])) {
				t.Errorf("stored consumer record: spec %v outputs %v; want the value built from the secret sealed", r.AppliedSpec, r.Outputs)
			}
		}
	}
	e2 := New(reg, st, opts)
	if err := e2.Load(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range e2.Records() {
		if r.ID == "gen.Password/p" && (r.Outputs["result"] != generated || r.Private["state"] != `{"result":"`+generated+`"}`) {
			t.Errorf("opened record: outputs %v private %v; want them whole", r.Outputs, r.Private)
		}
	}
	if rep, err := e2.Apply(ctx, nil); err != nil || !rep.OK() {
		t.Fatalf("destroy: %v %+v", err, rep)
	}

	t.Run("without the key", func(t *testing.T) {
		e := New(reg, st, Options{Logger: slog.New(slog.DiscardHandler)})
		st2, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st2.Close()
		r := store.Record{ID: "gen.Password/x", Kind: "gen.Password", Name: "x", Private: map[string]string{"state": recsPrivate(recs)}}
		if err := st2.PutRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
		e = New(reg, st2, Options{Logger: slog.New(slog.DiscardHandler)})
		if err := e.Load(ctx); err == nil || !errors.Is(err, errNoKey) && !strings.Contains(err.Error(), "sealed") {
			t.Errorf("Load of a sealed private state without the key: %v; want an error", err)
		}
	})
}

func recsPrivate(recs []store.Record) string {
	for _, r := range recs {
		if r.ID == "gen.Password/p" {
			return r.Private["state"]
		}
	}
	return ""
}
