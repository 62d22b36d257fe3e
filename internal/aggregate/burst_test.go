package aggregate

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
	"weak"

	"github.com/oomtrace/oomtrace/internal/proc"
	"github.com/oomtrace/oomtrace/tracer"
)

// burstProcs adds processes lo..hi-1 to a few steady ones while on is set.
// It keeps no per-process state of its own, so what the heap holds after the
// burst is the aggregator's.
type burstProcs struct {
	*fakeProcs
	lo, hi int
	on     bool
	cmd    string // each burst process's command line: 1 KiB
}

func (b *burstProcs) Pids() ([]int, error) {
	out, _ := b.fakeProcs.Pids()
	if b.on {
		for pid := b.lo; pid < b.hi; pid++ {
			out = append(out, pid)
		}
	}
	return out, nil
}

func (b *burstProcs) burst(pid int) bool { return b.on && pid >= b.lo && pid < b.hi }

func (b *burstProcs) Info(pid int) (proc.Info, error) {
	if pid >= b.lo && pid < b.hi {
		if !b.burst(pid) {
			return proc.Info{}, errors.New("gone")
		}
		// A fresh copy each read, as /proc gives.
		return proc.Info{PID: pid, PPID: 1, SID: pid, Comm: "burst", Cmdline: []string{"burst", strings.Clone(b.cmd)}, StartTicks: uint64(pid)}, nil
	}
	return b.fakeProcs.Info(pid)
}

func (b *burstProcs) Mem(pid int) (proc.Mem, error) {
	if b.burst(pid) {
		return proc.Mem{RSSAnon: 1 << 20}, nil
	}
	return b.fakeProcs.Mem(pid)
}

func (b *burstProcs) Smaps(pid int) (proc.Smaps, error) {
	if b.burst(pid) {
		return proc.Smaps{PSS: 1 << 20, USS: 1 << 20, RSS: 1 << 20}, nil
	}
	return b.fakeProcs.Smaps(pid)
}

// burstSampler lists the same processes as the kernel's task walk would.
type burstSampler struct {
	fakeCounters
	b *burstProcs
}

func (s burstSampler) AppendProcesses(dst []tracer.ProcSample) ([]tracer.ProcSample, error) {
	pids, _ := s.b.Pids()
	for _, pid := range pids {
		m, _ := s.b.Mem(pid)
		dst = append(dst, tracer.ProcSample{PID: pid, Anon: m.RSSAnon, File: m.RSSFile})
	}
	return dst, nil
}

func heapAlloc() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// A burst of processes that then exit, a few announced and most not: once
// they are dropped and past goneFor, nothing of them stays reachable (an
// auditor saw the per-tick lists, reused, keep 10,000 of them: 56 MiB), with
// /proc and with the task walk. After 10,000 among 10 steady processes the
// heap is back within 1 MiB of before (the tables they filled are resized);
// after 6,000 among 3,000, nothing is resized, and the reused lists must
// still let go of them.
func TestBurstIsReleased(t *testing.T) {
	for _, tc := range []struct {
		steady, burst int
		heap          bool
	}{{10, 10_000, true}, {3_000, 6_000, false}} {
		for _, walk := range []bool{false, true} {
			name := fmt.Sprintf("%d among %d, walk %v", tc.burst, tc.steady, walk)
			burstReleased(t, name, tc.steady, tc.burst, tc.heap, walk)
		}
	}
}

func burstReleased(t *testing.T, name string, steady, burst int, checkHeap, walk bool) {
	f := newFake()
	f.add(1, 0, 1, "systemd", []string{"/sbin/init"}, 1<<20)
	for pid := 100; pid < 100+steady; pid++ {
		f.add(pid, 1, pid, "steady", []string{"steady"}, 4<<20)
	}
	b := &burstProcs{fakeProcs: f, lo: 10_000, hi: 10_000 + burst, cmd: strings.Repeat("x", 1024)}
	var ctrs CounterSource = fakeCounters{}
	if walk {
		ctrs = burstSampler{b: b}
	}
	a := New(Config{Interval: time.Second, PSSInterval: -1, PSSBudget: 20_000}, b, ctrs)
	now := time.Unix(1_700_000_000, 0)
	tick := func(d time.Duration) Snapshot {
		t.Helper()
		now = now.Add(d)
		snap, err := a.Tick(now)
		if err != nil {
			t.Fatal(err)
		}
		return snap
	}
	for range 3 {
		tick(time.Second)
	}
	before := heapAlloc()

	b.on = true
	tick(time.Second)
	if n := find(t, tick(time.Second), "burst").Procs; n != burst {
		t.Fatalf("%s: burst service has %d procs, want %d", name, n, burst)
	}
	var refs []weak.Pointer[procState]
	for pid := b.lo; pid < b.hi; pid++ {
		refs = append(refs, weak.Make(a.table[pid]))
	}
	for pid := b.lo; pid < b.lo+100; pid++ { // a few exits are announced
		a.HandleEvent(&tracer.Event{Type: tracer.EventExit, PID: uint32(pid)})
	}
	b.on = false
	tick(time.Second)
	tick(time.Second)
	tick(goneFor + time.Second)
	if n := find(t, tick(time.Second), "steady").Procs; n != steady || len(a.table) != steady+1 {
		t.Fatalf("%s: %d processes in the table after the burst, want %d", name, len(a.table), steady+1)
	}
	tick(a.cfg.KeepDead + time.Second) // the burst service is dropped too
	tick(time.Second)

	runtime.GC()
	live := 0
	for _, r := range refs {
		if r.Value() != nil {
			live++
		}
	}
	if live > 0 {
		t.Errorf("%s: %d exited processes still reachable", name, live)
	}
	if after := heapAlloc(); checkHeap && after > before+1<<20 {
		t.Errorf("%s: heap %.2f MiB before the burst, %.2f MiB after it", name, float64(before)/(1<<20), float64(after)/(1<<20))
	}
	runtime.KeepAlive(a)
}
