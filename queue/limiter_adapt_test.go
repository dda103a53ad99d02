package queue

import (
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func TestLimiterAdapts(t *testing.T) {
	c := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	l := NewLimiter(LimiterConfig{QPS: 16, Burst: 1}, c)
	steps := []struct {
		do   func()
		want float64
	}{
		{l.Throttle, 8},
		{l.Throttle, 4},
		{l.Throttle, 2},
		{l.Throttle, 1},
		{l.Throttle, 1}, // floor: a sixteenth of 16
		{l.Recover, 1.8},
		{l.Recover, 2.6},
	}
	for i, s := range steps {
		s.do()
		if got, _ := l.Rate(); got < s.want-1e-9 || got > s.want+1e-9 {
			t.Fatalf("step %d: rate = %v; want %v", i, got, s.want)
		}
	}
	for i := 0; i < 100; i++ {
		l.Recover()
	}
	if got, n := l.Rate(); got != 16 || n != 5 {
		t.Errorf("after recovering: rate %v, throttles %d; want 16 and 5", got, n)
	}
	// The bucket follows the effective rate: at 1/s, the second token is a
	// second away.
	for i := 0; i < 4; i++ {
		l.Throttle()
	}
	if got, _ := l.Rate(); got != 1 {
		t.Fatalf("rate = %v; want 1", got)
	}
	r := l.bucket.ReserveN(c.Now(), 1)
	r2 := l.bucket.ReserveN(c.Now(), 1)
	if d := r2.DelayFrom(c.Now()); d < 900*time.Millisecond || d > time.Second {
		t.Errorf("second token in %s; want about 1s at 1/s", d)
	}
	_ = r
	// No QPS: nothing to adapt.
	u := NewLimiter(LimiterConfig{}, c)
	u.Throttle()
	if got, n := u.Rate(); got != 0 || n != 0 {
		t.Errorf("unlimited limiter: rate %v, throttles %d; want 0, 0", got, n)
	}
}
