package provider_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
)

// fake returns a provider named name declaring kinds.
func fake(name string, kinds ...string) *providertest.Funcs {
	f := &providertest.Funcs{ProviderName: name}
	for _, k := range kinds {
		f.KindSchemas = append(f.KindSchemas, provider.Schema{Kind: k})
	}
	return f
}

func TestNewRegistry(t *testing.T) {
	type want struct {
		kinds []string
		err   string
	}
	cases := map[string]struct {
		reason    string
		providers []provider.Provider
		want      want
	}{
		"Empty": {
			reason: "A registry of no provider has no kind.",
			want:   want{kinds: []string{}},
		},
		"Several": {
			reason: "Every kind of every provider is registered; Kinds sorts them.",
			providers: []provider.Provider{
				fake("file", "file.File", "file.Directory"),
				fake("cloud", "cloud.Network"),
			},
			want: want{kinds: []string{"cloud.Network", "file.Directory", "file.File"}},
		},
		"NoKinds": {
			reason: "A provider may declare no kind.",
			providers: []provider.Provider{
				fake("empty"),
			},
			want: want{kinds: []string{}},
		},
		"ProviderTwice": {
			reason: "Two providers of one name are refused.",
			providers: []provider.Provider{
				fake("file", "file.File"),
				fake("file", "file.Directory"),
			},
			want: want{err: `provider "file" registered twice`},
		},
		"KindOutsidePrefix": {
			reason: "A provider declares kinds under its own name only.",
			providers: []provider.Provider{
				fake("file", "cloud.Network"),
			},
			want: want{err: `provider "file" declares kind "cloud.Network" outside its prefix`},
		},
		"PrefixWithoutDot": {
			reason: "The prefix is the name and a dot: filex.File is not file's.",
			providers: []provider.Provider{
				fake("file", "filex.File"),
			},
			want: want{err: `provider "file" declares kind "filex.File" outside its prefix`},
		},
		"KindTwice": {
			reason: "One kind declared twice is refused.",
			providers: []provider.Provider{
				fake("file", "file.File", "file.File"),
			},
			want: want{err: `kind "file.File" registered twice`},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r, err := provider.NewRegistry(tc.providers...)
			got := want{}
			if err != nil {
				got.err = err.Error()
			} else {
				got.kinds = r.Kinds()
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("%s\nNewRegistry(...): -want, +got:\n%s", tc.reason, diff)
			}
			if err != nil && r != nil {
				t.Errorf("%s\nNewRegistry returned a registry with its error", tc.reason)
			}
		})
	}
}

func TestRegistryLookups(t *testing.T) {
	file := fake("file", "file.File")
	file.KindSchemas[0].Description = "a file"
	cloud := fake("cloud", "cloud.Network")
	r, err := provider.NewRegistry(file, cloud)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		provider provider.Provider
		found    bool
		schema   provider.Schema
		hasKind  bool
	}
	cases := map[string]struct {
		reason string
		kind   string
		want   want
	}{
		"Known": {
			reason: "A registered kind gives its provider and its schema.",
			kind:   "file.File",
			want:   want{provider: file, found: true, schema: provider.Schema{Kind: "file.File", Description: "a file"}, hasKind: true},
		},
		"OtherProvider": {
			reason: "Each kind gives its own provider.",
			kind:   "cloud.Network",
			want:   want{provider: cloud, found: true, schema: provider.Schema{Kind: "cloud.Network"}, hasKind: true},
		},
		"UnknownKindOfKnownProvider": {
			reason: "A kind the provider does not declare is unknown, though its prefix is registered.",
			kind:   "file.Fifo",
		},
		"UnknownProvider": {
			reason: "A kind of no registered provider is unknown.",
			kind:   "postgres.Role",
		},
		"NoPrefix": {
			reason: "A name without a prefix is no kind.",
			kind:   "file",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p, found := r.For(tc.kind)
			s, hasKind := r.Schema(tc.kind)
			got := want{provider: p, found: found, schema: s, hasKind: hasKind}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(want{}), cmp.Comparer(sameProvider)); diff != "" {
				t.Errorf("%s\nFor/Schema(%q): -want, +got:\n%s", tc.reason, tc.kind, diff)
			}
		})
	}
}

// sameProvider compares providers by identity.
func sameProvider(a, b provider.Provider) bool { return a == b }

func TestProviderName(t *testing.T) {
	cases := map[string]struct {
		reason string
		kind   string
		want   string
	}{
		"Kind":      {reason: "The prefix is what comes before the first dot.", kind: "file.File", want: "file"},
		"TwoDots":   {reason: "Only the first dot counts.", kind: "a.b.C", want: "a"},
		"NoDot":     {reason: "A name without a dot is its own prefix.", kind: "file", want: "file"},
		"Empty":     {reason: "Empty stays empty.", kind: "", want: ""},
		"LeadingDt": {reason: "A leading dot gives an empty prefix.", kind: ".File", want: ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, provider.ProviderName(tc.kind)); diff != "" {
				t.Errorf("%s\nProviderName(%q): -want, +got:\n%s", tc.reason, tc.kind, diff)
			}
		})
	}
}

// TestFuncs checks the adapter the registry tests use: each method calls
// its field, and a nil field succeeds doing nothing.
func TestFuncs(t *testing.T) {
	ctx := t.Context()
	req := provider.Request{ID: "mem.Object/a", Kind: "mem.Object", Name: "a"}
	var zero providertest.Funcs
	if obs, err := zero.Observe(ctx, req); err != nil || obs.Exists {
		t.Errorf("zero Funcs Observe = %+v, %v; want absent, nil", obs, err)
	}
	if res, err := zero.Create(ctx, req); err != nil || res.Private != nil {
		t.Errorf("zero Funcs Create = %+v, %v; want an empty result", res, err)
	}
	if res, err := zero.Update(ctx, req); err != nil || res.Private != nil {
		t.Errorf("zero Funcs Update = %+v, %v; want an empty result", res, err)
	}
	if err := zero.Delete(ctx, req); err != nil {
		t.Errorf("zero Funcs Delete = %v; want nil", err)
	}

	errBoom := errors.New("boom")
	var calls []string
	f := providertest.Funcs{
		ObserveFn: func(_ context.Context, r provider.Request) (provider.Observation, error) {
			calls = append(calls, "observe "+r.ID)
			return provider.Observation{Exists: true}, nil
		},
		CreateFn: func(_ context.Context, r provider.Request) (provider.Result, error) {
			calls = append(calls, "create "+r.ID)
			return provider.Result{Private: map[string]string{"id": "1"}}, nil
		},
		UpdateFn: func(_ context.Context, r provider.Request) (provider.Result, error) {
			calls = append(calls, "update "+r.ID)
			return provider.Result{}, errBoom
		},
		DeleteFn: func(_ context.Context, r provider.Request) error {
			calls = append(calls, "delete "+r.ID)
			return provider.Terminal(errBoom)
		},
	}
	obs, oerr := f.Observe(ctx, req)
	res, cerr := f.Create(ctx, req)
	_, uerr := f.Update(ctx, req)
	derr := f.Delete(ctx, req)
	type got struct {
		Exists                  bool
		Private                 map[string]string
		Observe, Create, Update error
		Delete                  error
		Calls                   []string
	}
	want := got{
		Exists: true, Private: map[string]string{"id": "1"},
		Update: errBoom, Delete: errBoom,
		Calls: []string{"observe mem.Object/a", "create mem.Object/a", "update mem.Object/a", "delete mem.Object/a"},
	}
	if diff := cmp.Diff(want, got{obs.Exists, res.Private, oerr, cerr, uerr, derr, calls}, cmpopts.EquateErrors()); diff != "" {
		t.Errorf("Funcs: -want, +got:\n%s", diff)
	}

	m := providertest.NewMemory()
	w := providertest.Wrap(m)
	if w.Name() != "mem" || len(w.Schemas()) != 1 || w.Schemas()[0].Kind != providertest.Kind {
		t.Errorf("Wrap(Memory) = name %q, schemas %v; want Memory's", w.Name(), w.Schemas())
	}
	if _, err := w.Create(ctx, provider.Request{ID: "mem.Object/a", Kind: providertest.Kind, Name: "a"}); err != nil {
		t.Fatal(err)
	}
	if got := m.IDs(); !cmp.Equal(got, []string{"mem.Object/a"}) {
		t.Errorf("after Create through Wrap, Memory holds %v; want mem.Object/a", got)
	}
}

// TestRegisterIsAllOrNothing: a provider refused for one of its kinds
// leaves none of them registered, so a corrected retry works.
func TestRegisterIsAllOrNothing(t *testing.T) {
	r, err := provider.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Register(fake("a", "a.X", "b.Y")); err == nil {
		t.Fatal("Register of a kind outside the prefix succeeded")
	}
	if _, ok := r.Schema("a.X"); ok {
		t.Error("a refused provider left its first kind registered")
	}
	if err := r.Register(fake("a", "a.X")); err != nil {
		t.Errorf("Register after a refusal: %v", err)
	}
	if err := r.Register(fake("c", "c.Z", "c.Z")); err == nil {
		t.Error("a provider declaring one kind twice was accepted")
	}
}

// TestRegistryConcurrent: providers registered while others read the
// registry (go test -race checks it), and Providers lists them all.
func TestRegistryConcurrent(t *testing.T) {
	r, err := provider.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 50 {
			r.Kinds()
			r.Schema("p3.Thing")
			r.For("p3.Thing")
		}
	}()
	for i := range 5 {
		name := "p" + string(rune('0'+i))
		if err := r.Register(fake(name, name+".Thing")); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	if got := len(r.Providers()); got != 5 {
		t.Errorf("Providers = %d; want 5", got)
	}
	if p, ok := r.Provider("p3"); !ok || p.Name() != "p3" {
		t.Errorf("Provider(p3) = %v, %v", p, ok)
	}
}
