package controller

import (
	"context"
	"errors"
	"time"

	"k8s.io/utils/clock"

	"github.com/convergehq/converge/engine"
	"github.com/convergehq/converge/manifest"
)

// ApplyOptions configure ApplyOnce.
type ApplyOptions struct {
	// Rollback: a revision that fails terminally, misses
	// ProgressDeadline (when positive, counted from ApplyOnce's start)
	// or stops converging is marked failed and the last known good
	// revision is converged instead.
	Rollback         bool
	ProgressDeadline time.Duration
	// Clock defaults to the real clock; it must be the engine's.
	Clock clock.PassiveClock
}

// judgePoll is how often ApplyOnce judges the revision while it
// converges, at most.
const judgePoll = 100 * time.Millisecond

// ApplyOnce converges rv once with e, as converge apply does, and judges
// it (Judge, ModeOnce): converged, it becomes the last known good
// revision; failed, it is marked so and, with Rollback, the last known
// good revision is converged instead (the report's RolledBack says so). A
// nil rv destroys everything recorded, and judges nothing. Like
// engine.Apply it returns when everything is Ready or nothing is left to
// do, or when ctx is done; a judgement is recorded even then, except a
// rollback.
func ApplyOnce(ctx context.Context, e *engine.Engine, rv *manifest.Revision, opts ApplyOptions) (engine.Report, error) {
	if rv == nil {
		return e.Apply(ctx, nil)
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	jo := JudgeOptions{Mode: ModeOnce, Start: opts.Clock.Now(), Rollback: opts.Rollback, ProgressDeadline: opts.ProgressDeadline}
	bg := context.WithoutCancel(ctx) // what is judged is recorded, even at a timeout
	var (
		settled    bool // failed (and maybe rolled back) while converging
		rolledBack *engine.Rollback
		judgeErr   error
	)
	rep, err := e.ApplyUntil(ctx, rv, func(ctx context.Context) error {
		proven := e.Proven(ctx, rv.Hash)
		for {
			p := e.Progress()
			v := Judge(p, proven, opts.Clock.Now(), jo)
			switch v.Kind {
			case VerdictConverged:
				return e.WaitIdle(ctx) // recorded once the workers stopped
			case VerdictFailed, VerdictRollBack:
				settled = true
				back, err := enact(bg, e, v)
				if err != nil {
					judgeErr = err
					return err
				}
				if back != nil {
					rolledBack = &engine.Rollback{From: p.Revision, To: back.Hash, Reason: v.Reason}
				}
				return e.WaitIdle(ctx)
			}
			if p.Idle {
				return nil
			}
			wctx, cancel := context.WithTimeout(ctx, judgePoll)
			_ = e.WaitIdle(wctx) // idle, or a while passed: judge again
			cancel()
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	})
	if judgeErr != nil {
		return engine.Report{}, judgeErr
	}
	rep.RolledBack = rolledBack
	if err != nil {
		if rolledBack != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			err = nil // the report is not OK: it says the rollback
		}
		return rep, err
	}
	if settled && rolledBack == nil {
		return rep, nil // judged: failed, and stays the target
	}
	// The revision targeted now (rv, or the one rolled back to) is judged
	// once more, the workers stopped: converged, or failed. A rollback
	// cannot converge any more, so none is asked for.
	final := jo
	final.Rollback = false
	p := e.Progress()
	if v := Judge(p, e.Proven(bg, p.Revision), opts.Clock.Now(), final); v.Kind != VerdictProgressing {
		if _, err := enact(bg, e, v); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// enact does what v says to the engine's target revision, and returns the
// revision targeted instead after a rollback (nil: none, or nothing to
// roll back to).
func enact(ctx context.Context, e *engine.Engine, v Verdict) (*manifest.Revision, error) {
	switch v.Kind {
	case VerdictConverged:
		return nil, e.MarkConverged(ctx)
	case VerdictFailed:
		return nil, e.FailRevision(ctx, v.Reason)
	case VerdictRollBack:
		if err := e.FailRevision(ctx, v.Reason); err != nil {
			return nil, err
		}
		back, err := e.RollBack(ctx, v.Reason)
		if errors.Is(err, engine.ErrNoKnownGood) {
			return nil, nil
		}
		return back, err
	}
	return nil, nil
}
