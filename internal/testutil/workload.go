package testutil

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// WorkloadSource is the workload's C source, from the module's root.
const WorkloadSource = "e2e/testdata/workload.c"

var workload = struct {
	once sync.Once
	path string
	err  error
}{}

// WorkloadBin compiles the workload once per test binary, or uses the
// prebuilt one OOMTRACE_WORKLOAD names (the second-kernel VM has no compiler;
// the file must be called "workload": the tests check the comm).
func WorkloadBin(t testing.TB) string {
	t.Helper()
	if os.Getenv("OOMTRACE_WORKLOAD") == "" {
		NeedTool(t, "cc", "gcc libc6-dev")
	}
	workload.once.Do(func() {
		if p := os.Getenv("OOMTRACE_WORKLOAD"); p != "" {
			workload.path, workload.err = filepath.Abs(p)
			return
		}
		root, err := ModuleRoot()
		if err != nil {
			workload.err = err
			return
		}
		dir, err := os.MkdirTemp("", "oomtrace-workload")
		if err != nil {
			workload.err = err
			return
		}
		workload.path = filepath.Join(dir, "workload")
		src := filepath.Join(root, WorkloadSource)
		out, err := exec.Command("cc", "-O2", "-Wall", "-o", workload.path, src, "-lpthread").CombinedOutput()
		if err != nil {
			workload.err = fmt.Errorf("cc %s: %v\n%s", WorkloadSource, err, out)
		}
	})
	if workload.err != nil {
		t.Fatal(workload.err)
	}
	return workload.path
}

// ModuleRoot is the nearest directory at or above the working directory
// holding go.mod: tests run in their package's directory, at any depth.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("no go.mod at or above the working directory")
		}
		dir = up
	}
}

// Child is a running workload we talk to over pipes.
type Child struct {
	Cmd   *exec.Cmd
	In    io.WriteCloser
	Lines *bufio.Scanner
	Pid   int
}

// StartChild starts the workload with args; it is killed when the test ends.
func StartChild(t testing.TB, args ...string) *Child {
	t.Helper()
	return StartCommand(t, exec.Command(WorkloadBin(t), args...))
}

// StartCommand starts cmd with its stdin and stdout as the Child's pipes.
func StartCommand(t testing.TB, cmd *exec.Cmd) *Child {
	t.Helper()
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &Child{Cmd: cmd, In: in, Lines: bufio.NewScanner(out), Pid: cmd.Process.Pid}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return c
}

// Expect reads the next line and checks its first word.
func (c *Child) Expect(t testing.TB, word string) []string {
	t.Helper()
	if !c.Lines.Scan() {
		t.Fatalf("workload %d ended before %q: %v", c.Pid, word, c.Lines.Err())
	}
	f := strings.Fields(c.Lines.Text())
	if len(f) == 0 || f[0] != word {
		t.Fatalf("workload said %q, want %q", c.Lines.Text(), word)
	}
	return f
}

// Send tells the workload to go on to its next step.
func (c *Child) Send(t testing.TB) {
	t.Helper()
	if _, err := io.WriteString(c.In, "go\n"); err != nil {
		t.Fatal(err)
	}
}

// StartService runs the workload as a service, a master with workers, and
// returns all their pids, master first.
func StartService(t testing.TB, name string, workers, mb, grow int) []int {
	t.Helper()
	c := StartChild(t, "service", name, strconv.Itoa(workers), strconv.Itoa(mb), strconv.Itoa(grow))
	f := c.Expect(t, "service")
	var pids []int
	for _, s := range f[1:] {
		p, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, p)
	}
	t.Cleanup(func() {
		for _, p := range pids {
			syscall.Kill(p, syscall.SIGKILL)
		}
	})
	return pids
}
