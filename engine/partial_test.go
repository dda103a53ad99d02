package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store/memory"
)

// TestPartialCreate: a create that made its object and then failed returns
// the object with the error; the engine records it, and the retry updates
// that object instead of creating a second one. The provider finds objects
// only by the id in Private (no lookup by name), so without the partial
// result every retry would make another.
func TestPartialCreate(t *testing.T) {
	var (
		mu      sync.Mutex
		objects = map[string]map[string]any{} // id -> spec
		creates int
		updates int
	)
	schema := providertest.Schema
	p := &providertest.Funcs{
		ProviderName: "mem",
		KindSchemas:  []provider.Schema{schema},
		ObserveFn: func(_ context.Context, req provider.Request) (provider.Observation, error) {
			mu.Lock()
			defer mu.Unlock()
			o, ok := objects[req.Private["id"]]
			if !ok {
				return provider.Observation{}, nil
			}
			return provider.Observation{Exists: true, State: o, Outputs: map[string]any{"id": req.Private["id"], "value": o["value"]}, Private: req.Private}, nil
		},
		CreateFn: func(_ context.Context, req provider.Request) (provider.Result, error) {
			mu.Lock()
			defer mu.Unlock()
			creates++
			id := fmt.Sprintf("obj-%d", creates)
			// Made, but the second step (its value) failed: the object
			// holds no value yet.
			objects[id] = map[string]any{"value": ""}
			res := provider.Result{Private: map[string]string{"id": id}, Outputs: map[string]any{"id": id, "value": ""}}
			return res, errors.New("set the value: 503 try again")
		},
		UpdateFn: func(_ context.Context, req provider.Request) (provider.Result, error) {
			mu.Lock()
			defer mu.Unlock()
			updates++
			id := req.Private["id"]
			if _, ok := objects[id]; !ok {
				return provider.Result{}, provider.Terminalf("update of %s: no such object", id)
			}
			objects[id] = map[string]any{"value": req.Spec["value"]}
			return provider.Result{Private: req.Private, Outputs: map[string]any{"id": id, "value": req.Spec["value"]}}, nil
		},
		DeleteFn: func(_ context.Context, req provider.Request) error {
			mu.Lock()
			defer mu.Unlock()
			delete(objects, req.Private["id"])
			return nil
		},
	}
	reg, err := provider.NewRegistry(p)
	if err != nil {
		t.Fatal(err)
	}
	rv, err := manifest.LoadBytes(map[string][]byte{"m.yaml": []byte("kind: mem.Object\nmetadata: {name: a}\nspec: {value: wanted}\n")}, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := memory.New()
	rep, err := New(reg, st, Options{Logger: quiet(), BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond}).Apply(ctx, rv)
	if err != nil || !rep.OK() {
		t.Fatalf("apply: %v %+v", err, rep.Failures)
	}
	mu.Lock()
	defer mu.Unlock()
	if creates != 1 {
		t.Errorf("creates = %d; want 1 (the retry updates the object made in part)", creates)
	}
	if updates == 0 {
		t.Errorf("no update finished the object")
	}
	if len(objects) != 1 || objects["obj-1"]["value"] != "wanted" {
		t.Errorf("objects = %v; want obj-1 holding the value", objects)
	}
	// Destroy deletes it.
	mu.Unlock()
	rep, err = New(reg, st, Options{Logger: quiet()}).Apply(ctx, nil)
	mu.Lock()
	if err != nil || !rep.OK() || len(objects) != 0 {
		t.Errorf("destroy: %v %+v; objects left %v", err, rep.Failures, objects)
	}
}

// TestPartialUpdateAndReplace: an update that changed its object in part
// (here into another object, as APIs that recreate on update do) and a
// replace whose new object was made in part return it with the error; the
// engine records it, and the retry finishes that object: no object is
// leaked, none is made twice, and a replaced object still goes.
func TestPartialUpdateAndReplace(t *testing.T) {
	tests := map[string]struct {
		createFirst bool
		second      string // the manifests of the second apply
	}{
		"update":                  {second: "spec: {value: two, zone: a}"},
		"replace, deleting first": {second: "spec: {value: two, zone: b}"},
		"replace, creating first": {second: "spec: {value: two, zone: b}", createFirst: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var (
				mu      sync.Mutex
				objects = map[string]map[string]any{} // id -> spec
				made    int
				failed  bool // the one partial failure happened
			)
			newObject := func(value any, zone any) string {
				made++
				id := fmt.Sprintf("obj-%d", made)
				objects[id] = map[string]any{"value": value, "zone": zone}
				return id
			}
			result := func(id string) provider.Result {
				return provider.Result{Private: map[string]string{"id": id}, Outputs: map[string]any{"id": id, "value": objects[id]["value"]}}
			}
			schema := providertest.Schema
			schema.CreateBeforeDestroy = tc.createFirst
			p := &providertest.Funcs{
				ProviderName: "mem",
				KindSchemas:  []provider.Schema{schema},
				ObserveFn: func(_ context.Context, req provider.Request) (provider.Observation, error) {
					mu.Lock()
					defer mu.Unlock()
					o, ok := objects[req.Private["id"]]
					if !ok {
						return provider.Observation{}, nil
					}
					return provider.Observation{Exists: true, State: o, Outputs: map[string]any{"id": req.Private["id"], "value": o["value"]}, Private: req.Private}, nil
				},
				CreateFn: func(_ context.Context, req provider.Request) (provider.Result, error) {
					mu.Lock()
					defer mu.Unlock()
					if made == 0 || failed {
						return result(newObject(req.Spec["value"], req.Spec["zone"])), nil
					}
					failed = true
					id := newObject("", req.Spec["zone"]) // made, its value not set yet
					return result(id), errors.New("set the value: 503 try again")
				},
				UpdateFn: func(_ context.Context, req provider.Request) (provider.Result, error) {
					mu.Lock()
					defer mu.Unlock()
					id := req.Private["id"]
					if _, ok := objects[id]; !ok {
						return provider.Result{}, provider.Terminalf("update of %s: no such object", id)
					}
					if !failed {
						// Recreated under a new id, then the value failed.
						failed = true
						delete(objects, id)
						return result(newObject("", req.Spec["zone"])), errors.New("set the value: 503 try again")
					}
					objects[id]["value"] = req.Spec["value"]
					return result(id), nil
				},
				DeleteFn: func(_ context.Context, req provider.Request) error {
					mu.Lock()
					defer mu.Unlock()
					delete(objects, req.Private["id"])
					return nil
				},
			}
			reg, err := provider.NewRegistry(p)
			if err != nil {
				t.Fatal(err)
			}
			load := func(spec string) *manifest.Revision {
				rv, err := manifest.LoadBytes(map[string][]byte{"m.yaml": []byte("kind: mem.Object\nmetadata: {name: a}\n" + spec + "\n")}, reg)
				if err != nil {
					t.Fatal(err)
				}
				return rv
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			st := memory.New()
			opts := Options{Logger: quiet(), BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond}
			for _, spec := range []string{"spec: {value: one, zone: a}", tc.second} {
				rep, err := New(reg, st, opts).Apply(ctx, load(spec))
				if err != nil || !rep.OK() {
					t.Fatalf("apply %s: %v %+v", spec, err, rep.Failures)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if !failed {
				t.Fatal("no partial failure was injected")
			}
			if made != 2 {
				t.Errorf("objects made: %d; want 2, the first and the one made in part (the retry finishes it)", made)
			}
			if len(objects) != 1 {
				t.Fatalf("objects %v; want exactly one (nothing leaked)", objects)
			}
			for id, o := range objects {
				if o["value"] != "two" {
					t.Errorf("object %s: %v; want value two", id, o)
				}
			}
		})
	}
}
