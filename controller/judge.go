package controller

import (
	"fmt"
	"time"

	"github.com/convergehq/converge/engine"
)

// VerdictKind is what the judge decides about a revision.
type VerdictKind uint8

// The verdicts of Judge.
const (
	// VerdictProgressing: nothing to decide yet; keep converging.
	VerdictProgressing VerdictKind = iota
	// VerdictConverged: every resource is Ready; the revision becomes the
	// last known good one.
	VerdictConverged
	// VerdictFailed: the revision failed; mark it failed and stay on it.
	VerdictFailed
	// VerdictRollBack: the revision failed; mark it failed and converge
	// the last known good revision again.
	VerdictRollBack
)

func (k VerdictKind) String() string {
	switch k {
	case VerdictProgressing:
		return "progressing"
	case VerdictConverged:
		return "converged"
	case VerdictFailed:
		return "failed"
	case VerdictRollBack:
		return "roll back"
	}
	return fmt.Sprintf("VerdictKind(%d)", uint8(k))
}

// Cause is why a revision failed.
type Cause uint8

// The causes of a failure.
const (
	CauseNone Cause = iota
	// CauseTerminal: a resource failed terminally or was refused as a
	// conflict (engine.Progress.Failed).
	CauseTerminal
	// CauseDeadline: not converged within the progress deadline.
	CauseDeadline
	// CauseStopped: a converge once has nothing left to do and the
	// revision did not converge (engine.Progress.Idle).
	CauseStopped
)

func (c Cause) String() string {
	switch c {
	case CauseNone:
		return "none"
	case CauseTerminal:
		return "terminal"
	case CauseDeadline:
		return "deadline"
	case CauseStopped:
		return "stopped"
	}
	return fmt.Sprintf("Cause(%d)", uint8(c))
}

// Verdict is the judge's decision about the target revision. Reason and
// Cause are set for VerdictFailed and VerdictRollBack.
type Verdict struct {
	Kind   VerdictKind
	Cause  Cause
	Reason string
}

// Mode is how the revision is converged, which decides two rules.
type Mode uint8

const (
	// ModeDaemon: converge run. The deadline counts from when the
	// revision became the target (engine.Progress.Since), and an idle
	// engine is no verdict: the resync, notifications and other writers
	// may still move it.
	ModeDaemon Mode = iota
	// ModeOnce: converge apply (and rollback). The deadline counts from
	// JudgeOptions.Start, the start of the command, and with Rollback a
	// revision the engine has nothing left to do for that has not
	// converged has stopped converging: it failed.
	ModeOnce
)

// JudgeOptions are the rules a revision is judged by.
type JudgeOptions struct {
	Mode Mode
	// Start is when a converge once started (ModeOnce); zero: Since.
	Start time.Time
	// Rollback: a failed revision is rolled back (VerdictRollBack rather
	// than VerdictFailed), and ProgressDeadline and the idle rule apply.
	// Without it a revision fails only on a terminal failure.
	Rollback bool
	// ProgressDeadline bounds how long a revision may take to converge,
	// with Rollback; zero: no deadline.
	ProgressDeadline time.Duration
}

// origin is when the progress deadline starts counting for p.
func (o JudgeOptions) origin(p engine.Progress) time.Time {
	if o.Mode == ModeOnce && !o.Start.IsZero() {
		return o.Start
	}
	return p.Since
}

// deadline is when the revision of p misses its progress deadline; zero
// when no deadline applies.
func (o JudgeOptions) deadline(p engine.Progress) time.Time {
	if !o.Rollback || o.ProgressDeadline <= 0 {
		return time.Time{}
	}
	return o.origin(p).Add(o.ProgressDeadline)
}

// Judge decides about the target revision p at now; proven says that it
// converged at some point. It is pure. The rules, in order:
//   - nothing targeted: progressing;
//   - every resource Ready: converged;
//   - proven: progressing (trouble after a revision converged is not its
//     failure, and never rolls it back);
//   - a terminal failure or a conflict: failed, or roll back with Rollback;
//   - without Rollback, nothing else fails a revision;
//   - the progress deadline reached (now at or past origin+deadline):
//     roll back;
//   - ModeOnce and the engine idle: roll back (stopped converging);
//   - otherwise progressing.
func Judge(p engine.Progress, proven bool, now time.Time, o JudgeOptions) Verdict {
	fail := func(c Cause, reason string) Verdict {
		if o.Rollback {
			return Verdict{Kind: VerdictRollBack, Cause: c, Reason: reason}
		}
		return Verdict{Kind: VerdictFailed, Cause: c, Reason: reason}
	}
	switch dl := o.deadline(p); {
	case p.Revision == "":
		return Verdict{}
	case p.Converged:
		return Verdict{Kind: VerdictConverged}
	case proven:
		return Verdict{}
	case p.Failed != "":
		return fail(CauseTerminal, p.Failed)
	case !o.Rollback:
		return Verdict{}
	case !dl.IsZero() && !now.Before(dl):
		return fail(CauseDeadline, fmt.Sprintf("not converged within the progress deadline (%s)", o.ProgressDeadline))
	case o.Mode == ModeOnce && p.Idle:
		return fail(CauseStopped, "stopped converging: "+p.Stuck)
	}
	return Verdict{}
}
