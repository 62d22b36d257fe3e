package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/testutil"
	"github.com/oomtrace/oomtrace/internal/testutil/tracertest"
	"github.com/oomtrace/oomtrace/tracer"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func vmRSS(t *testing.T, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// 100,000 short-lived processes (fork, some exec, exit), reusing pids, then
// a burst of 3,000 alive at once: the recorder's live heap, process table
// and the tracer's slot table return to their steady state (taken after a
// warm-up that fills the event history), every fork is received or counted
// lost, and a new process starts from zero.
func TestProcessChurn(t *testing.T) {
	testutil.NeedRoot(t)
	n := envInt("OOMTRACE_CHURN", 100000)
	burst := envInt("OOMTRACE_BURST", 3000)
	pidMax, err := strconv.Atoi(strings.TrimSpace(testutil.ReadFile(t, "/proc/sys/kernel/pid_max")))
	if err != nil {
		t.Fatal(err)
	}
	if burst > pidMax/2 {
		burst = pidMax / 2 // all alive at once: leave pids for the rest
	}
	tr, _ := tracertest.Start(t, tracer.Config{})
	startup := func() tracer.Counters {
		c := testutil.StartChild(t, "alloc", "4096", "4096")
		c.Expect(t, "ready")
		ctr, err := tr.Counters(c.Pid)
		if err != nil {
			t.Fatal(err)
		}
		c.Cmd.Process.Kill()
		c.Cmd.Wait()
		ctr.BrkCur = 0 // randomised
		return ctr
	}
	fresh := startup()
	churn := func(n int) int {
		start := time.Now()
		c := testutil.StartChild(t, "churn", strconv.Itoa(n))
		f := c.Expect(t, "churn")
		c.Cmd.Wait()
		reused, _ := strconv.Atoi(strings.TrimPrefix(f[2], "reused="))
		t.Logf("%d processes in %s, %d pids reused", n, time.Since(start).Round(time.Millisecond), reused)
		return reused
	}

	// A GC every 25% of growth keeps the scraped live heap (as of the last
	// GC) current; it changes what is collected when, not what is live.
	t.Setenv("GOGC", "25")
	port := freePort(t)
	_, rec, _ := startRecorder(t, "-d", "250ms", "--metrics-addr", fmt.Sprintf(":%d", port))
	// Warm-up: 10,000 processes make 30,000 lifecycle and 20,000
	// allocation events, more than the history keeps, so the baseline
	// holds a full event history.
	churn(10000)
	time.Sleep(3 * time.Second)
	rssBefore := vmRSS(t, rec.Process.Pid)
	procsBefore := scrape(t, port, "oomtrace_processes")
	forksBefore := scrape(t, port, `oomtrace_events_total{type="fork"}`)
	liveBefore := settledLiveHeap(t, port)

	// The children run one at a time, each reaped before the next fork, in
	// pids 1 to pid_max-1: past that many, pids must repeat.
	if reused := churn(n); n >= pidMax && reused < n-pidMax+1 {
		t.Errorf("%d pids reused by %d children with pid_max %d, want at least %d", reused, n, pidMax, n-pidMax+1)
	} else if n < pidMax {
		t.Logf("pid_max %d is above the %d children: pids need not be reused", pidMax, n)
	}
	// The last forks reach the recorder within a tick or two: wait for the
	// count, not a fixed time.
	var forks, lost float64
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		forks = scrape(t, port, `oomtrace_events_total{type="fork"}`) - forksBefore
		if v, err := tryScrape(port, `oomtrace_events_lost_total{reason="ring",type="fork"}`); err == nil {
			lost = v
		}
		if forks+lost >= float64(n) || time.Now().After(end) {
			break
		}
	}
	if forks+lost < float64(n) {
		t.Errorf("%.0f forks received + %.0f lost < %d forked: loss went uncounted", forks, lost, n)
	}
	assertLiveHeapBack(t, port, liveBefore, "the churn")

	// The burst: per-process state held past a process's exit shows up
	// only when many processes are known at once. A 2 KiB command line
	// makes each one weigh: 3,000 held are some 16 MiB.
	// They live until told: a tick that lists 500 new processes takes
	// seconds under emulation, longer than a fixed hold.
	c := testutil.StartChild(t, "burst", strconv.Itoa(burst), "120", strings.Repeat("p", 2048))
	c.Expect(t, "burst")
	peak := 0.0
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end) && peak < procsBefore+0.9*float64(burst); time.Sleep(250 * time.Millisecond) {
		peak = max(peak, scrape(t, port, "oomtrace_processes"))
	}
	c.Send(t)
	c.Expect(t, "burst-done")
	c.Cmd.Wait()
	if peak < procsBefore+0.9*float64(burst) {
		t.Errorf("process table held at most %.0f during a burst of %d (%.0f before): the burst was not seen", peak, burst, procsBefore)
	}
	assertLiveHeapBack(t, port, liveBefore, "the burst")

	// The bound is the project's: 64 MiB.
	const ceiling = 64 << 20
	rssAfter := vmRSS(t, rec.Process.Pid)
	for end := time.Now().Add(15 * time.Second); rssAfter > ceiling && time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		rssAfter = vmRSS(t, rec.Process.Pid)
	}
	t.Logf("recorder rss %d KiB before, %d KiB after; forks received %.0f lost %.0f; processes %.0f before, %.0f in the burst", rssBefore>>10, rssAfter>>10, forks, lost, procsBefore, peak)
	if rssAfter > ceiling {
		t.Errorf("recorder grew from %d to %d bytes over the churn", rssBefore, rssAfter)
	}
	if procs := scrape(t, port, "oomtrace_processes"); procs > procsBefore+10 {
		t.Errorf("process table holds %.0f after the churn and burst, %.0f before", procs, procsBefore)
	}
	// The slot table holds live processes only: every exit freed its slot.
	stale := func() map[int]bool {
		m := map[int]bool{}
		for _, pid := range tracertest.SlotOwners(t, tr) {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
				m[pid] = true
			}
		}
		return m
	}
	again := stale()
	for pid := range stale() { // an owner that exits between the two reads is freed by the second
		if again[pid] {
			t.Errorf("pid %d has exited but still owns its slot", pid)
		}
	}
	if after := startup(); after != fresh {
		t.Errorf("a new process's counters at start differ after the churn:\nbefore %+v\nafter  %+v", fresh, after)
	}
}

// liveHeapMargin is how far the recorder's live heap may sit above its
// baseline once the load is gone: what is in flight at a GC, the capacity
// kept by reused buffers and maps, and the services that other processes on
// the machine start meanwhile (builds, tests: up to about 64 KiB of history
// and series each; 2.5 MiB seen over a churn on a busy machine). Holding the
// burst's processes costs some 16 MiB (measured).
const liveHeapMargin = 6 << 20

// settledLiveHeap is the recorder's live heap (go_gc_heap_live_bytes) at
// rest: the least of the values seen over a few seconds.
func settledLiveHeap(t *testing.T, port int) float64 {
	t.Helper()
	least := scrape(t, port, "go_gc_heap_live_bytes")
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		least = min(least, scrape(t, port, "go_gc_heap_live_bytes"))
	}
	return least
}

// assertLiveHeapBack waits for the live heap to come back within the margin
// of the baseline.
func assertLiveHeapBack(t *testing.T, port int, before float64, after string) {
	t.Helper()
	live := settledLiveHeap(t, port)
	for end := time.Now().Add(30 * time.Second); live > before+liveHeapMargin && time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		live = min(live, scrape(t, port, "go_gc_heap_live_bytes"))
	}
	t.Logf("live heap %d KiB before, %d KiB after %s", int64(before)>>10, int64(live)>>10, after)
	if live > before+liveHeapMargin {
		t.Errorf("live heap %d KiB after %s, %d KiB before: more than %d KiB not released", int64(live)>>10, after, int64(before)>>10, liveHeapMargin>>10)
	}
}
