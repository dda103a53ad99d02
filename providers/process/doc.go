// Package process is converge's provider of supervised processes: the kind
// process.Process runs a command, detached from converge, and keeps it
// running.
//
// Guarantees:
//   - A process runs in a session of its own (setsid), with stdin from
//     /dev/null and stdout and stderr appended to its log file, never to a
//     pipe to converge: converge stops and restarts without taking it down.
//   - A process is found again by its pid and its start time (field 22 of
//     /proc/PID/stat), never by its pid alone, and a zombie is not alive:
//     a pid the kernel reused is never taken for it. When the answer of a
//     start was lost, the process is found by CONVERGE_RESOURCE (the
//     resource ID) in its environment.
//   - It runs as the user converge runs as, with args passed as they are:
//     no shell sees them unless the spec says shell: true.
//   - A process that exits is started again at once: the engine is
//     notified (provider.Notifier) without waiting for a resync. One that
//     keeps exiting (DefaultCrashLoop: 3 exits within a minute) is
//     started again after a backoff that doubles, and its resource says
//     why, in an error beginning "CrashLoop:".
//   - Stopping (a spec change, a delete) signals the whole process group,
//     waits the grace period, then kills the group with SIGKILL.
//   - Every operation is idempotent: a retried Create or Update returns the
//     process the first started, and deleting what is gone succeeds.
//
// The health check (tcp, http or exec) makes a resource Ready; it does not
// restart a process that fails it.
package process
