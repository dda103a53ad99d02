package file

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"

	"github.com/convergehq/converge/provider"
)

// classify wraps err, from doing op, with its class:
//   - already classified errors keep their class;
//   - permission errors (EACCES, EPERM), a read-only file system, a loop of
//     symbolic links (ELOOP) and a path os.Root refuses because it escapes
//     are terminal;
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
