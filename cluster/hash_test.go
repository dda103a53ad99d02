package cluster

import (
	"fmt"
	"slices"
	"testing"
)

func names(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("node-%d", i+1)
	}
	return s
}

func TestOwnerIsOneOfTheNodes(t *testing.T) {
	if got := Owner("x", nil); got != "" {
		t.Errorf("Owner over no nodes = %q; want \"\"", got)
	}
	ns := names(5)
	for _, id := range ids(1000) {
		o := Owner(id, ns)
		if !slices.Contains(ns, o) {
			t.Fatalf("Owner(%s) = %q; want one of %v", id, o, ns)
		}
		// The order the names come in does not matter.
		if r := Owner(id, []string{ns[4], ns[2], ns[0], ns[3], ns[1]}); r != o {
			t.Fatalf("Owner(%s) = %q in another order; want %q", id, r, o)
		}
	}
}

// TestMovement checks, for every change of one node among 2 to 10, that a
// node leaving moves only its own resources and a node joining takes
// resources only to itself, at most 1.15x its ideal share.
func TestMovement(t *testing.T) {
	keys := ids(3000)
	for n := 2; n <= 10; n++ {
		before := names(n)
		after := names(n + 1)
		joiner := after[n]
		moved := 0
		for _, id := range keys {
			a, b := Owner(id, before), Owner(id, after)
			if a != b {
				moved++
				if b != joiner {
					t.Fatalf("N=%d: %s moved from %s to %s on %s's join; want only to the joiner", n, id, a, b, joiner)
				}
			}
		}
		ideal := float64(len(keys)) / float64(n+1)
		if float64(moved) > 1.15*ideal {
			t.Errorf("N=%d: a join moved %d of %d; want at most 1.15 x %.0f", n, moved, len(keys), ideal)
		}
		// Leaving: the joiner leaves again, and a node in the middle.
		for _, leaver := range []string{joiner, after[n/2]} {
			rest := slices.DeleteFunc(slices.Clone(after), func(s string) bool { return s == leaver })
			left := 0
			for _, id := range keys {
				a, b := Owner(id, after), Owner(id, rest)
				if a != b {
					left++
					if a != leaver {
						t.Fatalf("N=%d: %s moved from %s to %s when %s left; want only the leaver's to move", n+1, id, a, b, leaver)
					}
				}
			}
			if want := Shares(keys, after)[leaver]; left != want {
				t.Errorf("N=%d: %d moved when %s left; want its share, %d", n+1, left, leaver, want)
			}
		}
		t.Logf("N=%d->%d: a join moved %d (ideal %.0f)", n, n+1, moved, ideal)
	}
}

// TestBalance reports the spread of the shares: busiest over least busy,
// and busiest over the mean.
func TestBalance(t *testing.T) {
	for _, k := range []int{300, 1000, 10000} {
		for _, n := range []int{3, 5, 10} {
			s := Shares(ids(k), names(n))
			lo, hi, sum := k, 0, 0
			for _, c := range s {
				lo, hi, sum = min(lo, c), max(hi, c), sum+c
			}
			if sum != k {
				t.Fatalf("K=%d N=%d: shares sum to %d", k, n, sum)
			}
			mean := float64(k) / float64(n)
			t.Logf("K=%d N=%d: shares %d..%d, max/min %.3f, max/mean %.3f", k, n, lo, hi, float64(hi)/float64(lo), float64(hi)/mean)
			if n == 3 && float64(hi) > 1.25*float64(lo) {
				t.Errorf("K=%d N=3: busiest %d > 1.25 x least busy %d", k, hi, lo)
			}
		}
	}
}

func BenchmarkOwner(b *testing.B) {
	ns := names(10)
	keys := ids(1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Owner(keys[i%len(keys)], ns)
	}
}

func TestViewPlace(t *testing.T) {
	view := func(names ...string) View {
		var ms []Member
		for i, n := range names {
			ms = append(ms, Member{Name: n, lease: int64(i + 1)})
		}
		return newView(ms)
	}
	tests := map[string]struct {
		v            View
		name         string
		index, count int
	}{
		"first of three":            {view("n2", "n1", "n3"), "n1", 0, 3},
		"last of three":             {view("n3", "n1", "n2"), "n3", 2, 3},
		"alone":                     {view("n1"), "n1", 0, 1},
		"joining, sorts first":      {view("n2", "n3"), "n1", 0, 3},
		"joining, sorts in between": {view("n1", "n3"), "n2", 1, 3},
		"joining an empty view":     {view(), "n1", 0, 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			i, n := tc.v.Place(tc.name)
			if i != tc.index || n != tc.count {
				t.Errorf("Place(%s) in %v = %d of %d; want %d of %d", tc.name, tc.v.Names(), i, n, tc.index, tc.count)
			}
		})
	}
}
