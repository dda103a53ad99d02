package queue_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/util/workqueue"

	"github.com/convergehq/converge/queue"
)

// workQueue is what the benchmarks need; both queues implement it.
type workQueue interface {
	Add(string)
	AddRateLimited(string)
	Forget(string)
	Get() (string, bool)
	Done(string)
	ShutDownWithDrain()
	ShutDown()
}

// Tiny backoff so the rate-limited benchmark measures the queue, not sleeping.
const (
	benchBase = time.Nanosecond
	benchMax  = time.Microsecond
)

var impls = []struct {
	name string
	new  func() workQueue
}{
	{"converge", func() workQueue {
		return queue.New[string](queue.WithBackoff(benchBase, benchMax), queue.WithRand(func() float64 { return 1 }))
	}},
	{"client-go", func() workQueue {
		return workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](benchBase, benchMax))
	}},
}

const benchWorkers = 8

// BenchmarkQueue compares converge's queue with client-go's typed workqueue:
// one op is one Add of a distinct key, taken by one of 8 workers.
func BenchmarkQueue(b *testing.B) { benchEach(b, benchDistinct) }

// BenchmarkQueueDuplicated: one op is one Add of one of 16 keys; most adds
// collapse or mark a held key dirty.
func BenchmarkQueueDuplicated(b *testing.B) { benchEach(b, benchDuplicated) }

// BenchmarkQueueRateLimited: one op is one processing pass; each key fails
// three times (AddRateLimited) and then succeeds (Forget).
func BenchmarkQueueRateLimited(b *testing.B) { benchEach(b, benchRateLimited) }

func benchEach(b *testing.B, bench func(*testing.B, workQueue)) {
	for _, impl := range impls {
		b.Run(impl.name, func(b *testing.B) { bench(b, impl.new()) })
	}
}

// benchDistinct adds b.N distinct keys while 8 workers take them.
func benchDistinct(b *testing.B, q workQueue) {
	keys := make([]string, b.N)
	for i := range keys {
		keys[i] = "file.File/" + strconv.Itoa(i)
	}
	var processed sync.WaitGroup
	processed.Add(b.N)
	workers := startWorkers(q, func(k string) { processed.Done() })
	b.ReportAllocs()
	b.ResetTimer()
	for _, k := range keys {
		q.Add(k)
	}
	processed.Wait()
	b.StopTimer()
	q.ShutDown()
	workers.Wait()
}

// benchDuplicated adds b.N times keys from a set of 16 while 8 workers take
// them: most adds collapse or mark a held key dirty.
func benchDuplicated(b *testing.B, q workQueue) {
	keys := make([]string, 16)
	for i := range keys {
		keys[i] = "file.File/" + strconv.Itoa(i)
	}
	workers := startWorkers(q, func(string) {})
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		q.Add(keys[i%len(keys)])
	}
	q.ShutDownWithDrain()
	workers.Wait()
}

// benchRateLimited processes b.N/4 distinct keys, each failing three times
// (AddRateLimited) before it succeeds (Forget): b.N passes in all.
func benchRateLimited(b *testing.B, q workQueue) {
	n := max(b.N/4, 1)
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "file.File/" + strconv.Itoa(i)
	}
	var mu sync.Mutex
	attempts := make(map[string]int, n)
	var finished sync.WaitGroup
	finished.Add(n)
	workers := startWorkers(q, func(k string) {
		mu.Lock()
		attempts[k]++
		a := attempts[k]
		mu.Unlock()
		if a < 4 {
			q.AddRateLimited(k)
			return
		}
		q.Forget(k)
		finished.Done()
	})
	b.ReportAllocs()
	b.ResetTimer()
	for _, k := range keys {
		q.Add(k)
	}
	finished.Wait()
	b.StopTimer()
	q.ShutDown()
	workers.Wait()
}

func startWorkers(q workQueue, process func(string)) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range benchWorkers {
		wg.Go(func() {
			for {
				k, shutdown := q.Get()
				if shutdown {
					return
				}
				process(k)
				q.Done(k)
			}
		})
	}
	return &wg
}
