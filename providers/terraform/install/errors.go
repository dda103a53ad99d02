package install

import "errors"

// Sentinel errors, wrapped by the errors this package returns.
var (
	// ErrInvalid: a source address, version constraint or lock file that
	// cannot be read.
	ErrInvalid = errors.New("invalid")
	// ErrNotFound: no installed package matches.
	ErrNotFound = errors.New("provider not installed")
	// ErrNotLocked: the lock exists but does not name the provider.
	ErrNotLocked = errors.New("provider not in converge.lock")
	// ErrLockStale: the locked version does not satisfy the constraint.
	ErrLockStale = errors.New("converge.lock out of date")
	// ErrHashMismatch: the package's hashes are none of the locked ones.
	ErrHashMismatch = errors.New("provider hash not in converge.lock")
)

// lockHint is what every lock error tells the user to do.
const lockHint = "run `converge providers lock`"
