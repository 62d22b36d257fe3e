package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"
)

// usageError makes the process exit with status 2.
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exitCodeError makes the process exit with a given status, after printing msg (if any).
type exitCodeError struct {
	code int
	msg  string
}

func (e exitCodeError) Error() string { return e.msg }

// exitCode prints what a command's error says on stderr and gives the
// process's exit status: 0 without an error or for --help, 2 for bad usage,
// an exitCodeError's own status, else 1 with the error's first line.
func exitCode(name string, err error, stderr io.Writer) int {
	var ue usageError
	var ce exitCodeError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ce):
		if ce.msg != "" {
			fmt.Fprintf(stderr, "oomtrace %s: %s\n", name, ce.msg)
		}
		return ce.code
	case errors.Is(err, pflag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "oomtrace %s: %v\n", name, ue.error)
		return 2
	default:
		fmt.Fprintf(stderr, "oomtrace %s: %v\n", name, oneLine(err))
		return 1
	}
}
