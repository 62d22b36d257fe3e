package aggregate

import (
	"errors"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/proc"
	"github.com/oomtrace/oomtrace/tracer"
)

// fakeProcs is a process table the test edits between ticks.
type fakeProcs struct {
	info       map[int]proc.Info
	mem        map[int]proc.Mem
	pss        map[int]uint64
	smapsReads int
	unsettled  map[int]int // reads left that do not match RSS
	sys        proc.System
}

func newFake() *fakeProcs {
	return &fakeProcs{info: map[int]proc.Info{}, mem: map[int]proc.Mem{}, pss: map[int]uint64{},
		sys: proc.System{Total: 8 << 30, Available: 6 << 30}}
}

func (f *fakeProcs) add(pid, ppid, sid int, comm string, args []string, anon uint64) {
	f.info[pid] = proc.Info{PID: pid, PPID: ppid, SID: sid, Comm: comm, Cmdline: args, StartTicks: uint64(pid)}
	f.mem[pid] = proc.Mem{RSSAnon: anon, RSSFile: 10 << 20}
	f.pss[pid] = anon + 2<<20 // file pages shared five ways
}

func (f *fakeProcs) Pids() ([]int, error) {
	var out []int
	for pid := range f.info {
		out = append(out, pid)
	}
	sort.Ints(out) // as /proc lists them: the aggregator's cursor follows the order
	return out, nil
}
func (f *fakeProcs) Info(pid int) (proc.Info, error) {
	in, ok := f.info[pid]
	if !ok {
		return in, errors.New("gone")
	}
	return in, nil
}
func (f *fakeProcs) Mem(pid int) (proc.Mem, error) { return f.mem[pid], nil }
func (f *fakeProcs) Smaps(pid int) (proc.Smaps, error) {
	f.smapsReads++
	if f.unsettled[pid] > 0 {
		f.unsettled[pid]--
		return proc.Smaps{PSS: f.pss[pid] - 15<<20, RSS: f.mem[pid].RSS() - 15<<20}, proc.ErrUnsettled
	}
	return proc.Smaps{PSS: f.pss[pid], USS: f.pss[pid] - 2<<20, RSS: f.mem[pid].RSS()}, nil
}
func (f *fakeProcs) System() (proc.System, error) { return f.sys, nil }

type fakeCounters map[int]tracer.Counters

func (f fakeCounters) Counters(pid int) (tracer.Counters, error) { return f[pid], nil }
func (f fakeCounters) Stats() (tracer.Stats, error) {
	return tracer.Stats{Received: map[tracer.EventType]uint64{tracer.EventMmap: 10},
		LostRing: map[tracer.EventType]uint64{tracer.EventMmap: 3}, LostMap: map[tracer.EventType]uint64{}}, nil
}

func find(t *testing.T, snap Snapshot, name string) Service {
	t.Helper()
	for _, s := range snap.Services {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no service %q in %+v", name, names(snap))
	return Service{}
}

func names(snap Snapshot) []string {
	var out []string
	for _, s := range snap.Services {
		out = append(out, s.Name)
	}
	return out
}

// A nova-api master with 8 workers under init, plus a growing service started
// from a shell: grouping, sums, growth ranking, the leak flag and OOM kills.
func TestServicesGroupingGrowthAndOOM(t *testing.T) {
	f := newFake()
	f.add(1, 0, 1, "systemd", []string{"/sbin/init"}, 1<<20)
	f.add(100, 1, 100, "nova-api", []string{"/usr/bin/python3", "/usr/bin/nova-api"}, 50<<20)
	for w := 101; w <= 108; w++ {
		f.add(w, 100, 100, "nova-api", []string{"/usr/bin/python3", "/usr/bin/nova-api"}, 30<<20)
	}
	f.add(200, 1, 200, "bash", []string{"-bash"}, 4<<20)
	f.add(201, 200, 200, "leaky", []string{"./leaky"}, 10<<20)
	ctr := fakeCounters{201: {MmapAnonBytes: 8 << 20, MunmapBytes: 2 << 20, BrkGrowBytes: 5 << 20, BrkShrinkBytes: 1 << 20, MmapCalls: 4}}
	a := New(Config{Interval: time.Second, LeakWindow: 20 * time.Second, PSSInterval: -1}, f, ctr)

	t0 := time.Unix(1_700_000_000, 0)
	var snap Snapshot
	for i := 0; i < 30; i++ {
		m := f.mem[201]
		m.RSSAnon += 1 << 20 // steady growth: 1 MiB/s
		f.mem[201] = m
		f.pss[201] += 1 << 20
		var err error
		if snap, err = a.Tick(t0.Add(time.Duration(i) * time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	nova := find(t, snap, "nova-api")
	if nova.Procs != 9 || nova.Kind != "tree" {
		t.Errorf("nova-api: %d procs kind %s, want 9 tree", nova.Procs, nova.Kind)
	}
	if want := uint64(50<<20 + 8*30<<20 + 9*10<<20); nova.RSS != want {
		t.Errorf("nova-api rss %d, want %d", nova.RSS, want)
	}
	if want := uint64(50<<20 + 8*30<<20 + 9*2<<20); nova.PSS != want {
		t.Errorf("nova-api pss %d, want %d (file pages counted once)", nova.PSS, want)
	}
	leaky := find(t, snap, "leaky")
	if leaky.Procs != 1 || !leaky.LeakSuspect || leaky.Growth < 0.99*(1<<20) || leaky.Growth > 1.01*(1<<20) {
		t.Errorf("leaky: %+v, want 1 proc growing 1 MiB/s, flagged", leaky)
	}
	if leaky.Mmap != 6<<20 || leaky.Brk != 4<<20 {
		t.Errorf("leaky counters mmap=%d brk=%d, want 6 MiB and 4 MiB", leaky.Mmap, leaky.Brk)
	}
	if nova.LeakSuspect || nova.Growth != 0 {
		t.Errorf("flat nova-api flagged or growing: %+v", nova)
	}
	if find(t, snap, "bash").Procs != 1 {
		t.Error("the shell joined its child's service")
	}
	if snap.System.LostEvents != 3 || snap.System.Lost["mmap"] != 3 {
		t.Errorf("lost events %d %v, want 3 mmap", snap.System.LostEvents, snap.System.Lost)
	}
	var pss uint64
	for _, s := range snap.Services {
		pss += s.PSS
	}
	if snap.System.UnexplainedBytes != int64(2<<30)-int64(pss) {
		t.Errorf("unexplained %d, want used - sum(pss) = %d", snap.System.UnexplainedBytes, int64(2<<30)-int64(pss))
	}

	// The leaky process is OOM-killed: the kill lands on its service, which
	// stays listed after the process is gone.
	a.HandleEvent(&tracer.Event{Type: tracer.EventOOMKill, Time: t0.Add(31 * time.Second),
		OOM: &tracer.OOMKill{Victim: tracer.Task{PID: 201, Comm: "leaky"}, Trigger: tracer.Task{PID: 201}}})
	a.HandleEvent(&tracer.Event{Type: tracer.EventExit, PID: 201})
	delete(f.info, 201)
	snap, _ = a.Tick(t0.Add(32 * time.Second))
	leaky = find(t, snap, "leaky")
	if leaky.OOMKills != 1 || leaky.Procs != 0 || leaky.LastOOM == nil || snap.System.OOMKills != 1 {
		t.Errorf("after the kill: %+v, system kills %d", leaky, snap.System.OOMKills)
	}
}

// A kill of a process never seen in a tick is still attributed from /proc,
// and one already gone falls back to its comm.
func TestOOMAttributionOfUnseen(t *testing.T) {
	f := newFake()
	f.add(1, 0, 1, "systemd", nil, 1<<20)
	a := New(Config{}, f, nil)
	if k := a.ServiceOf(300, "ghost"); k.Name != "ghost" || k.Kind != "comm" {
		t.Errorf("gone process: %+v", k)
	}
	f.add(400, 1, 400, "gunicorn", []string{"gunicorn"}, 1<<20)
	f.add(401, 400, 400, "gunicorn", []string{"gunicorn"}, 1<<20)
	if k := a.ServiceOf(401, "gunicorn"); k.Name != "gunicorn" || k.Root != 400 {
		t.Errorf("worker of unseen master: %+v", k)
	}
}

// smaps_rollup is costly: with a budget, the oldest readings are refreshed
// first, and ages say how fresh each sum is. A process never read is read
// in the tick that sums it, within the budget; the rest wait.
func TestPSSBudgetAndAge(t *testing.T) {
	f := newFake()
	for pid := 10; pid < 30; pid++ {
		f.add(pid, 1, pid, "w", nil, 1<<20)
	}
	a := New(Config{PSSBudget: 5, PSSInterval: 10 * time.Second, WithProcesses: true}, f, nil)
	t0 := time.Unix(0, 0)
	snap, _ := a.Tick(t0)
	if f.smapsReads != 5 {
		t.Fatalf("%d smaps reads in the first tick, want the budget 5", f.smapsReads)
	}
	if s := find(t, snap, "w"); s.PSSAgeS != -1 || s.PSS != 5*(3<<20)+15*(11<<20) {
		t.Errorf("pss %d age %v with unread members, want 5 read and 15 estimated from RSS, age -1", s.PSS, s.PSSAgeS)
	}
	if u := snap.System; u.PSSUnreadProcs != 15 || u.PSSUnreadBytes != 15*(11<<20) {
		t.Errorf("%d processes and %d bytes stand in for PSS, want 15 and %d", u.PSSUnreadProcs, u.PSSUnreadBytes, 15*(11<<20))
	}
	// USS comes from the same reading: RSS stands in for it too, under the same age.
	if s := find(t, snap, "w"); s.USS != 5*(1<<20)+15*(11<<20) {
		t.Errorf("uss %d with unread members, want 5 read and 15 estimated from RSS", s.USS)
	}
	read := 0
	for _, p := range find(t, snap, "w").Processes {
		switch {
		case p.PSSAgeS < 0 && (p.USS != p.RSS || p.PSS != p.RSS):
			t.Errorf("pid %d not read: pss %d uss %d, want its rss %d for both", p.PID, p.PSS, p.USS, p.RSS)
		case p.PSSAgeS >= 0:
			read++
			if p.USS != 1<<20 || p.PSS != 3<<20 {
				t.Errorf("pid %d read: pss %d uss %d", p.PID, p.PSS, p.USS)
			}
		}
	}
	if read != 5 {
		t.Errorf("%d processes with a reading, want 5", read)
	}
	for i := 1; i <= 3; i++ {
		snap, _ = a.Tick(t0.Add(time.Duration(i) * time.Second))
	}
	if f.smapsReads != 20 {
		t.Errorf("%d reads after 4 ticks, want all 20 once", f.smapsReads)
	}
	if s := find(t, snap, "w"); s.PSSAgeS != 3 || s.PSS != 20*(3<<20) {
		t.Errorf("pss %d age %v, want %d and 3 s (oldest reading at t0)", s.PSS, s.PSSAgeS, 20*(3<<20))
	}
	if u := snap.System; u.PSSUnreadProcs != 0 || u.PSSUnreadBytes != 0 {
		t.Errorf("%d processes (%d bytes) stand in for PSS once all are read", u.PSSUnreadProcs, u.PSSUnreadBytes)
	}
	if s := find(t, snap, "w"); s.USS != 20*(1<<20) {
		t.Errorf("uss %d, want %d", s.USS, 20*(1<<20))
	}
	a.Tick(t0.Add(4 * time.Second))
	if f.smapsReads != 20 {
		t.Errorf("re-read before PSSInterval: %d reads", f.smapsReads)
	}
}

// A smaps_rollup read that skipped a mapping (its Rss does not match the
// counters') is not taken: the last figure stays, with its age, for two
// ticks; the third such read in a row is taken as the best there is.
func TestUnsettledSmaps(t *testing.T) {
	f := newFake()
	f.add(10, 1, 10, "once", nil, 40<<20)
	f.add(20, 1, 20, "always", nil, 40<<20)
	f.unsettled = map[int]int{10: 1, 20: 10}
	a := New(Config{PSSBudget: 10, PSSInterval: -1, WithProcesses: true}, f, nil)
	t0 := time.Unix(0, 0)
	a.Tick(t0)
	for i, want := range []struct{ once, always float64 }{{-1, -1}, {0, -1}, {0, 0}} {
		snap, _ := a.Tick(t0.Add(time.Duration(i+1) * time.Second))
		once, always := find(t, snap, "once"), find(t, snap, "always")
		if once.PSSAgeS != want.once || always.PSSAgeS != want.always {
			t.Errorf("tick %d: pss ages %v and %v, want %v and %v", i+1, once.PSSAgeS, always.PSSAgeS, want.once, want.always)
		}
		if once.PSSAgeS == 0 && once.PSS != 42<<20 {
			t.Errorf("tick %d: pss %d, want the settled read %d", i+1, once.PSS, 42<<20)
		}
		if always.PSSAgeS == 0 && always.PSS != 27<<20 {
			t.Errorf("tick %d: pss %d, want the third unsettled read %d taken", i+1, always.PSS, 27<<20)
		}
	}
}

// A reused pid with a new start time starts from zero.
func TestExecAndPIDReuse(t *testing.T) {
	f := newFake()
	f.add(50, 1, 50, "old", []string{"old"}, 1<<20)
	a := New(Config{}, f, nil)
	t0 := time.Unix(0, 0)
	a.Tick(t0)
	a.HandleEvent(&tracer.Event{Type: tracer.EventExit, PID: 50})
	f.add(50, 1, 50, "new", []string{"new"}, 2<<20)
	info := f.info[50]
	info.StartTicks = 999
	f.info[50] = info
	snap, _ := a.Tick(t0.Add(time.Second))
	if s := find(t, snap, "new"); s.Procs != 1 || s.RSS != 12<<20 {
		t.Errorf("new process: %+v", s)
	}
	if old := find(t, snap, "old"); old.Procs != 0 {
		t.Errorf("old service still has %d procs", old.Procs)
	}
}

// A domain about to run out names a service even before any has a growth
// figure: the largest in it (record_test saw a warning naming none).
func TestFastestFallsBackToLargest(t *testing.T) {
	svcs := []Service{{Name: "a", Memory: Memory{RSS: 5 << 20}}, {Name: "b", Memory: Memory{RSS: 9 << 20}}, {Name: "c", Memory: Memory{RSS: 50 << 20}}}
	if got := fastest(svcs, []string{"a", "b"}); got != "b" {
		t.Errorf("no growth: got %q, want the largest in the domain, b", got)
	}
	svcs[0].Growth = 1
	if got := fastest(svcs, []string{"a", "b"}); got != "a" {
		t.Errorf("a grows: got %q", got)
	}
	if got := fastest(svcs, nil); got != "" {
		t.Errorf("empty domain: got %q", got)
	}
}

// oldest keeps exactly the k processes whose smaps_rollup was read longest ago.
func TestOldestKeepsTheOldest(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	t0 := time.Unix(1_700_000_000, 0)
	var all, h []*procState
	for i := 0; i < 2000; i++ {
		p := &procState{smapsAt: t0.Add(time.Duration(rng.IntN(100000)) * time.Millisecond)}
		if i%7 == 0 {
			p.smapsAt = time.Time{} // never read: oldest of all
		}
		all = append(all, p)
		h = oldest(h, p, 64)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].smapsAt.Before(all[j].smapsAt) })
	sort.Slice(h, func(i, j int) bool { return h[i].smapsAt.Before(h[j].smapsAt) })
	if len(h) != 64 {
		t.Fatalf("kept %d, want 64", len(h))
	}
	for i := range h {
		if !h[i].smapsAt.Equal(all[i].smapsAt) {
			t.Fatalf("kept[%d] read at %v, the %d-th oldest was read at %v", i, h[i].smapsAt, i, all[i].smapsAt)
		}
	}
}

// The OOM ring is read apart from the lifecycle ring: a kill may arrive after
// the victim's exit and a tick that dropped it (seen on 6.1 under qemu). The
// victim keeps its service and command line, not the zombie's empty one.
func TestLateOOMEventAfterExit(t *testing.T) {
	f := newFake()
	f.add(1, 0, 1, "init", nil, 1<<20)
	f.add(70, 1, 70, "svc", []string{"/opt/svc", "--port", "80"}, 8<<20)
	f.add(71, 70, 70, "svc-worker", []string{"/opt/svc", "worker"}, 8<<20)
	a := New(Config{}, f, nil)
	t0 := time.Unix(0, 0)
	a.Tick(t0)
	a.HandleEvent(&tracer.Event{Type: tracer.EventExit, PID: 71})
	zombie := f.info[71]
	zombie.Cmdline, zombie.PPID = nil, 1
	f.info[71] = zombie
	a.Tick(t0.Add(time.Second)) // still listed: a zombie
	delete(f.info, 71)
	a.Tick(t0.Add(2 * time.Second))

	if k := a.ServiceOf(71, "svc-worker"); k.Name != "svc" {
		t.Errorf("late kill attributed to %+v, want the master's service svc", k)
	}
	if c := a.CmdlineOf(71); c != "/opt/svc worker" {
		t.Errorf("late kill cmdline %q", c)
	}
	a.Tick(t0.Add(2*time.Second + goneFor + time.Second))
	if c := a.CmdlineOf(71); c != "" {
		t.Errorf("cmdline %q kept past goneFor", c)
	}
}

// A growth figure whose window is less than 80% covered says so, and so
// does a time to OOM from such a figure: after 3 s every window holds the
// same 3 s, after 50 s the minute is covered, after 4 min the 5 minutes,
// after 12 min the quarter hour.
func TestGrowthCoverage(t *testing.T) {
	f := newFake()
	f.add(1, 0, 1, "init", nil, 1<<20)
	f.add(10, 1, 10, "grow", []string{"grow"}, 10<<20)
	a := New(Config{Interval: time.Second}, f, nil)
	t0 := time.Unix(1_700_000_000, 0)
	type cov struct{ m1, m5, m15, tto bool }
	want := map[int]cov{2: {}, 47: {}, 48: {m1: true, tto: true}, 239: {m1: true, tto: true},
		240: {true, true, false, true}, 719: {true, true, false, true}, 720: {true, true, true, true}}
	for i := 0; i <= 720; i++ {
		m := f.mem[10]
		m.RSSAnon += 1 << 20
		f.mem[10] = m
		f.sys.Available -= 1 << 20
		snap, err := a.Tick(t0.Add(time.Duration(i) * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		w, ok := want[i]
		if !ok {
			continue
		}
		s := find(t, snap, "grow")
		got := cov{s.Growth1mCovered, s.Growth5mCovered, s.Growth15mCovered, snap.System.TimeToOOM != nil && snap.System.TimeToOOM.Covered}
		if got != w || s.GrowthSpanS != float64(i) || snap.System.GrowthSpanS != float64(min(i, 60)) || snap.System.GrowthCovered != w.m1 {
			t.Errorf("after %d s: covered %+v span %v, system span %v covered %v; want %+v, span %d",
				i, got, s.GrowthSpanS, snap.System.GrowthSpanS, snap.System.GrowthCovered, w, i)
		}
		// The system's figure is over the last minute. The figures themselves
		// are given either way: 1 MiB/s.
		for _, g := range []float64{s.Growth, s.Growth5m, s.Growth15m} {
			if g < 0.99*(1<<20) || g > 1.01*(1<<20) {
				t.Errorf("after %d s: growth %.0f, want 1 MiB/s", i, g)
			}
		}
		if s.TimeToOOMS == nil || s.TimeToOOMCovered != w.tto {
			t.Errorf("after %d s: time to OOM %v covered %v, want one covered %v", i, s.TimeToOOMS, s.TimeToOOMCovered, w.tto)
		}
	}
}
