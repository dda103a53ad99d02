package file

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"syscall"
	"unicode"

	"github.com/convergehq/converge/provider"
)

// classify wraps err, from doing op, with its class:
//   - already classified errors keep their class;
//   - permission errors (EACCES, EPERM), a read-only file system, a name
//     too long (ENAMETOOLONG), a loop of symbolic links (ELOOP) and a path
//     os.Root refuses because it escapes are terminal;
//   - a full disk or quota (ENOSPC, EDQUOT) and everything else are retryable.
func classify(op string, err error) error {
	var pe *provider.Error
	if errors.As(err, &pe) {
		return err
	}
	wrapped := fmt.Errorf("%s: %w", op, err)
	switch {
	case errors.Is(err, fs.ErrPermission):
		return provider.Terminal(fmt.Errorf("%s: permission denied: %w", op, err))
	case errors.Is(err, syscall.EROFS):
		return provider.Terminal(wrapped)
	case errors.Is(err, syscall.ENAMETOOLONG):
		// The name is what it is until the spec changes.
		return provider.Terminal(wrapped)
	case errors.Is(err, syscall.ELOOP):
		// A loop of links stays a loop until someone changes the tree.
		return provider.Terminal(fmt.Errorf("%s: more than %d symbolic links to follow: %w", op, maxLinkHops, err))
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return provider.Retryable(wrapped)
	case strings.Contains(err.Error(), "path escapes from parent"):
		// os.Root's refusal has no exported sentinel; it only happens when
		// the tree changed between our own check and the operation.
		return provider.Terminal(wrapped)
	}
	return wrapped
}

// oneLine returns err with every character that is not printable (a newline
// in a file name) escaped in its message, so that a message is one line
// that says exactly which name it means. errors.Is and errors.As see
// through it, so the class is kept.
func oneLine(err error) error {
	if err == nil || strings.IndexFunc(err.Error(), notPrintable) < 0 {
		return err
	}
	return &escapedError{err}
}

type escapedError struct{ err error }

func (e *escapedError) Error() string { return escape(e.err.Error()) }
func (e *escapedError) Unwrap() error { return e.err }

func notPrintable(r rune) bool { return !unicode.IsPrint(r) }

// escape writes every character of s that is not printable as a Go escape.
func escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if notPrintable(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
