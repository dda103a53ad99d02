package httpprovider_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	httpprovider "github.com/convergehq/converge/providers/http"
	"github.com/convergehq/converge/store/sqlite"
)

// bigIDAPI is a JSON collection whose ids are integers beyond int64
// (12345678901234567891 and up), as APIs with 64-bit unsigned or 128-bit
// ids have. It reads and writes numbers exactly.
type bigIDAPI struct {
	mu      sync.Mutex
	next    *big.Int
	objects map[string]map[string]any // by id
	posts   int
}

func newBigIDAPI(t *testing.T) (*bigIDAPI, string) {
	next, _ := new(big.Int).SetString("12345678901234567891", 10)
	a := &bigIDAPI{next: next, objects: map[string]map[string]any{}}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return a, srv.URL + "/v1/widgets"
}

func (a *bigIDAPI) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.objects)
}

func (a *bigIDAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	answer := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	id, item := strings.CutPrefix(r.URL.Path, "/v1/widgets/")
	switch {
	case r.URL.Path == "/v1/widgets" && r.Method == http.MethodPost:
		dec := json.NewDecoder(r.Body)
		dec.UseNumber()
		var body map[string]any
		if err := dec.Decode(&body); err != nil {
			answer(http.StatusBadRequest, map[string]any{"error": err.Error()})
			return
		}
		a.posts++
		body["id"] = json.Number(a.next.String())
		a.objects[a.next.String()] = body
		a.next.Add(a.next, big.NewInt(1))
		answer(http.StatusCreated, body)
	case item && r.Method == http.MethodGet:
		if o, ok := a.objects[id]; ok {
			answer(http.StatusOK, o)
			return
		}
		answer(http.StatusNotFound, map[string]any{"error": "no widget " + id})
	case item && r.Method == http.MethodDelete:
		if _, ok := a.objects[id]; !ok {
			answer(http.StatusNotFound, map[string]any{"error": "no widget " + id})
			return
		}
		delete(a.objects, id)
		w.WriteHeader(http.StatusNoContent)
	default:
		answer(http.StatusNotFound, map[string]any{"error": "no route"})
	}
}

// TestBigIDsEndToEnd applies a manifest against an API that assigns ids
// beyond int64, with the engine and a SQLite state: the first apply creates
// one object, the second finds it and does nothing, and destroy deletes it.
// Numbers in the body beyond int64 and float64 go to the API and come back
// exactly, so they are no change either.
func TestBigIDsEndToEnd(t *testing.T) {
	api, url := newBigIDAPI(t)
	reg, err := provider.NewRegistry(httpprovider.New(httpprovider.WithGrace(0)))
	if err != nil {
		t.Fatal(err)
	}
	doc := fmt.Sprintf("kind: http.Resource\nmetadata: {name: w}\nspec:\n  url: %s\n"+
		"  body: {name: w, quota: 123456789012345678901234567890, ratio: 0.1, pi: 3.14159265358979323846, limit: 18446744073709551615}\n", url)
	rv, err := manifest.LoadBytes(map[string][]byte{"w.yaml": []byte(doc)}, reg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	apply := func(rv *manifest.Revision) engine.Report {
		t.Helper()
		e := engine.New(reg, st, engine.Options{
			Workers: 2, BackoffBase: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
			ReadyPoll: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
		})
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		if err := e.Load(ctx); err != nil {
			t.Fatal(err)
		}
		rep, err := e.Apply(ctx, rv)
		if err != nil {
			t.Fatalf("apply: %v (report %+v)", err, rep)
		}
		return rep
	}

	first := apply(rv)
	if !first.OK() || first.Stats.Creates != 1 || api.count() != 1 {
		t.Fatalf("first apply: ok %v, %d creates, %d objects, failures %+v; want one object created", first.OK(), first.Stats.Creates, api.count(), first.Failures)
	}
	rec, err := st.GetRecord(t.Context(), "http.Resource/w")
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.Private[httpprovider.PrivateID]; got != "12345678901234567891" {
		t.Errorf("recorded id %q; want 12345678901234567891", got)
	}
	if got := rec.Outputs["id"]; got != json.Number("12345678901234567891") {
		t.Errorf("recorded output id %T %v; want json.Number 12345678901234567891", got, got)
	}
	api.mu.Lock()
	stored, _ := json.Marshal(api.objects["12345678901234567891"])
	api.mu.Unlock()
	for _, text := range []string{`"quota":123456789012345678901234567890`, `"ratio":0.1`, `"pi":3.14159265358979323846`, `"limit":18446744073709551615`} {
		if !bytes.Contains(stored, []byte(text)) {
			t.Errorf("the API got %s; want it to hold %s", stored, text)
		}
	}

	again := apply(rv)
	if !again.OK() || again.Stats.Mutations() != 0 || api.count() != 1 {
		t.Errorf("second apply: ok %v, stats %+v, %d objects; want nothing to do and one object", again.OK(), again.Stats, api.count())
	}

	gone := apply(nil)
	if !gone.OK() || gone.Stats.Deletes != 1 {
		t.Errorf("destroy: ok %v, stats %+v, failures %+v; want one delete", gone.OK(), gone.Stats, gone.Failures)
	}
	if n := api.count(); n != 0 {
		t.Errorf("after destroy the API holds %d objects; want none", n)
	}
	if api.posts != 1 {
		t.Errorf("the API got %d creates; want 1", api.posts)
	}
}
