package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/convergehq/converge/store"
)

// Errors.
var (
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("state store is closed")
	// ErrReadOnly is returned by writes to a store opened with ReadOnly.
	ErrReadOnly = errors.New("state store is open read-only")
	// ErrForeign is wrapped by the error of an Open of a file that is not
	// a converge state: empty, not an SQLite database, or another
	// application's database.
	ErrForeign = errors.New("not a converge state file")
)

const (
	busyTimeout = 10 * time.Second
	// maxBatch bounds one group commit, so a flood of writers cannot make
	// one transaction (and the latency of its first caller) unbounded.
	maxBatch = 1024
)

// Option configures Open.
type Option func(*options)

type options struct {
	now          func() time.Time
	readOnly     bool
	shared       bool
	historyLimit int
	retainRows   int
	retainAge    time.Duration
}

// WithNow sets the clock used to stamp events and revisions that carry no
// time of their own. The default is time.Now.
func WithNow(now func() time.Time) Option { return func(o *options) { o.now = now } }

// ReadOnly opens an existing state file for reading only, without taking
// the writer's lock, so it works while another process writes. Writes
// return ErrReadOnly. The file must exist and have this build's schema.
func ReadOnly() Option { return func(o *options) { o.readOnly = true } }

// Shared opens the state file for reading and writing without taking the
// exclusive lock, so that another process can write beside the one that
// holds it (such as a rollback's new target while a daemon runs); SQLite
// serializes the writes. Processes that read, change and write back the
// same records should write with PutRecordIf, and follow each other's
// writes with Watch.
func Shared() Option { return func(o *options) { o.shared = true } }

// HistoryLimit makes every new revision prune the history in the same
// write, down to the newest n revisions plus the target and the last known
// good one (see DB.PruneRevisions). n <= 0, the default, keeps them all.
func HistoryLimit(n int) Option { return func(o *options) { o.historyLimit = n } }

// DB is a store.Store backed by one SQLite file.
type DB struct {
	name         string // the path as given to Open, for messages
	path         string // the file: absolute, symbolic links evaluated
	now          func() time.Time
	readOnly     bool
	historyLimit int
	readExtra    string // the read pool's settings, for the watchers' poller

	retainRows   int           // the change log's bounds; see ChangeRetention
	retainAge    time.Duration //
	sinceCompact atomic.Int64  // changes committed since the last compaction
	lastCompact  time.Time     // the writer goroutine's only

	read    *sql.DB // pool of reading connections
	writeDB *sql.DB // the writer goroutine's one connection; nil when read-only
	lock    *fileLock

	putRecord, deleteRecord, addEvent *sql.Stmt // on write
	addEventExec                      *sql.Stmt // addEvent without RETURNING, for deferred events
	getVersion, getFence              *sql.Stmt // the conditions of conditional writes
	insertChange                      *sql.Stmt // log a change
	getRecord                         *sql.Stmt // on read

	mu         sync.RWMutex // guards closed and sends on queue
	closed     bool
	queue      chan *writeOp
	writerDone chan struct{}
	closeOnce  sync.Once
	closeErr   error

	deferredMu  sync.Mutex
	deferredErr error // first error of a deferred write since the last Flush

	watchMu  sync.Mutex
	changed  chan struct{}  // closed at the next change; nil while no watcher waits
	closing  chan struct{}  // closed by Close: watchers and the poller stop
	watchers sync.WaitGroup // watchers and the poller, which Close waits for
	pollOnce sync.Once
}

var (
	_ store.Store                  = (*DB)(nil)
	_ store.Deferrer               = (*DB)(nil)
	_ store.ConditionalRecordStore = (*DB)(nil)
	_ store.Fencer                 = (*DB)(nil)
	_ store.ConditionalTargetStore = (*DB)(nil)
)

// Open opens the state file at path, creating it and its parent directory
// when needed, migrating its schema and locking it against other converge
// processes (see ReadOnly for the alternative). path is resolved first
// (see ResolvePath), so every name of one file takes one lock. A file that
// is not a converge state is refused with an error wrapping ErrForeign,
// and a file with more than one name is refused.
func Open(ctx context.Context, path string, opts ...Option) (db *DB, err error) {
	o := options{now: time.Now, retainRows: defaultRetainRows, retainAge: defaultRetainAge}
	for _, opt := range opts {
		opt(&o)
	}
	d := &DB{name: path, now: o.now, readOnly: o.readOnly, historyLimit: o.historyLimit,
		retainRows: o.retainRows, retainAge: o.retainAge, lastCompact: o.now(),
		closing: make(chan struct{})}
	defer func() {
		if err != nil {
			d.closeHandles()
		}
	}()

	if o.readOnly {
		abs, err := ResolvePath(path)
		if err != nil {
			return nil, fmt.Errorf("open state file %s read-only: %w", path, err)
		}
		d.path = abs
		fi, err := os.Stat(abs)
		if err != nil {
			return nil, fmt.Errorf("open state file %s read-only: %w", path, err)
		}
		if err := checkNames(fi, path); err != nil {
			return nil, err
		}
		if err := checkFile(abs, path, fi); err != nil {
			return nil, err
		}
		d.readExtra = "mode=ro&_pragma=synchronous(NORMAL)"
		if d.read, err = openPool(abs, d.readExtra, runtime.GOMAXPROCS(0)+2); err != nil {
			return nil, fmt.Errorf("open state file %s read-only: %w", path, err)
		}
		if err := checkVersion(ctx, d.read, path); err != nil {
			return nil, err
		}
		if err := d.prepareReads(ctx); err != nil {
			return nil, err
		}
		return d, nil
	}

	given, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(given), 0o755); err != nil {
		return nil, fmt.Errorf("open state file %s: create directory: %w", path, err)
	}
	// Every name of the file takes the lock beside the one real name.
	abs, err := ResolvePath(path)
	if err != nil {
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	d.path = abs
	if !o.shared {
		if d.lock, err = lockFile(abs+".lock", path); err != nil {
			return nil, fmt.Errorf("open state file: %w", err)
		}
	}
	switch fi, err := os.Stat(abs); {
	case err == nil:
		if err := checkNames(fi, path); err != nil {
			return nil, err
		}
		if err := checkFile(abs, path, fi); err != nil {
			return nil, err
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	case o.shared:
		// Without the lock, another process could be creating it.
		return nil, fmt.Errorf("open state file %s shared: %w", path, err)
	default:
		if err := createState(ctx, abs, path); err != nil {
			return nil, err
		}
	}
	// The writer syncs the WAL at every commit (synchronous FULL), before
	// any write of the transaction is answered: an acknowledged write
	// survives a power loss, not only a crash of the process. It keeps
	// SQLite's default page cache: a larger one costs a scan of the whole
	// cache at every commit (pcache1TruncateUnsafe), more than the reads
	// it saves.
	if d.writeDB, err = openPool(abs, "_pragma=synchronous(FULL)&_txlock=immediate", 1); err != nil {
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	if err := migrate(ctx, d.writeDB, path, false); err != nil {
		if errors.Is(err, ErrForeign) {
			return nil, err
		}
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	// Only now that the file is known to be a converge state: the switch
	// writes its header. WAL mode is persistent, so every later
	// connection has it.
	if _, err := d.writeDB.ExecContext(ctx, `PRAGMA journal_mode = WAL`); err != nil {
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	d.readExtra = "_pragma=query_only(1)&_pragma=synchronous(NORMAL)"
	if d.read, err = openPool(abs, d.readExtra, runtime.GOMAXPROCS(0)+2); err != nil {
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	if err := d.prepareReads(ctx); err != nil {
		return nil, err
	}
	if err := d.prepareWrites(ctx); err != nil {
		return nil, err
	}
	d.queue = make(chan *writeOp, maxBatch)
	d.writerDone = make(chan struct{})
	go d.runWriter()
	return d, nil
}

// Path returns the state file the DB uses: absolute, with symbolic links
// evaluated.
func (d *DB) Path() string { return d.path }

// openPool opens a connection pool on the file at abs with the settings
// every connection shares plus extra (URI query parameters).
func openPool(abs, extra string, conns int) (*sql.DB, error) {
	dsn := "file:" + (&url.URL{Path: abs}).EscapedPath() +
		"?_pragma=busy_timeout(" + fmt.Sprint(busyTimeout.Milliseconds()) + ")" +
		"&_pragma=foreign_keys(1)&" + extra
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func (d *DB) prepareReads(ctx context.Context) (err error) {
	if d.getRecord, err = d.read.PrepareContext(ctx, `SELECT data, blobs, version FROM records WHERE id = ?`); err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	return nil
}

func (d *DB) prepareWrites(ctx context.Context) error {
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&d.putRecord, `INSERT INTO records (id, kind, phase, updated, data, blobs, version) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, phase = excluded.phase,
				updated = excluded.updated, data = excluded.data, blobs = excluded.blobs,
				version = excluded.version`},
		{&d.deleteRecord, `DELETE FROM records WHERE id = ?`},
		{&d.getVersion, `SELECT version FROM records WHERE id = ?`},
		{&d.getFence, `SELECT token FROM fences WHERE name = ?`},
		{&d.insertChange, `INSERT INTO changes (kind, id, at) VALUES (?, ?, ?)`},
		{&d.addEvent, `INSERT INTO events (resource, type, reason, message, revision, count, first_seen, last_seen)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (resource, type, reason, message) DO UPDATE SET
				count = count + excluded.count,
				last_seen = max(last_seen, excluded.last_seen),
				revision = CASE WHEN excluded.revision <> '' THEN excluded.revision ELSE revision END
			RETURNING ` + eventColumns},
		{&d.addEventExec, `INSERT INTO events (resource, type, reason, message, revision, count, first_seen, last_seen)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (resource, type, reason, message) DO UPDATE SET
				count = count + excluded.count,
				last_seen = max(last_seen, excluded.last_seen),
				revision = CASE WHEN excluded.revision <> '' THEN excluded.revision ELSE revision END`},
	} {
		s, err := d.writeDB.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		*p.stmt = s
	}
	return nil
}

// Close waits for every queued write to commit, ends the watches, closes
// the database and releases the lock. Calls made after Close fail with ErrClosed. It is safe
// to call more than once.
func (d *DB) Close() error {
	d.closeOnce.Do(func() {
		d.mu.Lock()
		d.closed = true
		if d.queue != nil {
			close(d.queue)
		}
		d.mu.Unlock()
		if d.writerDone != nil {
			<-d.writerDone
		}
		close(d.closing)
		d.watchers.Wait()
		d.closeErr = d.closeHandles()
	})
	return d.closeErr
}

// closeHandles closes whatever Open opened: readers first, so that the
// writer's connection is the last one and checkpoints the WAL into the
// database file.
func (d *DB) closeHandles() error {
	var errs []error
	for _, s := range []*sql.Stmt{d.getRecord, d.putRecord, d.deleteRecord, d.addEvent, d.addEventExec,
		d.getVersion, d.getFence, d.insertChange} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	if d.read != nil {
		errs = append(errs, d.read.Close())
	}
	if d.writeDB != nil {
		errs = append(errs, d.writeDB.Close())
	}
	if d.lock != nil {
		errs = append(errs, d.lock.release())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close state file %s: %w", d.name, err)
	}
	return nil
}

// readable reports why a read cannot proceed.
func (d *DB) readable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return ErrClosed
	}
	return nil
}
