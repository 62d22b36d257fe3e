//go:build !linux

package top

import "os"

// IsTerminal reports whether f is a character device, the best guess for a
// terminal where oomtrace does not run its tracer.
func IsTerminal(f *os.File) bool {
	if f == nil {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
