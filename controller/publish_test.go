package controller

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
)

// TestPublish: a revision the deletion guard refuses is not written; one
// that is the target already is not written again (its state stands);
// any other becomes the target.
func TestPublish(t *testing.T) {
	ctx := context.Background()
	limit := engine.Guard{MaxDelete: engine.DeleteLimit{Percent: 50, IsPercent: true}}
	tests := map[string]struct {
		files     map[string][]byte
		guard     engine.Guard
		wantErr   func(error) bool
		published bool
		target    string // "v1" or "next": the target after
	}{
		"a change":          {files: objects(6, "v2"), guard: limit, published: true, target: "next"},
		"the target":        {files: objects(6, "v1"), guard: limit, target: "v1"},
		"a mass deletion":   {files: objects(2, "v1"), guard: limit, wantErr: func(err error) bool { var h *engine.HeldError; return errors.As(err, &h) }, target: "v1"},
		"released":          {files: objects(2, "v1"), guard: engine.Guard{AllowDelete: true}, published: true, target: "next"},
		"nothing over some": {files: map[string][]byte{}, guard: limit, wantErr: func(err error) bool { return errors.Is(err, engine.ErrEmpty) }, target: "v1"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, nil, Options{})
			f.set(objects(6, "v1"))
			v1, err := f.load()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.e.Apply(ctx, v1); err != nil {
				t.Fatal(err)
			}
			if err := f.st.PutRevision(ctx, withState(f.revision(v1.Hash), store.RevisionConverged)); err != nil {
				t.Fatal(err)
			}
			f.set(tt.files)
			next, err := f.load()
			if err != nil {
				t.Fatal(err)
			}
			// Published from another process, by an engine of its own.
			e := engine.New(f.reg, f.st, engine.Options{})
			if err := e.Load(ctx); err != nil {
				t.Fatal(err)
			}
			published, err := Publish(ctx, f.st, e, next, tt.guard)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("Publish: %v", err)
			case tt.wantErr != nil && !tt.wantErr(err):
				t.Fatalf("Publish: %v; want the guard's error", err)
			}
			if published != tt.published {
				t.Errorf("published %v; want %v", published, tt.published)
			}
			want := map[string]string{"v1": v1.Hash, "next": next.Hash}[tt.target]
			if got, _ := f.st.Target(ctx); got != want {
				t.Errorf("target %s; want %s's %s", short(got), tt.target, short(want))
			}
			if r := f.revision(v1.Hash); tt.target == "v1" && r.State != store.RevisionConverged {
				t.Errorf("v1 is %s after; want its state, converged, to stand", r.State)
			}
		})
	}
}

func withState(r store.Revision, s store.RevisionState) store.Revision {
	r.State = s
	return r
}

// publishRace is a memory store in which another writer moves the target
// to moveTo between Publish's read of the target and its conditional
// write; it records the target each conditional write expected.
type publishRace struct {
	*memory.Store
	moveTo string
	froms  []string
}

func (s *publishRace) SetTargetFrom(ctx context.Context, from, hash string, f store.Fence) error {
	s.froms = append(s.froms, from)
	if s.moveTo != "" {
		if err := s.Store.SetTarget(ctx, s.moveTo); err != nil {
			return err
		}
		s.moveTo = ""
	}
	return s.Store.SetTargetFrom(ctx, from, hash, f)
}

// TestPublishRace: a target moved by another writer between Publish's
// read and its write is not overwritten blindly: Publish's write from the
// target it read fails, and Publish reads again and writes from the new
// target, knowing it.
func TestPublishRace(t *testing.T) {
	ctx := context.Background()
	st := &publishRace{Store: memory.New()}
	f := newFixture(t, nil, Options{})
	f.set(objects(3, "v1"))
	v1, err := f.load()
	if err != nil {
		t.Fatal(err)
	}
	f.set(objects(3, "v2"))
	v2, err := f.load()
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(f.reg, st, engine.Options{})
	for _, rv := range []*manifest.Revision{v1, v2} {
		if err := e.SetTarget(ctx, rv); err != nil {
			t.Fatal(err)
		}
	}
	f.set(objects(3, "v3"))
	v3, err := f.load()
	if err != nil {
		t.Fatal(err)
	}
	// The target is v2 when Publish reads it; another writer (a rollback)
	// moves it to v1 before Publish writes.
	st.moveTo = v1.Hash
	st.froms = nil
	published, err := Publish(ctx, st, e, v3, engine.Guard{AllowDelete: true})
	if err != nil || !published {
		t.Fatalf("Publish = %v, %v; want true, nil", published, err)
	}
	if diff := cmp.Diff([]string{v2.Hash, v1.Hash}, st.froms); diff != "" {
		t.Errorf("the targets Publish's writes expected (-want +got):\n%s", diff)
	}
	if got, _ := st.Target(ctx); got != v3.Hash {
		t.Errorf("target %s; want v3's %s", short(got), short(v3.Hash))
	}
}
