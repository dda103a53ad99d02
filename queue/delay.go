package queue

import "time"

// AddAfter adds k once d has passed. A d <= 0 is Add(k). If k is already
// queued (or held and already added again), AddAfter does nothing: k will be
// processed anyway. If k is already waiting for a deadline, the earlier of
// the two deadlines is kept. After shutdown, AddAfter does nothing.
func (q *Queue[K]) AddAfter(k K, d time.Duration) {
	q.mu.Lock()
	if !q.shutdown {
		q.addAfterLocked(q.itemLocked(k), d)
	}
	q.mu.Unlock()
}

func (q *Queue[K]) addAfterLocked(it *item[K], d time.Duration) {
	if d <= 0 {
		q.addLocked(it)
		return
	}
	if it.state == stQueued || it.state == stDirty {
		return
	}
	now := q.clock.Now()
	at := now.Add(d)
	if !q.delayed.schedule(it, at) {
		return
	}
	// Re-arm only if the new deadline is earlier than a timer that has not
	// fired yet. If the armed deadline has passed, the delay loop is about to
	// run and re-arms the timer for the earliest deadline itself; re-arming
	// here could discard a pending fire.
	if q.armed.IsZero() || (at.Before(q.armed) && q.armed.After(now)) {
		q.timer.Reset(d)
		q.armed = at
	}
}

// delayLoop moves delayed keys into the queue when they are due, until
// stop is closed.
func (q *Queue[K]) delayLoop() {
	defer close(q.loopDone)
	for {
		select {
		case <-q.stop:
			return
		case <-q.timer.C():
			q.promote()
		}
	}
}

// promote queues every delayed key that is due and arms the timer for the
// next deadline.
func (q *Queue[K]) promote() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.armed = time.Time{}
	if q.shutdown {
		return
	}
	now := q.clock.Now()
	for q.delayed.len() > 0 {
		it := q.delayed.peek()
		if it.at.After(now) {
			q.timer.Reset(it.at.Sub(now))
			q.armed = it.at
			return
		}
		q.delayed.pop()
		q.addLocked(it)
	}
}

// dropDelayedLocked forgets every delayed add.
func (q *Queue[K]) dropDelayedLocked() {
	items := q.delayed.items
	q.delayed.items = nil
	for _, it := range items {
		it.index = -1
		q.forgetIfIdleLocked(it)
	}
}

// delayHeap is a min-heap of items by deadline. Each item records its
// position, so a key has at most one entry and its deadline can be moved
// earlier in O(log n). Keys with the same deadline come out in the order
// they were scheduled.
type delayHeap[K comparable] struct {
	items []*item[K]
	seq   uint64 // last scheduling sequence number
}

func (h *delayHeap[K]) len() int { return len(h.items) }

// peek returns the item with the earliest deadline. The heap must not be
// empty.
func (h *delayHeap[K]) peek() *item[K] { return h.items[0] }

// schedule records that it is due at at. If it is already scheduled, the
// earlier deadline wins. It reports whether it is now due at at.
func (h *delayHeap[K]) schedule(it *item[K], at time.Time) bool {
	if it.index >= 0 {
		if !at.Before(it.at) {
			return false
		}
		it.at = at
		h.up(it.index)
		return true
	}
	h.seq++
	it.at, it.seq, it.index = at, h.seq, len(h.items)
	h.items = append(h.items, it)
	h.up(it.index)
	return true
}

// remove takes it out of the heap, wherever it is. it must be scheduled.
func (h *delayHeap[K]) remove(it *item[K]) {
	i, last := it.index, len(h.items)-1
	if i != last {
		h.swap(i, last)
	}
	h.items[last].index = -1
	h.items[last] = nil
	h.items = h.items[:last]
	if i < last {
		h.down(i)
		h.up(i)
	}
}

// pop removes the item with the earliest deadline. The heap must not be
// empty.
func (h *delayHeap[K]) pop() {
	last := len(h.items) - 1
	h.swap(0, last)
	h.items[last].index = -1
	h.items[last] = nil
	h.items = h.items[:last]
	if last > 0 {
		h.down(0)
	}
}

func (h *delayHeap[K]) less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	if a.at.Equal(b.at) {
		return a.seq < b.seq
	}
	return a.at.Before(b.at)
}

func (h *delayHeap[K]) swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].index = i
	h.items[j].index = j
}

func (h *delayHeap[K]) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !h.less(i, parent) {
			return
		}
		h.swap(i, parent)
		i = parent
	}
}

func (h *delayHeap[K]) down(i int) {
	n := len(h.items)
	for {
		smallest := i
		if l := 2*i + 1; l < n && h.less(l, smallest) {
			smallest = l
		}
		if r := 2*i + 2; r < n && h.less(r, smallest) {
			smallest = r
		}
		if smallest == i {
			return
		}
		h.swap(i, smallest)
		i = smallest
	}
}
