package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/oomtrace/oomtrace/internal/dump"
)

func init() {
	register(command{name: "run", summary: "gate mode: record while a command runs, then write a summary", run: cmdRun})
}

const runExamples = `  sudo oomtrace run --out artifacts/oomtrace -- ./stack.sh
  sudo oomtrace run --fail-on-oom -- tox -e functional
`

// exitOOM is run's status when --fail-on-oom finds a kill and CMD succeeded.
const exitOOM = 3

func cmdRun(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", "run [flags] -- CMD [ARGS...]", runExamples, stdout)
	var f recordFlags
	f.register(fs, "oomtrace-out")
	failOnOOM := fs.Bool("fail-on-oom", false, fmt.Sprintf("exit %d if any OOM kill happened (when CMD itself succeeded)", exitOOM))
	if err := parse(fs, args); err != nil {
		return err
	}
	argv := fs.Args()
	if len(argv) == 0 {
		return usagef("no command given (oomtrace run [flags] -- CMD [ARGS...])")
	}
	cfg, err := f.config()
	if err != nil {
		return err
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return usagef("command %q: %v", argv[0], err)
	}
	s, err := startSession(&f, cfg)
	if err != nil {
		return err
	}
	defer s.Close()

	start := time.Now()
	cmd := exec.Command(path, argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	// The command must not inherit the recorder's OOM protection.
	if err := s.unprotected(cmd.Start); err != nil {
		return fmt.Errorf("start %s: %w", argv[0], err)
	}
	// Signals go to the command; the recorder stops when it exits.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(context.Background())
	waitErr := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		time.Sleep(2 * f.interval) // a last sample and any late OOM report
		cancel()
		waitErr <- err
	}()
	go func() {
		for sig := range sigs {
			cmd.Process.Signal(sig)
		}
	}()
	runErr := s.run(ctx)
	cmdErr := <-waitErr
	code := exitStatus(cmdErr)
	if code < 0 {
		return fmt.Errorf("wait for %s: %w", argv[0], cmdErr)
	}
	summary := &dump.Run{Command: argv, Start: start.UTC(), End: time.Now().UTC(), ExitCode: code}
	s.finish(stderr)
	if _, err := s.rec.Summary(summary, start); err != nil {
		fmt.Fprintf(stderr, "oomtrace run: cannot write the summary: %v\n", oneLine(err))
	}
	if runErr != nil {
		return runErr
	}
	kills := len(s.rec.Kills())
	switch {
	case code != 0:
		return exitCodeError{code: code}
	case *failOnOOM && kills > 0:
		return exitCodeError{code: exitOOM, msg: fmt.Sprintf("%d OOM kill(s) during the run (--fail-on-oom)", kills)}
	}
	return nil
}

// exitStatus is the shell's view of how a command ended: its exit code, or
// 128+signal; -1 when it did not run.
func exitStatus(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return -1
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ee.ExitCode()
}
