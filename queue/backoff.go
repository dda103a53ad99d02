package queue

import "time"

// AddRateLimited adds k after its backoff delay: When(k). Call it when
// processing k failed; call Forget(k) when it succeeds.
func (q *Queue[K]) AddRateLimited(k K) {
	q.mu.Lock()
	if !q.shutdown {
		it := q.itemLocked(k)
		q.addAfterLocked(it, q.whenLocked(it))
	}
	q.mu.Unlock()
}

// When returns the delay AddRateLimited(k) would use and counts one more
// failure for k: rand * min(max, base * 2^failures), where failures is the
// count before this call (full jitter).
func (q *Queue[K]) When(k K) time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.whenLocked(q.itemLocked(k))
}

func (q *Queue[K]) whenLocked(it *item[K]) time.Duration {
	n := it.failures
	it.failures++
	q.metrics.retry()
	r := q.rand()
	switch {
	case r < 0:
		r = 0
	case r > 1:
		r = 1
	}
	return time.Duration(r * float64(backoffCeiling(q.backoffBase, q.backoffMax, n)))
}

// backoffCeiling returns min(max, base * 2^failures) without overflowing.
func backoffCeiling(base, max time.Duration, failures int) time.Duration {
	if failures >= 63 || base > max>>failures {
		return max
	}
	return base << failures
}

// Forget resets k's failure count, so its next backoff starts from the base.
// Call it when k was processed successfully. It does not remove a delayed
// add of k.
func (q *Queue[K]) Forget(k K) {
	q.mu.Lock()
	if it := q.items[k]; it != nil {
		it.failures = 0
		q.forgetIfIdleLocked(it)
	}
	q.mu.Unlock()
}

// NumRequeues returns k's failure count: the AddRateLimited (and When) calls
// since the last Forget(k).
func (q *Queue[K]) NumRequeues(k K) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if it := q.items[k]; it != nil {
		return it.failures
	}
	return 0
}
