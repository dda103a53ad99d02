package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A process is identified by its pid and its start time (field 22 of
// /proc/PID/stat, in clock ticks since boot): a pid the kernel gave to
// another process since has another start time, so it is never taken for
// the one converge started.
type procID struct {
	pid   int
	start uint64
}

func (p procID) String() string { return fmt.Sprintf("pid %d", p.pid) }

// procStat is what converge reads of /proc/PID/stat.
type procStat struct {
	state byte   // R, S, D, Z, T...
	pgid  int    // field 5
	start uint64 // field 22
}

// procRoot is where /proc is mounted.
const procRoot = "/proc"

// readStat reads /proc/PID/stat. A process that does not exist is an
// error satisfying errors.Is(err, os.ErrNotExist).
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		if errors.Is(err, syscall.ESRCH) {
			err = os.ErrNotExist
		}
		return procStat{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces and
	// parentheses itself: the fields that follow start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	pgid, err := strconv.Atoi(f[2])
	if err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: pgid: %w", pid, err)
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: start time: %w", pid, err)
	}
	return procStat{state: f[0][0], pgid: pgid, start: start}, nil
}

// running reports whether the process id names is alive: its pid has its
// start time and it is not a zombie. Errors other than absence (a /proc
// that cannot be read) are returned.
func running(id procID) (bool, error) {
	if id.pid <= 0 {
		return false, nil
	}
	st, err := readStat(id.pid)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	}
	return st.start == id.start && st.state != 'Z' && st.state != 'X', nil
}

// identify returns the procID of a process just started.
func identify(pid int) (procID, error) {
	st, err := readStat(pid)
	if err != nil {
		return procID{}, err
	}
	return procID{pid: pid, start: st.start}, nil
}

// findMarked returns the live processes of this user whose environment
// names resource id of instance (EnvResource, EnvInstance), oldest first.
func findMarked(id, instance string) ([]procID, error) {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", procRoot, err)
	}
	uid := uint32(os.Getuid())
	want := []byte(EnvResource + "=" + id + "\x00")
	var found []procID
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		dir := filepath.Join(procRoot, e.Name())
		fi, err := os.Stat(dir)
		if err != nil {
			continue
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Uid != uid {
			continue
		}
		env, err := os.ReadFile(filepath.Join(dir, "environ"))
		if err != nil || !bytes.Contains(append([]byte{0}, env...), append([]byte{0}, want...)) {
			continue
		}
		if envValue(strings.Split(string(env), "\x00"), EnvInstance) != instance {
			continue
		}
		st, err := readStat(pid)
		if err != nil || st.state == 'Z' || st.state == 'X' || st.pgid != pid {
			continue // gone, or a child of the process (which is its group's leader)
		}
		found = append(found, procID{pid: pid, start: st.start})
	}
	// Oldest first: the one a lost answer started before any other.
	for i := 1; i < len(found); i++ {
		for j := i; j > 0 && found[j].start < found[j-1].start; j-- {
			found[j], found[j-1] = found[j-1], found[j]
		}
	}
	return found, nil
}

// groupLeft reports whether a process of the group id leads is left. The
// kernel gives no process a pid that is a live group's id, so a group of
// that id is ours unless the pid names another process now (another start
// time), which means ours is gone.
func groupLeft(id procID) bool {
	if st, err := readStat(id.pid); err == nil && st.start != id.start {
		return false
	}
	return groupAlive(id.pid) && groupMember(id.pid)
}

// groupMember reports whether a process of group pgid that is not a
// zombie is left: zombies are dead, whenever their parent reaps them.
func groupMember(pgid int) bool {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return true
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(pid); err == nil && st.pgid == pgid && st.state != 'Z' && st.state != 'X' {
			return true
		}
	}
	return false
}

// groupAlive reports whether a process of group pgid is left.
func groupAlive(pgid int) bool {
	err := syscall.Kill(-pgid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// stopPoll is how often a stop looks whether the group is gone.
const stopPoll = 20 * time.Millisecond

// stopGroup stops the process group that id leads: sig to the group, then,
// when a process of it is left after grace, SIGKILL. It returns once the
// group is gone (or ctx is done). A process already gone is no error. It
// reports whether SIGKILL was needed.
func stopGroup(ctx context.Context, id procID, sig syscall.Signal, grace time.Duration) (killed bool, err error) {
	// The leader may be gone while its group is not (a shell's children):
	// the group is still signalled.
	if !groupLeft(id) {
		return false, nil
	}
	if err := signalGroup(id.pid, sig); err != nil {
		return false, err
	}
	deadline := time.Now().Add(grace)
	for {
		if !groupLeft(id) {
			return killed, nil
		}
		if !killed && !time.Now().Before(deadline) {
			if err := signalGroup(id.pid, syscall.SIGKILL); err != nil {
				return killed, err
			}
			killed = true
		}
		select {
		case <-ctx.Done():
			return killed, fmt.Errorf("stop %s: %w", id, ctx.Err())
		case <-time.After(stopPoll):
		}
	}
}

func signalGroup(pgid int, sig syscall.Signal) error {
	err := syscall.Kill(-pgid, sig)
	switch {
	case err == nil, errors.Is(err, syscall.ESRCH):
		return nil
	case errors.Is(err, syscall.EPERM):
		return fmt.Errorf("signal %s to process group %d: %w (a process of it runs as another user)", sig, pgid, err)
	}
	return fmt.Errorf("signal %s to process group %d: %w", sig, pgid, err)
}

// tail returns the last lines of the file at path, at most max bytes.
func tail(path string, lines, max int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	off := fi.Size() - int64(max)
	if off < 0 {
		off = 0
	}
	b := make([]byte, fi.Size()-off)
	n, _ := f.ReadAt(b, off)
	s := strings.TrimRight(string(b[:n]), "\n")
	parts := strings.Split(s, "\n")
	if off > 0 && len(parts) > 1 {
		parts = parts[1:] // the first line is cut
	}
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
