package aggregate

import (
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/oomtrace/oomtrace/internal/native"
	"github.com/oomtrace/oomtrace/tracer"
)

// frames makes a stack of named functions in one module, innermost first.
func frames(names ...string) []Frame {
	out := make([]Frame, len(names))
	for i, n := range names {
		h := fnv.New64a()
		h.Write([]byte(n))
		out[i] = Frame{Function: n, Module: "/usr/bin/app", Offset: h.Sum64() & 0xffffff, Kind: "native"}
	}
	return out
}

// region maps n bytes of anonymous memory in this process, a real region
// for the held check to find in /proc/self/maps.
func region(t *testing.T, n int) []byte {
	t.Helper()
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(b) })
	return b
}

// munmap unmaps part of a region (unix.Munmap takes only whole ones).
func munmap(t *testing.T, b []byte) {
	t.Helper()
	if _, _, e := unix.Syscall(unix.SYS_MUNMAP, uintptr(addrOf(b)), uintptr(len(b)), 0); e != 0 {
		t.Fatal(e)
	}
}

// sleeper starts a process that lives until the test ends.
func sleeper(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd.Process.Pid
}

func addrOf(b []byte) uint64 { return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b)))) }

// selfApp is an aggregator whose one process is the test's own, named
// "app", after its first tick at t0 (PSS never read); svc is its service.
func selfApp(t *testing.T, cfg Config, ctrs CounterSource) (a *Aggregator, self int, t0 time.Time, svc string) {
	t.Helper()
	f := newFake()
	self = os.Getpid()
	f.add(self, 1, self, "app", []string{"app"}, 1<<20)
	cfg.PSSInterval = -1
	a = New(cfg, f, ctrs)
	t0 = time.Unix(1_700_000_000, 0)
	a.Tick(t0)
	return a, self, t0, a.ServiceOf(self, "").Name
}

func stacksOf(t *testing.T, snap Snapshot, name string) []Stack {
	t.Helper()
	return find(t, snap, name).Stacks
}

func funcs(s Stack) string {
	var n []string
	for _, f := range s.Frames {
		n = append(n, f.Function)
	}
	return strings.Join(n, "<")
}

// A master's workers sample the same code: one stack, its samples and
// bytes summed; a truncated stack with the same frames stays apart.
func TestStacksMergeWorkers(t *testing.T) {
	f := newFake()
	self, w1, w2 := os.Getpid(), sleeper(t), sleeper(t)
	f.add(1, 0, 1, "systemd", nil, 1<<20)
	f.add(self, 1, self, "gunicorn", []string{"gunicorn"}, 1<<20)
	f.add(w1, self, self, "gunicorn", []string{"gunicorn"}, 1<<20)
	f.add(w2, self, self, "gunicorn", []string{"gunicorn"}, 1<<20)
	a := New(Config{PSSInterval: -1}, f, nil)
	t0 := time.Unix(1_700_000_000, 0)
	if _, err := a.Tick(t0); err != nil {
		t.Fatal(err)
	}
	svc := a.ServiceOf(w1, "").Name
	if svc != a.ServiceOf(w2, "").Name {
		t.Fatalf("workers in %q and %q, want one service", svc, a.ServiceOf(w2, "").Name)
	}
	// The workers' samples have no region: held while their process lives.
	for _, pid := range []int{w1, w2, w1} {
		a.stk.add(stackSample{pid: pid, service: svc, at: t0, weight: 512 << 10, frames: frames("keep_it", "main")})
	}
	a.stk.add(stackSample{pid: w2, service: svc, at: t0, weight: 100 << 10, frames: frames("keep_it", "main"), truncated: true})
	snap, _ := a.Tick(t0.Add(time.Second))
	st := stacksOf(t, snap, svc)
	if len(st) != 2 {
		t.Fatalf("%d stacks, want 2 (merged, and the truncated one): %+v", len(st), st)
	}
	if s := st[0]; s.Samples != 3 || s.HeldBytes != 3*512<<10 || s.GrownBytes != 3*512<<10 || s.Truncated || funcs(s) != "keep_it<main" {
		t.Errorf("merged stack %+v, want 3 samples, 1.5 MiB held and grown, keep_it<main", s)
	}
	if s := st[1]; !s.Truncated || s.Samples != 1 || s.HeldBytes != 100<<10 {
		t.Errorf("truncated stack %+v", s)
	}
}

// Held bytes follow the regions still mapped: an unmapped region holds
// nothing, half a region holds half its weight; grown bytes keep both
// until they leave the window.
func TestStacksHeldVsGrown(t *testing.T) {
	a, self, t0, svc := selfApp(t, Config{StackWindow: time.Minute}, nil)
	page := os.Getpagesize()
	keep := region(t, 64*page)
	churn := region(t, 64*page)
	half := region(t, 64*page)
	w := uint64(1 << 20)
	a.stk.add(stackSample{pid: self, service: svc, at: t0, weight: w, addr: addrOf(keep), len: uint64(len(keep)), frames: frames("keep_it")})
	a.stk.add(stackSample{pid: self, service: svc, at: t0, weight: w, addr: addrOf(churn), len: uint64(len(churn)), frames: frames("churn_it")})
	a.stk.add(stackSample{pid: self, service: svc, at: t0, weight: w, addr: addrOf(half), len: uint64(len(half)), frames: frames("half_it")})
	snap, _ := a.Tick(t0.Add(time.Second))
	for _, s := range stacksOf(t, snap, svc) {
		if s.HeldBytes != w || s.GrownBytes != w {
			t.Errorf("%s before any unmap: held %d grown %d, want %d each", funcs(s), s.HeldBytes, s.GrownBytes, w)
		}
	}
	munmap(t, churn)
	munmap(t, half[32*page:])
	snap, _ = a.Tick(t0.Add(2 * time.Second))
	got := map[string]Stack{}
	for _, s := range stacksOf(t, snap, svc) {
		got[funcs(s)] = s
	}
	want := map[string][2]uint64{"keep_it": {w, w}, "churn_it": {0, w}, "half_it": {w / 2, w}}
	for name, hg := range want {
		if s := got[name]; s.HeldBytes != hg[0] || s.GrownBytes != hg[1] {
			t.Errorf("%s: held %d grown %d, want %d and %d", name, s.HeldBytes, s.GrownBytes, hg[0], hg[1])
		}
	}
	if st := stacksOf(t, snap, svc); funcs(st[0]) != "keep_it" || funcs(st[len(st)-1]) != "churn_it" {
		t.Errorf("order %v, want by held: keep_it first, churn_it last", []string{funcs(st[0]), funcs(st[1]), funcs(st[2])})
	}
	// Past the window the growth is old: keep_it still holds, the churn is gone.
	snap, _ = a.Tick(t0.Add(time.Minute + 4*time.Second))
	st := stacksOf(t, snap, svc)
	if len(st) != 2 || funcs(st[0]) != "keep_it" || st[0].GrownBytes != 0 || st[0].HeldBytes != w || st[0].Samples != 0 {
		t.Errorf("after the window: %+v, want keep_it holding %d, nothing grown, churn_it forgotten", st, w)
	}
}

// A munmap event marks a region dead before the next check reads the maps.
func TestStacksMunmapEvent(t *testing.T) {
	a, self, t0, svc := selfApp(t, Config{}, nil)
	r := region(t, 16*os.Getpagesize())
	a.stk.add(stackSample{pid: self, service: svc, at: t0, weight: 1 << 20, addr: addrOf(r), len: uint64(len(r)), frames: frames("f")})
	if a.stk.live != 1 {
		t.Fatalf("%d live samples, want 1", a.stk.live)
	}
	a.HandleEvent(&tracer.Event{Type: tracer.EventMunmap, PID: uint32(self), Time: t0.Add(time.Millisecond), Alloc: tracer.Alloc{Addr: addrOf(r), Len: uint64(len(r))}})
	if a.stk.live != 0 || len(a.stk.procs[self].live) != 0 {
		t.Errorf("%d live samples after the munmap event, want 0", a.stk.live)
	}
}

// A process that exits frees its samples: held 0, grown stays.
func TestStacksExitFrees(t *testing.T) {
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	pid := cmd.Process.Pid
	// A region of the child's that is really mapped: its stack.
	var lo, hi uint64
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(maps)) {
		if strings.HasSuffix(strings.TrimSpace(line), "[stack]") {
			r := strings.SplitN(strings.Fields(line)[0], "-", 2)
			lo, _ = strconv.ParseUint(r[0], 16, 64)
			hi, _ = strconv.ParseUint(r[1], 16, 64)
		}
	}
	if hi <= lo {
		t.Fatalf("no [stack] in the maps of %d:\n%s", pid, maps)
	}
	f := newFake()
	f.add(pid, 1, pid, "sleep", []string{"sleep", "600"}, 1<<20)
	a := New(Config{PSSInterval: -1}, f, nil)
	t0 := time.Unix(1_700_000_000, 0)
	a.Tick(t0)
	a.stk.add(stackSample{pid: pid, service: "sleep", at: t0, weight: 2 << 20, addr: lo, len: hi - lo, frames: frames("grow")})
	snap, _ := a.Tick(t0.Add(time.Second))
	if st := stacksOf(t, snap, "sleep"); len(st) != 1 || st[0].HeldBytes != 2<<20 {
		t.Fatalf("live child: %+v, want one stack holding 2 MiB", st)
	}
	cmd.Process.Kill()
	cmd.Wait()
	a.HandleEvent(&tracer.Event{Type: tracer.EventExit, PID: uint32(pid)})
	delete(f.info, pid)
	snap, _ = a.Tick(t0.Add(2 * time.Second))
	if st := stacksOf(t, snap, "sleep"); len(st) != 1 || st[0].HeldBytes != 0 || st[0].GrownBytes != 2<<20 {
		t.Errorf("after the exit: %+v, want held 0, grown 2 MiB", st)
	}
	if len(a.stk.procs) != 0 || a.stk.live != 0 {
		t.Errorf("%d processes and %d live samples kept after the exit", len(a.stk.procs), a.stk.live)
	}
}

// A process that vanishes without an exit event is freed at the check,
// which finds no maps for it.
func TestStacksVanishedFreed(t *testing.T) {
	f := newFake()
	f.add(1<<22+1, 1, 1, "ghost", nil, 1<<20) // above PID_MAX_LIMIT: no /proc entry
	a := New(Config{PSSInterval: -1}, f, nil)
	t0 := time.Unix(1_700_000_000, 0)
	a.Tick(t0)
	a.stk.add(stackSample{pid: 1<<22 + 1, service: "ghost", at: t0, weight: 1 << 20, frames: frames("f")})
	snap, _ := a.Tick(t0.Add(time.Second))
	if st := stacksOf(t, snap, "ghost"); len(st) != 1 || st[0].HeldBytes != 0 || a.stk.live != 0 {
		t.Errorf("%+v, %d live: want held 0 and nothing live", st, a.stk.live)
	}
}

// The table stays within its bounds: stacks per service, in all, frames
// per stack, live samples per process; the largest stacks are the ones kept.
func TestStacksBounds(t *testing.T) {
	a, self, t0, svc := selfApp(t, Config{}, nil)
	for i := range StacksPerService + 20 {
		// Later stacks weigh more: the first 20 are the ones evicted.
		a.stk.add(stackSample{pid: self, service: svc, at: t0, weight: uint64(i+1) << 10, frames: frames(fmt.Sprint("f", i), "main")})
	}
	if n := len(a.stk.svcs[svc].byKey); n != StacksPerService || a.stk.stacks != StacksPerService {
		t.Errorf("%d stacks kept (%d counted), want %d", n, a.stk.stacks, StacksPerService)
	}
	snap, _ := a.Tick(t0.Add(time.Second))
	st := stacksOf(t, snap, svc)
	if len(st) != StacksShown || funcs(st[0]) != fmt.Sprint("f", StacksPerService+19, "<main") {
		t.Errorf("%d stacks shown, first %s: want %d, the heaviest first", len(st), funcs(st[0]), StacksShown)
	}
	if a.stk.live != StacksPerService {
		t.Errorf("%d live samples after eviction, want the kept stacks' %d", a.stk.live, StacksPerService)
	}
	for i := range StacksTotal {
		name := fmt.Sprint("svc", i%40)
		a.stk.add(stackSample{pid: self, service: name, at: t0, weight: 1 << 10, frames: frames(fmt.Sprint("g", i))})
	}
	if a.stk.stacks > StacksTotal {
		t.Errorf("%d stacks in all, cap %d", a.stk.stacks, StacksTotal)
	}
	n := 0
	for _, sv := range a.stk.svcs {
		n += len(sv.byKey)
	}
	if n != a.stk.stacks {
		t.Errorf("%d stacks in the services, %d counted", n, a.stk.stacks)
	}
	// Frames past StackFrames are cut and the stack marked truncated.
	deep := native.Stack{}
	for i := range StackFrames + 10 {
		deep.Frames = append(deep.Frames, native.Frame{Function: fmt.Sprint("r", i), Module: "/bin/x", ModOff: uint64(i)})
	}
	deep.Frames[0].Function = strings.Repeat("x", 5000)
	fr, trunc := FramesOf(deep)
	if len(fr) != StackFrames || !trunc || fr[1].Function != "r1" || fr[0].Kind != "native" || len(fr[0].Function) > StackNameMax+len("…") {
		t.Errorf("deep stack: %d frames truncated %v, first name %d bytes: want %d frames, truncated, names cut at %d", len(fr), trunc, len(fr[0].Function), StackFrames, StackNameMax)
	}
	// Live samples per process: past the cap they count in grown only.
	before := a.stk.stats.Untracked
	for range StackSamplesPerProc + 5 {
		a.stk.add(stackSample{pid: self + 7, service: svc, at: t0, weight: 1, frames: frames("many")})
	}
	if got := len(a.stk.procs[self+7].live); got != StackSamplesPerProc || a.stk.stats.Untracked-before != 5 {
		t.Errorf("%d live samples of one process, %d untracked: want %d and 5", got, a.stk.stats.Untracked-before, StackSamplesPerProc)
	}
}

func TestParseMaps(t *testing.T) {
	in := "00400000-00452000 r-xp 00000000 08:02 173521 /usr/bin/dbus-daemon\n" +
		"7f0000000000-7f0000021000 ---p 00000000 00:00 0\n" +
		"7f0000021000-7f0000100000 rw-p 00000000 00:00 0 [heap]\n" +
		"garbage line\n" +
		"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]"
	got := parseMaps(nil, []byte(in))
	want := []mapRange{{0x400000, 0x452000}, {0x7f0000021000, 0x7f0000100000}, {0xffffffffff600000, 0xffffffffff601000}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("parseMaps: %x, want %x", got, want)
	}
	if m := mappedIn(got, 0x7f0000000000, 0x7f0000031000); m != 0x10000 {
		t.Errorf("mapped %#x of a region half PROT_NONE, want 0x10000", m)
	}
}

// BenchmarkHeldCheck is the per-tick cost of the held check for one process
// with samples: reading and parsing the maps of a python3 process (about
// 200 lines) and 64 samples against them.
func BenchmarkHeldCheck(b *testing.B) {
	py, err := exec.LookPath("python3")
	if err != nil {
		b.Skip("no python3")
	}
	cmd := exec.Command(py, "-c", "import sys, json, ssl, sqlite3; sys.stdin.read()")
	in, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { in.Close(); cmd.Wait() }()
	pid := cmd.Process.Pid
	t := newStackTable(10*time.Minute, "/proc")
	// Wait until the imports are mapped: the maps stop growing.
	var lines int
	for prev := -1; lines != prev || lines < 50; time.Sleep(100 * time.Millisecond) {
		prev = lines
		m, _ := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
		lines = strings.Count(string(m), "\n")
	}
	t.readMaps(pid)
	for i := range 64 {
		r := t.ranges[i%len(t.ranges)]
		t.add(stackSample{pid: pid, service: "py", at: time.Now(), weight: 512 << 10, addr: r.start, len: r.end - r.start, frames: frames(fmt.Sprint("f", i%8))})
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, bc := range []struct {
		name  string
		calls func() uint64
	}{
		{"read", func() uint64 { return 0 }},      // no counters: the maps are read every time
		{"unchanged", func() uint64 { return 7 }}, // no memory syscall since the last read
	} {
		b.Run(bc.name, func(b *testing.B) {
			cpu0 := threadCPU()
			for range b.N {
				t.check(func(int) (bool, uint64) { return true, bc.calls() })
			}
			b.ReportMetric(float64(threadCPU()-cpu0)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(lines), "maps-lines")
		})
	}
	if t.live != 64 {
		b.Fatalf("%d live samples after the checks, want 64", t.live)
	}
}

// The maps are read again only when the process made memory syscalls
// since the last read: a region can only go by one. (The test unmaps
// behind the counters' back to see which reads happen.)
func TestStacksMapsReadOnCalls(t *testing.T) {
	ctr := fakeCounters{os.Getpid(): {MmapCalls: 5}}
	a, self, t0, svc := selfApp(t, Config{}, ctr)
	r := region(t, 16*os.Getpagesize())
	a.stk.add(stackSample{pid: self, service: svc, at: t0, weight: 1 << 20, addr: addrOf(r), len: uint64(len(r)), frames: frames("f")})
	a.Tick(t0.Add(time.Second)) // the new sample's read
	munmap(t, r)
	snap, _ := a.Tick(t0.Add(2 * time.Second))
	if st := stacksOf(t, snap, svc); len(st) != 1 || st[0].HeldBytes != 1<<20 {
		t.Fatalf("%+v: want the last read's 1 MiB while the calls stand still", st)
	}
	ctr[self] = tracer.Counters{MmapCalls: 5, MunmapCalls: 1}
	snap, _ = a.Tick(t0.Add(3 * time.Second))
	if st := stacksOf(t, snap, svc); len(st) != 1 || st[0].HeldBytes != 0 {
		t.Errorf("%+v: want held 0 once a munmap was counted", st)
	}
}

// fakeResolver names every stack by its instruction pointer and counts
// what it forgets.
type fakeResolver struct{ forgot []uint32 }

func (r *fakeResolver) Resolve(pid uint32, start uint64, regs native.Regs, stack []byte, fp []uint64) native.Stack {
	return native.Stack{Frames: []native.Frame{{Function: fmt.Sprintf("at_%x", regs.IP), Module: "/bin/app", ModOff: regs.IP, Kind: "native"}}, Truncated: len(stack) == 0}
}
func (r *fakeResolver) Forget(pid uint32) { r.forgot = append(r.forgot, pid) }

// A sampled event reaches its service's stacks through the resolver; exec
// and exit make the resolver forget the process.
func TestStacksFromEvents(t *testing.T) {
	res := &fakeResolver{}
	a, self, t0, _ := selfApp(t, Config{Stacks: res}, nil)
	r := region(t, 16*os.Getpagesize())
	a.HandleEvent(&tracer.Event{Type: tracer.EventMmap, PID: uint32(self), Time: t0, Alloc: tracer.Alloc{Addr: addrOf(r), Len: uint64(len(r))},
		Sample: &tracer.Sample{Weight: 700 << 10, RegionAddr: addrOf(r), RegionLen: uint64(len(r)), Regs: tracer.UserRegs{IP: 0x1234}, Stack: make([]byte, 64)}})
	a.HandleEvent(&tracer.Event{Type: tracer.EventMmap, PID: uint32(self), Time: t0, Alloc: tracer.Alloc{Addr: addrOf(r), Len: uint64(len(r))}}) // not sampled
	snap, _ := a.Tick(t0.Add(time.Second))
	st := stacksOf(t, snap, a.ServiceOf(self, "").Name)
	if len(st) != 1 || funcs(st[0]) != "at_1234" || st[0].HeldBytes != 700<<10 || st[0].Samples != 1 || st[0].Truncated || st[0].Frames[0].Offset != 0x1234 {
		t.Errorf("stacks %+v, want one at_1234 holding 700 KiB", st)
	}
	if s := snap.System.Stacks; s == nil || s.Samples != 1 || s.Truncated != 0 {
		t.Errorf("stack stats %+v, want 1 sample, none truncated", s)
	}
	a.HandleEvent(&tracer.Event{Type: tracer.EventExec, PID: uint32(self)})
	if len(res.forgot) != 1 || a.stk.live != 0 {
		t.Errorf("after exec: forgot %v, %d live samples; want the pid forgotten and its samples freed", res.forgot, a.stk.live)
	}
}

// A sampled call that grew memory where an older sample's region was
// proves that region was given back in between: the allocator reused the
// address (a churning malloc maps and unmaps the same spot, mostly
// unsampled). The older sample then holds nothing there.
func TestStacksReusedRegion(t *testing.T) {
	a, self, t0, svc := selfApp(t, Config{}, nil)
	page := uint64(os.Getpagesize())
	r := region(t, int(64*page))
	at, n := addrOf(r), uint64(len(r))
	w := uint64(1 << 20)
	a.stk.add(stackSample{pid: self, service: svc, at: t0, weight: w, addr: at, len: n, frames: frames("churn_it")})
	// The same spot again, from another call.
	a.stk.add(stackSample{pid: self, service: svc, at: t0.Add(time.Millisecond), weight: w, addr: at, len: n, frames: frames("keep_it")})
	// And the upper quarter of it once more: keep_it keeps the lower three.
	a.stk.add(stackSample{pid: self, service: svc, at: t0.Add(2 * time.Millisecond), weight: w, addr: at + 48*page, len: 16 * page, frames: frames("other")})
	snap, _ := a.Tick(t0.Add(time.Second))
	got := map[string]uint64{}
	for _, s := range stacksOf(t, snap, svc) {
		got[funcs(s)] = s.HeldBytes
	}
	if got["churn_it"] != 0 || got["keep_it"] != w*3/4 || got["other"] != w {
		t.Errorf("held %v, want churn_it 0, keep_it %d (three quarters), other %d", got, w*3/4, w)
	}
}

// Samples come on their own ring: an unmap event made after the sampled
// call may be read before the sample. Its region is dead all the same; an
// unmap made before the call is not about it, read before or after.
func TestStacksUnmapBeforeSample(t *testing.T) {
	a, self, t0, svc := selfApp(t, Config{}, nil)
	r1, r2 := region(t, 16*os.Getpagesize()), region(t, 16*os.Getpagesize())
	n := uint64(len(r1))
	a.HandleEvent(&tracer.Event{Type: tracer.EventMunmap, PID: uint32(self), Time: t0.Add(-time.Millisecond), Alloc: tracer.Alloc{Addr: addrOf(r2), Len: n}})
	a.HandleEvent(&tracer.Event{Type: tracer.EventMunmap, PID: uint32(self), Time: t0.Add(time.Millisecond), Alloc: tracer.Alloc{Addr: addrOf(r1), Len: n}})
	a.stk.add(stackSample{pid: self, service: svc, at: t0.Add(-2 * time.Millisecond), weight: 1 << 20, addr: addrOf(r1), len: n, frames: frames("freed")})
	a.stk.add(stackSample{pid: self, service: svc, at: t0.Add(2 * time.Millisecond), weight: 1 << 20, addr: addrOf(r2), len: n, frames: frames("kept")})
	a.HandleEvent(&tracer.Event{Type: tracer.EventMunmap, PID: uint32(self), Time: t0.Add(time.Millisecond), Alloc: tracer.Alloc{Addr: addrOf(r2), Len: n}})
	snap, _ := a.Tick(t0.Add(time.Second))
	got := map[string]uint64{}
	for _, s := range stacksOf(t, snap, svc) {
		got[funcs(s)] = s.HeldBytes
	}
	if got["freed"] != 0 || got["kept"] != 1<<20 {
		t.Errorf("held %v: want freed 0 (unmapped after its call), kept 1 MiB (mapped after the unmaps)", got)
	}
}

// blockingResolver resolves nothing until let go: a resolver far behind.
type blockingResolver struct{ gate chan struct{} }

func (r *blockingResolver) Resolve(pid uint32, start uint64, regs native.Regs, stack []byte, fp []uint64) native.Stack {
	<-r.gate
	return native.Stack{Frames: []native.Frame{{Function: "slow", Kind: "native"}}}
}
func (r *blockingResolver) Forget(pid uint32) {}

// Resolving is off the event loop: a resolver that does not answer does not
// hold events up; past the queue, samples are merged unresolved (no frames,
// truncated) so their bytes still count, and the rest come in once it answers.
func TestStacksResolverBehind(t *testing.T) {
	res := &blockingResolver{gate: make(chan struct{})}
	a, self, t0, _ := selfApp(t, Config{Stacks: res}, nil)
	n := stackQueued + 50
	start := time.Now()
	for i := range n {
		a.HandleEvent(&tracer.Event{Type: tracer.EventBrk, PID: uint32(self), Time: t0.Add(time.Duration(i)), Sample: &tracer.Sample{Weight: 1 << 10}})
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("%d events took %s with the resolver stuck", n, d)
	}
	snap, _ := a.Tick(t0.Add(time.Second))
	svc := a.ServiceOf(self, "").Name
	st := stacksOf(t, snap, svc)
	// At most the queue and the one the resolver holds wait; the rest are merged unresolved.
	if len(st) != 1 || !st[0].Truncated || len(st[0].Frames) != 0 || st[0].Samples < 49 || snap.System.Stacks.Unresolved != st[0].Samples {
		t.Fatalf("with the resolver stuck: %+v, stats %+v; want one unresolved stack of the samples past the queue", st, snap.System.Stacks)
	}
	close(res.gate)
	var samples uint64
	for i := 0; i < 100 && samples != uint64(n); i++ { // each tick waits stackWait at most
		snap, _ = a.Tick(t0.Add(time.Duration(2+i) * time.Second))
		samples = 0
		for _, s := range stacksOf(t, snap, svc) {
			samples += s.Samples
		}
	}
	if samples != uint64(n) {
		t.Errorf("%d samples merged once the resolver answered, want %d", samples, n)
	}
}

// A sample of a process no tick has seen yet does not add it to the table:
// the process is named at the tick, once it has settled (a master renames
// itself after exec), and its stack goes to that service.
func TestStacksNamedAtTick(t *testing.T) {
	f := newFake()
	self := os.Getpid()
	f.add(1, 0, 1, "init", nil, 1<<20)
	f.add(self, 1, self, "early", []string{"app"}, 1<<20)
	a := New(Config{PSSInterval: -1, Stacks: &fakeResolver{}}, f, nil)
	t0 := time.Unix(1_700_000_000, 0)
	a.HandleEvent(&tracer.Event{Type: tracer.EventBrk, PID: uint32(self), Comm: "early", Time: t0, Sample: &tracer.Sample{Weight: 1 << 20}})
	a.drainSamples(10 * time.Second) // resolved and merged before the process settles
	in := f.info[self]
	in.Comm = "settled"
	f.info[self] = in
	snap, _ := a.Tick(t0.Add(time.Second))
	for i := 0; i < 100 && len(find(t, snap, "settled").Stacks) == 0; i++ { // each tick waits stackWait at most
		snap, _ = a.Tick(t0.Add(time.Duration(i+2) * time.Second))
	}
	if st := find(t, snap, "settled").Stacks; len(st) != 1 || st[0].GrownBytes != 1<<20 {
		t.Errorf("settled: stacks %+v, want the sample's", st)
	}
	for _, s := range snap.Services {
		if s.Name == "early" {
			t.Errorf("the sample named the process before it settled: service %q", s.Name)
		}
	}
}

// The README states the table's bounds: they must be the constants'.
func TestStacksREADMEBounds(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := strings.Join(strings.Fields(string(b)), " ")
	for _, want := range []string{
		fmt.Sprintf("at most %d stacks shown per service, %d kept per service and %d in all, %d frames a stack", StacksShown, StacksPerService, StacksTotal, StackFrames),
		fmt.Sprintf("names cut at %d bytes, %d live samples a process and %d in all", StackNameMax, StackSamplesPerProc, StackSamplesTotal),
		fmt.Sprintf("a live sample %d bytes", unsafe.Sizeof(liveSample{})),
		fmt.Sprintf("hold at most %d entries and %d MiB of stack copies", stackQueued, stackQueuedBytes>>20),
		fmt.Sprintf("in %d slots", stackSlots),
		fmt.Sprintf("the last %d are remembered", recentUnmaps),
	} {
		if !strings.Contains(readme, want) {
			t.Errorf("README lacks %q", want)
		}
	}
}
