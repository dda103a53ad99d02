// Package reliability holds the tests that prove converge correct against a
// cloud API that fails, throttles, lags and hangs: cloudsim, run on
// loopback, driven through the cloud provider by the engine (and, for the
// crash test, by the converge binary, killed with SIGKILL).
//
// Each test asserts the outcome (everything converged, zero duplicates,
// zero leaks, zero overlapping mutations, limits respected) and reports its
// figures with t.Log; with CONVERGE_FIGURES=path they are also appended to
// that file as JSON lines, which docs/reliability.md is made from. The
// crash test logs the seed of its kill delays; CONVERGE_KILL_SEED=n runs it
// again with the delays of seed n.
package reliability
