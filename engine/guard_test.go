package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
)

func TestParseDeleteLimit(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    DeleteLimit
		wantErr bool
	}{
		"percent":       {in: "50%", want: DeleteLimit{Percent: 50, IsPercent: true}},
		"fraction":      {in: "12.5%", want: DeleteLimit{Percent: 12.5, IsPercent: true}},
		"all":           {in: "100%", want: DeleteLimit{Percent: 100, IsPercent: true}},
		"count":         {in: "10", want: DeleteLimit{Count: 10}},
		"zero":          {in: "0", want: DeleteLimit{}},
		"over 100%":     {in: "101%", wantErr: true},
		"negative":      {in: "-1", wantErr: true},
		"word":          {in: "half", wantErr: true},
		"empty":         {in: "", wantErr: true},
		"percent alone": {in: "%", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseDeleteLimit(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseDeleteLimit(%q): err %v; want error %v", tc.in, err, tc.wantErr)
			}
			if err == nil && got != tc.want {
				t.Errorf("ParseDeleteLimit(%q) = %+v; want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestGuardCheck(t *testing.T) {
	recs := func(n int) []store.Record {
		var out []store.Record
		for i := range n {
			out = append(out, store.Record{ID: fmt.Sprintf("file.File/r%02d", i)})
		}
		return out
	}
	rev := func(n int) *manifest.Revision {
		rv := &manifest.Revision{Hash: "abcdef0123456789"}
		for i := range n {
			id := fmt.Sprintf("file.File/r%02d", i)
			rv.Resources = append(rv.Resources, &manifest.Resource{ID: id, Kind: "file.File", Name: id[10:]})
		}
		return rv
	}
	half := DeleteLimit{Percent: 50, IsPercent: true}
	tests := map[string]struct {
		guard   Guard
		recs    []store.Record
		rv      *manifest.Revision
		wantErr error
	}{
		"nothing recorded, nothing declared":    {guard: Guard{MaxDelete: half}, rv: rev(0)},
		"empty set over a managed state":        {guard: Guard{MaxDelete: half}, recs: recs(4), rv: rev(0), wantErr: ErrEmpty},
		"empty set, allow-delete is not enough": {guard: Guard{MaxDelete: half, AllowDelete: true}, recs: recs(4), rv: rev(0), wantErr: ErrEmpty},
		"empty set allowed":                     {guard: Guard{MaxDelete: half, AllowEmpty: true}, recs: recs(4), rv: rev(0)},
		"no deletion":                           {guard: Guard{MaxDelete: DeleteLimit{}}, recs: recs(4), rv: rev(6)},
		"half deleted is within 50%":            {guard: Guard{MaxDelete: half}, recs: recs(4), rv: rev(2)},
		"three of four is over 50%":             {guard: Guard{MaxDelete: half}, recs: recs(4), rv: rev(1), wantErr: ErrDeletionHeld},
		"allow-delete releases":                 {guard: Guard{MaxDelete: half, AllowDelete: true}, recs: recs(4), rv: rev(1)},
		"count limit within":                    {guard: Guard{MaxDelete: DeleteLimit{Count: 3}}, recs: recs(10), rv: rev(7)},
		"count limit over":                      {guard: Guard{MaxDelete: DeleteLimit{Count: 3}}, recs: recs(10), rv: rev(6), wantErr: ErrDeletionHeld},
		"zero allows none":                      {guard: Guard{MaxDelete: DeleteLimit{}}, recs: recs(10), rv: rev(9), wantErr: ErrDeletionHeld},
		"100% allows all but the empty set":     {guard: Guard{MaxDelete: DeleteLimit{Percent: 100, IsPercent: true}}, recs: recs(10), rv: rev(1)},
		"destroy is not limited":                {guard: Guard{MaxDelete: DeleteLimit{}}, recs: recs(10), rv: nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.guard.Check(tc.recs, tc.rv)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Check: got %v; want %v", err, tc.wantErr)
			}
		})
	}
}

func TestGuardMessages(t *testing.T) {
	recs := []store.Record{{ID: "file.File/a"}, {ID: "file.File/b"}, {ID: "file.File/c"}}
	err := Guard{MaxDelete: DeleteLimit{Percent: 50, IsPercent: true}}.Check(recs, &manifest.Revision{Hash: "0123456789abcdef"})
	want := "the manifests declare no resources, but the state manages 3: converging them would delete all of them (file.File/a, file.File/b, file.File/c). If that is what you mean, pass --allow-empty (or run converge destroy)"
	if err == nil || err.Error() != want {
		t.Errorf("empty:\n got %v\nwant %s", err, want)
	}
	rv := &manifest.Revision{Hash: "0123456789abcdef", Resources: []*manifest.Resource{{ID: "file.File/a"}}}
	err = Guard{MaxDelete: DeleteLimit{Percent: 50, IsPercent: true}}.Check(recs, rv)
	want = "revision 0123456789ab would delete 2 of the 3 resources converge manages (file.File/b, file.File/c), more than --max-delete 50% allows; held, not applied. To release it: converge apply --allow-delete, or a higher --max-delete"
	if err == nil || err.Error() != want {
		t.Errorf("held:\n got %v\nwant %s", err, want)
	}
}

// TestApplyGuard: an engine given a Guard refuses, in Apply, a revision
// that declares nothing over a managed state, and one that deletes too
// much, before anything is targeted or deleted.
func TestApplyGuard(t *testing.T) {
	reg, err := provider.NewRegistry(providertest.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	load := func(n int) *manifest.Revision {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "---\nkind: mem.Object\nmetadata: {name: o%d}\nspec: {value: v}\n", i)
		}
		rv, err := manifest.LoadBytes(map[string][]byte{"m.yaml": []byte(b.String())}, reg)
		if err != nil {
			t.Fatal(err)
		}
		return rv
	}
	ctx := context.Background()
	st := memory.New()
	guard := &Guard{MaxDelete: DeleteLimit{Percent: 50, IsPercent: true}}
	if rep, err := New(reg, st, Options{Logger: quiet(), Guard: guard}).Apply(ctx, load(4)); err != nil || !rep.OK() {
		t.Fatalf("apply: %v %+v", err, rep.Failures)
	}
	for name, tc := range map[string]struct {
		rv   *manifest.Revision
		want error
	}{
		"empty":         {rv: load(0), want: ErrEmpty},
		"three of four": {rv: load(1), want: ErrDeletionHeld},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(reg, st, Options{Logger: quiet(), Guard: guard}).Apply(ctx, tc.rv)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Apply: %v; want %v", err, tc.want)
			}
			recs, _ := st.ListRecords(ctx)
			if len(recs) != 4 {
				t.Errorf("records after a refused apply: %d; want 4", len(recs))
			}
		})
	}
	if _, err := New(reg, st, Options{Logger: quiet(), Guard: guard}).Apply(ctx, load(2)); err != nil {
		t.Errorf("a deletion within the limit: %v", err)
	}
}
