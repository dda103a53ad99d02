package sqlite

import (
	"fmt"
	"strconv"
)

// LockedError is returned by a read-write Open of a state file that another
// process holds.
type LockedError struct {
	Path string // the state file, as given to Open
	PID  int    // the holder's pid, 0 when unknown
}

func (e *LockedError) Error() string {
	pid := "pid unknown"
	if e.PID > 0 {
		pid = "pid " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("state file %s is in use by another converge process (%s)", e.Path, pid)
}
