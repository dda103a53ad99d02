package storetest

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/store"
)

func conditionalTarget(t *testing.T, s store.Store) store.ConditionalTargetStore {
	t.Helper()
	c, ok := s.(store.ConditionalTargetStore)
	if !ok {
		t.Fatalf("%T does not implement store.ConditionalTargetStore", s)
	}
	return c
}

// target returns the store's target, empty when none.
func target(t *testing.T, s store.Store) string {
	t.Helper()
	h, err := s.Target(t.Context())
	if errors.Is(err, store.ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatalf("Target: %v", err)
	}
	return h
}

// putRevisions puts a progressing revision of each hash.
func putRevisions(t *testing.T, s store.Store, hashes ...string) {
	t.Helper()
	for _, h := range hashes {
		if err := s.PutRevision(t.Context(), store.Revision{Hash: h, State: store.RevisionProgressing}); err != nil {
			t.Fatal(err)
		}
	}
}

// testSetTargetFrom checks conditional target writes: one from the target
// the writer read commits; one from a target that changed since fails with
// a *store.TargetConflictError naming both and writes nothing; one to the
// target it is already succeeds; AnyTarget skips the check.
func testSetTargetFrom(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := conditionalTarget(t, s)
	putRevisions(t, s, "h1", "h2", "h3")
	steps := []struct {
		name     string
		from, to string
		conflict *store.TargetConflictError // nil: the write commits
		missing  bool                       // fails with ErrNotFound
		want     string                     // the target after
	}{
		{name: "from no target", from: "", to: "h1", want: "h1"},
		{name: "from no target, lost", from: "", to: "h2", conflict: &store.TargetConflictError{Hash: "h2", Want: "", Got: "h1"}, want: "h1"},
		{name: "from the target read", from: "h1", to: "h2", want: "h2"},
		{name: "from a target that changed", from: "h1", to: "h3", conflict: &store.TargetConflictError{Hash: "h3", Want: "h1", Got: "h2"}, want: "h2"},
		{name: "to the target already, from another", from: "h1", to: "h2", want: "h2"},
		{name: "to a revision never put", from: "h2", to: "h9", missing: true, want: "h2"},
		{name: "from any target", from: store.AnyTarget, to: "h3", want: "h3"},
	}
	for _, st := range steps {
		err := c.SetTargetFrom(ctx, st.from, st.to, store.Fence{})
		switch {
		case st.conflict != nil:
			var ce *store.TargetConflictError
			if !errors.Is(err, store.ErrConflict) || !errors.As(err, &ce) {
				t.Errorf("%s: SetTargetFrom(%q, %s) = %v; want a *store.TargetConflictError matching store.ErrConflict", st.name, st.from, st.to, err)
				break
			}
			if diff := cmp.Diff(*st.conflict, *ce); diff != "" {
				t.Errorf("%s: conflict (-want +got):\n%s", st.name, diff)
			}
			for _, h := range []string{st.conflict.Hash, st.conflict.Got} {
				if !strings.Contains(err.Error(), h) {
					t.Errorf("%s: conflict error %q; want it to name %s", st.name, err, h)
				}
			}
		case st.missing:
			if !errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
				t.Errorf("%s: SetTargetFrom(%q, %s) = %v; want an error wrapping store.ErrNotFound", st.name, st.from, st.to, err)
			}
		case err != nil:
			t.Errorf("%s: SetTargetFrom(%q, %s) = %v; want nil", st.name, st.from, st.to, err)
		}
		if got := target(t, s); got != st.want {
			t.Errorf("%s: target %q after; want %q", st.name, got, st.want)
		}
	}
	if err := s.ClearTarget(ctx); err != nil {
		t.Fatal(err)
	}
	err := c.SetTargetFrom(ctx, "h3", "h1", store.Fence{})
	var ce *store.TargetConflictError
	if !errors.As(err, &ce) || ce.Got != "" || !strings.Contains(err.Error(), "no target") {
		t.Errorf("SetTargetFrom(h3, h1) after ClearTarget = %v; want a conflict saying the store has no target", err)
	}
	if got := target(t, s); got != "" {
		t.Errorf("target %q after a refused write; want none", got)
	}
}

// testTargetFences checks that a target write fenced by a token commits
// while the token is current and fails with ErrFenced, writing nothing,
// once another replaced it, and that the fence is checked before the
// target.
func testTargetFences(t *testing.T, s store.Store) {
	ctx := t.Context()
	c, f := conditionalTarget(t, s), fencer(t, s)
	putRevisions(t, s, "h1", "h2")
	old := store.Fence{Name: "leader", Token: "term-1"}
	if err := f.SetFence(ctx, old.Name, old.Token); err != nil {
		t.Fatal(err)
	}
	if err := c.SetTargetFrom(ctx, "", "h1", old); err != nil {
		t.Fatalf("SetTargetFrom with the current token = %v", err)
	}
	cur := store.Fence{Name: old.Name, Token: "term-2"}
	if err := f.SetFence(ctx, cur.Name, cur.Token); err != nil {
		t.Fatal(err)
	}
	want := store.FencedError{Op: "set target", ID: "h2", Fence: old.Name, Token: old.Token, Current: cur.Token}
	for name, write := range map[string]func() error{
		"SetTargetFrom(the target read, stale token)": func() error { return c.SetTargetFrom(ctx, "h1", "h2", old) },
		// The fence first: a stale token and a stale target is fenced.
		"SetTargetFrom(a stale target, stale token)": func() error { return c.SetTargetFrom(ctx, "h9", "h2", old) },
		"SetTargetIf(stale token)":                   func() error { return c.SetTargetIf(ctx, "h2", old) },
	} {
		err := write()
		var fe *store.FencedError
		if !errors.Is(err, store.ErrFenced) || !errors.As(err, &fe) {
			t.Errorf("%s = %v; want a *store.FencedError matching store.ErrFenced", name, err)
			continue
		}
		if diff := cmp.Diff(want, *fe); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	if got := target(t, s); got != "h1" {
		t.Errorf("target %q after fenced writes; want h1, nothing written", got)
	}
	if err := c.SetTargetIf(ctx, "h2", cur); err != nil {
		t.Errorf("SetTargetIf with the new token = %v", err)
	}
	if err := c.SetTargetFrom(ctx, "h2", "h1", cur); err != nil {
		t.Errorf("SetTargetFrom(the target read) with the new token = %v", err)
	}
	if got := target(t, s); got != "h1" {
		t.Errorf("target %q; want h1", got)
	}
	if err := c.SetTargetFrom(ctx, "h1", "h2", store.Fence{Name: "leader"}); err == nil || errors.Is(err, store.ErrFenced) {
		t.Errorf("SetTargetFrom(fence without a token) = %v; want an error that is not ErrFenced", err)
	}
}

// testTargetConcurrent runs writers that each move the target from the
// one they read to a revision of their own, retrying when they lose:
// every write that succeeded started from the target the one before it
// set, so the successful writes form one chain and none is lost.
func testTargetConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := conditionalTarget(t, s)
	const writers, each = 4, 10
	var hashes []string
	for w := range writers {
		for i := range each {
			hashes = append(hashes, string(rune('a'+w))+string(rune('a'+i)))
		}
	}
	putRevisions(t, s, hashes...)
	type move struct{ from, to string }
	var (
		mu    sync.Mutex
		moves []move
		wg    sync.WaitGroup
	)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				to := hashes[w*each+i]
				for {
					from, err := s.Target(ctx)
					if err != nil && !errors.Is(err, store.ErrNotFound) {
						t.Error(err)
						return
					}
					err = c.SetTargetFrom(ctx, from, to, store.Fence{})
					if errors.Is(err, store.ErrConflict) {
						continue
					}
					if err != nil {
						t.Error(err)
						return
					}
					// The write and its record are not one step: a
					// later write may be recorded first, so the chain
					// is checked as a set of links.
					mu.Lock()
					moves = append(moves, move{from, to})
					mu.Unlock()
					break
				}
			}
		})
	}
	wg.Wait()
	if len(moves) != writers*each {
		t.Fatalf("%d writes succeeded; want %d", len(moves), writers*each)
	}
	// Each target was left exactly once, except the last, and reached
	// exactly once: one chain from no target through every revision.
	next := map[string]string{}
	for _, m := range moves {
		if _, dup := next[m.from]; dup {
			t.Fatalf("two writes moved the target from %q: one of them overwrote the other's", m.from)
		}
		next[m.from] = m.to
	}
	n, at := 0, ""
	for {
		to, ok := next[at]
		if !ok {
			break
		}
		n, at = n+1, to
	}
	if n != writers*each || at != target(t, s) {
		t.Errorf("the chain of writes from no target has %d links and ends at %q, the target %q; want %d links to the target", n, at, target(t, s), writers*each)
	}
}
