//go:build !unix

package sqlite

import (
	"errors"
	"io/fs"
)

type fileLock struct{}

// lockFile fails: without flock a read-write Open could not keep a second
// converge process out. ReadOnly opens still work.
func lockFile(lockPath, name string) (*fileLock, error) {
	return nil, errors.New("read-write state files need flock, which this platform lacks")
}

func (l *fileLock) release() error { return nil }

// linkCount is the number of names of the file: unknown here, so 1.
func linkCount(fs.FileInfo) uint64 { return 1 }
