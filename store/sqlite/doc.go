// Package sqlite is the default store.Store: one SQLite file (pure Go, via
// modernc.org/sqlite) that one converge process owns and others may share.
//
// Guarantees, beyond those of package store:
//   - Exclusive writer: a read-write Open takes an advisory lock on
//     path+".lock" (holding the owner's pid) and fails with a *LockedError
//     while another process holds it. ReadOnly opens take no lock, so status
//     and events commands work while a daemon runs, and neither do Shared
//     opens, which write beside the owner.
//   - Conditional writes are atomic across processes: PutRecordIf and
//     DeleteRecordIf check the record's version and the fence in the
//     writer's transaction, which holds SQLite's write lock from its start
//     (BEGIN IMMEDIATE), so no writer of any process comes between the
//     check and the write. A refused write does not fail the others of its
//     group commit.
//   - Versions come from one sequence of changes, kept in the file: every
//     record put, record delete and target change takes the next number,
//     in commit order whichever process commits (see changes.go).
//   - Watch sees every process's changes: this process's at once, other
//     processes' within about 50 ms (a poll of PRAGMA data_version), on
//     read-write, Shared and ReadOnly DBs alike. The change log keeps the
//     newest 10000 changes for an hour at most (see ChangeRetention).
//   - One lock per file, whatever its name: the path is resolved first
//     (absolute, symbolic links evaluated, see ResolvePath), and the lock is
//     taken beside the real file. A file with more than one name (hard
//     links) is refused, since neither the lock nor SQLite's log would be
//     shared between its names.
//   - Only converge states are opened: a new state file is built beside
//     its path with converge's application_id and renamed into place, and
//     every Open refuses (with an error wrapping ErrForeign, leaving the
//     file alone) an empty file, a file that is not SQLite, and a database
//     with another application_id, or none and not converge's tables.
//   - Durability: the database runs in WAL mode, and the writer's
//     connection with synchronous=FULL: every group commit syncs the WAL to
//     the disk before any of its writes is answered, so a write that
//     returned nil survives a crash of the process and a power loss. A
//     deferred write is as durable once a later synchronous write or Flush
//     returned; before, a crash may lose it.
//   - Group commit: PutRecord, DeleteRecord, AddEvent and every other write
//     are queued to one writer goroutine, which commits everything waiting in
//     one transaction and then answers each caller with its own result. A
//     write returns only after its transaction committed. One write's error
//     never fails another's: a failed batch is retried one write at a time.
//   - Reads use a separate pool of connections and see every committed write.
//   - Close drains queued writes, then releases the lock.
//   - Large strings are stored once: inside records and revisions, every
//     JSON string longer than 4 KiB is kept in a content-addressed blobs
//     table and referenced, and goes with its last reference, in the same
//     transaction (see blobs.go). Callers see no difference.
//   - HistoryLimit bounds the revision history: recording a new revision
//     prunes it in the same transaction.
//   - The schema is migrated forward on a read-write Open by numbered,
//     embedded migrations applied in one transaction; a database written by a
//     newer converge is refused with a clear error.
package sqlite
