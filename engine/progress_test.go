package engine

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
)

// TestActivity: each resource counts once, by its phase and the intent it
// records; the calls in flight are those the provider is making, and the
// slowest the mutating one in flight the longest.
func TestActivity(t *testing.T) {
	reg, err := provider.NewRegistry(providertest.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	rv, err := manifest.LoadBytes(map[string][]byte{"m.yaml": []byte(`kind: mem.Object
metadata: {name: ready}
spec: {value: v}
---
kind: mem.Object
metadata: {name: creating}
spec: {value: v}
---
kind: mem.Object
metadata: {name: provisioning}
spec: {value: v}
---
kind: mem.Object
metadata: {name: updating}
spec: {value: v}
---
kind: mem.Object
metadata: {name: failed}
spec: {value: v}
---
kind: mem.Object
metadata: {name: waiting}
spec: {value: v}
---
kind: mem.Object
metadata: {name: new}
spec: {value: v}
`)}, reg)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	hash := func(name string) string {
		r, _ := rv.Get("mem.Object/" + name)
		return r.Hash
	}
	e := New(reg, memory.New(), Options{Logger: testLogger()})
	e.target = rv
	for _, r := range []*store.Record{
		{ID: "mem.Object/ready", Phase: store.PhaseReady, AppliedHash: hash("ready")},
		{ID: "mem.Object/creating", Phase: store.PhaseCreating, Pending: &store.Operation{Op: store.OpCreate, Started: t0.Add(2 * time.Second)}},
		{ID: "mem.Object/provisioning", Phase: store.PhaseCreating, Origin: store.OriginCreated, AppliedHash: hash("provisioning")},
		{ID: "mem.Object/updating", Phase: store.PhaseUpdating, Origin: store.OriginCreated, Pending: &store.Operation{Op: store.OpUpdate, Started: t0}},
		{ID: "mem.Object/failed", Phase: store.PhaseError, Pending: &store.Operation{Op: store.OpCreate, Started: t0.Add(-time.Hour)}},
		{ID: "mem.Object/waiting", Phase: store.PhaseWaiting},
		{ID: "mem.Object/gone", Phase: store.PhaseDeleting, Origin: store.OriginCreated, Pending: &store.Operation{Op: store.OpDelete, Started: t0.Add(time.Second)}},
	} {
		e.records[r.ID] = r
	}
	// The calls in flight: the slowest is the oldest mutating one; an
	// observe counts in InFlight only.
	e.callStarted("mem.Object/new", OpObserve, t0.Add(-time.Hour))
	e.callStarted("mem.Object/creating", store.OpCreate, t0.Add(2*time.Second))
	e.callStarted("mem.Object/updating", store.OpUpdate, t0)
	e.callStarted("mem.Object/gone", store.OpDelete, t0.Add(time.Second))
	e.callEnded("mem.Object/gone")
	want := Activity{Total: 8, Ready: 1, Creating: 1, Updating: 1, Deleting: 1, Provisioning: 1, Waiting: 1, Failed: 1, InFlight: 3,
		Slowest: &Call{ID: "mem.Object/updating", Op: store.OpUpdate, Since: t0}}
	if d := cmp.Diff(want, e.Activity()); d != "" {
		t.Errorf("Activity (-want +got):\n%s", d)
	}
}
