package oomtrace

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/proc"
	"github.com/oomtrace/oomtrace/internal/testutil"
	"github.com/oomtrace/oomtrace/tracer"
)

// requireRoot skips without root, except under CI where a skip is a failure.
func requireRoot(t *testing.T) {
	t.Helper()
	testutil.NeedRoot(t)
}

var workload = struct {
	once sync.Once
	path string
	err  error
}{}

// workloadBin compiles testdata/workload.c once per test binary, or uses the
// prebuilt one OOMTRACE_WORKLOAD names (the second-kernel VM has no compiler;
// the file must be called "workload": the tests check the comm).
func workloadBin(t *testing.T) string {
	t.Helper()
	if os.Getenv("OOMTRACE_WORKLOAD") == "" {
		needTool(t, "cc", "gcc libc6-dev")
	}
	workload.once.Do(func() {
		if p := os.Getenv("OOMTRACE_WORKLOAD"); p != "" {
			workload.path, workload.err = filepath.Abs(p)
			return
		}
		dir, err := os.MkdirTemp("", "oomtrace-workload")
		if err != nil {
			workload.err = err
			return
		}
		workload.path = filepath.Join(dir, "workload")
		out, err := exec.Command("cc", "-O2", "-Wall", "-o", workload.path, "testdata/workload.c", "-lpthread").CombinedOutput()
		if err != nil {
			workload.err = fmt.Errorf("cc testdata/workload.c: %v\n%s", err, out)
		}
	})
	if workload.err != nil {
		t.Fatal(workload.err)
	}
	return workload.path
}

// child is a running workload we talk to over pipes.
type child struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines *bufio.Scanner
	pid   int
}

func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	return startCommand(t, exec.Command(workloadBin(t), args...))
}

func startCommand(t *testing.T, cmd *exec.Cmd) *child {
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
	c := &child{cmd: cmd, in: in, lines: bufio.NewScanner(out), pid: cmd.Process.Pid}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return c
}

// expect reads the next line and checks its first word.
func (c *child) expect(t *testing.T, word string) []string {
	t.Helper()
	if !c.lines.Scan() {
		t.Fatalf("workload %d ended before %q: %v", c.pid, word, c.lines.Err())
	}
	f := strings.Fields(c.lines.Text())
	if len(f) == 0 || f[0] != word {
		t.Fatalf("workload said %q, want %q", c.lines.Text(), word)
	}
	return f
}

func (c *child) send(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(c.in, "go\n"); err != nil {
		t.Fatal(err)
	}
}

// collector keeps every event a tracer delivers.
type collector struct {
	mu  sync.Mutex
	evs []tracer.Event
}

func startTracer(t *testing.T, cfg tracer.Config) (*tracer.Tracer, *collector) {
	t.Helper()
	tr, err := tracer.New(cfg)
	if err != nil {
		t.Fatalf("tracer.New: %+v", err)
	}
	t.Cleanup(func() { tr.Close() })
	if err := tr.Start(t.Context()); err != nil {
		t.Fatalf("tracer.Start: %+v", err)
	}
	c := &collector{}
	go func() {
		for ev := range tr.Events() {
			c.mu.Lock()
			c.evs = append(c.evs, ev)
			c.mu.Unlock()
		}
	}()
	return tr, c
}

func (c *collector) matching(pred func(*tracer.Event) bool) []tracer.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []tracer.Event
	for i := range c.evs {
		if pred(&c.evs[i]) {
			out = append(out, c.evs[i])
		}
	}
	return out
}

// waitFor returns the first event matching pred, failing after timeout.
func (c *collector) waitFor(t *testing.T, what string, timeout time.Duration, pred func(*tracer.Event) bool) tracer.Event {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if evs := c.matching(pred); len(evs) > 0 {
			return evs[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s event within %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settle waits until no new event matching pred arrived for quiet.
func (c *collector) settle(pred func(*tracer.Event) bool, quiet, limit time.Duration) int {
	n, since, end := -1, time.Now(), time.Now().Add(limit)
	for time.Now().Before(end) {
		m := len(c.matching(pred))
		if m != n {
			n, since = m, time.Now()
		} else if time.Since(since) >= quiet {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return n
}

func procReader(t *testing.T) *proc.Reader {
	t.Helper()
	pr, err := proc.NewReader("/proc")
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

// topJSON runs `oomtrace top --json ARGS...` and hands each snapshot, with
// its line, to each as soon as it is read, so the test reads /proc right
// after it; each returns false to stop early. It returns how many snapshots
// were read, and fails the test if top exits with an error.
func topJSON(t *testing.T, args []string, each func(n int, line []byte, snap aggregate.Snapshot) bool) int {
	t.Helper()
	cmd := exec.Command(oomtraceBin(t), append([]string{"top", "--json"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	n := 0
	for sc.Scan() {
		n++
		var snap aggregate.Snapshot
		if err := json.Unmarshal(sc.Bytes(), &snap); err != nil {
			t.Fatalf("line %d is not a snapshot: %v", n, err)
		}
		if !each(n, sc.Bytes(), snap) {
			cmd.Process.Kill()
			cmd.Wait()
			return n
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("oomtrace top: %v after %d snapshots", err, n)
	}
	return n
}

// counterSlack is how far one of a process's memory counters, as BPF reads
// it (the kernel's per-CPU counters as last folded), may be from the exact
// sum /proc shows: a batch of pages per CPU (percpu_counter_batch).
func counterSlack() uint64 {
	cpus := uint64(runtime.NumCPU())
	return cpus * max(32, 2*cpus) * uint64(os.Getpagesize())
}
