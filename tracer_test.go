// Package oomtrace is the repository root, which holds only tests: the
// tracer's end-to-end test (the others are in e2e/). The program is in
// cmd/oomtrace.
package oomtrace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/oomtrace/oomtrace/internal/testutil"
	"github.com/oomtrace/oomtrace/internal/testutil/tracertest"
	"github.com/oomtrace/oomtrace/tracer"
	"golang.org/x/sys/unix"
)

func parseHex(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return v
}

// A child maps, unmaps, brk-grows, remaps and mprotects known sizes: its
// counters and streamed events must match them exactly, under its own pid,
// whether it counts in its slot of the table or in task storage.
func TestAllocCountersAndEvents(t *testing.T) {
	testutil.NeedRoot(t)
	t.Run("slot", func(t *testing.T) { allocCountersAndEvents(t, 0, false) })
	t.Run("storage", func(t *testing.T) { allocCountersAndEvents(t, -1, false) })
	// A process that predates the tracer takes its slot at its first call.
	t.Run("predates", func(t *testing.T) { allocCountersAndEvents(t, 0, true) })
}

func allocCountersAndEvents(t *testing.T, slots int, predates bool) {
	const (
		size    = 3<<20 + 3*4096 // mmap, munmap, mremap and mprotect size
		brkSize = 2<<20 + 2*4096 // brk growth; then shrink by half
	)
	var c *testutil.Child
	if predates {
		c = testutil.StartChild(t, "alloc", strconv.Itoa(size), strconv.Itoa(brkSize))
		c.Expect(t, "ready")
	}
	tr, col := tracertest.Start(t, tracer.Config{MinSize: 1 << 20, ProcSlots: slots})
	if !predates {
		c = testutil.StartChild(t, "alloc", strconv.Itoa(size), strconv.Itoa(brkSize))
		c.Expect(t, "ready")
	}
	before, err := tr.Counters(c.Pid)
	if predates && errors.Is(err, ebpf.ErrKeyNotExist) {
		before, err = tracer.Counters{}, nil // no call since the tracer started
	}
	if err != nil {
		t.Fatalf("counters before: %v", err)
	}
	c.Send(t)
	mm := c.Expect(t, "mmap")
	c.Expect(t, "munmap")
	brk := c.Expect(t, "brk")
	mr := c.Expect(t, "mremap")
	c.Expect(t, "mprotect")
	c.Expect(t, "done")
	after, err := tr.Counters(c.Pid)
	if err != nil {
		t.Fatalf("counters after: %v", err)
	}
	checkSlot(t, tr, c.Pid, slots >= 0)

	d := func(a, b uint64) uint64 { return b - a }
	for _, chk := range []struct {
		name      string
		got, want uint64
	}{
		{"mmap_calls", d(before.MmapCalls, after.MmapCalls), 2},
		{"mmap_anon_bytes", d(before.MmapAnonBytes, after.MmapAnonBytes), size},
		{"mmap_reserve_bytes", d(before.MmapReserveBytes, after.MmapReserveBytes), size},
		{"mmap_file_bytes", d(before.MmapFileBytes, after.MmapFileBytes), 0},
		{"munmap_calls", d(before.MunmapCalls, after.MunmapCalls), 2},
		{"munmap_bytes", d(before.MunmapBytes, after.MunmapBytes), 3 * size},
		{"brk_calls", d(before.BrkCalls, after.BrkCalls), 3},
		{"brk_grow_bytes", d(before.BrkGrowBytes, after.BrkGrowBytes), brkSize},
		{"brk_shrink_bytes", d(before.BrkShrinkBytes, after.BrkShrinkBytes), brkSize / 2},
		{"mremap_calls", d(before.MremapCalls, after.MremapCalls), 1},
		{"mremap_grow_bytes", d(before.MremapGrowBytes, after.MremapGrowBytes), size},
		{"mprotect_calls", d(before.MprotectCalls, after.MprotectCalls), 1},
		{"mprotect_write_bytes", d(before.MprotectWriteBytes, after.MprotectWriteBytes), size},
		{"failed_calls", d(before.FailedCalls, after.FailedCalls), 0},
	} {
		if chk.got != chk.want {
			t.Errorf("%s grew by %d, want %d", chk.name, chk.got, chk.want)
		}
	}
	if after.BrkCur != parseHex(t, brk[3]) {
		t.Errorf("brk_cur = %#x, want the final break %s", after.BrkCur, brk[3])
	}

	// All eight calls are at or above the threshold. The reservation may reuse
	// the address of the first mapping; prot tells them apart.
	mmapAddr, reserveAddr, remapAddr := parseHex(t, mm[1]), parseHex(t, mr[1]), parseHex(t, mr[2])
	b1, b2 := parseHex(t, brk[2]), parseHex(t, brk[3])
	type want struct {
		typ   tracer.EventType
		addr  uint64
		len   uint64
		delta int64
		prot  uint32
	}
	const rw = syscall.PROT_READ | syscall.PROT_WRITE
	wants := []want{
		{tracer.EventMmap, mmapAddr, size, size, rw},
		{tracer.EventMunmap, mmapAddr, size, -size, 0},
		{tracer.EventBrk, b1, brkSize, brkSize, 0},
		{tracer.EventBrk, b2, brkSize / 2, -brkSize / 2, 0},
		{tracer.EventMmap, reserveAddr, size, size, syscall.PROT_NONE},
		{tracer.EventMremap, remapAddr, 2 * size, size, 0},
		{tracer.EventMprotect, remapAddr, size, size, rw},
		{tracer.EventMunmap, remapAddr, 2 * size, -2 * size, 0},
	}
	for _, w := range wants {
		match := func(e *tracer.Event) bool {
			return e.Type == w.typ && e.Alloc.Addr == w.addr && e.Alloc.Len == w.len && e.Alloc.Prot == w.prot
		}
		ev := col.WaitFor(t, w.typ.String(), 5*time.Second, match)
		if ev.PID != uint32(c.Pid) || ev.TID != uint32(c.Pid) || ev.Comm != "workload" || ev.Alloc.Delta != w.delta {
			t.Errorf("%s at %#x: pid=%d tid=%d comm=%q delta=%d, want pid=tid=%d comm=workload delta=%d",
				w.typ, w.addr, ev.PID, ev.TID, ev.Comm, ev.Alloc.Delta, c.Pid, w.delta)
		}
		if n := len(col.Matching(match)); n != 1 {
			t.Errorf("%s at %#x len %d streamed %d times, want once", w.typ, w.addr, w.len, n)
		}
	}
	// Besides the loader's file mappings of libc, the child made exactly these.
	anonOrOther := func(e *tracer.Event) bool {
		return e.Type.IsAlloc() && e.PID == uint32(c.Pid) && (e.Type != tracer.EventMmap || e.Alloc.Flags&syscall.MAP_ANONYMOUS != 0)
	}
	if n := len(col.Matching(anonOrOther)); n != len(wants) {
		t.Errorf("child streamed %d allocation events, want %d", n, len(wants))
	}

	// Lifecycle: fork by us, exec of the workload, exit with status 0.
	if !predates {
		self := uint32(syscall.Getpid())
		fork := col.WaitFor(t, "fork", 5*time.Second, func(e *tracer.Event) bool { return e.Type == tracer.EventFork && e.PID == uint32(c.Pid) })
		if fork.Proc.PPID != self {
			t.Errorf("fork ppid = %d, want %d", fork.Proc.PPID, self)
		}
		exec := col.WaitFor(t, "exec", 5*time.Second, func(e *tracer.Event) bool { return e.Type == tracer.EventExec && e.PID == uint32(c.Pid) })
		if exec.Proc.Filename != testutil.WorkloadBin(t) || exec.Comm != "workload" || exec.Start != fork.Start || exec.Start == 0 {
			t.Errorf("exec: file=%q comm=%q start=%d (fork start %d)", exec.Proc.Filename, exec.Comm, exec.Start, fork.Start)
		}
	}
	c.Send(t) // let it exit
	exit := col.WaitFor(t, "exit", 5*time.Second, func(e *tracer.Event) bool { return e.Type == tracer.EventExit && e.PID == uint32(c.Pid) })
	if ws := syscall.WaitStatus(exit.Proc.ExitCode); !ws.Exited() || ws.ExitStatus() != 0 {
		t.Errorf("exit status %#x, want exit 0", exit.Proc.ExitCode)
	}
	// The child is a zombie until we wait: its storage and slot must already be gone.
	if _, err := tr.Counters(c.Pid); !errors.Is(err, ebpf.ErrKeyNotExist) {
		t.Errorf("counters of exited process: err=%v, want ErrKeyNotExist", err)
	}
	if slices.Contains(tracertest.SlotOwners(t, tr), c.Pid) {
		t.Errorf("exited process %d still owns its slot", c.Pid)
	}
	if err := c.Cmd.Wait(); err != nil {
		t.Errorf("workload: %v", err)
	}
}

// Each of the five calls fails once, on 2 MiB: only failed_calls moves, by
// the number of calls the kernel failed, and nothing is streamed, whether the
// child counts in its slot or in task storage. Maps of a marker size before
// and after bound the stretch in the event stream.
func TestFailedCalls(t *testing.T) {
	testutil.NeedRoot(t)
	t.Run("slot", func(t *testing.T) { failedCalls(t, 0) })
	t.Run("storage", func(t *testing.T) { failedCalls(t, -1) })
}

func failedCalls(t *testing.T, slots int) {
	const mark = 1<<20 + 5*4096
	tr, col := tracertest.Start(t, tracer.Config{MinSize: 1 << 20, ProcSlots: slots})
	c := testutil.StartChild(t, "fail", strconv.Itoa(mark))
	c.Expect(t, "ready")
	ours := func(e *tracer.Event) bool { return e.Type.IsAlloc() && e.PID == uint32(c.Pid) }
	isMark := func(e *tracer.Event) bool { return ours(e) && e.Type == tracer.EventMmap && e.Alloc.Len == mark }
	col.WaitFor(t, "first marker mmap", 5*time.Second, isMark)
	other := func(e *tracer.Event) bool { return ours(e) && !isMark(e) }
	streamed := len(col.Matching(other)) // the loader's
	before, err := tr.Counters(c.Pid)
	if err != nil {
		t.Fatalf("counters before: %v", err)
	}
	c.Send(t)
	f := c.Expect(t, "fail")
	t.Logf("workload: %s", strings.Join(f, " "))
	want := map[string]string{"mmap": "22", "munmap": "22", "mremap": "14", "mprotect": "12"} // EINVAL, EINVAL, EFAULT, ENOMEM
	for _, kv := range f[1:6] {
		k, v, _ := strings.Cut(kv, "=")
		if w, ok := want[k]; ok && v != w {
			t.Errorf("%s failed with errno %s, want %s", k, v, w)
		}
	}
	failed, err := strconv.ParseUint(strings.TrimPrefix(f[6], "failed="), 10, 64)
	if err != nil || failed != 5 {
		t.Errorf("workload reported %q, want failed=5", f[6])
	}
	after, err := tr.Counters(c.Pid)
	if err != nil {
		t.Fatalf("counters after: %v", err)
	}
	exp := before
	exp.FailedCalls += failed
	if after != exp {
		t.Errorf("after %d failed calls counters are\n%+v\nwant\n%+v", failed, after, exp)
	}
	c.Send(t)
	c.Expect(t, "mark")
	for end := time.Now().Add(5 * time.Second); len(col.Matching(isMark)) < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("no second marker mmap within 5s")
		}
	}
	for _, e := range col.Matching(other)[streamed:] {
		t.Errorf("failed call streamed: %s len %d addr %#x", e.Type, e.Alloc.Len, e.Alloc.Addr)
	}
	c.Send(t)
}

// The end of Start's context detaches the programs and closes Events; the
// counters stay readable until Close, which is harmless twice.
func TestStartContext(t *testing.T) {
	testutil.NeedRoot(t)
	tr, err := tracer.New(tracer.Config{})
	if err != nil {
		t.Fatalf("tracer.New: %+v", err)
	}
	defer tr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	if err := tr.Start(ctx); err != nil {
		t.Fatalf("tracer.Start: %+v", err)
	}
	if err := tr.Start(ctx); err == nil {
		t.Error("a second Start succeeded")
	}
	cancel()
	timeout := time.After(5 * time.Second)
	for open := true; open; {
		select {
		case _, open = <-tr.Events():
		case <-timeout:
			t.Fatal("Events still open 5s after the context ended")
		}
	}
	if _, err := tr.Stats(); err != nil {
		t.Errorf("Stats after the context ended: %v", err)
	}
	for i := range 2 {
		if err := tr.Close(); err != nil {
			t.Errorf("Close #%d: %v", i+1, err)
		}
	}
}

// checkSlot checks where pid counts. With the table off, never in a slot.
// With it on, in the slot at its pid modulo the table's size, unless another
// live process held that slot when pid forked (or, predating the tracer,
// first called). With a slot per pid (the default table where pid_max is at
// most 32768) no other process can hold it.
func checkSlot(t *testing.T, tr *tracer.Tracer, pid int, table bool) {
	t.Helper()
	owner, err := tr.SlotOwner(pid)
	if err != nil {
		t.Fatal(err)
	}
	pidMax := testutil.ReadFile(t, "/proc/sys/kernel/pid_max")
	t.Logf("pid %d: slot owner %d, pid_max %s", pid, owner, strings.TrimSpace(pidMax))
	switch {
	case !table:
		if slices.Contains(tracertest.SlotOwners(t, tr), pid) {
			t.Errorf("pid %d owns a slot with the table off", pid)
		}
	case owner == pid:
	case owner == 0:
		t.Errorf("pid %d counts in task storage though its slot is free", pid)
	case slotPerPid(t):
		t.Errorf("pid %d: its slot is held by %d with a slot per pid (pid_max %s)", pid, owner, strings.TrimSpace(pidMax))
	default:
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", owner)); err != nil {
			t.Errorf("pid %d: its slot is held by %d, which has exited", pid, owner)
		}
	}
}

// slotPerPid says whether the default slot table has a slot for every pid
// (pid_max at most 32768).
func slotPerPid(t *testing.T) bool {
	pidMax, err := strconv.Atoi(strings.TrimSpace(testutil.ReadFile(t, "/proc/sys/kernel/pid_max")))
	if err != nil {
		t.Fatal(err)
	}
	return pidMax <= 1<<15
}

// Threads of one process count into the same slot at once: once a process
// has a second thread its counters take atomic adds, so no call is lost.
// mprotect of length 0 takes no lock, so the threads' calls overlap.
func TestThreadedCounters(t *testing.T) {
	testutil.NeedRoot(t)
	const threads, n = 4, 100000
	tr, _ := tracertest.Start(t, tracer.Config{})
	c := testutil.StartChild(t, "spin", strconv.Itoa(threads), strconv.Itoa(n))
	c.Expect(t, "ready")
	before, err := tr.Counters(c.Pid)
	if err != nil {
		t.Fatal(err)
	}
	c.Send(t)
	if f := c.Expect(t, "spin"); f[1] != fmt.Sprintf("calls=%d", threads*n) {
		t.Fatalf("workload reported %q, want calls=%d", strings.Join(f, " "), threads*n)
	}
	after, err := tr.Counters(c.Pid)
	if err != nil {
		t.Fatal(err)
	}
	checkSlot(t, tr, c.Pid, true)
	// Besides the spin, glibc makes each thread's stack writable with one mprotect.
	got, want := after.MprotectCalls-before.MprotectCalls, uint64(threads*n)
	t.Logf("%d calls by %d threads: %d counted", want, threads, got)
	if got < want || got > want+threads {
		t.Errorf("%d mprotect calls by %d threads: %d counted", want, threads, got)
	}
}

// Many threads map and unmap as fast as they can through a 4 KiB ring, and
// the tracer is ended right after: every streamed call is either received or
// counted lost, exactly.
func TestFloodAccounting(t *testing.T) {
	testutil.NeedRoot(t)
	burstAccounting(t, tracer.Config{RingBytes: 4096, WakeupBytes: 1024}, 20000, mustLose)
}

// Ending the tracer right after a burst, with no wait for its reader to
// catch up: what the rings still hold is read and handed on before Events
// closes, so received + lost = generated holds exactly at shutdown.
func TestStopDrainsRings(t *testing.T) {
	testutil.NeedRoot(t)
	// No wakeup and no poll: the reader sleeps through the burst, whose
	// events are read at the stop.
	t.Run("unread", func(t *testing.T) {
		burstAccounting(t, tracer.Config{RingBytes: 16 << 20, WakeupBytes: 1 << 62, Poll: time.Hour}, 5000, mustNotLose)
	})
	t.Run("default", func(t *testing.T) { burstAccounting(t, tracer.Config{}, 20000, mayLose) })
}

type lossRule int

const (
	mayLose lossRule = iota
	mustLose
	mustNotLose
)

// burstAccounting has 2 threads make n mmap+munmap pairs each, ends the
// tracer by its context as soon as the workload has exited, reads Events
// until it closes, and checks the accounting of each type.
func burstAccounting(t *testing.T, cfg tracer.Config, n int, rule lossRule) {
	const size = 1<<30 + 4096 // threshold; nothing else maps this much
	cfg.MinSize = size
	tr, err := tracer.New(cfg)
	if err != nil {
		t.Fatalf("tracer.New: %+v", err)
	}
	defer tr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := tr.Start(ctx); err != nil {
		t.Fatalf("tracer.Start: %+v", err)
	}
	before, err := tr.Stats()
	if err != nil {
		t.Fatal(err)
	}
	pid := make(chan uint32, 1)
	got := map[tracer.EventType]uint64{}
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		p := <-pid
		for e := range tr.Events() {
			if e.PID == p && (!e.Type.IsAlloc() || e.Alloc.Len == size) {
				got[e.Type]++
			}
		}
	}()
	c := testutil.StartChild(t, "flood", "2", strconv.Itoa(n), strconv.Itoa(size))
	pid <- uint32(c.Pid)
	f := c.Expect(t, "flood")
	if err := c.Cmd.Wait(); err != nil {
		t.Fatalf("workload: %v", err)
	}
	cancel()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Events still open 10s after the context ended")
	}
	pairs, err := strconv.ParseUint(strings.TrimPrefix(f[2], "pairs="), 10, 64)
	if err != nil || pairs != uint64(2*n) {
		t.Fatalf("workload reported %q, want pairs=%d", strings.Join(f, " "), 2*n)
	}
	after, err := tr.Stats()
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []tracer.EventType{tracer.EventMmap, tracer.EventMunmap} {
		lost := after.Lost(typ) - before.Lost(typ)
		t.Logf("%s: generated=%d received=%d lost=%d", typ, pairs, got[typ], lost)
		if got[typ]+lost != pairs {
			t.Errorf("%s: received %d + lost %d = %d, want generated %d", typ, got[typ], lost, got[typ]+lost, pairs)
		}
		if rule == mustLose && lost == 0 {
			t.Errorf("%s: nothing lost through a %d-byte ring; the test proves nothing", typ, cfg.RingBytes)
		}
		if rule == mustNotLose && lost != 0 {
			t.Errorf("%s: %d lost through a %d-byte ring", typ, lost, cfg.RingBytes)
		}
		if got[typ] == 0 {
			t.Errorf("%s: nothing received", typ)
		}
	}
	if rule == mustNotLose {
		// The workload's fork, exec and exit; its exit came last, just before the stop.
		for _, typ := range []tracer.EventType{tracer.EventFork, tracer.EventExec, tracer.EventExit} {
			if got[typ] != 1 {
				t.Errorf("%d %s events for the workload, want 1", got[typ], typ)
			}
		}
	}
	if d := after.Dropped[tracer.EventMmap] + after.Dropped[tracer.EventMunmap]; d != 0 {
		t.Errorf("%d events dropped at the stop, though Events was read until it closed", d)
	}
	if after.Undecoded != 0 {
		t.Errorf("%d samples could not be decoded", after.Undecoded)
	}
}

// Both ways of reading every process in one pass (the task walk, and the
// iter/task fallback) give each process's memory as the kernel's per-CPU
// counters last folded them, within a batch of pages per CPU of the exact
// sum /proc/PID/status shows, and its counters exactly. The walk starts with
// room for 4 processes and must grow to hold them all.
func TestProcessesMatchProc(t *testing.T) {
	testutil.NeedRoot(t)
	eachSampler(t, tracer.Config{WalkCapacity: 4}, processesMatchProc)
}

// eachSampler runs f with a tracer sampling by the task walk (cfg as given)
// and by the iter/task fallback.
func eachSampler(t *testing.T, cfg tracer.Config, f func(*testing.T, *tracer.Tracer)) {
	iter := cfg
	iter.NoTaskWalk = true
	for _, tc := range []struct {
		name string
		cfg  tracer.Config
		want string
	}{
		{"walk", cfg, tracer.SamplerWalk},
		{"iter", iter, tracer.SamplerIter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rel := kernelRelease(t)
			if tc.want == tracer.SamplerWalk && !testutil.KernelAtLeast(rel, 6, 7) {
				tc.want = tracer.SamplerIter // no open-coded task iterator before 6.7
			}
			tr, _ := tracertest.Start(t, tc.cfg)
			if got := tr.Sampler(); got != tc.want {
				t.Fatalf("sampler %q, want %q on %s", got, tc.want, rel)
			}
			f(t, tr)
		})
	}
}

// A process whose main thread called pthread_exit while another thread runs
// has a zombie leader without an mm. Both ways of sampling must still list
// it, with the memory its live thread touched (as that thread's
// /proc/TID/status shows it) and its counters.
func TestLeaderlessProcessSampled(t *testing.T) {
	testutil.NeedRoot(t)
	eachSampler(t, tracer.Config{}, func(t *testing.T, tr *tracer.Tracer) {
		const size = 24 << 20
		c := testutil.StartChild(t, "leaderless", strconv.Itoa(size))
		f := c.Expect(t, "ready")
		tid, err := strconv.Atoi(f[2])
		if err != nil || f[1] != strconv.Itoa(c.Pid) {
			t.Fatalf("workload said %q", strings.Join(f, " "))
		}
		// The leader's exit is done (its mm dropped) once it is a zombie.
		for end := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			st := testutil.ReadFile(t, fmt.Sprintf("/proc/%d/stat", c.Pid))
			if fs := strings.Fields(st[strings.LastIndexByte(st, ')')+1:]); fs[0] == "Z" {
				break
			}
			if time.Now().After(end) {
				t.Fatalf("leader of %d not a zombie within 5s: %s", c.Pid, st)
			}
		}
		samples, err := tr.Processes()
		if err != nil {
			t.Fatal(err)
		}
		var got []tracer.ProcSample
		for _, s := range samples {
			if s.PID == c.Pid {
				got = append(got, s)
			}
		}
		if len(got) != 1 {
			t.Fatalf("pid %d (leader gone, thread %d live) sampled %d times in %d samples", c.Pid, tid, len(got), len(samples))
		}
		s := got[0]
		m, err := tracertest.ProcReader(t).Mem(tid)
		if err != nil {
			t.Fatal(err)
		}
		// Before 6.2 a thread's counts reach the mm in batches (64 events),
		// so a sample, like /proc, may lag what was touched.
		cpus := uint64(runtime.NumCPU())
		slack := cpus * max(32, 2*cpus) * uint64(os.Getpagesize())
		if s.Anon+slack < size || s.Anon > m.RSSAnon+slack || m.RSSAnon > s.Anon+slack {
			t.Errorf("pid %d: sample anon %d, /proc/%d/status says %d, touched %d", c.Pid, s.Anon, tid, m.RSSAnon, size)
		}
		ctr, err := tr.Counters(c.Pid)
		if err != nil || !s.HasCounters || s.Counters != ctr || ctr.MmapAnonBytes < size {
			t.Errorf("pid %d: sample counters %+v (has %v), lookup %+v (%v); %d bytes mapped", c.Pid, s.Counters, s.HasCounters, ctr, err, size)
		}
		t.Logf("pid %d (zombie leader, thread %d): anon %d, /proc says %d; mmap_anon_bytes %d", c.Pid, tid, s.Anon, m.RSSAnon, ctr.MmapAnonBytes)
	})
}

func processesMatchProc(t *testing.T, tr *tracer.Tracer) {
	pids := testutil.StartService(t, "svc-iter", 2, 12, 0)
	samples, err := tr.Processes()
	if err != nil {
		t.Fatal(err)
	}
	live, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) <= 4 || len(samples) > len(live) {
		t.Errorf("%d samples of %d /proc entries (kernel threads are left out)", len(samples), len(live))
	}
	byPID := map[int]tracer.ProcSample{}
	for _, s := range samples {
		if _, dup := byPID[s.PID]; dup {
			t.Errorf("pid %d sampled twice", s.PID)
		}
		byPID[s.PID] = s
	}
	pr := tracertest.ProcReader(t)
	for _, pid := range pids {
		s, ok := byPID[pid]
		if !ok {
			t.Fatalf("pid %d not in the %d samples", pid, len(samples))
		}
		m, err := pr.Mem(pid)
		if err != nil {
			t.Fatal(err)
		}
		slack := testutil.CounterSlack()
		near := func(a, b uint64) bool { return a <= b+slack && b <= a+slack }
		if !near(s.Anon, m.RSSAnon) || !near(s.File, m.RSSFile) || !near(s.Shmem, m.RSSShmem) || !near(s.Swap, m.Swap) || s.Anon < 8<<20 {
			t.Errorf("pid %d: sample anon %d file %d shmem %d swap %d; /proc says %+v", pid, s.Anon, s.File, s.Shmem, s.Swap, m)
		}
		c, err := tr.Counters(pid)
		if err != nil || !s.HasCounters || s.Counters != c {
			t.Errorf("pid %d: sample counters %+v (has %v), lookup %+v (%v)", pid, s.Counters, s.HasCounters, c, err)
		}
	}
	if _, ok := byPID[2]; ok {
		t.Error("kthreadd is in the samples: kernel threads have no memory of their own")
	}
}

func kernelRelease(t *testing.T) string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	return unix.ByteSliceToString(u.Release[:])
}
