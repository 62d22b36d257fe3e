package oomtrace

import (
	"bytes"
	"context"
	bin "encoding/binary"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/native"
	"github.com/oomtrace/oomtrace/internal/testutil"
	"github.com/oomtrace/oomtrace/internal/testutil/tracertest"
	"github.com/oomtrace/oomtrace/tracer"
)

const stackCopyMax = 32 << 10 // bpf/events.h STACK_BYTES

var pageSize = uint64(os.Getpagesize())

// mapping is one line of /proc/PID/maps.
type mapping struct {
	start, end  uint64
	perms, name string
}

// readMaps reads dir/maps, dir being /proc/PID or /proc/PID/task/TID.
func readMaps(t *testing.T, dir string) []mapping {
	t.Helper()
	b, err := os.ReadFile(dir + "/maps")
	if err != nil {
		t.Fatal(err)
	}
	var out []mapping
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		lo, hi, _ := strings.Cut(f[0], "-")
		s, err1 := strconv.ParseUint(lo, 16, 64)
		e, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || len(f) < 5 {
			t.Fatalf("maps line %q", line)
		}
		m := mapping{start: s, end: e, perms: f[1]}
		if len(f) > 5 {
			m.name = f[5]
		}
		out = append(out, m)
	}
	return out
}

func mappingOf(maps []mapping, addr uint64) *mapping {
	for i := range maps {
		if maps[i].start <= addr && addr < maps[i].end {
			return &maps[i]
		}
	}
	return nil
}

// grown is what the kernel counted as growth for stack sampling.
func grown(c tracer.Counters) uint64 { return c.SampleArmed - uint64(c.SampleLeft) }

// counters reads pid's counters, failing the test on error.
func counters(t *testing.T, tr *tracer.Tracer, pid int) tracer.Counters {
	t.Helper()
	c, err := tr.Counters(pid)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startGrow runs `workload grow N SIZE BRK KEEP [BIG]` up to its growth
// and returns the child, the growth it reports and pid's counters before it.
func startGrow(t *testing.T, tr *tracer.Tracer, n, size, brk int, keep bool, big ...int) (*testutil.Child, uint64, tracer.Counters) {
	t.Helper()
	args := []string{"grow", strconv.Itoa(n), strconv.Itoa(size), strconv.Itoa(brk), "0"}
	if keep {
		args[4] = "1"
	}
	for _, b := range big {
		args = append(args, strconv.Itoa(b))
	}
	c := testutil.StartChild(t, args...)
	c.Expect(t, "ready")
	before := counters(t, tr, c.Pid)
	c.Send(t)
	f := c.Expect(t, "grown")
	g, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return c, g, before
}

func isSampleOf(pid int) func(*tracer.Event) bool {
	return func(ev *tracer.Event) bool { return ev.Sample != nil && ev.PID == uint32(pid) }
}

// The samples' weights add up to the growth the counters saw, which is
// the workload's, less the growth since the last sample; each sample's
// registers, stack and region agree with /proc.
func TestStackSampleWeights(t *testing.T) {
	testutil.NeedRoot(t)
	const interval = 512 << 10
	tr, col := tracertest.Start(t, tracer.Config{StackSample: interval})
	// First one call of 8 intervals: the countdown must restart from the
	// sample it takes, not from 7 intervals below zero.
	const big = 8 * interval
	c, want, before := startGrow(t, tr, 64, 64<<10, 1<<20, true, big)
	after := counters(t, tr, c.Pid)
	if got := grown(after) - grown(before); got != want {
		t.Fatalf("counters saw %d bytes of growth, the workload grew %d", got, want)
	}
	if after.SamplesLost != 0 {
		t.Fatalf("%d samples lost with nothing else to read", after.SamplesLost)
	}
	// Every sample the kernel took reaches the reader: wait for their weights.
	var samples []tracer.Event
	var sum uint64
	deadline := time.Now().Add(10 * time.Second)
	for {
		samples, sum = col.Matching(isSampleOf(c.Pid)), 0
		for _, ev := range samples {
			sum += ev.Sample.Weight
		}
		if uint64(len(samples)) == after.Samples || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if uint64(len(samples)) != after.Samples || sum != after.SampleTaken {
		t.Fatalf("received %d samples weighing %d bytes; the kernel took %d weighing %d", len(samples), sum, after.Samples, after.SampleTaken)
	}
	if tail := grown(after) - sum; tail >= interval*3/2 {
		t.Errorf("weights sum to %d of %d bytes grown: %d left over, more than the longest interval", sum, grown(after), tail)
	}
	// Intervals are drawn from [I/2, 3I/2); the big call is one sample.
	n := after.Samples - before.Samples
	if lo, hi := (want-big)/(interval*3/2), (want-big)/(interval/2)+2; n+1 < lo || n > hi {
		t.Errorf("%d samples over %d bytes of growth (one call of %d); want %d to %d", n, want, big, lo, hi)
	}
	t.Logf("%d bytes grown, %d samples (%d in the workload's growth), weights %d; hooks: %s", grown(after), len(samples), n, sum, hookMechanisms(tr))

	maps := readMaps(t, fmt.Sprintf("/proc/%d", c.Pid))
	var stack *mapping
	for i := range maps {
		if maps[i].name == "[stack]" {
			stack = &maps[i]
		}
	}
	if stack == nil {
		t.Fatalf("no [stack] in /proc/%d/maps", c.Pid)
	}
	startStack := statField(t, c.Pid, 28) // where argv, the environment and auxv begin
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", c.Pid))
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	for i, ev := range samples {
		s := ev.Sample
		// A sample stands for at least the shortest interval.
		if s.Weight < interval/2 {
			t.Errorf("sample %d (%s of %d bytes): weight %d, below the shortest interval", i, ev.Type, ev.Alloc.Len, s.Weight)
		}
		if s.Regs.SP < stack.start || s.Regs.SP >= stack.end {
			t.Fatalf("sample %d: SP %#x outside [stack] %#x-%#x", i, s.Regs.SP, stack.start, stack.end)
		}
		if m := mappingOf(maps, s.Regs.IP); m == nil || !strings.Contains(m.perms, "x") {
			t.Errorf("sample %d: IP %#x not in an executable mapping (%+v)", i, s.Regs.IP, m)
		}
		// The copy reaches argc (checked below): the kernel's walk is
		// left to the reader.
		if len(s.FramePointers) != 0 {
			t.Errorf("sample %d: a frame-pointer walk of %d frames with a copy to argc", i, len(s.FramePointers))
		}
		// The copy ends with argc at the initial stack pointer, at the
		// first page not present before it, or at the most it holds.
		end := min(firstAbsent(t, fmt.Sprintf("/proc/%d", c.Pid), s.Regs.SP, stack.end), startStack+8)
		wantLen := min(end-s.Regs.SP, stackCopyMax)
		if uint64(len(s.Stack)) != wantLen {
			t.Errorf("sample %d: copied %d bytes of stack from SP %#x; want %d (start of stack %#x)", i, len(s.Stack), s.Regs.SP, wantLen, startStack)
		}
		// What lies above the initial stack pointer does not change.
		if startStack > s.Regs.SP && startStack < s.Regs.SP+uint64(len(s.Stack)) {
			got := s.Stack[startStack-s.Regs.SP:]
			real := make([]byte, len(got))
			if _, err := mem.ReadAt(real, int64(startStack)); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, real) {
				t.Errorf("sample %d: the %d bytes copied from %#x differ from /proc/%d/mem", i, len(got), startStack, c.Pid)
			}
		} else {
			t.Errorf("sample %d: start of stack %#x not in the copy [%#x, +%d)", i, startStack, s.Regs.SP, len(s.Stack))
		}
		if uint64(i) < before.Samples {
			continue // the loader's, whose mappings may have changed since
		}
		// The workload keeps what it grew: the region is inside one mapping.
		r := s.RegionAddr
		if m := mappingOf(maps, r); s.RegionLen == 0 || m == nil || r+s.RegionLen > m.end || !strings.HasPrefix(m.perms, "rw") {
			t.Errorf("sample %d (%s): region %#x+%d not inside one writable mapping (%+v)", i, ev.Type, r, s.RegionLen, m)
		}
		if ev.Type == tracer.EventMmap && (r != ev.Alloc.Addr || s.RegionLen != ev.Alloc.Len) {
			t.Errorf("sample %d: mmap region %#x+%d, call %#x+%d", i, r, s.RegionLen, ev.Alloc.Addr, ev.Alloc.Len)
		}
	}
}

// A thread's stack has no argc to end at: its sample copies up to the end
// of the thread's stack mapping (at most 32 KiB, and not past a page not
// present), and carries the kernel's frame-pointer walk.
func TestStackSampleThread(t *testing.T) {
	testutil.NeedRoot(t)
	const size = 4 << 20 // one mmap, above any interval
	tr, col := tracertest.Start(t, tracer.Config{StackSample: 512 << 10})
	c := testutil.StartChild(t, "leaderless", strconv.Itoa(size))
	f := c.Expect(t, "ready")
	tid, err := strconv.Atoi(f[2])
	if err != nil || tid == c.Pid {
		t.Fatalf("ready line %q: want a thread other than %d", f, c.Pid)
	}
	ev := col.WaitFor(t, "the thread's sample", 10*time.Second, func(ev *tracer.Event) bool {
		return ev.Sample != nil && ev.PID == uint32(c.Pid) && ev.TID == uint32(tid) && ev.Alloc.Len == size
	})
	s := ev.Sample
	// The leader has exited: its /proc/PID files show no memory.
	dir := fmt.Sprintf("/proc/%d/task/%d", c.Pid, tid)
	maps := readMaps(t, dir)
	m := mappingOf(maps, s.Regs.SP)
	if m == nil || m.name == "[stack]" || !strings.HasPrefix(m.perms, "rw") {
		t.Fatalf("SP %#x not in a thread's stack mapping: %+v", s.Regs.SP, m)
	}
	// The copy ends at the stack mapping's end (glibc keeps the thread's
	// descriptor and TLS at its top), not in the mapping above it.
	want := firstAbsent(t, dir, s.Regs.SP, min(m.end, s.Regs.SP+stackCopyMax)) - s.Regs.SP
	if uint64(len(s.Stack)) != want {
		t.Errorf("copied %d bytes of the thread's stack from SP %#x; want %d (its mapping ends at %#x)", len(s.Stack), s.Regs.SP, want, m.end)
	}
	if len(s.FramePointers) == 0 || s.FramePointers[0] != s.Regs.IP {
		t.Errorf("frame-pointer walk %#x does not start at IP %#x", s.FramePointers, s.Regs.IP)
	}
	// The copy holds the thread's every frame, and the leader's exit does
	// not hide the process's mappings from the unwinder.
	st := native.NewResolver(native.Limits{}).Resolve(ev.PID, ev.Start, native.Regs{IP: s.Regs.IP, SP: s.Regs.SP, BP: s.Regs.BP}, s.Stack, s.FramePointers)
	var names []string
	for _, f := range st.Frames {
		names = append(names, f.Function)
	}
	if st.Truncated || !slices.Contains(names, "leaderless_thread") {
		t.Errorf("thread's stack %v (truncated %v: %s); want leaderless_thread, unwound to the end", names, st.Truncated, st.Reason)
	}
	t.Logf("thread %d: %d bytes of stack, %d frame-pointer frames, frames %v; hooks: %s", tid, len(s.Stack), len(s.FramePointers), names, hookMechanisms(tr))
}

// firstAbsent is the start of the first page at or after addr, before
// end, that dir/pagemap says is not present; end if none.
func firstAbsent(t *testing.T, dir string, addr, end uint64) uint64 {
	t.Helper()
	f, err := os.Open(dir + "/pagemap")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var e [8]byte
	for p := addr &^ (pageSize - 1); p < end; p += pageSize {
		if _, err := f.ReadAt(e[:], int64(p/pageSize*8)); err != nil {
			t.Fatal(err)
		}
		if bin.LittleEndian.Uint64(e[:])&(1<<63) == 0 {
			return max(p, addr)
		}
	}
	return end
}

// hookMechanisms says how the syscall hooks are attached, e.g. "mmap:fexit".
func hookMechanisms(tr *tracer.Tracer) string {
	var out []string
	for _, h := range tr.Hooks() {
		if name, ok := strings.CutPrefix(h.Name, "syscalls/sys_exit_"); ok {
			out = append(out, name+":"+h.Mechanism)
		}
	}
	return strings.Join(out, " ")
}

func statField(t *testing.T, pid, field int) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command, which ends at the last ')', start at 3.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	v, err := strconv.ParseUint(f[field-3], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Interval 0: the sampling code does not run at all.
func TestStackSampleOff(t *testing.T) {
	testutil.NeedRoot(t)
	tr, col := tracertest.Start(t, tracer.Config{})
	c, _, _ := startGrow(t, tr, 64, 64<<10, 1<<20, true)
	after := counters(t, tr, c.Pid)
	if after.MmapAnonBytes < 64*64<<10 || after.BrkGrowBytes < 1<<20 {
		t.Fatalf("counters missed the workload: %+v", after)
	}
	if after.SampleLeft != 0 || after.SampleArmed != 0 || after.Samples != 0 {
		t.Fatalf("sampling off, but the countdown moved: left %d armed %d samples %d", after.SampleLeft, after.SampleArmed, after.Samples)
	}
	st, err := tr.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(col.Matching(func(ev *tracer.Event) bool { return ev.Sample != nil })); n != 0 || st.SamplesReceived != 0 {
		t.Fatalf("sampling off, but %d samples (stats: %d)", n, st.SamplesReceived)
	}
}

// A flood of samples the reader does not take: each is received or counted
// lost, and the kernel took one per call.
func TestStackSampleFlood(t *testing.T) {
	testutil.NeedRoot(t)
	const calls = 20000
	tr, err := tracer.New(tracer.Config{StackSample: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if err := tr.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// Nothing reads Events until the flood is over.
	c, _, before := startGrow(t, tr, calls, 64<<10, 0, false)
	after := counters(t, tr, c.Pid)
	// Each 64 KiB call crosses an interval below 6 KiB: the mmaps, and the
	// mmap, mremap and mprotect after them.
	if n := after.Samples - before.Samples; n != calls+3 {
		t.Fatalf("kernel took %d samples in %d growing calls", n, calls+3)
	}
	if after.SamplesLost == 0 {
		t.Fatalf("no sample lost: the flood did not fill the ring")
	}
	cancel()
	var got uint64
	for ev := range tr.Events() {
		if isSampleOf(c.Pid)(&ev) {
			got++
		}
	}
	st, err := tr.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if got+after.SamplesLost != after.Samples {
		t.Fatalf("received %d + lost %d samples, the kernel took %d", got, after.SamplesLost, after.Samples)
	}
	if st.SamplesLost < after.SamplesLost || st.SamplesDropped != 0 || st.SamplesReceived < got {
		t.Fatalf("stats %d received, %d lost, %d dropped; the workload alone %d received, %d lost", st.SamplesReceived, st.SamplesLost, st.SamplesDropped, got, after.SamplesLost)
	}
	t.Logf("%d samples: %d received, %d lost", after.Samples, got, after.SamplesLost)
}
