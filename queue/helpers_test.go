package queue

import (
	"runtime"
	"testing"
	"time"
)

// epoch is the fake clocks' start time.
var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// await polls cond until it holds. It is for states reached by another
// goroutine that has no event to wait on (a goroutine parked in a select);
// it yields rather than sleeps, and fails the test after a generous real-time
// bound so a bug shows up as a failure rather than a hang.
func await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// receive returns the next value from c, failing the test if none comes
// within a generous real-time bound.
func receive[T any](t *testing.T, what string, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// notYet fails the test if c already has a value.
func notYet[T any](t *testing.T, what string, c <-chan T) {
	t.Helper()
	select {
	case v := <-c:
		t.Fatalf("%s happened too early: %v", what, v)
	default:
	}
}
