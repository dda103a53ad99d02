package queue

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	testclock "k8s.io/utils/clock/testing"
)

// run executes a scenario against a queue of strings driven by fc. Commands:
//
//	add K | after K DUR | limited K | forget K | done K | step DUR | shutdown
//	settle         wait until the keys due have left the delayed set
//	get K          Get returns K (blocks until a key is ready)
//	get-shutdown   Get returns shutdown=true
//	len N          Len() is N
//	delayed K@DUR... the delayed keys, earliest first, with their deadlines
//	               relative to the epoch ("delayed" alone: none)
//	requeues K N   NumRequeues(K) is N
//	tracked N      the queue keeps records for N keys
//	when DUR       When("x") returns DUR
func run(t *testing.T, q *Queue[string], fc *testclock.FakeClock, script []string) {
	t.Helper()
	for i, line := range script {
		f := strings.Fields(line)
		where := fmt.Sprintf("step %d %q", i, line)
		arg := func(n int) string {
			if len(f) <= n {
				t.Fatalf("%s: missing argument %d", where, n)
			}
			return f[n]
		}
		dur := func(n int) time.Duration {
			d, err := time.ParseDuration(arg(n))
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			return d
		}
		switch f[0] {
		case "add":
			q.Add(arg(1))
		case "after":
			q.AddAfter(arg(1), dur(2))
		case "limited":
			q.AddRateLimited(arg(1))
		case "forget":
			q.Forget(arg(1))
		case "done":
			q.Done(arg(1))
		case "step":
			fc.Step(dur(1))
		case "shutdown":
			q.ShutDown()
		case "settle":
			await(t, "due keys to be queued", func() bool {
				q.mu.Lock()
				defer q.mu.Unlock()
				return q.delayed.len() == 0 || q.delayed.peek().at.After(fc.Now())
			})
		case "get", "get-shutdown":
			type result struct {
				Key      string
				Shutdown bool
			}
			c := make(chan result, 1)
			go func() {
				k, shutdown := q.Get()
				c <- result{k, shutdown}
			}()
			got := receive(t, where, c)
			want := result{Shutdown: true}
			if f[0] == "get" {
				want = result{Key: arg(1)}
			}
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Fatalf("%s: Get (-want +got):\n%s", where, diff)
			}
		case "len":
			want, _ := strconv.Atoi(arg(1))
			if got := q.Len(); got != want {
				t.Fatalf("%s: got Len() %d; want %d", where, got, want)
			}
		case "delayed":
			want := f[1:]
			if got := delayedKeys(t, q); !gocmp.Equal(got, want) {
				t.Fatalf("%s: delayed keys (-want +got):\n%s", where, gocmp.Diff(want, got))
			}
		case "tracked":
			want, _ := strconv.Atoi(arg(1))
			q.mu.Lock()
			got := len(q.items)
			q.mu.Unlock()
			if got != want {
				t.Fatalf("%s: got %d key records; want %d", where, got, want)
			}
		case "requeues":
			want, _ := strconv.Atoi(arg(2))
			if got := q.NumRequeues(arg(1)); got != want {
				t.Fatalf("%s: got NumRequeues(%s) %d; want %d", where, arg(1), got, want)
			}
		case "when":
			if got, want := q.When("x"), dur(1); got != want {
				t.Fatalf("%s: got When %v; want %v", where, got, want)
			}
		default:
			t.Fatalf("%s: unknown command", where)
		}
	}
}

// delayedKeys lists the delayed keys as "key@offset", earliest first.
func delayedKeys(t *testing.T, q *Queue[string]) []string {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	items := slices.Clone(q.delayed.items)
	for i, it := range items {
		if it.index != i {
			t.Fatalf("heap item %d (%s) records index %d", i, it.key, it.index)
		}
	}
	slices.SortFunc(items, func(a, b *item[string]) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	got := []string{}
	for _, it := range items {
		got = append(got, fmt.Sprintf("%s@%v", it.key, it.at.Sub(epoch)))
	}
	return got
}

func TestQueueScenarios(t *testing.T) {
	tests := map[string]struct {
		opts   []Option
		script []string
	}{
		"adds of a queued key collapse": {script: []string{
			"add a", "add b", "add a", "add c", "add b", "len 3",
			"get a", "get b", "get c", "len 0",
		}},
		"a key added while held is re-queued once at Done": {script: []string{
			"add a", "get a", "add a", "add a", "len 0",
			"done a", "len 1", "get a", "done a", "len 0",
		}},
		"a held key not added again is not re-queued": {script: []string{
			"add a", "get a", "done a", "len 0", "add a", "get a",
		}},
		"a re-queued key goes to the back": {script: []string{
			"add a", "add b", "get a", "add a", "add c", "done a",
			"get b", "get c", "get a",
		}},
		"Done of a key not held is ignored": {script: []string{
			"done a", "add a", "done a", "len 1", "get a",
		}},
		"AddAfter waits for its deadline": {script: []string{
			"after a 2s", "len 0", "delayed a@2s",
			"step 1999ms", "len 0", "step 1ms", "settle", "len 1", "delayed", "get a",
		}},
		"delayed keys come out by deadline": {script: []string{
			"after c 3s", "after a 1s", "after b 2s", "after d 2s",
			"delayed a@1s b@2s d@2s c@3s",
			"step 3s", "get a", "get b", "get d", "get c",
		}},
		"an earlier deadline replaces a later one": {script: []string{
			"after a 5s", "after a 2s", "delayed a@2s",
			"step 2s", "get a", "delayed",
		}},
		"a later deadline does not replace an earlier one": {script: []string{
			"after a 2s", "after a 5s", "delayed a@2s",
		}},
		"an earlier deadline for a new key re-arms the timer": {script: []string{
			"after a 5s", "after b 1s", "step 1s", "get b", "delayed a@5s",
			"step 4s", "get a",
		}},
		"AddAfter of a queued key is a no-op": {script: []string{
			"add a", "after a 1s", "delayed", "len 1",
		}},
		"AddAfter of a dirty key is a no-op": {script: []string{
			"add a", "get a", "add a", "after a 1s", "delayed",
		}},
		"AddAfter of a held key re-queues it after Done": {script: []string{
			"add a", "get a", "after a 1s", "delayed a@1s", "step 1s",
			"done a", "get a",
		}},
		"AddAfter with no delay adds now": {script: []string{
			"after a 0s", "after b -1s", "len 2", "delayed", "get a", "get b",
		}},
		"a due key that is queued collapses": {script: []string{
			"after a 1s", "add a", "step 1s", "settle", "len 1",
			"get a", "done a", "len 0",
		}},
		"an Add of a delayed key drops its deadline": {script: []string{
			"after a 2s", "add a", "delayed", "get a", "done a",
			"step 2s", "settle", "len 0", "tracked 0",
		}},
		"Done of a dirty key drops its deadline": {script: []string{
			"add a", "get a", "after a 2s", "add a", "delayed a@2s",
			"done a", "delayed", "len 1", "get a", "done a", "step 2s", "settle", "len 0",
		}},
		"a key taken out of the middle of the delayed set": {script: []string{
			"after a 1s", "after b 2s", "after c 3s", "after d 4s", "after e 5s",
			"add b", "delayed a@1s c@3s d@4s e@5s", "add e", "delayed a@1s c@3s d@4s",
			"step 5s", "get b", "get e", "get a", "get c", "get d",
		}},
		"keys due at the same time keep their order": {script: []string{
			"after b 1s", "after a 1s", "step 1s", "get b", "get a",
		}},
		"AddRateLimited backs off exponentially": {opts: []Option{WithRand(func() float64 { return 1 })}, script: []string{
			"limited a", "requeues a 1", "delayed a@1s", "step 1s", "get a",
			"limited a", "done a", "requeues a 2", "delayed a@3s", "step 2s", "get a",
			"forget a", "requeues a 0", "limited a", "done a", "delayed a@4s",
		}},
		"AddRateLimited with zero jitter adds now": {opts: []Option{WithRand(func() float64 { return 0 })}, script: []string{
			"limited a", "delayed", "len 1", "requeues a 1",
		}},
		"records of finished keys are dropped": {opts: []Option{WithRand(func() float64 { return 1 })}, script: []string{
			"add a", "get a", "done a", "tracked 0",
			"after b 1s", "tracked 1", "step 1s", "get b", "done b", "tracked 0",
			"limited c", "step 1s", "get c", "done c", "tracked 1", "forget c", "tracked 0",
			"forget d", "tracked 0",
		}},
		"ShutDown drops queued and delayed keys and ignores adds": {script: []string{
			"add a", "after b 1s", "shutdown", "len 0", "delayed",
			"add c", "after d 1s", "limited e", "len 0", "delayed", "tracked 0", "get-shutdown",
		}},
		"a worker may call Done after ShutDown": {script: []string{
			"add a", "get a", "add a", "shutdown", "done a", "len 0", "get-shutdown",
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			fc := testclock.NewFakeClock(epoch)
			q := New[string](append([]Option{WithClock(fc)}, tc.opts...)...)
			defer q.ShutDown()
			run(t, q, fc, tc.script)
		})
	}
}

func TestBackoff(t *testing.T) {
	tests := map[string]struct {
		opts []Option
		want []time.Duration
	}{
		"defaults, no jitter": {
			opts: []Option{WithRand(func() float64 { return 1 })},
			want: []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
				16 * time.Second, 32 * time.Second, 60 * time.Second, 60 * time.Second},
		},
		"half jitter halves": {
			opts: []Option{WithRand(func() float64 { return 0.5 })},
			want: []time.Duration{500 * time.Millisecond, 1 * time.Second, 2 * time.Second, 4 * time.Second,
				8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second},
		},
		"zero jitter": {
			opts: []Option{WithRand(func() float64 { return 0 })},
			want: []time.Duration{0, 0, 0},
		},
		"out-of-range rand is clamped": {
			opts: []Option{WithRand(func() float64 { return 7 })},
			want: []time.Duration{time.Second, 2 * time.Second},
		},
		"custom bounds": {
			opts: []Option{WithBackoff(10*time.Millisecond, 100*time.Millisecond), WithRand(func() float64 { return 1 })},
			want: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond,
				80 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond},
		},
		"max below base is raised to base": {
			opts: []Option{WithBackoff(time.Second, time.Millisecond), WithRand(func() float64 { return 1 })},
			want: []time.Duration{time.Second, time.Second},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			q := New[string](append([]Option{WithClock(testclock.NewFakeClock(epoch))}, tc.opts...)...)
			defer q.ShutDown()
			var got []time.Duration
			for range tc.want {
				got = append(got, q.When("k"))
			}
			if diff := gocmp.Diff(tc.want, got); diff != "" {
				t.Errorf("When sequence (-want +got):\n%s", diff)
			}
			if got, want := q.NumRequeues("k"), len(tc.want); got != want {
				t.Errorf("got NumRequeues %d; want %d", got, want)
			}
			if got, want := q.NumRequeues("other"), 0; got != want {
				t.Errorf("got NumRequeues(other) %d; want %d (failures are per key)", got, want)
			}
			q.Forget("k")
			if got, want := q.When("k"), tc.want[0]; got != want {
				t.Errorf("after Forget: got When %v; want %v", got, want)
			}
		})
	}
}

func TestBackoffCeilingDoesNotOverflow(t *testing.T) {
	tests := map[string]struct {
		base, max time.Duration
		failures  int
		want      time.Duration
	}{
		"zero failures":    {base: time.Second, max: time.Minute, failures: 0, want: time.Second},
		"just below cap":   {base: time.Second, max: time.Minute, failures: 5, want: 32 * time.Second},
		"capped":           {base: time.Second, max: time.Minute, failures: 6, want: time.Minute},
		"62 failures":      {base: time.Second, max: time.Minute, failures: 62, want: time.Minute},
		"many failures":    {base: time.Second, max: time.Minute, failures: 1000, want: time.Minute},
		"huge cap":         {base: time.Nanosecond, max: 1<<63 - 1, failures: 62, want: 1 << 62},
		"huge cap, capped": {base: time.Nanosecond, max: 1<<63 - 1, failures: 63, want: 1<<63 - 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := backoffCeiling(tc.base, tc.max, tc.failures); got != tc.want {
				t.Errorf("got %v; want %v", got, tc.want)
			}
		})
	}
}

func TestShutDownUnblocksGet(t *testing.T) {
	q := New[string](WithClock(testclock.NewFakeClock(epoch)))
	const workers = 3
	c := make(chan bool, workers)
	for range workers {
		go func() {
			_, shutdown := q.Get()
			c <- shutdown
		}()
	}
	await(t, "workers blocked in Get", func() bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		return q.getWaiters == workers
	})
	q.ShutDown()
	for range workers {
		if !receive(t, "Get to return", c) {
			t.Fatal("got shutdown=false; want true")
		}
	}
	if !q.ShuttingDown() {
		t.Error("got ShuttingDown() false; want true")
	}
}

func TestShutDownWithDrain(t *testing.T) {
	fc := testclock.NewFakeClock(epoch)
	q := New[string](WithClock(fc))
	q.Add("a")
	q.Add("b")
	q.AddAfter("delayed", time.Second)
	if k, _ := q.Get(); k != "a" {
		t.Fatalf("got %q; want a", k)
	}
	q.Add("a") // dirty: drained too

	drained := make(chan struct{})
	go func() {
		q.ShutDownWithDrain()
		close(drained)
	}()
	await(t, "shutdown to start", q.ShuttingDown)
	q.Add("ignored")

	var got []string
	q.Done("a")
	for range 2 {
		notYet(t, "drain", drained)
		k, shutdown := q.Get()
		if shutdown {
			t.Fatalf("got shutdown while %v were queued", q.Len())
		}
		got = append(got, k)
		q.Done(k)
	}
	receive(t, "drain", drained)
	if diff := gocmp.Diff([]string{"b", "a"}, got); diff != "" {
		t.Errorf("keys drained (-want +got):\n%s", diff)
	}
	fc.Step(time.Second) // the delayed key was dropped
	if _, shutdown := q.Get(); !shutdown {
		t.Error("got shutdown=false after drain; want true")
	}
}

func TestShutDownEndsDrain(t *testing.T) {
	q := New[string](WithClock(testclock.NewFakeClock(epoch)))
	q.Add("a")
	q.Get() // held forever
	drained := make(chan struct{})
	go func() {
		q.ShutDownWithDrain()
		close(drained)
	}()
	await(t, "shutdown to start", q.ShuttingDown)
	notYet(t, "drain", drained)
	q.ShutDown()
	receive(t, "drain", drained)
}

// TestExclusive runs workers against concurrent adders and checks that no key
// is ever held twice and every key added is processed after its last add.
func TestExclusive(t *testing.T) {
	const (
		workers = 8
		adders  = 4
		keys    = 20
		adds    = 500
	)
	q := New[int](WithClock(testclock.NewFakeClock(epoch)))
	var (
		active    [keys]atomic.Int32
		processed [keys]atomic.Int64 // passes that started after an add
		added     [keys]atomic.Int64
		overlaps  atomic.Int32
		wg        sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for {
				k, shutdown := q.Get()
				if shutdown {
					return
				}
				if active[k].Add(1) != 1 {
					overlaps.Add(1)
				}
				processed[k].Store(added[k].Load())
				active[k].Add(-1)
				q.Done(k)
			}
		})
	}
	var addWG sync.WaitGroup
	for a := range adders {
		addWG.Go(func() {
			for i := range adds {
				k := (a*adds + i) % keys
				added[k].Add(1)
				q.Add(k)
			}
		})
	}
	addWG.Wait()
	q.ShutDownWithDrain()
	wg.Wait()
	if got := overlaps.Load(); got != 0 {
		t.Errorf("got %d concurrent passes over one key; want 0", got)
	}
	for k := range keys {
		if got, want := processed[k].Load(), added[k].Load(); got != want {
			t.Errorf("key %d: last pass saw %d adds; want all %d", k, got, want)
		}
	}
}
