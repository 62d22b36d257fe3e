package bench

// Benchmarks of oomtrace's userspace hot spots. They do not run by default:
//
//	go test -run '^$' -bench . -benchmem ./bench/
//
// The ring-sample decoders in tracer are unexported, so the per-event path is
// measured from the decoded tracer.Event on (schema.FromEvent + JSON, what
// `oomtrace events --json` does per event). Everything that needs BPF is
// measured end to end by run.sh instead.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/dump"
	"github.com/oomtrace/oomtrace/internal/history"
	"github.com/oomtrace/oomtrace/internal/proc"
	"github.com/oomtrace/oomtrace/internal/schema"
	"github.com/oomtrace/oomtrace/internal/testutil"
	"github.com/oomtrace/oomtrace/internal/top"
	"github.com/oomtrace/oomtrace/tracer"
)

var t0 = time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)

// fleet is a fake ProcSource: pid 1 (init), pid 2 (a kernel thread), then
// services of one master (a session leader under init) and perService-1
// workers each. Lookups are
// slice indexing so the fake costs little next to the aggregator.
type fleet struct {
	pids []int
	info []proc.Info // by pid
	mem  []proc.Mem
	sys  proc.System
}

func newFleet(procs, perService int) *fleet {
	f := &fleet{info: make([]proc.Info, procs+2), mem: make([]proc.Mem, procs+2),
		sys: proc.System{Total: 24 << 30, Available: 20 << 30, Free: 18 << 30}}
	add := func(in proc.Info, anon uint64) {
		f.pids = append(f.pids, in.PID)
		in.StartTicks = uint64(in.PID)
		in.Cgroup, in.Memcg = "/", "/"
		f.info[in.PID] = in
		f.mem[in.PID] = proc.Mem{RSSAnon: anon, RSSFile: 12 << 20, RSSShmem: 1 << 20}
	}
	add(proc.Info{PID: 1, SID: 1, Comm: "systemd", Cmdline: []string{"/sbin/init"}, Exe: "/usr/lib/systemd/systemd"}, 4<<20)
	add(proc.Info{PID: 2, Comm: "kthreadd", Kernel: true}, 0)
	master := 0
	for pid := 3; pid <= procs; pid++ {
		i := pid - 3
		if i%perService == 0 {
			master = pid
			name := fmt.Sprintf("svc-%d", i/perService)
			add(proc.Info{PID: pid, PPID: 1, SID: pid, Comm: name, Cmdline: []string{"/usr/bin/python3", "/usr/bin/" + name, "--config-file", "/etc/" + name + ".conf"}, Exe: "/usr/bin/python3.11"}, 80<<20)
			continue
		}
		m := f.info[master]
		add(proc.Info{PID: pid, PPID: master, SID: master, Comm: m.Comm, Cmdline: m.Cmdline, Exe: m.Exe}, 40<<20)
	}
	return f
}

func (f *fleet) Pids() ([]int, error) { return f.pids, nil }
func (f *fleet) Info(pid int) (proc.Info, error) {
	if pid <= 0 || pid >= len(f.info) || f.info[pid].PID == 0 {
		return proc.Info{}, errors.New("no such process")
	}
	return f.info[pid], nil
}
func (f *fleet) Mem(pid int) (proc.Mem, error) { return f.mem[pid], nil }
func (f *fleet) Smaps(pid int) (proc.Smaps, error) {
	m := f.mem[pid]
	return proc.Smaps{RSS: m.RSS(), PSS: m.RSSAnon + 2<<20, USS: m.RSSAnon}, nil
}
func (f *fleet) System() (proc.System, error) { return f.sys, nil }

var fixedCounters = tracer.Counters{MmapCalls: 1000, MmapAnonBytes: 64 << 20, MunmapCalls: 900, MunmapBytes: 48 << 20,
	BrkCalls: 50, BrkGrowBytes: 8 << 20, BrkShrinkBytes: 2 << 20, BrkCur: 0x5600_0000_0000}

// counters is a fake CounterSource: the same counters for every process,
// read one process at a time (the path without the task iterator).
type counters struct{}

func (counters) Counters(pid int) (tracer.Counters, error) { return fixedCounters, nil }
func (counters) Stats() (tracer.Stats, error) {
	return tracer.Stats{Received: map[tracer.EventType]uint64{tracer.EventMmap: 10, tracer.EventFork: 20},
		LostRing: map[tracer.EventType]uint64{}, LostMap: map[tracer.EventType]uint64{}}, nil
}

// sampled is a fake CounterSource that is also an aggregate.Sampler, as
// *tracer.Tracer is where the kernel has the task iterator: every process in
// one list, decoded into the caller's slice as the tracer does.
type sampled struct {
	counters
	f *fleet
}

func (s sampled) AppendProcesses(out []tracer.ProcSample) ([]tracer.ProcSample, error) {
	for _, pid := range s.f.pids {
		if s.f.info[pid].Kernel {
			continue // the iterator skips kernel threads
		}
		m := s.f.mem[pid]
		out = append(out, tracer.ProcSample{PID: pid, Start: uint64(pid), Anon: m.RSSAnon, File: m.RSSFile, Shmem: m.RSSShmem,
			Swap: m.Swap, Counters: fixedCounters, HasCounters: true})
	}
	return out, nil
}

// recordConfig is the aggregator configuration of `oomtrace record` with
// its default flags (1 s interval, PSS every 10 s, no per-process list);
// `oomtrace top` is the same with the list (WithProcesses).
func recordConfig() aggregate.Config {
	return aggregate.Config{Interval: time.Second, PSSInterval: 10 * time.Second, LeakWindow: 5 * time.Minute}
}

// steadyTicks fills every service's 15-minute series, as in a recorder that
// has run for a quarter of an hour: the growth fits then cost what they cost
// for good. With -short (run.sh --smoke) the warm-up is cut to 10 ticks.
func steadyTicks() int {
	if testing.Short() {
		return 10
	}
	return 902
}

// warm returns an aggregator configured as by cfg that has ticked n times
// over f (through the task-iterator path), its last snapshot, and the time
// of its next tick.
func warm(f *fleet, n int, cfg aggregate.Config) (*aggregate.Aggregator, aggregate.Snapshot, time.Time) {
	a := aggregate.New(cfg, f, sampled{f: f})
	now := t0
	var snap aggregate.Snapshot
	for range n {
		snap, _ = a.Tick(now)
		now = now.Add(time.Second)
	}
	return a, snap, now
}

var sizes = []struct {
	procs, perService int
}{{1000, 10}, {10000, 10}}

// One sampling tick of the recorder's aggregator in steady state (every
// process known, every service's 15-minute series full), /proc and BPF
// faked: the task iterator's list turned into the process table, PSS within
// budget, per-service sums and growth fits. "top" adds the per-process
// drill-down list that `oomtrace top` asks for; "perpid" is the path for
// kernels without the task iterator (status and counters per process).
func BenchmarkAggregateTick(b *testing.B) {
	tick := func(b *testing.B, a *aggregate.Aggregator, now time.Time) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.Tick(now); err != nil {
				b.Fatal(err)
			}
			now = now.Add(time.Second)
		}
	}
	for _, sz := range sizes {
		b.Run(fmt.Sprintf("procs=%d", sz.procs), func(b *testing.B) {
			a, _, now := warm(newFleet(sz.procs, sz.perService), steadyTicks(), recordConfig())
			tick(b, a, now)
		})
	}
	b.Run("procs=1000/top", func(b *testing.B) {
		cfg := recordConfig()
		cfg.WithProcesses = true
		a, _, now := warm(newFleet(1000, 10), steadyTicks(), cfg)
		tick(b, a, now)
	})
	b.Run("procs=1000/perpid", func(b *testing.B) {
		f := newFleet(1000, 10)
		a := aggregate.New(recordConfig(), f, counters{})
		now := t0
		for range steadyTicks() {
			a.Tick(now)
			now = now.Add(time.Second)
		}
		tick(b, a, now)
	})
}

// The first tick over a fleet: every process read and its service resolved.
func BenchmarkAggregateFirstTick(b *testing.B) {
	for _, sz := range sizes {
		b.Run(fmt.Sprintf("procs=%d", sz.procs), func(b *testing.B) {
			f := newFleet(sz.procs, sz.perService)
			b.ReportAllocs()
			for b.Loop() {
				a := aggregate.New(recordConfig(), f, sampled{f: f})
				if _, err := a.Tick(t0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// History.Add of one snapshot (the recorder calls it every tick), with the
// services of 1,000 and 10,000 processes (100 and 1,000 services).
func BenchmarkHistoryAdd(b *testing.B) {
	for _, sz := range sizes {
		b.Run(fmt.Sprintf("procs=%d", sz.procs), func(b *testing.B) {
			_, snap, now := warm(newFleet(sz.procs, sz.perService), 2, recordConfig())
			h := history.New(history.Config{})
			for i := range 700 { // past the fine window: rings are full
				snap.Time = now.Add(time.Duration(i) * time.Second)
				h.Add(snap)
			}
			now = snap.Time
			b.ReportAllocs()
			for b.Loop() {
				now = now.Add(time.Second)
				snap.Time = now
				h.Add(snap)
			}
		})
	}
}

// top --json: one snapshot line, processes included.
func BenchmarkTopWriteJSON(b *testing.B) {
	cfg := recordConfig()
	cfg.WithProcesses = true
	for _, sz := range sizes {
		b.Run(fmt.Sprintf("procs=%d", sz.procs), func(b *testing.B) {
			_, snap, _ := warm(newFleet(sz.procs, sz.perService), 2, cfg)
			var buf bytes.Buffer
			if err := top.WriteJSON(&buf, snap, top.SortRSS); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(buf.Len()))
			b.ReportAllocs()
			for b.Loop() {
				if err := top.WriteJSON(io.Discard, snap, top.SortRSS); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// tenMinuteDump builds an OOM dump the way the recorder does: 10 minutes
// of 1 s samples of about 100 services, 4,800 events (the recorder keeps up
// to 5,000) and one kill.
func tenMinuteDump(tb testing.TB) *dump.Dump {
	f := newFleet(300, 3)
	a := aggregate.New(recordConfig(), f, sampled{f: f})
	h := history.New(history.Config{})
	now := t0
	for i := range 600 {
		// One service leaks 1 MiB/s; the others wobble.
		for pid := 3; pid < 6; pid++ {
			f.mem[pid].RSSAnon += 1 << 20 / 3
		}
		f.mem[20+i%280].RSSAnon += 64 << 10
		snap, err := a.Tick(now)
		if err != nil {
			tb.Fatal(err)
		}
		h.Add(snap)
		for j := range 8 { // 4,800 allocation and process events
			pid := uint32(3 + (i*8+j)%298)
			ev := &tracer.Event{Type: tracer.EventMmap, Time: now.Add(time.Duration(j) * 100 * time.Millisecond),
				PID: pid, TID: pid, Comm: f.info[pid].Comm, Start: uint64(pid) * 1e7,
				Alloc: tracer.Alloc{Addr: 0x7f00_0000_0000 + uint64(i)<<21, Len: 2 << 20, Delta: 2 << 20, Flags: 0x22, Prot: 3}}
			switch j {
			case 5:
				ev.Type, ev.Alloc = tracer.EventFork, tracer.Alloc{}
				ev.Proc = tracer.Proc{PPID: 1, ParentStart: 1}
			case 6:
				ev.Type, ev.Alloc = tracer.EventExec, tracer.Alloc{}
				ev.Proc = tracer.Proc{PPID: 1, Filename: "/usr/bin/python3"}
			case 7:
				ev.Type, ev.Alloc = tracer.EventExit, tracer.Alloc{}
				ev.Proc = tracer.Proc{PPID: 1, ExitCode: 0}
			}
			h.AddEvent(ev)
		}
		now = now.Add(time.Second)
	}
	at := now.Add(-time.Second)
	victim := dump.Victim{Task: dump.Task{PID: 3, Comm: "svc-0", Service: "svc-0"}, Cgroup: "/system.slice/svc-0.service",
		AnonRSSBytes: 1 << 30, FileRSSBytes: 12 << 20, TotalVMBytes: 2 << 30, PgTablesBytes: 4 << 20, UID: 1000}
	kill := dump.Kill{Time: at, Victim: victim, Trigger: victim.Task, Constraint: "CONSTRAINT_MEMCG",
		OOMMemcg: victim.Cgroup, TaskMemcg: victim.Cgroup, MemcgOOMKills: 1, KernelReport: true, Source: "tp_btf"}
	start := at.Add(-10 * time.Minute)
	last := h.Last()
	d := &dump.Dump{Version: dump.Version, Kind: dump.KindOOM, Time: at, Host: dump.Host{Hostname: "bench", Kernel: "6.18", Oomtrace: "bench"},
		Window: dump.Window{Start: start, End: at}, Kills: []dump.Kill{kill}, Victim: &kill.Victim, Trigger: &kill.Trigger,
		Constraint: kill.Constraint, OOMMemcg: kill.OOMMemcg, TaskMemcg: kill.TaskMemcg,
		System: last.System, Services: h.Services(start, at, at), SystemSamples: h.System(start, at), LostEvents: map[string]uint64{}}
	evs := h.Events(start, at)
	if len(evs) > 5000 {
		evs = evs[len(evs)-5000:]
	}
	for i := range evs {
		d.Events = append(d.Events, schema.FromEvent(&evs[i]))
	}
	for i := range d.Services {
		d.Services[i].Victim = d.Services[i].Name == victim.Service
	}
	return d
}

// The HTML page of a 10-minute dump (inline SVG charts), as written after a kill.
func BenchmarkDumpWriteHTML(b *testing.B) {
	d := tenMinuteDump(b)
	var buf bytes.Buffer
	if err := dump.WriteHTML(&buf, d); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if err := dump.WriteHTML(io.Discard, d); err != nil {
			b.Fatal(err)
		}
	}
}

// The text rendering of the same dump.
func BenchmarkDumpWriteText(b *testing.B) {
	d := tenMinuteDump(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := dump.WriteText(io.Discard, d); err != nil {
			b.Fatal(err)
		}
	}
}

// Per event of `oomtrace events --json`: convert and encode one mmap event.
func BenchmarkEventJSON(b *testing.B) {
	ev := &tracer.Event{Type: tracer.EventMmap, Time: t0, PID: 4242, TID: 4243, Comm: "workload", Start: 123456789,
		Alloc: tracer.Alloc{Addr: 0x7f12_3456_0000, Len: 65536, Delta: 65536, Flags: 0x22, Prot: 3}}
	enc := json.NewEncoder(io.Discard)
	b.ReportAllocs()
	for b.Loop() {
		if err := enc.Encode(schema.FromEvent(ev)); err != nil {
			b.Fatal(err)
		}
	}
}

// The /proc reads behind each tick, on this test process: Mem
// (/proc/PID/status) for every process every tick, Smaps (smaps_rollup) for
// up to 256 stale processes a tick, Info (stat, comm, cmdline, exe, cgroup)
// for each new process, and Pids (a readdir of /proc) once a tick.
func BenchmarkProcRead(b *testing.B) {
	r, err := proc.NewReader("/proc")
	if err != nil {
		b.Fatal(err) // every Linux kernel has /proc
	}
	pid := os.Getpid()
	b.Run("Mem", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.Mem(pid); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Smaps", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.Smaps(pid); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Info", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.Info(pid); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Pids", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.Pids(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// The tracer's reads behind each tick, on the live machine: Processes (one
// pass of the task iterator over every process, decoded; also reported per
// process), Counters of one process (pidfd_open, a task-storage lookup,
// close: the path without the iterator, per process), and Stats (the
// per-CPU lost counters, once a tick). Needs root: it loads and attaches
// oomtrace's programs.
func BenchmarkTracer(b *testing.B) {
	testutil.NeedRoot(b)
	// The tracer loads on every kernel CI runs: a load error fails there.
	tr, err := tracer.New(tracer.Config{})
	if err != nil {
		testutil.SkipOrFail(b, "load: %v", err)
	}
	defer tr.Close()
	if err := tr.Start(b.Context()); err != nil {
		testutil.SkipOrFail(b, "start: %v", err)
	}
	go func() {
		for range tr.Events() {
		}
	}()
	// One traced call gives this process its counters.
	mem, err := syscall.Mmap(-1, 0, 1<<16, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		b.Fatal(err)
	}
	syscall.Munmap(mem)
	pid := os.Getpid()
	if _, err := tr.Counters(pid); err != nil {
		b.Fatalf("counters of self: %v", err)
	}
	b.Run("Counters", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := tr.Counters(pid); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Stats", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := tr.Stats(); err != nil {
				b.Fatal(err)
			}
		}
	})
	if _, err := tr.Processes(); err != nil {
		b.Logf("no task iterator: %v", err)
		return
	}
	b.Run("Processes", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			ps, err := tr.Processes()
			if err != nil {
				b.Fatal(err)
			}
			n = len(ps)
		}
		b.ReportMetric(float64(n), "procs")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(max(n, 1)), "ns/proc")
	})
}

// The fixtures must be what the benchmarks claim; this runs with go test.
func TestFixtures(t *testing.T) {
	for _, sz := range sizes {
		cfg := recordConfig()
		cfg.WithProcesses = true
		_, snap, _ := warm(newFleet(sz.procs, sz.perService), 2, cfg)
		if snap.System.Procs != sz.procs-1 {
			t.Errorf("%d processes in the snapshot, want %d (the task iterator lists no kernel thread)", snap.System.Procs, sz.procs-1)
		}
		procs := 0
		for _, s := range snap.Services {
			procs += len(s.Processes)
		}
		if want := sz.procs / sz.perService; len(snap.Services) < want || len(snap.Services) > want+1 || procs != sz.procs-1 {
			t.Errorf("%d services listing %d processes, want about %d services and %d processes (all but the kernel thread)", len(snap.Services), procs, want, sz.procs-1)
		}
	}
	d := tenMinuteDump(t)
	if len(d.Services) != 101 || len(d.Services[0].Samples) < 590 || len(d.Events) < 4700 {
		t.Errorf("dump: %d services, %d samples, %d events", len(d.Services), len(d.Services[0].Samples), len(d.Events))
	}
	if d.Services[0].Name != "svc-0" || !d.Services[0].Victim {
		t.Errorf("most grown service %q (victim %v), want svc-0", d.Services[0].Name, d.Services[0].Victim)
	}
}
