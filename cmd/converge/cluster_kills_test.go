package main

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/convergehq/converge/cluster"
	"github.com/convergehq/converge/store"
)

// TestClusterKillsDuringALargeConverge kills one of three nodes with
// kill -9 ten times while they converge 600 buckets (cloudsim answers
// after 150 ms, without idempotency keys, so that a bucket made twice
// shows), restarting it each time: the set converges exactly, every
// bucket made once, never two mutations of one object at once. Each kill
// lands while the victim's share still has work (asserted).
func TestClusterKillsDuringALargeConverge(t *testing.T) {
	if testing.Short() {
		t.Skip("ten kills during a 600-resource converge")
	}
	f := newFleet(t, 150*time.Millisecond)
	ids := buckets(t, f.manifests, 0, 600)
	all := []string{"n1", "n2", "n3"}
	for _, n := range all {
		f.start(n)
	}
	eventually(t, 20*time.Second, "the three settle", f.settled(all...))
	readyCount := func() int {
		n := 0
		for _, ph := range f.records() {
			if ph == store.PhaseReady {
				n++
			}
		}
		return n
	}
	last := 0
	for round := range 10 {
		victim := all[round%3]
		// Some progress since the last kill, and the victim with work left.
		eventually(t, 60*time.Second, "progress before the kill", func() string {
			if n := readyCount(); n < last+20 {
				return fmt.Sprintf("%d Ready", n)
			}
			return ""
		})
		got := f.records()
		left := 0
		for _, id := range ids {
			if got[id] != store.PhaseReady && cluster.Owner(id, f.live()) == victim {
				left++
			}
		}
		if left == 0 {
			t.Fatalf("premise, round %d: %s has no work left to be killed in (%d Ready)", round+1, victim, readyCount())
		}
		last = readyCount()
		p := f.nodes[victim]
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.done
		t.Logf("round %d: kill -9 to %s with %d of its share not Ready (%d of %d Ready)", round+1, victim, left, last, len(ids))
		// Its name is free again once its lease expired and the others
		// took its share over; then it comes back.
		var others []string
		for _, n := range all {
			if n != victim {
				others = append(others, n)
			}
		}
		eventually(t, 15*time.Second, "the others take "+victim+"'s share over", f.settled(others...))
		f.start(victim)
		eventually(t, 15*time.Second, victim+" is back", f.settled(all...))
	}
	eventually(t, 3*time.Minute, "the set converges", f.converged(ids, ""))
	f.createdOnce(names(ids))
	if live := f.sim.Audit().Live["Bucket"]; live != len(ids) {
		t.Errorf("%d live buckets; want the set's %d", live, len(ids))
	}
}
