package etcd_test

import (
	"errors"
	"testing"

	"github.com/convergehq/converge/store"
	"github.com/convergehq/converge/store/etcd/etcdtest"
)

// TestSetTargetIf checks that only the holder of the current token sets
// the target, through another client than the one that moved the fence.
func TestSetTargetIf(t *testing.T) {
	ctx := t.Context()
	p := etcdtest.Prefix(t)
	leader, other := open(t, p), open(t, p)
	for _, h := range []string{"rev-a", "rev-b"} {
		if err := leader.PutRevision(ctx, store.Revision{Hash: h, State: store.RevisionProgressing}); err != nil {
			t.Fatal(err)
		}
	}
	term1 := store.Fence{Name: "cluster/leader", Token: "n1/7"}
	if err := leader.SetFence(ctx, term1.Name, term1.Token); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		hash    string
		fence   store.Fence
		moveTo  string // the fence's token before the write; "" leaves it
		wantErr error
		want    string // the target after the write
	}{
		{name: "current token", hash: "rev-a", fence: term1, want: "rev-a"},
		{name: "same target again", hash: "rev-a", fence: term1, want: "rev-a"},
		{name: "missing revision", hash: "rev-none", fence: term1, wantErr: store.ErrNotFound, want: "rev-a"},
		{name: "stale token", hash: "rev-b", fence: term1, moveTo: "n2/9", wantErr: store.ErrFenced, want: "rev-a"},
		{name: "new term's token", hash: "rev-b", fence: store.Fence{Name: term1.Name, Token: "n2/9"}, want: "rev-b"},
		{name: "unfenced", hash: "rev-a", want: "rev-a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.moveTo != "" {
				if err := other.SetFence(ctx, term1.Name, tt.moveTo); err != nil {
					t.Fatal(err)
				}
			}
			err := leader.SetTargetIf(ctx, tt.hash, tt.fence)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("SetTargetIf = %v; want nil", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("SetTargetIf = %v; want %v", err, tt.wantErr)
			}
			var fe *store.FencedError
			if errors.Is(tt.wantErr, store.ErrFenced) && (!errors.As(err, &fe) || fe.Current != tt.moveTo) {
				t.Errorf("SetTargetIf = %v; want a FencedError naming the current token %q", err, tt.moveTo)
			}
			if got, err := other.Target(ctx); err != nil || got != tt.want {
				t.Errorf("Target = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
