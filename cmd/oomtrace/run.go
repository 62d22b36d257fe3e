package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/oomtrace/oomtrace/internal/dump"
	"github.com/oomtrace/oomtrace/internal/safe"
)

func init() {
	register(command{name: "run", summary: "gate mode: record while a command runs, then write a summary", run: cmdRun})
}

const runExamples = `  sudo oomtrace run --out artifacts/oomtrace -- ./stack.sh
  sudo oomtrace run --fail-on-oom -- tox -e functional
  sudo oomtrace run --budget nova-api=800MiB --budgets budgets.conf -- ./stack.sh
  sudo oomtrace run --baseline main/summary.json --max-regression 20 -- ./stack.sh

Exit status: CMD's own when it failed (128+signal if killed); else 3 if
--fail-on-oom and an OOM kill happened; else 4 if a budget was exceeded or a
peak regressed beyond --max-regression; else 0. A budget for a service that
never ran is reported as not seen, not as a failure.
`

// exitOOM is run's status when --fail-on-oom finds a kill and CMD succeeded.
const exitOOM = 3

// exitGate is run's status when CMD succeeded, no OOM failure applies, and
// a budget was exceeded or a peak regressed.
const exitGate = 4

func cmdRun(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", "run [flags] -- CMD [ARGS...]", runExamples, stdout)
	var f recordFlags
	f.register(fs, "oomtrace-out")
	failOnOOM := fs.Bool("fail-on-oom", false, fmt.Sprintf("exit %d if any OOM kill happened (when CMD itself succeeded)", exitOOM))
	var gf gateFlags
	gf.register(fs)
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
	g, err := gf.config(fs)
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
	var failed []string
	judge := func(d *dump.Dump) { failed = g.judge(d) }
	if _, err := s.rec.SummaryJudged(summary, start, judge); err != nil {
		fmt.Fprintf(stderr, "oomtrace run: cannot write the summary: %v\n", oneLine(err))
	}
	for _, b := range summary.Budgets {
		if b.Result == dump.BudgetNotSeen {
			fmt.Fprintf(stderr, "oomtrace run: budget for %s: the service was not seen during the run (not a failure)\n", safe.Text(b.Service))
		}
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
	case len(failed) > 0:
		return exitCodeError{code: exitGate, msg: "gate failed: " + strings.Join(failed, "; ")}
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
