package controller

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
)

func TestStatusAndHistoryViews(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	st := memory.New()
	put := func(r store.Revision) {
		t.Helper()
		if r.Resources == nil {
			r.Resources = []byte(`{"hash":"` + r.Hash + `","paths":[],"resources":[]}`)
		}
		if err := st.PutRevision(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	put(store.Revision{Hash: "good", Created: t0, State: store.RevisionConverged, Converged: t0.Add(time.Minute)})
	put(store.Revision{Hash: "bad", Created: t0.Add(time.Hour), State: store.RevisionRolledBack, Reason: "rolled back by hand"})
	if err := st.SetTarget(ctx, "good"); err != nil {
		t.Fatal(err)
	}
	if err := st.PutRecord(ctx, store.Record{ID: "mem.Object/a", Kind: "mem.Object", Phase: store.PhaseReady}); err != nil {
		t.Fatal(err)
	}
	v, err := Status(ctx, st, &manifest.Revision{Hash: "bad"})
	if err != nil {
		t.Fatal(err)
	}
	if v.Target != "good" || v.TargetState != store.RevisionConverged || v.LastKnownGood != "good" || v.Held != "" {
		t.Errorf("status view: %+v", v)
	}
	if !strings.Contains(v.Staying, "which was rolled-back (rolled back by hand); converge stays on revision good") {
		t.Errorf("staying: %q", v.Staying)
	}

	// The manifests at a new revision: desired resources show as Pending.
	rv := &manifest.Revision{Hash: "new", Resources: []*manifest.Resource{{ID: "mem.Object/a", Kind: "mem.Object"}, {ID: "mem.Object/b", Kind: "mem.Object"}}}
	if v, err = Status(ctx, st, rv); err != nil {
		t.Fatal(err)
	}
	got := map[string]store.Phase{}
	for _, r := range v.Resources {
		got[r.ID] = r.Phase
	}
	if diff := cmp.Diff(map[string]store.Phase{"mem.Object/a": store.PhaseReady, "mem.Object/b": store.PhasePending}, got); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}

	// The newest revision held: status names it.
	put(store.Revision{Hash: "held", Created: t0.Add(2 * time.Hour), State: store.RevisionHeld, Reason: "would delete 3 of the 4"})
	if v, err = Status(ctx, st, nil); err != nil {
		t.Fatal(err)
	}
	if v.Held != "held" || v.HeldReason != "would delete 3 of the 4" {
		t.Errorf("held: %q %q", v.Held, v.HeldReason)
	}

	h, err := History(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	var marks []string
	for _, r := range h {
		m := r.Hash + ":" + string(r.State)
		if r.Target {
			m += ":target"
		}
		if r.LastKnownGood {
			m += ":lkg"
		}
		marks = append(marks, m)
	}
	want := []string{"good:converged:target:lkg", "bad:rolled-back", "held:held"}
	if diff := cmp.Diff(want, marks); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
}
