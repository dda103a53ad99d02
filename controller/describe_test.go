package controller

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/diff"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/secret"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
)

func TestDescribeAndSelect(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	for _, r := range []store.Record{
		{ID: "mem.Object/a", Kind: "mem.Object", Phase: store.PhaseReady,
			AppliedSpec: map[string]any{"token": "s3cret", "url": "https://me:pw@example.com/x", "n": 1}},
		{ID: "mem.Object/gone", Kind: "mem.Object", Phase: store.PhaseReady},
	} {
		if err := st.PutRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	rv := &manifest.Revision{Hash: "h", Resources: []*manifest.Resource{
		{ID: "mem.Object/a", Kind: "mem.Object", Labels: map[string]string{"app": "web"}, Spec: map[string]any{"token": "${env:T}", "n": 1}},
		{ID: "mem.Object/b", Kind: "mem.Object", Labels: map[string]string{"app": "db"}, DependsOn: []string{"mem.Object/a", "mem.Object/c"}},
		{ID: "mem.Object/c", Kind: "mem.Object"},
	}}
	schema := func(kind string) (provider.Schema, bool) {
		return provider.Schema{Kind: kind, Fields: map[string]provider.Field{"token": {Type: provider.String, Sensitive: true}}}, kind == "mem.Object"
	}

	t.Run("describe", func(t *testing.T) {
		tests := map[string]struct {
			id      string
			want    DescribeView
			wantErr error
		}{
			"recorded and desired": {id: "mem.Object/a", want: DescribeView{
				ResourceView: ResourceView{ID: "mem.Object/a", Kind: "mem.Object", Phase: store.PhaseReady},
				Labels:       map[string]string{"app": "web"}, Desired: true,
				Spec:        map[string]any{"token": "(sensitive)", "n": 1},
				AppliedSpec: map[string]any{"token": "(sensitive)", "url": "https://me:xxxxx@example.com/x", "n": int64(1)},
				Events:      []store.Event{},
			}},
			"desired, not recorded: it waits": {id: "mem.Object/b", want: DescribeView{
				ResourceView: ResourceView{ID: "mem.Object/b", Kind: "mem.Object", Phase: store.PhasePending, Message: "not reconciled yet"},
				Labels:       map[string]string{"app": "db"}, Desired: true,
				Deps:       []string{"mem.Object/a", "mem.Object/c"},
				WaitingFor: []DepStatus{{ID: "mem.Object/c", Phase: store.PhasePending}},
				Waiting:    "waiting for mem.Object/c: Pending",
				Events:     []store.Event{},
			}},
			"recorded, no longer desired": {id: "mem.Object/gone", want: DescribeView{
				ResourceView: ResourceView{ID: "mem.Object/gone", Kind: "mem.Object", Phase: store.PhaseReady},
				Events:       []store.Event{},
			}},
			"unknown": {id: "mem.Object/nope", wantErr: ErrUnknownResource},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				got, err := Describe(ctx, st, tc.id, DescribeOptions{Revision: rv, Schema: schema})
				if tc.wantErr != nil {
					if !errors.Is(err, tc.wantErr) || !errors.Is(err, store.ErrNotFound) {
						t.Fatalf("got error %v; want %v, matching store.ErrNotFound", err, tc.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			})
		}
	})

	t.Run("select", func(t *testing.T) {
		v, err := Status(ctx, st, rv)
		if err != nil {
			t.Fatal(err)
		}
		tests := map[string]struct {
			sel     Selection
			want    []string
			wantErr error
		}{
			"all":              {want: []string{"mem.Object/a", "mem.Object/b", "mem.Object/c", "mem.Object/gone"}},
			"ids, in order":    {sel: Selection{IDs: []string{"mem.Object/c", "mem.Object/a", "mem.Object/c"}}, want: []string{"mem.Object/c", "mem.Object/a"}},
			"phase":            {sel: Selection{Phase: store.PhasePending}, want: []string{"mem.Object/b", "mem.Object/c"}},
			"kind":             {sel: Selection{Kind: "other.Kind"}, want: []string{}},
			"label":            {sel: Selection{Selector: Selector{{Key: "app", Value: "web", Op: OpEquals}}}, want: []string{"mem.Object/a"}},
			"label and phase":  {sel: Selection{Selector: Selector{{Key: "app", Value: "db", Op: OpEquals}}, Phase: store.PhaseReady}, want: []string{}},
			"label not equal":  {sel: Selection{Selector: Selector{{Key: "app", Value: "web", Op: OpNotEquals}}}, want: []string{"mem.Object/b", "mem.Object/c"}},
			"label unset":      {sel: Selection{Selector: Selector{{Key: "app", Op: OpNotExists}}}, want: []string{"mem.Object/c"}},
			"an unknown id":    {sel: Selection{IDs: []string{"mem.Object/a", "mem.Object/nope"}}, wantErr: ErrUnknownResource},
			"not desired, set": {sel: Selection{IDs: []string{"mem.Object/gone"}}, want: []string{"mem.Object/gone"}},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				got, err := Select(ctx, st, rv, v, tc.sel)
				if tc.wantErr != nil {
					if !errors.Is(err, tc.wantErr) {
						t.Fatalf("got error %v; want %v", err, tc.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				ids := []string{}
				for _, r := range got.Resources {
					ids = append(ids, r.ID)
				}
				if diff := cmp.Diff(tc.want, ids); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			})
		}
	})
}

// TestViewsMaskSecrets: sensitive outputs, and any value the state holds
// sealed (a value built from a secret), show as "(sensitive)" in the
// views, raw from the store as from the engine.
func TestViewsMaskSecrets(t *testing.T) {
	sealer, err := secret.NewSealer(bytes.Repeat([]byte{7}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	sealed := sealer.Seal("record/x", []byte(`"s3cret-value"`))
	schema := func(kind string) (provider.Schema, bool) {
		return provider.Schema{Kind: kind, SensitiveOutputs: []string{"result"}}, true
	}
	rec := store.Record{ID: "gen.Password/p", Kind: "gen.Password", Outputs: map[string]any{
		"result": "s3cret-value", "derived": sealed, "list": []any{sealed, "plain"}, "length": int64(3),
	}}
	v := Resource(rec)
	if v.Outputs["derived"] != diff.SensitiveValue || v.Outputs["list"].([]any)[0] != diff.SensitiveValue || v.Outputs["list"].([]any)[1] != "plain" {
		t.Errorf("Resource outputs = %v; want sealed values masked, others kept", v.Outputs)
	}
	got := maskOutputs(schema, rec.Kind, rec.Outputs)
	want := map[string]any{"result": diff.SensitiveValue, "derived": diff.SensitiveValue, "list": []any{diff.SensitiveValue, "plain"}, "length": int64(3)}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("maskOutputs (-want +got):\n%s", d)
	}
	if got := maskSpec(schema, rec.Kind, map[string]any{"value": sealed, "url": "https://u:pw@h/x"}); got["value"] != diff.SensitiveValue || got["url"] != "https://u:xxxxx@h/x" {
		t.Errorf("maskSpec = %v; want the sealed value masked and the URL's password redacted", got)
	}
}
