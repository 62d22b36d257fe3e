// Command oomtrace traces memory growth and OOM kills with eBPF and attributes
// them to services.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"sort"

	"github.com/spf13/pflag"

	"github.com/oomtrace/oomtrace/internal/safe"
)

// version is set at build time with -ldflags "-X main.version=..."; otherwise
// it comes from the module's build info.
var version = ""

type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

func register(c command) { commands[c.name] = c }

// usageError makes the process exit with status 2.
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "help":
		usage(stdout)
		return 0
	case "-v", "--version", "version":
		fmt.Fprintln(stdout, "oomtrace", versionString())
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "oomtrace: unknown command %q (see oomtrace --help)\n", args[0])
		return 2
	}
	err := cmd.run(args[1:], stdout, stderr)
	var ue usageError
	var ce exitCodeError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ce):
		if ce.msg != "" {
			fmt.Fprintf(stderr, "oomtrace %s: %s\n", cmd.name, ce.msg)
		}
		return ce.code
	case errors.Is(err, pflag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "oomtrace %s: %v\n", cmd.name, ue.error)
		return 2
	default:
		fmt.Fprintf(stderr, "oomtrace %s: %v\n", cmd.name, oneLine(err))
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "oomtrace: eBPF allocation and OOM tracer.\n\nUsage: oomtrace COMMAND [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'oomtrace COMMAND --help' for a command's flags. Most commands need root.")
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "dev"
}

// newFlags makes a subcommand's flag set; --help prints synopsis, flags and
// examples to stdout.
func newFlags(name, synopsis, examples string, stdout io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed once, by run
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: oomtrace %s\n\nFlags:\n%s", synopsis, fs.FlagUsages())
		if examples != "" {
			fmt.Fprintf(stdout, "\nExamples:\n%s", examples)
		}
	}
	return fs
}

// parse parses flags; a bad flag is a usage error, --help is not an error.
func parse(fs *pflag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if errors.Is(err, pflag.ErrHelp) {
		return err
	}
	if err != nil {
		return usageError{err}
	}
	return nil
}

// oneLine keeps the first line of an error: verifier logs are printed in full
// only with --verbose.
func oneLine(err error) string { return safe.FirstLine(err.Error()) }
