//go:build unix

package sqlite

import "syscall"

// cpuTime returns the CPU time the process used so far (user and
// system), in nanoseconds: on a busy machine it is a steadier measure of
// a write's cost than the wall clock.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
