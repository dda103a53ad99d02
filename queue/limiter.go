package queue

import (
	"container/list"
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/utils/clock"
)

// LimiterConfig sets the limits on the calls to one provider.
type LimiterConfig struct {
	// QPS is the sustained number of calls per second. 0 means unlimited.
	QPS float64
	// Burst is how many calls may start at once when tokens have
	// accumulated. With a positive QPS, a Burst below 1 means 1.
	Burst int
	// MaxInFlight caps the calls running at once. 0 means unlimited.
	MaxInFlight int
}

// Limiter paces the calls to one provider: a provider-wide pause, a cap on
// calls in flight and a token bucket. The package comment lists its
// guarantees. It is safe for concurrent use.
type Limiter struct {
	clock clock.Clock

	mu          sync.Mutex
	bucket      *rate.Limiter // nil: no QPS limit
	maxInFlight int           // 0: no cap
	qps         float64       // configured
	burst       int           // configured
	rate        float64       // effective: lowered by Throttle, raised by Recover
	throttles   int
	lastCut     time.Time // the last Throttle that lowered the rate
	lastRaise   time.Time // the last change of the rate
	inFlight    int
	pausedUntil time.Time
	waiters     list.List // of *waiter, first come first served
	sleepers    list.List // of *sleeper, in grant order: holding a slot, waiting for a token or a pause
	parked      int       // callers blocked in Acquire: see Waiting
}

// sleeper is an Acquire that holds a slot and waits for its token (or the
// end of a pause). SetLimits gives its token again at the new rate.
type sleeper struct {
	elem *list.Element
	res  *rate.Reservation // nil: no QPS limit
	at   time.Time         // when its token is due
	wake chan struct{}     // signalled when at changed
}

// waiter is an Acquire that could not take a slot at once.
type waiter struct {
	elem *list.Element
	// wake is signalled when the waiter is granted a slot, and when it
	// becomes the head of the line while a pause is on (so it arms a timer
	// for the end of the pause).
	wake    chan struct{}
	armed   bool // the waiter has a timer for the end of the pause
	granted bool // the waiter holds a slot and a reservation
	res     *rate.Reservation
	at      time.Time // when it was granted
}

// NewLimiter returns a limiter with the limits in cfg that reads time from
// c (nil: the real clock).
func NewLimiter(cfg LimiterConfig, c clock.Clock) *Limiter {
	if c == nil {
		c = clock.RealClock{}
	}
	l := &Limiter{clock: c, maxInFlight: max(cfg.MaxInFlight, 0), qps: cfg.QPS, burst: max(cfg.Burst, 1), rate: cfg.QPS}
	if cfg.QPS > 0 {
		l.bucket = rate.NewLimiter(rate.Limit(cfg.QPS), max(cfg.Burst, 1))
	}
	return l
}

// Throttle lowers the rate after the provider answered that calls come too
// fast (additive increase, multiplicative decrease): the effective QPS
// halves, down to a floor of a sixteenth of the configured QPS, and the
// burst drops to one call, so the first calls after the provider's pause
// do not empty its bucket again at once. The calls in flight when the
// provider began refusing are answered alike: only the first Throttle in a
// ThrottleWindow lowers the rate. Recover raises it again. Without a QPS
// limit it does nothing (the provider's Retry-After pause still applies).
func (l *Limiter) Throttle() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bucket == nil {
		return
	}
	now := l.clock.Now()
	if !l.lastCut.IsZero() && now.Sub(l.lastCut) < ThrottleWindow {
		return // the same wave of refusals
	}
	l.throttles++
	l.rate = max(l.rate/2, l.qps/16)
	l.lastCut, l.lastRaise = now, now
	l.bucket.SetLimitAt(now, rate.Limit(l.rate))
	l.bucket.SetBurstAt(now, 1)
}

// ThrottleWindow is how long after lowering the rate Throttle takes further
// refusals for the same wave.
const ThrottleWindow = time.Second

// Recover raises a lowered rate after a successful call, by a tenth of the
// configured QPS for every second since the rate last changed, up to the
// configured QPS, where the configured burst is restored. Raising by time
// rather than by call keeps a fast provider from climbing straight back
// over its limit.
func (l *Limiter) Recover() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bucket == nil || l.rate >= l.qps {
		return
	}
	now := l.clock.Now()
	elapsed := now.Sub(l.lastRaise)
	if elapsed <= 0 {
		return
	}
	l.lastRaise = now
	l.rate = min(l.rate+l.qps/10*elapsed.Seconds(), l.qps)
	l.bucket.SetLimitAt(now, rate.Limit(l.rate))
	if l.rate >= l.qps {
		l.bucket.SetBurstAt(now, l.burst)
	}
}

// SetLimits changes the limits to cfg at once, for the callers already
// waiting too (a cluster node's share of a provider's limits changes as
// nodes join and leave):
//
//   - Callers waiting in line keep their place; a higher MaxInFlight
//     grants them slots at once, a lower one grants none until fewer calls
//     than the new cap are in flight (calls in flight are not cut short).
//   - Callers holding a slot whose token is not due yet give it back and
//     take it again at the new rate, in the order they were granted: a
//     lower rate delays them, a higher one brings them forward.
//   - Tokens saved beyond the new Burst are dropped.
//   - A rate lowered by Throttle keeps its fraction of the configured QPS
//     (and its burst of one); Recover raises it to the new QPS.
func (l *Limiter) SetLimits(cfg LimiterConfig) {
	l.mu.Lock()
	defer l.mu.Unlock()
	qps, burst, inFlight := max(cfg.QPS, 0), max(cfg.Burst, 1), max(cfg.MaxInFlight, 0)
	if qps == l.qps && burst == l.burst && inFlight == l.maxInFlight {
		return
	}
	now := l.clock.Now()
	l.maxInFlight = inFlight
	switch {
	case qps == 0:
		l.rate = 0
	case l.qps == 0 || l.rate >= l.qps:
		l.rate = qps
	default: // throttled: keep the fraction
		l.rate = min(max(l.rate/l.qps*qps, qps/16), qps)
	}
	// Take back the tokens reserved and not yet due, the latest first
	// (a reservation gives back its token only when none was reserved
	// after it), to reserve them again at the new rate.
	var due []*sleeper
	for e := l.sleepers.Front(); e != nil; e = e.Next() {
		if sl := e.Value.(*sleeper); sl.res != nil && sl.at.After(now) {
			due = append(due, sl)
		}
	}
	for i := len(due) - 1; i >= 0; i-- {
		due[i].res.CancelAt(now)
	}
	l.qps, l.burst = qps, burst
	bucketBurst := burst
	if l.rate < l.qps {
		bucketBurst = 1 // throttled
	}
	switch {
	case qps == 0:
		l.bucket = nil
	case l.bucket == nil:
		l.bucket = rate.NewLimiter(rate.Limit(l.rate), bucketBurst)
	default:
		l.bucket.SetLimitAt(now, rate.Limit(l.rate))
		l.bucket.SetBurstAt(now, bucketBurst)
	}
	for _, sl := range due {
		sl.res, sl.at = l.reserveLocked(now), now
		if sl.res != nil {
			sl.at = now.Add(sl.res.DelayFrom(now))
		}
		signal(sl.wake)
	}
	l.advanceLocked(now)
}

// Limits returns the limits the limiter was made with or last set to
// (SetLimits), with Burst at least 1.
func (l *Limiter) Limits() LimiterConfig {
	l.mu.Lock()
	defer l.mu.Unlock()
	return LimiterConfig{QPS: l.qps, Burst: l.burst, MaxInFlight: l.maxInFlight}
}

// Rate returns the effective QPS (0: unlimited) and how many times
// Throttle lowered it.
func (l *Limiter) Rate() (qps float64, throttles int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rate, l.throttles
}

// Acquire waits for any pause to end, then for an in-flight slot, then for a
// token, serving callers in the order they arrived. On success the caller
// must call release once its call to the provider has returned; release may
// be called more than once. If ctx is done first, Acquire returns ctx.Err()
// and gives back the slot and the token it may have taken.
func (l *Limiter) Acquire(ctx context.Context) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()

	now := l.clock.Now()
	var res *rate.Reservation
	if l.waiters.Len() == 0 && !now.Before(l.pausedUntil) && l.slotFreeLocked() {
		l.inFlight++
		res = l.reserveLocked(now)
	} else {
		w := &waiter{wake: make(chan struct{}, 1)}
		w.elem = l.waiters.PushBack(w)
		l.advanceLocked(now)
		if err := l.waitTurnLocked(ctx, w); err != nil {
			return nil, err
		}
		res, now = w.res, w.at
	}

	// Wait for the token, and for any pause that began meanwhile.
	sl := &sleeper{res: res, at: now, wake: make(chan struct{}, 1)}
	if res != nil {
		sl.at = now.Add(res.DelayFrom(now))
	}
	sl.elem = l.sleepers.PushBack(sl)
	err = l.sleepLocked(ctx, sl.wake, func() time.Time {
		if l.pausedUntil.After(sl.at) {
			return l.pausedUntil
		}
		return sl.at
	})
	l.sleepers.Remove(sl.elem)
	if err != nil {
		if sl.res != nil {
			sl.res.CancelAt(l.clock.Now())
		}
		l.releaseLocked()
		return nil, err
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			l.releaseLocked()
			l.mu.Unlock()
		})
	}, nil
}

// waitTurnLocked blocks until w is granted a slot or ctx is done. In the
// latter case w leaves the line. l.mu is held on entry and on return.
func (l *Limiter) waitTurnLocked(ctx context.Context, w *waiter) error {
	for !w.granted {
		// The head of the line, and only it, watches for the end of a pause.
		var timer clock.Timer
		var fired <-chan time.Time
		if now := l.clock.Now(); l.waiters.Front() == w.elem && now.Before(l.pausedUntil) {
			timer = l.clock.NewTimer(l.pausedUntil.Sub(now))
			fired = timer.C()
			w.armed = true
		}
		l.parked++
		l.mu.Unlock()
		select {
		case <-w.wake:
		case <-fired:
		case <-ctx.Done():
		}
		l.mu.Lock()
		l.parked--
		if timer != nil {
			timer.Stop()
			w.armed = false
		}
		if w.granted {
			// Granted as ctx ended: Acquire's token wait sees ctx and
			// gives the slot back.
			return nil
		}
		if err := ctx.Err(); err != nil {
			l.waiters.Remove(w.elem)
			l.advanceLocked(l.clock.Now())
			return err
		}
		l.advanceLocked(l.clock.Now())
	}
	return nil
}

// sleepLocked blocks until the clock reaches until() (evaluated with l.mu
// held, again after every wake-up, and wake wakes it up) or ctx is done.
// l.mu is held on entry and on return.
func (l *Limiter) sleepLocked(ctx context.Context, wake <-chan struct{}, until func() time.Time) error {
	for {
		now := l.clock.Now()
		at := until()
		if !now.Before(at) {
			return nil
		}
		timer := l.clock.NewTimer(at.Sub(now))
		l.parked++
		l.mu.Unlock()
		select {
		case <-timer.C():
		case <-wake:
		case <-ctx.Done():
		}
		timer.Stop()
		l.mu.Lock()
		l.parked--
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// advanceLocked grants slots to waiters from the head of the line for as
// long as no pause is on and slots are free, and wakes a new head that must
// watch for the end of a pause.
func (l *Limiter) advanceLocked(now time.Time) {
	paused := now.Before(l.pausedUntil)
	for e := l.waiters.Front(); e != nil; e = l.waiters.Front() {
		w := e.Value.(*waiter)
		if paused || !l.slotFreeLocked() {
			if paused && !w.armed {
				notify(w)
			}
			return
		}
		l.waiters.Remove(e)
		l.inFlight++
		w.res = l.reserveLocked(now)
		w.at = now
		w.granted = true
		notify(w)
	}
}

func notify(w *waiter) { signal(w.wake) }

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default: // already signalled
	}
}

func (l *Limiter) slotFreeLocked() bool {
	return l.maxInFlight == 0 || l.inFlight < l.maxInFlight
}

// reserveLocked takes the next token, or returns nil if there is no QPS
// limit. Taking tokens under l.mu keeps them in grant order.
func (l *Limiter) reserveLocked(now time.Time) *rate.Reservation {
	if l.bucket == nil {
		return nil
	}
	return l.bucket.ReserveN(now, 1)
}

func (l *Limiter) releaseLocked() {
	l.inFlight--
	l.advanceLocked(l.clock.Now())
}

// Pause makes every Acquire wait until now+d, including those already
// waiting. A pause that ends later than the current one extends it; one that
// ends earlier changes nothing. Calls already acquired are not affected.
func (l *Limiter) Pause(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	if until := now.Add(d); until.After(l.pausedUntil) {
		l.pausedUntil = until
		l.advanceLocked(now) // wakes the head so it watches the pause
	}
}

// PausedUntil returns when the current pause ends; a time not after now
// (the zero time if there never was one) means no pause is on.
func (l *Limiter) PausedUntil() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pausedUntil
}

// InFlight returns the number of acquired slots not yet released, including
// those of callers still waiting for a token.
func (l *Limiter) InFlight() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inFlight
}

// Waiting returns the number of callers blocked in Acquire: waiting for
// their turn, a slot, the end of a pause or a token. A caller counts from
// when it blocks until it is woken, so a count that holds still tells that
// callers are parked, a state no call returns to announce.
func (l *Limiter) Waiting() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.parked
}
