package controller

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convergehq/converge/engine"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// TestJudge: each rule, and where apply (ModeOnce) and run (ModeDaemon)
// differ: the deadline's origin and the idle rule.
func TestJudge(t *testing.T) {
	const dl = 5 * time.Minute
	auto := func(m Mode) JudgeOptions {
		return JudgeOptions{Mode: m, Start: t0, Rollback: true, ProgressDeadline: dl}
	}
	off := func(m Mode) JudgeOptions { return JudgeOptions{Mode: m, Start: t0, ProgressDeadline: dl} }
	rev := func(mod func(*engine.Progress)) engine.Progress {
		p := engine.Progress{Revision: "r", Since: t0}
		if mod != nil {
			mod(&p)
		}
		return p
	}
	converged := func(p *engine.Progress) { p.Converged = true }
	failed := func(p *engine.Progress) { p.Failed = "mem.Object/a: create: refused" }
	idle := func(p *engine.Progress) { p.Idle, p.Stuck = true, "mem.Object/a: waiting for mem.Object/b" }
	deadline := "not converged within the progress deadline (5m0s)"
	stopped := "stopped converging: mem.Object/a: waiting for mem.Object/b"
	terminal := "mem.Object/a: create: refused"

	cases := map[string]struct {
		reason string
		p      engine.Progress
		proven bool
		now    time.Time
		opts   JudgeOptions
		want   Verdict
	}{
		"NothingTargeted": {reason: "no revision: nothing to judge, even past any deadline",
			p: engine.Progress{Idle: true}, now: t0.Add(time.Hour), opts: auto(ModeOnce), want: Verdict{}},
		"Converged": {reason: "every resource Ready",
			p: rev(converged), now: t0, opts: auto(ModeDaemon), want: Verdict{Kind: VerdictConverged}},
		"ConvergedPastTheDeadline": {reason: "converged wins over a deadline passed",
			p: rev(converged), now: t0.Add(time.Hour), opts: auto(ModeOnce), want: Verdict{Kind: VerdictConverged}},
		"ConvergedProven": {reason: "a proven revision converging again is recorded converged",
			p: rev(converged), proven: true, now: t0, opts: off(ModeDaemon), want: Verdict{Kind: VerdictConverged}},
		"ConvergedWithoutRollback": {
			p: rev(converged), now: t0, opts: off(ModeOnce), want: Verdict{Kind: VerdictConverged}},
		"Progressing": {reason: "within the deadline, work left",
			p: rev(nil), now: t0.Add(dl - time.Second), opts: auto(ModeDaemon), want: Verdict{}},
		"TerminalRollsBack": {
			p: rev(failed), now: t0, opts: auto(ModeDaemon), want: Verdict{Kind: VerdictRollBack, Cause: CauseTerminal, Reason: terminal}},
		"TerminalOnceRollsBack": {
			p: rev(failed), now: t0, opts: auto(ModeOnce), want: Verdict{Kind: VerdictRollBack, Cause: CauseTerminal, Reason: terminal}},
		"TerminalWithoutRollbackFails": {reason: "rollback off: marked failed, stays the target",
			p: rev(failed), now: t0, opts: off(ModeDaemon), want: Verdict{Kind: VerdictFailed, Cause: CauseTerminal, Reason: terminal}},
		"TerminalOnceWithoutRollbackFails": {reason: "apply and run agree",
			p: rev(failed), now: t0, opts: off(ModeOnce), want: Verdict{Kind: VerdictFailed, Cause: CauseTerminal, Reason: terminal}},
		"TerminalBeforeDeadline": {reason: "a terminal failure names itself, not the deadline",
			p: rev(failed), now: t0.Add(time.Hour), opts: auto(ModeDaemon), want: Verdict{Kind: VerdictRollBack, Cause: CauseTerminal, Reason: terminal}},
		"ProvenNeverFails": {reason: "trouble after a revision converged is not its failure",
			p: rev(failed), proven: true, now: t0.Add(time.Hour), opts: auto(ModeDaemon), want: Verdict{}},
		"ProvenNeverStops": {
			p: rev(idle), proven: true, now: t0, opts: auto(ModeOnce), want: Verdict{}},
		"ProvenWithoutRollback": {
			p: rev(failed), proven: true, now: t0, opts: off(ModeOnce), want: Verdict{}},
		"DeadlineReached": {reason: "at the deadline it is missed",
			p: rev(nil), now: t0.Add(dl), opts: auto(ModeDaemon), want: Verdict{Kind: VerdictRollBack, Cause: CauseDeadline, Reason: deadline}},
		"DeadlinePassedOnce": {
			p: rev(nil), now: t0.Add(dl + time.Second), opts: auto(ModeOnce), want: Verdict{Kind: VerdictRollBack, Cause: CauseDeadline, Reason: deadline}},
		"DeadlineWithoutRollbackIgnored": {reason: "--progress-deadline is ignored with --rollback off",
			p: rev(nil), now: t0.Add(time.Hour), opts: off(ModeDaemon), want: Verdict{}},
		"NoDeadline": {reason: "a zero deadline never passes",
			p: rev(nil), now: t0.Add(1000 * time.Hour), opts: JudgeOptions{Mode: ModeDaemon, Rollback: true}, want: Verdict{}},
		"DaemonCountsFromSince": {reason: "run: from when the revision became the target, whatever Start says",
			p: engine.Progress{Revision: "r", Since: t0.Add(-dl)}, now: t0, opts: auto(ModeDaemon),
			want: Verdict{Kind: VerdictRollBack, Cause: CauseDeadline, Reason: deadline}},
		"OnceCountsFromStart": {reason: "apply: from the start of the command, though the revision was the target long before",
			p: engine.Progress{Revision: "r", Since: t0.Add(-time.Hour)}, now: t0.Add(dl - time.Second), opts: auto(ModeOnce), want: Verdict{}},
		"OnceWithoutStartCountsFromSince": {
			p: engine.Progress{Revision: "r", Since: t0.Add(-dl)}, now: t0, opts: JudgeOptions{Mode: ModeOnce, Rollback: true, ProgressDeadline: dl},
			want: Verdict{Kind: VerdictRollBack, Cause: CauseDeadline, Reason: deadline}},
		"OnceIdleStopped": {reason: "apply: nothing left to do and not converged",
			p: rev(idle), now: t0, opts: auto(ModeOnce), want: Verdict{Kind: VerdictRollBack, Cause: CauseStopped, Reason: stopped}},
		"OnceIdleWithoutDeadline": {reason: "the idle rule needs no deadline",
			p: rev(idle), now: t0, opts: JudgeOptions{Mode: ModeOnce, Start: t0, Rollback: true}, want: Verdict{Kind: VerdictRollBack, Cause: CauseStopped, Reason: stopped}},
		"OnceIdleWithoutRollback": {reason: "rollback off: an apply that stopped short is reported, not failed",
			p: rev(idle), now: t0, opts: off(ModeOnce), want: Verdict{}},
		"OnceIdlePastDeadline": {reason: "the deadline is named first",
			p: rev(idle), now: t0.Add(dl), opts: auto(ModeOnce), want: Verdict{Kind: VerdictRollBack, Cause: CauseDeadline, Reason: deadline}},
		"DaemonIdleProgressing": {reason: "run: idle between resyncs is no verdict",
			p: rev(idle), now: t0, opts: auto(ModeDaemon), want: Verdict{}},
		"TerminalAndIdle": {reason: "a terminal failure is named, not the stop",
			p: rev(func(p *engine.Progress) { failed(p); idle(p) }), now: t0, opts: auto(ModeOnce), want: Verdict{Kind: VerdictRollBack, Cause: CauseTerminal, Reason: terminal}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := Judge(tc.p, tc.proven, tc.now, tc.opts)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s\nJudge(%+v, proven %v, %s, %+v) (-want +got):\n%s", tc.reason, tc.p, tc.proven, tc.now.Sub(t0), tc.opts, diff)
			}
		})
	}
}

// TestJudgeInvariants checks every combination of the inputs against the
// rules that hold whatever the rest: converged always wins, a proven
// revision never fails, rollback off never rolls back, the deadline and
// the idle rule never fail a revision without rollback, a daemon never
// fails a revision for being idle, and a failure always says why.
func TestJudgeInvariants(t *testing.T) {
	const dl = time.Minute
	n := 0
	for _, rev := range []string{"", "r"} {
		for _, conv := range []bool{false, true} {
			for _, failed := range []string{"", "a: refused"} {
				for _, idle := range []bool{false, true} {
					for _, proven := range []bool{false, true} {
						for _, mode := range []Mode{ModeDaemon, ModeOnce} {
							for _, rollback := range []bool{false, true} {
								for _, deadline := range []time.Duration{0, dl} {
									for _, elapsed := range []time.Duration{0, dl - time.Nanosecond, dl, time.Hour} {
										for _, start := range []time.Time{{}, t0.Add(-time.Hour), t0} {
											n++
											p := engine.Progress{Revision: rev, Converged: conv, Failed: failed, Since: t0, Idle: idle}
											if idle {
												p.Stuck = "a: waiting"
											}
											o := JudgeOptions{Mode: mode, Start: start, Rollback: rollback, ProgressDeadline: deadline}
											v := Judge(p, proven, t0.Add(elapsed), o)
											checkInvariants(t, p, proven, elapsed, o, v)
										}
									}
								}
							}
						}
					}
				}
			}
		}
	}
	if n != 2*2*2*2*2*2*2*2*4*3 {
		t.Fatalf("premise: %d combinations checked", n)
	}
}

func checkInvariants(t *testing.T, p engine.Progress, proven bool, elapsed time.Duration, o JudgeOptions, v Verdict) {
	t.Helper()
	fail := func(rule string) {
		t.Helper()
		t.Errorf("%s: Judge(%+v, proven %v, +%s, %+v) = %+v", rule, p, proven, elapsed, o, v)
	}
	failing := v.Kind == VerdictFailed || v.Kind == VerdictRollBack
	switch {
	case p.Revision == "" && v != (Verdict{}):
		fail("nothing targeted is progressing")
	case p.Revision != "" && p.Converged && v.Kind != VerdictConverged:
		fail("converged wins")
	case v.Kind == VerdictConverged && !p.Converged:
		fail("converged only when converged")
	case proven && failing:
		fail("a proven revision never fails")
	case !o.Rollback && v.Kind == VerdictRollBack:
		fail("no rollback without Rollback")
	case o.Rollback && v.Kind == VerdictFailed:
		fail("with Rollback a failure rolls back")
	case !o.Rollback && failing && v.Cause != CauseTerminal:
		fail("without Rollback only a terminal failure fails a revision")
	case o.Mode == ModeDaemon && v.Cause == CauseStopped:
		fail("a daemon never fails a revision for being idle")
	case failing && (v.Reason == "" || v.Cause == CauseNone):
		fail("a failure says why")
	case !failing && (v.Reason != "" || v.Cause != CauseNone):
		fail("only a failure has a cause")
	case v.Cause == CauseTerminal && v.Reason != p.Failed:
		fail("a terminal failure's reason is the engine's")
	case p.Revision != "" && !p.Converged && !proven && p.Failed != "" && !failing:
		fail("a terminal failure of an unproven revision fails it")
	case v.Cause == CauseStopped && !strings.HasSuffix(v.Reason, p.Stuck):
		fail("a stop names what is stuck")
	}
	origin := p.Since
	if o.Mode == ModeOnce && !o.Start.IsZero() {
		origin = o.Start
	}
	reached := o.ProgressDeadline > 0 && !p.Since.Add(elapsed).Before(origin.Add(o.ProgressDeadline))
	switch {
	case v.Cause == CauseDeadline && !reached:
		fail("a deadline is missed only once it is reached, from its origin")
	case reached && o.Rollback && p.Revision != "" && !p.Converged && !proven && p.Failed == "" && v.Cause != CauseDeadline:
		fail("a deadline reached rolls back")
	}
}
