package queue

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	testclock "k8s.io/utils/clock/testing"
)

// parked reports whether n Acquire calls are blocked.
func parked(l *Limiter, n int) func() bool {
	return func() bool { return l.Waiting() == n }
}

// acquire starts Acquire in a goroutine and returns the channel its result
// arrives on.
func acquire(ctx context.Context, l *Limiter) <-chan acquired {
	c := make(chan acquired, 1)
	go func() {
		release, err := l.Acquire(ctx)
		c <- acquired{release, err}
	}()
	return c
}

type acquired struct {
	release func()
	err     error
}

// acquireAndRelease calls Acquire, stepping the fake clock 1ms at a time
// while the call waits, releases at once and returns the fake time elapsed
// since the epoch when Acquire returned.
func acquireAndRelease(t *testing.T, fc *testclock.FakeClock, l *Limiter) time.Duration {
	t.Helper()
	c := acquire(context.Background(), l)
	for {
		await(t, "Acquire to return or park", func() bool { return len(c) == 1 || parked(l, 1)() })
		if len(c) == 1 {
			break
		}
		fc.Step(time.Millisecond)
		// The timer either did not fire (still a waiter) or woke the call,
		// which re-arms a timer or returns.
		await(t, "Acquire to settle", func() bool { return len(c) == 1 || fc.HasWaiters() })
	}
	r := <-c
	if r.err != nil {
		t.Fatalf("Acquire: %v", r.err)
	}
	r.release()
	return fc.Since(epoch)
}

// TestLimiterSpacing checks when successive Acquire calls return, on the fake
// clock: each is released at once, so only the token bucket paces them.
func TestLimiterSpacing(t *testing.T) {
	tests := map[string]struct {
		cfg  LimiterConfig
		want []time.Duration // when each of the calls returns
	}{
		"burst then qps": {
			cfg:  LimiterConfig{QPS: 2, Burst: 3},
			want: []time.Duration{0, 0, 0, 500 * time.Millisecond, time.Second, 1500 * time.Millisecond},
		},
		"burst below one means one": {
			cfg:  LimiterConfig{QPS: 10},
			want: []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond},
		},
		"qps zero is unlimited": {
			cfg:  LimiterConfig{Burst: 1},
			want: []time.Duration{0, 0, 0, 0, 0},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			fc := testclock.NewFakeClock(epoch)
			l := NewLimiter(tc.cfg, fc)
			var got []time.Duration
			for range tc.want {
				got = append(got, acquireAndRelease(t, fc, l))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("return times (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLimiterInFlightIsFIFO(t *testing.T) {
	fc := testclock.NewFakeClock(epoch)
	l := NewLimiter(LimiterConfig{MaxInFlight: 2}, fc)
	ctx := context.Background()
	r1, err := l.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := l.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c3 := acquire(ctx, l)
	await(t, "third caller to wait", parked(l, 1))
	c4 := acquire(ctx, l)
	await(t, "fourth caller to wait", parked(l, 2))
	if got, want := l.InFlight(), 2; got != want {
		t.Fatalf("got InFlight %d; want %d", got, want)
	}

	r1()
	r1() // release is idempotent
	a3 := receive(t, "third caller", c3)
	if a3.err != nil {
		t.Fatal(a3.err)
	}
	notYet(t, "fourth caller", c4)
	if got, want := l.InFlight(), 2; got != want {
		t.Fatalf("got InFlight %d; want %d", got, want)
	}

	r2()
	a4 := receive(t, "fourth caller", c4)
	if a4.err != nil {
		t.Fatal(a4.err)
	}
	a3.release()
	a4.release()
	if got, want := l.InFlight(), 0; got != want {
		t.Errorf("got InFlight %d; want %d", got, want)
	}
}

func TestLimiterPause(t *testing.T) {
	fc := testclock.NewFakeClock(epoch)
	l := NewLimiter(LimiterConfig{MaxInFlight: 1}, fc)
	ctx := context.Background()

	l.Pause(10 * time.Second)
	if got, want := l.PausedUntil(), epoch.Add(10*time.Second); !got.Equal(want) {
		t.Fatalf("got PausedUntil %v; want %v", got, want)
	}
	var calls []<-chan acquired
	for i := range 3 {
		calls = append(calls, acquire(ctx, l))
		await(t, "caller to wait", parked(l, i+1))
	}

	fc.Step(5 * time.Second)
	l.Pause(10 * time.Second) // extends to 15s
	l.Pause(time.Second)      // does not shorten
	if got, want := l.PausedUntil(), epoch.Add(15*time.Second); !got.Equal(want) {
		t.Fatalf("got PausedUntil %v; want %v", got, want)
	}

	// At 10s the first pause would have ended: the head of the line wakes,
	// finds the pause extended and waits again.
	fc.Step(5 * time.Second)
	await(t, "head to re-arm", func() bool { return parked(l, 3)() && fc.Waiters() == 1 })
	for i, c := range calls {
		notYet(t, fmt.Sprintf("caller %d", i), c)
	}

	// At 15s the callers are served in order, one slot at a time.
	fc.Step(5 * time.Second)
	for i, c := range calls {
		a := receive(t, "caller", c)
		if a.err != nil {
			t.Fatal(a.err)
		}
		for _, later := range calls[i+1:] {
			notYet(t, "a later caller", later)
		}
		a.release()
	}
}

func TestLimiterPauseDelaysTokenWaiters(t *testing.T) {
	fc := testclock.NewFakeClock(epoch)
	l := NewLimiter(LimiterConfig{QPS: 1, Burst: 1}, fc)
	ctx := context.Background()
	if _, err := l.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	c := acquire(ctx, l) // waits for a token until 1s
	await(t, "caller to wait for a token", parked(l, 1))
	l.Pause(5 * time.Second)
	fc.Step(time.Second)
	await(t, "caller to wait for the pause", func() bool { return parked(l, 1)() && fc.Waiters() == 1 })
	notYet(t, "caller", c)
	fc.Step(4 * time.Second)
	if a := receive(t, "caller", c); a.err != nil {
		t.Fatal(a.err)
	}
}

func TestLimiterCancel(t *testing.T) {
	t.Run("while waiting for a slot", func(t *testing.T) {
		fc := testclock.NewFakeClock(epoch)
		l := NewLimiter(LimiterConfig{MaxInFlight: 1}, fc)
		release, err := l.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		c := acquire(ctx, l)
		behind := acquire(context.Background(), l)
		await(t, "callers to wait", parked(l, 2))
		cancel()
		if a := receive(t, "cancelled caller", c); !errors.Is(a.err, context.Canceled) {
			t.Fatalf("got error %v; want context.Canceled", a.err)
		}
		if got, want := l.InFlight(), 1; got != want {
			t.Errorf("got InFlight %d; want %d", got, want)
		}
		release()
		if a := receive(t, "caller behind", behind); a.err != nil {
			t.Fatal(a.err)
		}
	})
	t.Run("while waiting for a token", func(t *testing.T) {
		fc := testclock.NewFakeClock(epoch)
		l := NewLimiter(LimiterConfig{QPS: 1, Burst: 1, MaxInFlight: 1}, fc)
		release, err := l.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		release()
		ctx, cancel := context.WithCancel(context.Background())
		c := acquire(ctx, l) // holds the slot, waits for the token due at 1s
		await(t, "caller to wait for a token", parked(l, 1))
		if got, want := l.InFlight(), 1; got != want {
			t.Errorf("got InFlight %d; want %d", got, want)
		}
		cancel()
		if a := receive(t, "cancelled caller", c); !errors.Is(a.err, context.Canceled) {
			t.Fatalf("got error %v; want context.Canceled", a.err)
		}
		if got, want := l.InFlight(), 0; got != want {
			t.Errorf("got InFlight %d; want %d", got, want)
		}
		// The token came back: the next call waits 1s, not 2s.
		next := acquire(context.Background(), l)
		await(t, "next caller to wait", parked(l, 1))
		fc.Step(999 * time.Millisecond)
		notYet(t, "next caller", next)
		fc.Step(time.Millisecond)
		if a := receive(t, "next caller", next); a.err != nil {
			t.Fatal(a.err)
		}
	})
	t.Run("already done", func(t *testing.T) {
		l := NewLimiter(LimiterConfig{}, testclock.NewFakeClock(epoch))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := l.Acquire(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("got error %v; want context.Canceled", err)
		}
		if got, want := l.InFlight(), 0; got != want {
			t.Errorf("got InFlight %d; want %d", got, want)
		}
	})
}

// TestLimiterWaiting counts the callers blocked for a slot, for the end of a
// pause and for a token, and not those that returned, with a slot or with
// their context's error.
func TestLimiterWaiting(t *testing.T) {
	fc := testclock.NewFakeClock(epoch)
	l := NewLimiter(LimiterConfig{QPS: 1, Burst: 1, MaxInFlight: 1}, fc)
	ctx := context.Background()
	if got := l.Waiting(); got != 0 {
		t.Fatalf("Waiting of a new limiter = %d; want 0", got)
	}
	r1, err := l.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Waiting(); got != 0 {
		t.Fatalf("Waiting after an Acquire that returned at once = %d; want 0", got)
	}

	// Two callers wait for the one slot; one of them gives up.
	cctx, cancel := context.WithCancel(ctx)
	c2 := acquire(ctx, l)
	await(t, "a caller to wait for the slot", parked(l, 1))
	c3 := acquire(cctx, l)
	await(t, "two callers to wait for the slot", parked(l, 2))
	cancel()
	if a := receive(t, "the caller that gave up", c3); !errors.Is(a.err, context.Canceled) {
		t.Fatalf("Acquire with a canceled context: %v; want context.Canceled", a.err)
	}
	if got := l.Waiting(); got != 1 {
		t.Fatalf("Waiting after one caller gave up = %d; want 1", got)
	}

	// The slot frees while the token is a second away: the caller now
	// waits for the token.
	r1()
	await(t, "the caller to wait for its token", func() bool { return parked(l, 1)() && fc.Waiters() == 1 })
	notYet(t, "the caller waiting for a token", c2)

	// A pause holds a newcomer (and the slot is taken anyway).
	fc.Step(time.Second)
	a2 := receive(t, "the caller with its token", c2)
	if a2.err != nil {
		t.Fatal(a2.err)
	}
	if got := l.Waiting(); got != 0 {
		t.Fatalf("Waiting once every caller returned = %d; want 0", got)
	}
	a2.release()
	l.Pause(time.Minute)
	c4 := acquire(ctx, l)
	await(t, "a caller to wait for the pause", parked(l, 1))
	fc.Step(time.Minute)
	a4 := receive(t, "the caller after the pause", c4)
	if a4.err != nil {
		t.Fatal(a4.err)
	}
	a4.release()
	if got := l.Waiting(); got != 0 {
		t.Errorf("Waiting at the end = %d; want 0", got)
	}
}
