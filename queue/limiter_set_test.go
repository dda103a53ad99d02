package queue

import (
	"context"
	"testing"
	"time"

	testclock "k8s.io/utils/clock/testing"
)

// TestLimiterSetLimits changes the limits while callers wait: the new
// limits apply to them at once, and none is dropped.
func TestLimiterSetLimits(t *testing.T) {
	ctx := context.Background()
	t.Run("a higher rate brings a token waiter forward", func(t *testing.T) {
		fc := testclock.NewFakeClock(epoch)
		l := NewLimiter(LimiterConfig{QPS: 1, Burst: 1}, fc)
		if _, err := l.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
		c := acquire(ctx, l) // its token is due at 1s
		await(t, "caller to wait for a token", func() bool { return parked(l, 1)() && fc.Waiters() == 1 })
		l.SetLimits(LimiterConfig{QPS: 10, Burst: 1})
		await(t, "caller to wait for its new token", func() bool { return parked(l, 1)() && fc.Waiters() == 1 })
		fc.Step(99 * time.Millisecond)
		await(t, "caller to wait again", func() bool { return parked(l, 1)() && fc.Waiters() == 1 })
		notYet(t, "caller", c)
		fc.Step(time.Millisecond)
		if a := receive(t, "caller at 100ms", c); a.err != nil {
			t.Fatal(a.err)
		}
	})
	t.Run("a lower rate delays token waiters, in order", func(t *testing.T) {
		fc := testclock.NewFakeClock(epoch)
		l := NewLimiter(LimiterConfig{QPS: 10, Burst: 1}, fc)
		if _, err := l.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
		c1 := acquire(ctx, l) // due at 100ms
		await(t, "first caller to wait", parked(l, 1))
		c2 := acquire(ctx, l) // due at 200ms
		await(t, "second caller to wait", func() bool { return parked(l, 2)() && fc.Waiters() == 2 })
		l.SetLimits(LimiterConfig{QPS: 2, Burst: 1}) // due at 500ms and 1s now
		await(t, "callers to wait for their new tokens", func() bool { return parked(l, 2)() && fc.Waiters() == 2 })
		fc.Step(200 * time.Millisecond)
		await(t, "callers to wait again", func() bool { return parked(l, 2)() && fc.Waiters() == 2 })
		notYet(t, "first caller at 200ms", c1)
		notYet(t, "second caller at 200ms", c2)
		fc.Step(300 * time.Millisecond)
		if a := receive(t, "first caller at 500ms", c1); a.err != nil {
			t.Fatal(a.err)
		}
		await(t, "second caller to wait", func() bool { return parked(l, 1)() && fc.Waiters() == 1 })
		notYet(t, "second caller at 500ms", c2)
		fc.Step(500 * time.Millisecond)
		if a := receive(t, "second caller at 1s", c2); a.err != nil {
			t.Fatal(a.err)
		}
		if got := l.Limits(); got != (LimiterConfig{QPS: 2, Burst: 1}) {
			t.Errorf("Limits = %+v; want the new ones", got)
		}
	})
	t.Run("a higher maxInFlight grants waiting callers at once", func(t *testing.T) {
		fc := testclock.NewFakeClock(epoch)
		l := NewLimiter(LimiterConfig{MaxInFlight: 1}, fc)
		r, err := l.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c1 := acquire(ctx, l)
		await(t, "first caller to wait", parked(l, 1))
		c2 := acquire(ctx, l)
		await(t, "second caller to wait", parked(l, 2))
		l.SetLimits(LimiterConfig{MaxInFlight: 3})
		a1, a2 := receive(t, "first caller", c1), receive(t, "second caller", c2)
		if a1.err != nil || a2.err != nil {
			t.Fatal(a1.err, a2.err)
		}
		if got := l.InFlight(); got != 3 {
			t.Errorf("InFlight = %d; want 3", got)
		}
		r()
		a1.release()
		a2.release()
	})
	t.Run("a lower maxInFlight grants nothing until under it", func(t *testing.T) {
		fc := testclock.NewFakeClock(epoch)
		l := NewLimiter(LimiterConfig{MaxInFlight: 3}, fc)
		var rs []func()
		for range 3 {
			r, err := l.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			rs = append(rs, r)
		}
		c := acquire(ctx, l)
		await(t, "caller to wait", parked(l, 1))
		l.SetLimits(LimiterConfig{MaxInFlight: 1})
		rs[0]()
		notYet(t, "caller with 2 in flight", c)
		rs[1]()
		notYet(t, "caller with 1 in flight", c)
		if got := l.Waiting(); got != 1 {
			t.Fatalf("Waiting = %d; want the caller kept", got)
		}
		rs[2]()
		a := receive(t, "caller with none in flight", c)
		if a.err != nil {
			t.Fatal(a.err)
		}
		if got := l.InFlight(); got != 1 {
			t.Errorf("InFlight = %d; want 1", got)
		}
		a.release()
	})
	t.Run("tokens saved beyond a lower burst are dropped", func(t *testing.T) {
		fc := testclock.NewFakeClock(epoch)
		l := NewLimiter(LimiterConfig{QPS: 1, Burst: 5}, fc)
		fc.Step(10 * time.Second) // the bucket is full: 5 tokens
		l.SetLimits(LimiterConfig{QPS: 1, Burst: 2})
		start := fc.Since(epoch)
		var got []time.Duration
		for range 3 {
			got = append(got, acquireAndRelease(t, fc, l)-start)
		}
		if got[0] != 0 || got[1] != 0 || got[2] != time.Second {
			t.Errorf("return times %v; want 0, 0, 1s (a burst of 2)", got)
		}
	})
	t.Run("a throttled rate keeps its fraction", func(t *testing.T) {
		fc := testclock.NewFakeClock(epoch)
		l := NewLimiter(LimiterConfig{QPS: 16, Burst: 4}, fc)
		l.Throttle() // 8 of 16
		l.SetLimits(LimiterConfig{QPS: 8, Burst: 2})
		if got, _ := l.Rate(); got != 4 {
			t.Errorf("rate = %v; want 4, half of the new 8", got)
		}
		if got := l.bucket.Burst(); got != 1 {
			t.Errorf("burst = %d; want 1 while throttled", got)
		}
		fc.Step(10 * time.Second)
		l.Recover()
		if got, _ := l.Rate(); got != 8 {
			t.Errorf("rate after recovery = %v; want the new 8", got)
		}
		if got := l.bucket.Burst(); got != 2 {
			t.Errorf("burst after recovery = %d; want the new 2", got)
		}
	})
	t.Run("unlimited to limited and back", func(t *testing.T) {
		fc := testclock.NewFakeClock(epoch)
		l := NewLimiter(LimiterConfig{}, fc)
		l.SetLimits(LimiterConfig{QPS: 1, Burst: 1})
		start := fc.Since(epoch)
		a, b := acquireAndRelease(t, fc, l)-start, acquireAndRelease(t, fc, l)-start
		if a != 0 || b != time.Second {
			t.Errorf("return times %v, %v; want 0, 1s", a, b)
		}
		l.SetLimits(LimiterConfig{})
		start = fc.Since(epoch)
		for range 5 {
			if got := acquireAndRelease(t, fc, l) - start; got != 0 {
				t.Fatalf("unlimited again: a call waited %s", got)
			}
		}
	})
}
