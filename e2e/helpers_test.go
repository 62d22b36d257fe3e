package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/cgroup"
	"github.com/oomtrace/oomtrace/internal/kmsg"
	"github.com/oomtrace/oomtrace/internal/testutil"
)

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

var binary = struct {
	once sync.Once
	path string
	err  error
}{}

// oomtraceBin builds cmd/oomtrace once per test binary, or uses the prebuilt
// one OOMTRACE_BIN names (the second-kernel VM has no Go toolchain).
func oomtraceBin(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		if p := os.Getenv("OOMTRACE_BIN"); p != "" {
			binary.path, binary.err = filepath.Abs(p)
			return
		}
		dir, err := os.MkdirTemp("", "oomtrace-bin")
		if err != nil {
			binary.err = err
			return
		}
		os.Chmod(dir, 0o755) // TestEventsWithoutRoot runs it as nobody
		binary.path = filepath.Join(dir, "oomtrace")
		if out, err := exec.Command("go", "build", "-o", binary.path, "../cmd/oomtrace").CombinedOutput(); err != nil {
			binary.err = err
			binary.path = string(out)
		}
	})
	if binary.err != nil {
		t.Fatalf("go build: %v\n%s", binary.err, binary.path)
	}
	return binary.path
}

// startEvents runs `oomtrace events --json ARGS...` and returns it and its
// stdout once it is ready (its --ready-file written); it is killed when the
// test ends.
func startEvents(t *testing.T, args ...string) (*exec.Cmd, io.ReadCloser) {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "ready")
	cmd := exec.Command(oomtraceBin(t), append(append([]string{"events", "--json"}, args...), "--ready-file", ready)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFile(t, ready, 15*time.Second)
	return cmd, out
}

func waitFile(t *testing.T, path string, timeout time.Duration) {
	t.Helper()
	for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s did not appear within %s", path, timeout)
}

func scrape(t *testing.T, port int, series string) float64 {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		if v, err := tryScrape(port, series); err == nil {
			return v
		}
	}
	t.Fatalf("no %s in the scrape", series)
	return 0
}

// scrapeAtLeast waits until series reaches want (60 s: the second kernel
// runs under emulation).
func scrapeAtLeast(t *testing.T, port int, series string, want float64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for v, err := tryScrape(port, series); err != nil || v < want; v, err = tryScrape(port, series) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v %v, want at least %.0f", series, v, err, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tryScrape(port int, series string) (float64, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return 0, fmt.Errorf("no %s", series)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// testCgroup makes a memory cgroup under our own, removed at cleanup.
func testCgroup(t *testing.T, name string, limit uint64) cgroup.Memcg {
	t.Helper()
	h, err := cgroup.Detect()
	if err != nil {
		testutil.SkipOrFail(t, "cgroup: %v", err)
	}
	own, err := h.PathOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	cg, err := cgroup.CreateChild(h, own, fmt.Sprintf("oomtrace-%s-%d", name, os.Getpid()), limit)
	if err != nil {
		t.Fatalf("create cgroup under %s (v%d): %v", own, h.Version, err)
	}
	t.Cleanup(func() {
		if pids, _ := cg.Procs(); len(pids) > 0 {
			for _, p := range pids {
				syscall.Kill(p, syscall.SIGKILL)
			}
		}
		if err := cg.Remove(); err != nil {
			t.Errorf("remove cgroup %s: %v", cg.Path, err)
		}
	})
	return cg
}

// kernelReports follows /dev/kmsg from now on.
func kernelReports(t *testing.T) <-chan kmsg.Report {
	t.Helper()
	r, err := kmsg.Open("/dev/kmsg", true)
	if err != nil {
		t.Fatalf("open /dev/kmsg: %v", err)
	}
	ch := make(chan kmsg.Report, 64)
	go func() {
		defer close(ch)
		for {
			rep, err := r.Next()
			if err != nil {
				return
			}
			ch <- rep
		}
	}()
	t.Cleanup(func() { r.Close() })
	return ch
}

func reportFor(t *testing.T, ch <-chan kmsg.Report, pid int, timeout time.Duration) kmsg.Report {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case rep, ok := <-ch:
			if !ok {
				t.Fatal("kmsg reader stopped")
			}
			if rep.PID == pid {
				return rep
			}
		case <-deadline:
			t.Fatalf("the kernel printed no OOM kill of pid %d within %s", pid, timeout)
		}
	}
}

// startChildIn starts the workload already inside a memory cgroup, as a
// session leader: a service of its own, not a worker of the test binary.
func startChildIn(t *testing.T, cg cgroup.Memcg, args ...string) *testutil.Child {
	t.Helper()
	script := `echo $$ > "$1/cgroup.procs" && shift && exec "$@"`
	cmd := exec.Command("sh", append([]string{"-c", script, "sh", cg.H.Dir(cg.Path), testutil.WorkloadBin(t)}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	return testutil.StartCommand(t, cmd)
}

// startRecorder runs `oomtrace record` until the test ends.
func startRecorder(t *testing.T, args ...string) (out string, cmd *exec.Cmd, stderr *strings.Builder) {
	t.Helper()
	dir := t.TempDir()
	out = filepath.Join(dir, "dumps")
	ready := filepath.Join(dir, "ready")
	cmd = exec.Command(oomtraceBin(t), append([]string{"record", "--out", out, "--ready-file", ready}, args...)...)
	stderr = &strings.Builder{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("oomtrace record stderr:\n%s", stderr.String())
		}
	})
	waitFile(t, ready, 15*time.Second)
	return out, cmd, stderr
}

func waitGlob(t *testing.T, pattern string, n int, timeout time.Duration) []string {
	t.Helper()
	for end := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		m, _ := filepath.Glob(pattern)
		if len(m) >= n {
			return m
		}
		if time.Now().After(end) {
			t.Fatalf("%d files match %s after %s, want %d", len(m), pattern, timeout, n)
		}
	}
}

// smapsRollup reads Rss and Pss from /proc/PID/smaps_rollup, in bytes, on
// its own rather than with the code under test. The kernel may count a
// mapping twice or skip it while the process maps memory, so it reads until
// Rss matches VmRSS from /proc/PID/status, read just before.
func smapsRollup(t *testing.T, pid int) (rss, pss uint64) {
	t.Helper()
	read := func(file string) map[string]uint64 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
		if err != nil {
			t.Fatal(err)
		}
		kb := map[string]uint64{}
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l) // "Pss:   1234 kB"
			if len(f) == 3 && f[2] == "kB" {
				n, err := strconv.ParseUint(f[1], 10, 64)
				if err != nil {
					t.Fatalf("%s of %d: %q", file, pid, l)
				}
				kb[f[0]] = n << 10
			}
		}
		return kb
	}
	for range 10 {
		vm := read("status")["VmRSS:"]
		r := read("smaps_rollup") // Rss and Pss from the same read
		rss, pss = r["Rss:"], r["Pss:"]
		if vm == 0 || rss == 0 || pss == 0 {
			t.Fatalf("pid %d: VmRSS %d, smaps_rollup Rss %d Pss %d", pid, vm, rss, pss)
		}
		if max(rss, vm)-min(rss, vm) <= max(vm/32, 1<<20) {
			return rss, pss
		}
	}
	t.Fatalf("smaps_rollup of %d: Rss %d never matched VmRSS in 10 reads", pid, rss)
	return 0, 0
}

// near: got is within 2% of want, and may lag it by growth besides (the
// aggregator's figure predates the /proc read).
func near(got, want, growth uint64) bool {
	return within(got, want, 0.02) || got < want && float64(got+growth) >= 0.98*float64(want)
}

func within(got, want uint64, frac float64) bool {
	d := float64(got) - float64(want)
	if d < 0 {
		d = -d
	}
	return d <= frac*float64(want)
}
