package history

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/dump"
	"github.com/oomtrace/oomtrace/tracer"
)

func snap(t time.Time, svcs ...aggregate.Service) aggregate.Snapshot {
	return aggregate.Snapshot{Time: t, System: aggregate.System{UsedBytes: 1 << 30, AvailableBytes: 2 << 30}, Services: svcs}
}

// 15 minutes of 1 s samples: the last 10 minutes are kept at 1 s, the rest
// at 10 s; a victim's growth is measured up to the kill, after which its
// memory is gone.
func TestWindowsAndGrowthAtKill(t *testing.T) {
	h := New(Config{})
	t0 := time.Unix(1_700_000_000, 0)
	kill := t0.Add(899 * time.Second)
	for i := 0; i < 905; i++ {
		now := t0.Add(time.Duration(i) * time.Second)
		grow := aggregate.Service{Name: "leaky", Kind: "tree", Procs: 1, Growth: 1 << 20, Memory: aggregate.Memory{RSS: uint64(100+i) << 20}}
		if now.After(kill) {
			grow.Procs, grow.RSS, grow.Growth = 0, 0, -5e6 // the fall to zero
		}
		h.Add(snap(now, grow, aggregate.Service{Name: "flat", Kind: "unit", Procs: 3, Memory: aggregate.Memory{RSS: 500 << 20}}))
	}
	end := t0.Add(904 * time.Second)
	all := h.Services(t0, end, kill)
	if len(all) != 2 || all[0].Name != "leaky" {
		t.Fatalf("services %+v, want leaky first", all)
	}
	leaky := all[0]
	if leaky.GrowthBytes != 899<<20 || leaky.PeakBytes != (100+899)<<20 || leaky.EndBytes != (100+899)<<20 {
		t.Errorf("leaky growth %d end %d peak %d, want growth 899 MiB up to the kill", leaky.GrowthBytes, leaky.EndBytes, leaky.PeakBytes)
	}
	// 600 fine samples, plus coarse ones (every 10 s) from before them.
	fine, coarse := 0, 0
	for i, s := range leaky.Samples {
		if i > 0 && s.Time.Sub(leaky.Samples[i-1].Time) == time.Second {
			fine++
		} else if i > 0 {
			coarse++
		}
	}
	if fine != 599 || coarse < 29 || coarse > 31 {
		t.Errorf("%d fine and %d coarse steps, want 599 and about 30", fine, coarse)
	}
	// Measured to the end, as a run's summary is, a service whose processes
	// are gone ends at its last live sample, not at zero.
	if l := h.Services(t0, end, end)[0]; l.Name != "leaky" || l.EndBytes != (100+899)<<20 || l.GrowthBytes != 899<<20 || l.GrowthPerSec != 1<<20 {
		t.Errorf("to the end: %s end %d growth %d (%.0f/s), want its last live 999 MiB at 1 MiB/s", l.Name, l.EndBytes, l.GrowthBytes, l.GrowthPerSec)
	}
	// The last 10 minutes only.
	recent := h.Services(end.Add(-10*time.Minute), end, kill)
	if n := len(recent[0].Samples); n != 600 {
		t.Errorf("%d samples in the last 10 minutes, want 600", n)
	}
	if sys := h.System(end.Add(-time.Minute), end); len(sys) != 61 || sys[0].Used != 1<<30 {
		t.Errorf("system samples %d", len(sys))
	}
}

func TestEvictionAndBounds(t *testing.T) {
	h := New(Config{Window: 10 * time.Second, Long: 20 * time.Second, MaxServices: 3, MaxEvents: 5})
	t0 := time.Unix(0, 0)
	for i := 0; i < 5; i++ {
		h.Add(snap(t0.Add(time.Duration(i)*time.Second), aggregate.Service{Name: string(rune('a' + i)), Procs: 1, Memory: aggregate.Memory{RSS: 1 << 20}}))
	}
	if len(h.services) != 3 {
		t.Errorf("%d services kept, want the cap 3", len(h.services))
	}
	if _, ok := h.services["a"]; ok {
		t.Error("the longest unseen service was kept")
	}
	h.Add(snap(t0.Add(time.Minute)))
	if len(h.services) != 0 {
		t.Errorf("%d services kept past Window+Long", len(h.services))
	}
	for i := 0; i < 8; i++ {
		h.AddEvent(&tracer.Event{Type: tracer.EventMmap, PID: uint32(i), Time: t0.Add(time.Duration(i) * time.Second)})
	}
	evs := h.Events(t0, t0.Add(time.Hour))
	if len(evs) != 5 || evs[0].PID != 3 || evs[4].PID != 7 {
		t.Errorf("events %v, want the newest 5 oldest first", evs)
	}
	if evs := h.Events(t0.Add(5*time.Second), t0.Add(6*time.Second)); len(evs) != 2 {
		t.Errorf("%d events in [5s, 6s], want 2", len(evs))
	}
}

func TestPointRoundTrip(t *testing.T) {
	s := aggregate.Service{Procs: 7, Memory: aggregate.Memory{RSS: 3 << 30, PSS: 1 << 30, Anon: 2 << 30, File: 1 << 20, Shmem: 4096, Swap: 8192, Mmap: -(5 << 20), Brk: 9 << 20}}
	now := time.UnixMilli(1_700_000_000_123)
	got := toPoint(now, &s).sample()
	if got.Procs != 7 || got.RSS != s.RSS || got.PSS != s.PSS || got.Anon != s.Anon || got.File != s.File ||
		got.Shmem != s.Shmem || got.Swap != s.Swap || got.Mmap != s.Mmap || got.Brk != s.Brk || !got.Time.Equal(now) {
		t.Errorf("round trip %+v of %+v", got, s)
	}
	if !got.PSSCovered {
		t.Errorf("pss read for every member (age 0) but the sample says partial")
	}
	// RSS stands in for a member's PSS (age -1): the sample says so.
	s.PSSAgeS = -1
	if toPoint(now, &s).sample().PSSCovered {
		t.Errorf("pss of a member not read yet, but the sample is not marked partial")
	}
}

// Above MaxServices, live services keep their history: new ones replace
// dead ones, and with none dead they are summed into one row.
func TestLiveServicesAreNeverEvicted(t *testing.T) {
	h := New(Config{MaxServices: 3})
	t0 := time.Unix(0, 0)
	live := func(names ...string) []aggregate.Service {
		var out []aggregate.Service
		for _, n := range names {
			out = append(out, aggregate.Service{Name: n, Procs: 2, Memory: aggregate.Memory{RSS: 4 << 20}})
		}
		return out
	}
	for i := 0; i < 10; i++ {
		h.Add(snap(t0.Add(time.Duration(i)*time.Second), live("a", "b", "c", "d", "e")...))
	}
	got := h.Services(t0, t0.Add(time.Hour), t0.Add(time.Hour))
	byName := map[string]int{}
	for _, s := range got {
		byName[s.Name] = len(s.Samples)
	}
	for _, n := range []string{"a", "b", "c"} {
		if byName[n] != 10 {
			t.Errorf("%s: %d samples, want all 10 (evicted while live?)", n, byName[n])
		}
	}
	if byName[OtherServices] != 10 {
		t.Errorf("%s: %d samples, want 10; services %v", OtherServices, byName[OtherServices], byName)
	}
	for _, s := range got {
		if s.Name == OtherServices && s.Procs != 4 {
			t.Errorf("other services hold %d processes, want d and e's 4", s.Procs)
		}
	}
	// "a" dies: a newcomer takes its place; the others keep going.
	h.Add(snap(t0.Add(10*time.Second), append(live("b", "c", "d", "e", "f"), aggregate.Service{Name: "a"})...))
	h.Add(snap(t0.Add(11*time.Second), live("b", "c", "d", "e", "f", "g")...))
	if _, ok := h.services["a"]; ok {
		t.Error("dead a kept while a live service had no row")
	}
	if len(h.services) > 4 {
		t.Errorf("%d rows, want at most the cap 3 plus other", len(h.services))
	}
}

// A flood of fork/exec/exit does not push out an earlier large allocation or
// OOM kill: lifecycle events have their own ring.
func TestLifecycleFloodKeepsAllocation(t *testing.T) {
	h := New(Config{MaxEvents: 100, MaxLifecycle: 300})
	t0 := time.Unix(1_700_000_000, 0)
	h.AddEvent(&tracer.Event{Type: tracer.EventMmap, PID: 42, Time: t0, Alloc: tracer.Alloc{Len: 1 << 30}})
	h.AddEvent(&tracer.Event{Type: tracer.EventOOMKill, PID: 43, Time: t0.Add(time.Millisecond), OOM: &tracer.OOMKill{}})
	for i := 0; i < 100_000; i++ {
		typ := []tracer.EventType{tracer.EventFork, tracer.EventExec, tracer.EventExit}[i%3]
		h.AddEvent(&tracer.Event{Type: typ, PID: uint32(1000 + i/3), Time: t0.Add(time.Second + time.Duration(i)*time.Microsecond)})
	}
	evs := h.Events(t0, t0.Add(time.Hour))
	if len(evs) != 302 || evs[0].PID != 42 || evs[1].Type != tracer.EventOOMKill {
		t.Fatalf("%d events, first %+v: want the allocation and the kill kept ahead of 300 lifecycle events", len(evs), evs[0])
	}
	if last := evs[len(evs)-1]; last.PID != 1000+99_999/3 {
		t.Errorf("newest lifecycle event is pid %d, want %d", last.PID, 1000+99_999/3)
	}
}

// The budget bounds the history as Go measures it: a history filled to
// every bound, plus a dump's worth of samples built from it, stays under
// Config.Bytes, which stays under the Budget; the tiers never exceed
// MaxSamples whatever the window.
func TestBudgetBoundsHeap(t *testing.T) {
	cfg := Config{Budget: 24 << 20}
	cfg.defaults()
	if b := cfg.Bytes(); b > cfg.Budget || cfg.MaxServices < 100 {
		t.Fatalf("Bytes %d with %d services, want at most the budget %d and 100+ services", b, cfg.MaxServices, cfg.Budget)
	}
	t.Logf("defaults: %d services of %d bytes, %d bytes in all", cfg.MaxServices, cfg.ServiceBytes(), cfg.Bytes())
	wide := Config{Fine: 10 * time.Millisecond, Window: 24 * time.Hour, Coarse: time.Second, Long: 24 * time.Hour}
	if f, c := wide.tiers(); f != MaxSamples || c != MaxSamples {
		t.Errorf("tiers %d and %d for a 24h window at 10ms, want %d", f, c, MaxSamples)
	}
	for _, c := range []Config{{Budget: 8 << 20}, {Budget: 24 << 20, Window: time.Hour}} {
		var ms runtime.MemStats
		heap := func() uint64 { runtime.GC(); runtime.ReadMemStats(&ms); return ms.HeapAlloc }
		before := heap()
		h := New(c)
		fine, coarse := h.cfg.tiers()
		t0 := time.Unix(1_700_000_000, 0)
		name := func(i int) string { return fmt.Sprintf("service-%04d.slice", i) }
		svcs := make([]aggregate.Service, h.cfg.MaxServices)
		for i := range svcs {
			svcs[i] = aggregate.Service{Name: name(i), Kind: "unit", Procs: 1}
		}
		n := max(fine, coarse*int(h.cfg.Coarse/h.cfg.Fine))
		// Every memcg slot and the pid map full too.
		memcgs := make([]aggregate.MemcgDomain, h.cfg.MaxMemcgs)
		for i := range memcgs {
			memcgs[i] = aggregate.MemcgDomain{Path: fmt.Sprintf("/memcg-%04d", i), UsageBytes: 1 << 20, LimitBytes: 2 << 20}
		}
		for i := range MaxPIDs {
			svcs[i%len(svcs)].PIDs = append(svcs[i%len(svcs)].PIDs, 100_000+i)
		}
		for i := 0; i < n; i++ {
			s := snap(t0.Add(time.Duration(i)*h.cfg.Fine), svcs...)
			s.System.Memcgs = memcgs
			h.Add(s)
		}
		file := strings.Repeat("/", 159)
		for i := 0; i < h.cfg.MaxEvents+h.cfg.MaxLifecycle; i++ {
			typ := tracer.EventMmap
			if i%2 == 1 {
				typ = tracer.EventExec
			}
			h.AddEvent(&tracer.Event{Type: typ, Comm: string([]byte("comm-of-15bytes")), Proc: tracer.Proc{Filename: string([]byte(file))}})
		}
		end := t0.Add(time.Duration(n) * h.cfg.Fine)
		d := h.Services(end.Add(-h.cfg.Window), end, end)
		var doms [][]dump.DomainSample
		for _, m := range memcgs {
			doms = append(doms, h.Memcg(m.Path, end.Add(-h.cfg.Window), end))
		}
		used := heap() - before
		if len(h.memcgs) != h.cfg.MaxMemcgs || len(doms[0]) < fine-1 || len(h.pids) != MaxPIDs {
			t.Fatalf("%d memcgs kept, %d samples of the first, %d pids; want %d full and %d", len(h.memcgs), len(doms[0]), len(h.pids), h.cfg.MaxMemcgs, MaxPIDs)
		}
		if len(h.services) != h.cfg.MaxServices || len(d) != h.cfg.MaxServices || len(d[0].Samples) < fine {
			t.Fatalf("%d services kept, %d in the dump with %d samples; want %d full", len(h.services), len(d), len(d[0].Samples), h.cfg.MaxServices)
		}
		t.Logf("budget %d: %d services, heap %d, Bytes %d", c.Budget, h.cfg.MaxServices, used, h.cfg.Bytes())
		if used > uint64(h.cfg.Bytes()) || h.cfg.Bytes() > c.Budget {
			t.Errorf("budget %d: heap grew %d, Bytes says %d", c.Budget, used, h.cfg.Bytes())
		}
		runtime.KeepAlive(h)
		runtime.KeepAlive(d)
		runtime.KeepAlive(doms)
	}
}

// A ring keeps the newest limit elements in order, and its buffer grows
// with use, never past limit: a service seen briefly costs a few samples.
func TestRingGrowsToLimit(t *testing.T) {
	r := newRing[int](100)
	for i := 0; i < 250; i++ {
		r.push(i)
		if want := min(i+1, 100); r.len() != want || r.at(0) != i+1-want || r.at(want-1) != i {
			t.Fatalf("after %d pushes: len %d, oldest %d, newest %d", i+1, r.len(), r.at(0), r.at(r.len()-1))
		}
		if cap(r.buf) > 100 || (i < 16 && cap(r.buf) > 16) {
			t.Fatalf("after %d pushes the buffer holds %d", i+1, cap(r.buf))
		}
	}
	h := New(Config{})
	t0 := time.Unix(1_700_000_000, 0)
	for i := 0; i < 5; i++ {
		h.Add(snap(t0.Add(time.Duration(i)*time.Second), aggregate.Service{Name: "brief", Procs: 1}))
	}
	if st := h.services["brief"]; cap(st.fine.buf)+cap(st.coarse.buf) > 32 {
		t.Errorf("a service seen 5 times holds %d + %d samples", cap(st.fine.buf), cap(st.coarse.buf))
	}
}
