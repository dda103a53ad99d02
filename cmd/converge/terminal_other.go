//go:build !linux

package main

import "os"

// isTerminal reports whether f is a character device, the best guess at a
// terminal without a termios call.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
