package manifest

import "fmt"

// Limits on what one load reads and builds, so that loading takes bounded
// memory and time whatever the input. A load over a limit fails with an
// error naming the file (and the line, for aliases). They are variables for tests and callers with unusual needs:
// set them before loading, never while a load runs.
var (
	// MaxFileBytes is the size of the largest manifest file a load reads:
	// 64 MiB.
	MaxFileBytes int64 = 64 << 20
	// MaxTotalBytes is the most bytes of manifest files one load reads, all
	// files together: 256 MiB.
	MaxTotalBytes int64 = 256 << 20
	// MaxAliasBytes bounds what YAML aliases expand to in one load, all
	// files and documents together: the bytes of every scalar and mapping
	// key an alias stands for, counted at each use of the alias, and of the
	// field paths that errors and references below an alias name: 64 MiB.
	// (Field paths longer than 256 bytes count too, alias or not.)
	MaxAliasBytes int64 = 64 << 20
)

// sizeError reports a file of size bytes over MaxFileBytes, or over left,
// what is left of MaxTotalBytes (then total is set); nil when it is within
// both.
func sizeError(name string, size, left int64) (e *Error, total bool) {
	switch {
	case size > MaxFileBytes:
		return &Error{File: name, Msg: fmt.Sprintf("is larger than %s, the limit for one manifest file", byteSize(MaxFileBytes))}, false
	case size > left:
		return &Error{File: name, Msg: fmt.Sprintf("the manifests up to this file are larger than %s, the limit for all of them", byteSize(MaxTotalBytes))}, true
	}
	return nil, false
}

// byteSize renders n bytes for people: "64 MiB", "1.5 KiB", "100 bytes".
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
