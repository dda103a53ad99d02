package queue

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Changes and background work are served in turn: a flood of one never
// starves the other.
func TestLanesAreServedInTurn(t *testing.T) {
	q := New[string]()
	defer q.ShutDown()
	for _, k := range []string{"a", "b", "c", "d"} {
		q.Add(k)
	}
	for _, k := range []string{"x", "y", "a"} { // a is queued already: it stays put
		q.AddBackground(k)
	}
	var got []string
	for q.Len() > 0 {
		k, _ := q.Get()
		got = append(got, k)
		q.Done(k)
	}
	if diff := cmp.Diff([]string{"a", "x", "b", "y", "c", "d"}, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}
