package queue

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// state is where a key stands in the queue proper.
type state uint8

const (
	// stIdle: neither queued nor held (the key may still be delayed or have
	// failures counted).
	stIdle state = iota
	// stQueued: the key waits in the ready FIFO.
	stQueued
	// stProcessing: a worker holds the key.
	stProcessing
	// stDirty: a worker holds the key and it was added again; Done queues it.
	stDirty
)

// item is everything the queue knows about one key, so each operation costs
// one map lookup at most and the FIFO and the delay heap need none.
type item[K comparable] struct {
	key      K
	state    state
	failures int       // AddRateLimited calls since the last Forget
	index    int       // position in the delay heap; -1: not delayed
	at       time.Time // deadline, while delayed
	seq      uint64    // scheduling order, while delayed
}

// Item records are allocated itemSlab at a time, and up to maxFreeItems
// idle ones are kept for reuse.
const (
	itemSlab     = 64
	maxFreeItems = 1024
)

// Queue is a de-duplicating, fair work queue of keys with per-key
// exclusivity, delayed adds and per-key exponential backoff. The package
// comment lists its guarantees. The zero value is not usable; call New.
//
// All methods are safe for concurrent use.
type Queue[K comparable] struct {
	clock       clock.WithTicker
	backoffBase time.Duration
	backoffMax  time.Duration
	rand        func() float64 // called with mu held

	mu sync.Mutex
	// ready is signalled when a key becomes ready or Get should return
	// shutdown; drained is signalled when a draining queue becomes empty.
	ready, drained sync.Cond

	items      map[K]*item[K]    // every key queued, held, delayed or failing
	free       []*item[K]        // idle records for reuse
	slab       []item[K]         // records never used yet
	lanes      [2]fifo[*item[K]] // ready keys, in order; each is stQueued: changes, then background work
	turn       int               // the lane Get serves next when both have keys
	processing int               // number of held keys
	delayed    delayHeap[K]      // keys waiting for a deadline
	shutdown   bool              // ShutDown or ShutDownWithDrain was called
	drain      bool              // shutting down with drain, not yet forced
	getWaiters int               // goroutines blocked in Get, for tests
	timer      clock.Timer       // fires when the earliest delayed key is due
	armed      time.Time         // deadline the timer is set for; zero: unset
	stop       chan struct{}     // closed to stop the delay loop
	stopOnce   sync.Once         // guards close(stop)
	loopDone   chan struct{}     // closed when the delay loop has returned
	metrics    *queueMetrics[K]  // nil: none (see metrics.go)
}

// New returns an empty queue and starts the goroutine that moves delayed keys
// into it when they are due. Call ShutDown or ShutDownWithDrain to stop it.
func New[K comparable](opts ...Option) *Queue[K] {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	q := &Queue[K]{
		clock:       o.clock,
		backoffBase: o.backoffBase,
		backoffMax:  o.backoffMax,
		rand:        o.rand,
		items:       make(map[K]*item[K]),
		stop:        make(chan struct{}),
		loopDone:    make(chan struct{}),
		metrics:     newQueueMetrics[K](o),
	}
	q.ready.L = &q.mu
	q.drained.L = &q.mu
	// The timer exists for the queue's whole life so the loop can select on
	// one channel; it is armed only while keys are delayed.
	q.timer = q.clock.NewTimer(time.Hour)
	q.timer.Stop()
	go q.delayLoop()
	if q.metrics != nil {
		go q.unfinishedLoop(o.clock.NewTicker(UnfinishedWorkPeriod))
	}
	return q
}

// itemLocked returns k's record, creating it if needed.
func (q *Queue[K]) itemLocked(k K) *item[K] {
	if it := q.items[k]; it != nil {
		return it
	}
	var it *item[K]
	if n := len(q.free); n > 0 {
		it = q.free[n-1]
		q.free = q.free[:n-1]
	} else {
		if len(q.slab) == 0 {
			q.slab = make([]item[K], itemSlab)
		}
		it = &q.slab[0]
		q.slab = q.slab[1:]
	}
	it.key = k
	it.index = -1
	q.items[k] = it
	return it
}

// forgetIfIdleLocked drops it if the queue no longer needs to remember it.
func (q *Queue[K]) forgetIfIdleLocked(it *item[K]) {
	if it.state != stIdle || it.failures != 0 || it.index >= 0 {
		return
	}
	delete(q.items, it.key)
	*it = item[K]{}
	if len(q.free) < maxFreeItems {
		q.free = append(q.free, it)
	}
}

// Add marks k as needing processing. If k is queued, nothing changes; if a
// worker holds k, k is queued again when the worker calls Done. After
// shutdown, Add does nothing.
func (q *Queue[K]) Add(k K) {
	q.mu.Lock()
	if !q.shutdown {
		q.addLocked(q.itemLocked(k))
	}
	q.mu.Unlock()
}

// AddBackground is Add for background work (a periodic resync): such keys
// wait in a lane of their own, and Get serves the two lanes in turn, so a
// flood of changes cannot starve background work nor the reverse. A key
// already queued in either lane stays where it is.
func (q *Queue[K]) AddBackground(k K) {
	q.mu.Lock()
	if !q.shutdown {
		q.addLaneLocked(q.itemLocked(k), 1)
	}
	q.mu.Unlock()
}

func (q *Queue[K]) addLocked(it *item[K]) { q.addLaneLocked(it, 0) }

func (q *Queue[K]) addLaneLocked(it *item[K], lane int) {
	switch it.state {
	case stIdle:
		it.state = stQueued
		q.undelayLocked(it)
		q.lanes[lane].push(it)
		q.metrics.added()
		q.metrics.ready(it.key)
		q.ready.Signal()
	case stProcessing:
		it.state = stDirty
		q.metrics.added()
	}
	// stQueued, stDirty: already due for processing.
}

// undelayLocked forgets the deadline of a key that is queued now: it is
// processed once, and what comes after is its worker's to schedule. Were it
// kept, the key would be processed again at the deadline, unasked, after
// whoever waits for the queue to empty has seen it empty.
func (q *Queue[K]) undelayLocked(it *item[K]) {
	if it.index >= 0 {
		q.delayed.remove(it)
	}
}

// Get blocks until a key is ready, marks it as held and returns it. The
// caller must call Done(k) when it has finished with it. shutdown is true
// when the queue has shut down (and, when draining, is empty); the caller
// should then stop.
func (q *Queue[K]) Get() (k K, shutdown bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.shutdown && !q.drain {
			return k, true
		}
		if q.readyLen() > 0 {
			it := q.popLocked()
			it.state = stProcessing
			q.processing++
			q.metrics.taken(it.key, true)
			return it.key, false
		}
		if q.shutdown && q.processing == 0 {
			return k, true // drained
		}
		q.getWaiters++
		q.ready.Wait()
		q.getWaiters--
	}
}

// Done marks k as no longer held. If k was added while held, it is queued
// again. Done of a key that is not held does nothing.
func (q *Queue[K]) Done(k K) {
	q.mu.Lock()
	defer q.mu.Unlock()
	it := q.items[k]
	if it == nil || (it.state != stProcessing && it.state != stDirty) {
		return
	}
	q.processing--
	q.metrics.done(k)
	if it.state == stDirty && (!q.shutdown || q.drain) {
		it.state = stQueued
		q.undelayLocked(it)
		q.lanes[0].push(it)
		q.metrics.ready(k)
		q.ready.Signal()
	} else {
		it.state = stIdle
		q.forgetIfIdleLocked(it)
	}
	if q.drain && q.processing == 0 && q.readyLen() == 0 {
		q.drained.Broadcast()
		q.ready.Broadcast() // blocked Gets now return shutdown
	}
}

// Len returns the number of keys ready to be taken: neither delayed nor held.
// It is for metrics and tests; do not base decisions on it.
func (q *Queue[K]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.readyLen()
}

func (q *Queue[K]) readyLen() int { return q.lanes[0].len() + q.lanes[1].len() }

// popLocked takes the next ready key, serving the lanes in turn.
func (q *Queue[K]) popLocked() *item[K] {
	lane := q.turn
	if q.lanes[lane].len() == 0 {
		lane = 1 - lane
	}
	q.turn = 1 - lane
	return q.lanes[lane].pop()
}

// ShuttingDown reports whether ShutDown or ShutDownWithDrain was called.
func (q *Queue[K]) ShuttingDown() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.shutdown
}

// ShutDown makes the queue ignore adds, drops queued and delayed keys, and
// makes every Get return shutdown=true, including those blocked now. Workers
// may still call Done for the keys they hold. It also ends a
// ShutDownWithDrain that is waiting. It returns once the delay goroutine has
// stopped, and may be called more than once.
func (q *Queue[K]) ShutDown() {
	q.mu.Lock()
	q.shutdown = true
	q.drain = false
	for q.readyLen() > 0 {
		it := q.popLocked()
		it.state = stIdle
		q.metrics.taken(it.key, false)
		q.forgetIfIdleLocked(it)
	}
	q.lanes[0].reset()
	q.lanes[1].reset()
	q.dropDelayedLocked()
	q.ready.Broadcast()
	q.drained.Broadcast()
	q.mu.Unlock()
	q.stopDelayLoop()
}

// ShutDownWithDrain makes the queue ignore adds and drops delayed keys, then
// waits until workers have taken every queued key (including keys re-queued
// by Done because they were added while held) and called Done for each. Gets
// then return shutdown=true. It needs running workers; a concurrent ShutDown
// ends the wait early.
func (q *Queue[K]) ShutDownWithDrain() {
	q.mu.Lock()
	if !q.shutdown {
		q.shutdown = true
		q.drain = true
		q.dropDelayedLocked()
	}
	for q.drain && (q.processing > 0 || q.readyLen() > 0) {
		q.drained.Wait()
	}
	q.ready.Broadcast()
	q.mu.Unlock()
	q.stopDelayLoop()
}

func (q *Queue[K]) stopDelayLoop() {
	q.stopOnce.Do(func() {
		close(q.stop)
		q.timer.Stop()
	})
	<-q.loopDone
}
