package aggregate

import (
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/proc"
)

// costlyProcs charges each smaps_rollup read to the aggregator's CPU clock,
// as a read of a large process costs: about 2 ms per 100 MiB.
type costlyProcs struct {
	*fakeProcs
	cpu  *time.Duration
	cost time.Duration
}

func (c costlyProcs) Smaps(pid int) (proc.Smaps, error) {
	*c.cpu += c.cost
	return c.fakeProcs.Smaps(pid)
}

// A hundred 100 MiB processes at 2 ms a read: the first pass reads them all
// within five ticks of start, spending at most its slice (6% of the
// interval) and one read a tick; then re-reads get the steady 1 ms again,
// and processes that start later get the first-pass slice.
func TestFirstPassBudget(t *testing.T) {
	f := newFake()
	f.sys = proc.System{Total: 64 << 30, Available: 48 << 30}
	for pid := 100; pid < 200; pid++ {
		f.add(pid, 1, pid, "worker", nil, 90<<20)
	}
	var cpu time.Duration
	const cost = 2 * time.Millisecond
	a := New(Config{Interval: time.Second, PSSInterval: 10 * time.Second}, costlyProcs{f, &cpu, cost}, nil)
	a.cpu = func() time.Duration { return cpu }
	t0 := time.Unix(1_700_000_000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	slice := time.Second / firstShare

	tick := func(s int) (Snapshot, int, time.Duration) {
		t.Helper()
		reads, spent := f.smapsReads, cpu
		snap, err := a.Tick(at(s))
		if err != nil {
			t.Fatal(err)
		}
		return snap, f.smapsReads - reads, cpu - spent
	}
	covered := -1
	for s := 0; s < 5; s++ {
		snap, _, spent := tick(s)
		if spent > slice+cost {
			t.Errorf("tick %d: %v of reads, want at most the first-pass slice %v and one read", s, spent, slice)
		}
		if snap.System.PSSUnreadProcs == 0 {
			covered = s
			if w := find(t, snap, "worker"); w.PSSAgeS < 0 || w.PSS != 100*(92<<20) {
				t.Errorf("tick %d: worker pss %d age %v once all are read, want %d", s, w.PSS, w.PSSAgeS, 100*(92<<20))
			}
			break
		}
	}
	if covered < 0 {
		t.Fatalf("%d of 100 processes read after 5 ticks, want all within 5 s of start", f.smapsReads)
	}

	// Every process's RSS moves: all are due again at t0+15s and read from
	// the next tick on, within the steady slice: one 2 ms read a tick.
	for s := covered + 1; s < 15; s++ {
		tick(s)
	}
	for pid := 100; pid < 200; pid++ {
		m := f.mem[pid]
		m.RSSAnon += 10 << 20
		f.mem[pid] = m
	}
	tick(15)
	for s := 16; s < 19; s++ {
		if _, reads, _ := tick(s); reads != 1 {
			t.Errorf("tick %d: %d re-reads at 2 ms each, want 1 (the steady 1 ms slice)", s, reads)
		}
	}

	// A service started later: 50 more workers, read within two ticks of
	// the one that first lists them (a process younger than a tick is not read).
	for pid := 300; pid < 350; pid++ {
		f.add(pid, 1, pid, "late", nil, 90<<20)
	}
	tick(19)
	var snap Snapshot
	for s := 20; s < 22; s++ {
		snap, _, _ = tick(s)
	}
	if l := find(t, snap, "late"); l.PSSAgeS < 0 {
		t.Errorf("late workers: PSS still not read for some of them two ticks after they were listed (pss %d)", l.PSS)
	}
}

// Used memory that no PSS accounts for is a fact only once PSS covers the
// processes (up to a 32nd of used memory standing in) and it is not negative.
func TestUnexplainedCovered(t *testing.T) {
	f := newFake()
	f.sys = proc.System{Total: 8 << 30, Available: 6 << 30} // 2 GiB used
	for pid := 10; pid < 18; pid++ {
		f.add(pid, 1, pid, "gunicorn", nil, 100<<20) // 110 MiB RSS, 102 MiB PSS
	}
	a := New(Config{PSSBudget: 4, PSSInterval: 10 * time.Second}, f, nil)
	t0 := time.Unix(0, 0)
	snap, _ := a.Tick(t0)
	u := snap.System
	if u.UnexplainedCovered || u.PSSUnreadProcs != 4 || u.PSSUnreadBytes != 4*(110<<20) {
		t.Errorf("4 of 8 read: covered %v, %d unread (%d bytes), want partial, 4 (%d bytes)",
			u.UnexplainedCovered, u.PSSUnreadProcs, u.PSSUnreadBytes, 4*(110<<20))
	}
	snap, _ = a.Tick(t0.Add(time.Second))
	if u := snap.System; !u.UnexplainedCovered || u.UnexplainedBytes != 2<<30-8*(102<<20) {
		t.Errorf("all read: covered %v, unexplained %d, want a fact, %d", u.UnexplainedCovered, u.UnexplainedBytes, 2<<30-8*(102<<20))
	}
	// A small newcomer, younger than a tick, stands in with its RSS: far
	// below a 32nd of used memory, the figure stays a fact.
	f.add(40, 1, 40, "sh", nil, 1<<20)
	snap, _ = a.Tick(t0.Add(2 * time.Second))
	if u := snap.System; !u.UnexplainedCovered || u.PSSUnreadProcs != 1 {
		t.Errorf("one 11 MiB newcomer unread: covered %v, %d unread, want a fact, 1", u.UnexplainedCovered, u.PSSUnreadProcs)
	}
	// More PSS than used memory: negative, not a fact.
	f.sys.Available = f.sys.Total - 512<<20
	snap, _ = a.Tick(t0.Add(3 * time.Second))
	if u := snap.System; u.UnexplainedCovered || u.UnexplainedBytes >= 0 {
		t.Errorf("pss above used: covered %v, unexplained %d, want partial and negative", u.UnexplainedCovered, u.UnexplainedBytes)
	}
}
