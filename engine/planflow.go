package engine

import (
	"context"
	"sync"

	"github.com/convergehq/converge/plan"
)

// prediction is what a plan predicts for one resource.
type prediction struct {
	Type plan.Type
	// Outputs are the outputs it will have after its change, as its
	// provider planned them (provider.Planned.Outputs), with
	// provider.Unknown for those known only after apply; nil: not
	// predicted.
	Outputs map[string]any
}

// planFlow plans the resources ids, Workers at a time, each one as soon as
// the resources it waits on are planned: waits[i] lists positions in ids,
// all before i. There is no barrier between the levels of the graph, so a
// long chain and its neighbours share the workers, and a resource that
// waits on nothing starts at once, however deep it sits in the graph.
// fn(i) plans ids[i], and gives the outputs the resource will have after
// its change when its provider predicted them (nil: not predicted);
// predicted gives the prediction of every resource planned so far, those
// of waits[i] included. It returns the actions in the order
// of ids, or the error of the first resource in that order whose fn
// failed: once one fails nothing more starts, and those in flight finish.
func (e *Engine) planFlow(ctx context.Context, ids []string, waits [][]int, fn func(i int, predicted func(id string) prediction) (plan.Action, map[string]any, error)) ([]plan.Action, error) {
	n := len(ids)
	out := make([]plan.Action, n)
	errs := make([]error, n)
	var (
		mu        sync.Mutex
		cond      = sync.NewCond(&mu)
		predicted = make(map[string]prediction, n)
		pending   = make([]int, n)   // waits of i not planned yet
		after     = make([][]int, n) // the positions that wait on i
		queue     []int              // ready to plan
		left      = n                // not planned yet
		failed    bool
	)
	for i, ws := range waits {
		for _, w := range ws {
			if w < i {
				pending[i]++
				after[w] = append(after[w], i)
			}
		}
	}
	for i := range n {
		if pending[i] == 0 {
			queue = append(queue, i)
		}
	}
	lookup := func(id string) prediction {
		mu.Lock()
		defer mu.Unlock()
		return predicted[id]
	}
	var wg sync.WaitGroup
	for range min(e.opts.Workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			for {
				for len(queue) == 0 && left > 0 && !failed {
					cond.Wait()
				}
				if left == 0 || failed {
					return
				}
				i := queue[0]
				queue = queue[1:]
				mu.Unlock()
				a, outputs, err := fn(i, lookup)
				mu.Lock()
				out[i], errs[i] = a, err
				predicted[ids[i]] = prediction{Type: a.Type, Outputs: outputs}
				left--
				if err != nil || ctx.Err() != nil {
					failed = true
					cond.Broadcast()
					continue
				}
				woke := 0
				for _, j := range after[i] {
					if pending[j]--; pending[j] == 0 {
						queue = append(queue, j)
						woke++
					}
				}
				switch {
				case left == 0:
					cond.Broadcast()
				case woke > 1:
					cond.Broadcast() // this worker takes one of them
				}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
