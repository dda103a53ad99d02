package controller

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/memory"
)

func TestRollbackIntentPending(t *testing.T) {
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	revs := func(toConverged time.Time) []store.Revision {
		return []store.Revision{
			{Hash: "aaaa1111", State: store.RevisionConverged, Converged: at.Add(-2 * time.Hour)},
			{Hash: "bbbb2222", State: store.RevisionConverged, Converged: toConverged},
			{Hash: "cccc3333", State: store.RevisionRolledBack, Converged: at.Add(-time.Hour)},
		}
	}
	in := RollbackIntent{From: "cccc3333", To: "bbbb2222", At: at}
	tests := map[string]struct {
		in   RollbackIntent
		revs []store.Revision
		cur  string
		want bool
	}{
		"target still From, To not converged since":       {in: in, revs: revs(at.Add(-90 * time.Minute)), cur: "cccc3333", want: true},
		"target To already, not converged since":          {in: in, revs: revs(at.Add(-90 * time.Minute)), cur: "bbbb2222", want: true},
		"To never converged":                              {in: in, revs: revs(time.Time{}), cur: "bbbb2222", want: true},
		"To converged at the very moment":                 {in: in, revs: revs(at), cur: "bbbb2222", want: true},
		"no target before, none now":                      {in: RollbackIntent{To: "bbbb2222", At: at}, revs: revs(time.Time{}), cur: "", want: true},
		"To converged since":                              {in: in, revs: revs(at.Add(time.Second)), cur: "bbbb2222", want: false},
		"another revision targeted since":                 {in: in, revs: revs(at.Add(-90 * time.Minute)), cur: "aaaa1111", want: false},
		"To no longer recorded (pruned)":                  {in: in, revs: revs(time.Time{})[:1], cur: "bbbb2222", want: false},
		"nothing recorded (the zero intent)":              {in: RollbackIntent{}, revs: revs(time.Time{}), cur: "", want: false},
		"To converged since, target From again (by hand)": {in: in, revs: revs(at.Add(time.Minute)), cur: "cccc3333", want: false},
		"target From, To converged just before At":        {in: in, revs: revs(at.Add(-time.Nanosecond)), cur: "cccc3333", want: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, got := tc.in.Pending(tc.revs, tc.cur)
			if got != tc.want {
				t.Fatalf("Pending: %v; want %v", got, tc.want)
			}
			if got && r.Hash != tc.in.To {
				t.Errorf("Pending returned revision %q; want To, %q", r.Hash, tc.in.To)
			}
			if !got && r.Hash != "" {
				t.Errorf("not pending, yet a revision: %q", r.Hash)
			}
		})
	}
}

// errMeta is a state whose settings do not answer.
type errMeta struct{ err error }

func (m errMeta) GetMeta(context.Context, string) (string, error) { return "", m.err }
func (m errMeta) SetMeta(context.Context, string, string) error   { return m.err }

func TestRecordAndPendingRollback(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	revs := []store.Revision{{Hash: "aaaa1111", Converged: at.Add(-time.Hour)}, {Hash: "bbbb2222", Converged: at.Add(-time.Minute)}}
	st := memory.New()
	if _, _, ok, err := PendingRollback(ctx, st, revs, "bbbb2222"); ok || err != nil {
		t.Fatalf("nothing recorded: pending %v, %v; want neither", ok, err)
	}
	in := RollbackIntent{From: "bbbb2222", To: "aaaa1111", At: at}
	if err := RecordRollback(ctx, st, in); err != nil {
		t.Fatal(err)
	}
	got, r, ok, err := PendingRollback(ctx, st, revs, "aaaa1111")
	if err != nil || !ok || r.Hash != "aaaa1111" {
		t.Fatalf("recorded: pending %v, revision %q, %v; want aaaa1111 pending", ok, r.Hash, err)
	}
	if diff := cmp.Diff(in, got); diff != "" {
		t.Errorf("the intent read back (-recorded +read):\n%s", diff)
	}
	if err := st.SetMeta(ctx, metaRollback, "{not json"); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, err := PendingRollback(ctx, st, revs, "aaaa1111"); ok || err != nil {
		t.Errorf("an intent that does not parse: pending %v, %v; want neither", ok, err)
	}
	down := errors.New("the state is down")
	if _, _, _, err := PendingRollback(ctx, errMeta{down}, revs, "aaaa1111"); !errors.Is(err, down) {
		t.Errorf("a state that does not answer: %v; want its error", err)
	}
	if err := RecordRollback(ctx, errMeta{down}, in); !errors.Is(err, down) {
		t.Errorf("record in a state that does not answer: %v; want its error", err)
	}
}

func TestChooseRollback(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	at := t0.Add(time.Hour)
	// Three revisions converged in turn; the third is the target.
	setup := func(t *testing.T, target string, intent *RollbackIntent) *memory.Store {
		t.Helper()
		st := memory.New()
		for i, h := range []string{"aaaa1111", "bbbb2222", "cccc3333"} {
			r := store.Revision{Hash: h, Created: t0.Add(time.Duration(i) * time.Minute), State: store.RevisionConverged, Converged: t0.Add(time.Duration(i)*time.Minute + time.Second)}
			if err := st.PutRevision(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.SetTarget(ctx, target); err != nil {
			t.Fatal(err)
		}
		if intent != nil {
			if err := RecordRollback(ctx, st, *intent); err != nil {
				t.Fatal(err)
			}
		}
		return st
	}
	pending := &RollbackIntent{From: "cccc3333", To: "bbbb2222", At: at}
	tests := map[string]struct {
		target  string
		intent  *RollbackIntent
		prefix  string
		want    RollbackChoice // To by its hash alone
		wantErr error
	}{
		"afresh: the last known good other than the target": {target: "cccc3333", want: RollbackChoice{To: store.Revision{Hash: "bbbb2222"}, From: "cccc3333"}},
		"afresh: a prefix":                                {target: "cccc3333", prefix: "aaaa", want: RollbackChoice{To: store.Revision{Hash: "aaaa1111"}, From: "cccc3333"}},
		"interrupted before the target was set":           {target: "cccc3333", intent: pending, want: RollbackChoice{To: store.Revision{Hash: "bbbb2222"}, From: "cccc3333", Resumed: true}},
		"interrupted after the target was set":            {target: "bbbb2222", intent: pending, want: RollbackChoice{To: store.Revision{Hash: "bbbb2222"}, From: "cccc3333", Resumed: true}},
		"resumed by its own prefix":                       {target: "bbbb2222", intent: pending, prefix: "bbbb22", want: RollbackChoice{To: store.Revision{Hash: "bbbb2222"}, From: "cccc3333", Resumed: true}},
		"another prefix decides afresh":                   {target: "bbbb2222", intent: pending, prefix: "aaaa", want: RollbackChoice{To: store.Revision{Hash: "aaaa1111"}, From: "bbbb2222"}},
		"a finished one (converged since) is not resumed": {target: "bbbb2222", intent: &RollbackIntent{From: "cccc3333", To: "bbbb2222", At: t0}, want: RollbackChoice{To: store.Revision{Hash: "cccc3333"}, From: "bbbb2222"}},
		"a prefix too short":                              {target: "cccc3333", prefix: "aa", wantErr: ErrInvalid},
		"already the target":                              {target: "cccc3333", prefix: "cccc", wantErr: ErrConflict},
		"no such revision":                                {target: "cccc3333", prefix: "dddd", wantErr: store.ErrNotFound},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			st := setup(t, tc.target, tc.intent)
			got, err := ChooseRollback(ctx, st, tc.prefix)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("ChooseRollback: %v; want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.To = store.Revision{Hash: got.To.Hash}
			wantChoice := tc.want
			wantChoice.Target = tc.target // chosen against the target read
			if diff := cmp.Diff(wantChoice, got); diff != "" {
				t.Errorf("ChooseRollback (-want +got):\n%s", diff)
			}
			// Record writes the intent of a new choice, and leaves a
			// resumed one as recorded.
			if err := got.Record(ctx, st, at.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			in, _, ok, err := PendingRollback(ctx, st, mustRevisions(t, st), got.From)
			want := RollbackIntent{From: got.From, To: got.To.Hash, At: at.Add(time.Minute)}
			if got.Resumed {
				want = *tc.intent
			}
			if err != nil || !ok || in != want {
				t.Errorf("recorded: %+v (pending %v, %v); want %+v", in, ok, err, want)
			}
		})
	}
}

func mustRevisions(t *testing.T, st store.Store) []store.Revision {
	t.Helper()
	revs, err := st.ListRevisions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return revs
}

// racingStore is a memory store in which another writer moves the target
// to moveTo between a writer's read of it and its conditional write.
type racingStore struct {
	*memory.Store
	moveTo string
	moved  int
}

func (s *racingStore) SetTargetFrom(ctx context.Context, from, hash string, f store.Fence) error {
	if s.moveTo != "" {
		if err := s.Store.SetTarget(ctx, s.moveTo); err != nil {
			return err
		}
		s.moved++
		s.moveTo = ""
	}
	return s.Store.SetTargetFrom(ctx, from, hash, f)
}

// TestRollbackTargetRace: a rollback whose target write races another
// writer's (a daemon that loaded new manifests) writes nothing and says
// so, naming the revisions: the other write is not lost. Chosen again, it
// rolls back from the new target.
func TestRollbackTargetRace(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	st := &racingStore{Store: memory.New()}
	for i, h := range []string{"aaaa1111", "bbbb2222", "cccc3333", "dddd4444"} {
		r := store.Revision{Hash: h, Created: t0.Add(time.Duration(i) * time.Minute), State: store.RevisionConverged, Converged: t0.Add(time.Duration(i)*time.Minute + time.Second)}
		if h == "dddd4444" {
			r.State, r.Converged = store.RevisionProgressing, time.Time{}
		}
		if err := st.PutRevision(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SetTarget(ctx, "cccc3333"); err != nil {
		t.Fatal(err)
	}
	ch, err := ChooseRollback(ctx, st, "")
	if err != nil {
		t.Fatal(err)
	}
	if ch.To.Hash != "bbbb2222" || ch.Target != "cccc3333" {
		t.Fatalf("chose %s against %s; want bbbb2222 against cccc3333", ch.To.Hash, ch.Target)
	}
	st.moveTo = "dddd4444"
	err = ch.SetTarget(ctx, st)
	if st.moved != 1 {
		t.Fatalf("the other writer moved the target %d times; want once, between the choice and the write", st.moved)
	}
	var moved *TargetMovedError
	if !errors.As(err, &moved) || !errors.Is(err, ErrConflict) || !errors.Is(err, store.ErrConflict) {
		t.Fatalf("SetTarget after a race = %v; want a *TargetMovedError matching ErrConflict and store.ErrConflict", err)
	}
	if diff := cmp.Diff(TargetMovedError{To: "bbbb2222", Was: "cccc3333", Now: "dddd4444"}, *moved); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
	for _, h := range []string{"bbbb2222", "cccc3333", "dddd4444"} {
		if !strings.Contains(err.Error(), h) {
			t.Errorf("error %q; want it to name revision %s", err, h)
		}
	}
	if got, _ := st.Target(ctx); got != "dddd4444" {
		t.Fatalf("target %s after the lost race; want dddd4444, the other writer's, not lost", got)
	}
	// Chosen again, against the new target.
	ch, err = ChooseRollback(ctx, st, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.SetTarget(ctx, st); err != nil {
		t.Fatalf("SetTarget without a race: %v", err)
	}
	if got, _ := st.Target(ctx); got != ch.To.Hash || ch.From != "dddd4444" {
		t.Errorf("target %s, rolled back from %s; want %s from dddd4444", got, ch.From, ch.To.Hash)
	}
}
