package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/convergehq/converge/manifest"
	"github.com/convergehq/converge/provider"
	"github.com/convergehq/converge/provider/providertest"
	"github.com/convergehq/converge/store/memory"
)

// Each rate-limit answer halves the provider's rate; successes bring it
// back. With FixedRate the rate never moves.
func TestRateAdaptsToRateLimits(t *testing.T) {
	for _, fixed := range []bool{false, true} {
		t.Run(fmt.Sprintf("fixed=%v", fixed), func(t *testing.T) {
			mem := providertest.NewMemory()
			var e *Engine
			var rateAfter429s float64
			f := providertest.NewFaulty(mem, func(op providertest.Op, _ provider.Request, n int) providertest.Outcome {
				if op == providertest.OpCreate && n == 4 {
					rateAfter429s, _ = e.limiterFor("mem").Rate()
				}
				if op == providertest.OpCreate && n <= 3 {
					return providertest.Outcome{Before: provider.RateLimited(errors.New("429 too many requests"), time.Millisecond)}
				}
				return providertest.Outcome{}
			})
			reg, err := provider.NewRegistry(f)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			b.WriteString("kind: ProviderConfig\nmetadata: {name: mem}\nspec: {qps: 1000, burst: 1000}\n")
			for i := 0; i < 40; i++ {
				fmt.Fprintf(&b, "---\nkind: mem.Object\nmetadata: {name: o%d}\nspec: {value: v}\n", i)
			}
			rv, err := manifest.LoadBytes(map[string][]byte{"m.yaml": []byte(b.String())}, reg)
			if err != nil {
				t.Fatal(err)
			}
			e = New(reg, memory.New(), Options{Workers: 1, Logger: quiet(), BackoffBase: time.Millisecond, BackoffMax: time.Millisecond, FixedRate: fixed})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			rep, err := e.Apply(ctx, rv)
			if err != nil || !rep.OK() {
				t.Fatalf("apply: %v %+v", err, rep.Failures)
			}
			rate, throttles := e.limiterFor("mem").Rate()
			if fixed {
				if throttles != 0 || rate != 1000 {
					t.Errorf("fixed: rate %v, throttles %d; want 1000 and 0", rate, throttles)
				}
				return
			}
			// The three 429s come within a second: one wave, one cut.
			if throttles != 1 {
				t.Errorf("throttles = %d; want 1 (the 429s of one wave lower the rate once)", throttles)
			}
			if rateAfter429s < 500 || rateAfter429s > 600 {
				t.Errorf("rate after three rate-limit answers = %v; want about 500 (halved once)", rateAfter429s)
			}
			// The rate climbs back by time (a tenth of 1000 per second), not
			// by call: 40 quick successes do not bring it back to 1000.
			if rate < rateAfter429s || rate >= 1000 {
				t.Errorf("rate after 40 quick successes = %v; want between %v and 1000", rate, rateAfter429s)
			}
		})
	}
}
