package queue

import (
	"math/rand/v2"
	"time"

	"k8s.io/utils/clock"
)

// Default backoff bounds used by AddRateLimited.
const (
	DefaultBackoffBase = time.Second
	DefaultBackoffMax  = 60 * time.Second
)

// Option configures a Queue.
type Option func(*options)

type options struct {
	clock       clock.WithTicker
	backoffBase time.Duration
	backoffMax  time.Duration
	rand        func() float64
	metricsName string
	metrics     MetricsProvider
}

func defaultOptions() options {
	return options{
		clock:       clock.RealClock{},
		backoffBase: DefaultBackoffBase,
		backoffMax:  DefaultBackoffMax,
		rand:        rand.Float64,
	}
}

// WithClock sets the clock used for delays and backoff (default: the real
// clock). Tests pass a k8s.io/utils/clock/testing.FakeClock.
func WithClock(c clock.WithTicker) Option {
	return func(o *options) {
		if c != nil {
			o.clock = c
		}
	}
}

// WithBackoff sets the base and the cap of the per-key exponential backoff
// (defaults 1s and 60s). A base <= 0 keeps the default base; a max below the
// base is raised to the base.
func WithBackoff(base, max time.Duration) Option {
	return func(o *options) {
		if base > 0 {
			o.backoffBase = base
		}
		o.backoffMax = max
		if o.backoffMax < o.backoffBase {
			o.backoffMax = o.backoffBase
		}
	}
}

// WithRand sets the source of jitter: a function returning a value in [0, 1]
// (default: math/rand/v2.Float64). The queue calls it under its lock, so it
// need not be safe for concurrent use. Tests pass a constant.
func WithRand(f func() float64) Option {
	return func(o *options) {
		if f != nil {
			o.rand = f
		}
	}
}
