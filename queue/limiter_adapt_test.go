package queue

import (
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func TestLimiterAdapts(t *testing.T) {
	c := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	l := NewLimiter(LimiterConfig{QPS: 16, Burst: 4}, c)
	step := func(d time.Duration) func() { return func() { c.Step(d) } }
	steps := []struct {
		name      string
		do        func()
		want      float64
		wantBurst int
	}{
		{"first refusal halves the rate, burst 1", l.Throttle, 8, 1},
		{"refusals of the same wave do not", l.Throttle, 8, 1},
		{"still the same wave", l.Throttle, 8, 1},
		{"a second passes", step(time.Second), 8, 1},
		{"a later refusal halves again", l.Throttle, 4, 1},
		{"", step(time.Second), 4, 1},
		{"", l.Throttle, 2, 1},
		{"", step(time.Second), 2, 1},
		{"", l.Throttle, 1, 1},
		{"", step(time.Second), 1, 1},
		{"floor: a sixteenth of 16", l.Throttle, 1, 1},
		{"a success at once raises nothing", l.Recover, 1, 1},
		{"half a second later", step(500 * time.Millisecond), 1, 1},
		{"a success raises by a tenth of 16 per second", l.Recover, 1.8, 1},
		{"another success at the same instant", l.Recover, 1.8, 1},
		{"two seconds later", step(2 * time.Second), 1.8, 1},
		{"", l.Recover, 5, 1},
		{"ten seconds later", step(10 * time.Second), 5, 1},
		{"back to the configured rate and burst", l.Recover, 16, 4},
	}
	for i, s := range steps {
		s.do()
		if got, _ := l.Rate(); got < s.want-1e-9 || got > s.want+1e-9 {
			t.Fatalf("step %d (%s): rate = %v; want %v", i, s.name, got, s.want)
		}
		if got := l.bucket.Burst(); got != s.wantBurst {
			t.Fatalf("step %d (%s): burst = %d; want %d", i, s.name, got, s.wantBurst)
		}
	}
	if _, n := l.Rate(); n != 5 {
		t.Errorf("throttles = %d; want 5 (the refusals of one wave count once)", n)
	}
	// The bucket follows the effective rate: at 1/s, the second token is a
	// second away.
	for range 4 {
		c.Step(time.Second)
		l.Throttle()
	}
	if got, _ := l.Rate(); got != 1 {
		t.Fatalf("rate = %v; want 1", got)
	}
	c.Step(10 * time.Second) // the bucket fills to its burst of one
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
