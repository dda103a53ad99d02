package cloudsim

import (
	"math"
	"time"
)

// bucket is a token bucket driven by explicit times, so a fake clock drives
// it in tests. It is guarded by Server.mu.
type bucket struct {
	qps    float64 // 0: unlimited
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(qps float64, burst int) *bucket {
	b := float64(max(burst, 1))
	return &bucket{qps: qps, burst: b, tokens: b}
}

// take spends one token at now. When none is left it returns false and how
// long until one will be.
func (b *bucket) take(now time.Time) (bool, time.Duration) {
	if b.qps <= 0 {
		return true, 0
	}
	if !b.last.IsZero() && now.After(b.last) {
		b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.qps)
	}
	if b.last.IsZero() || now.After(b.last) {
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / b.qps * float64(time.Second))
	return false, wait
}

// reset refills the bucket.
func (b *bucket) reset() {
	b.tokens = b.burst
	b.last = time.Time{}
}

// retryAfterSeconds rounds a wait up to whole seconds, at least 1, as the
// Retry-After header carries.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
