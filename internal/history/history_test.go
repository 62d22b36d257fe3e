package history

import (
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
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
		grow := aggregate.Service{Name: "leaky", Kind: "tree", Procs: 1, RSS: uint64(100+i) << 20}
		if now.After(kill) {
			grow.Procs, grow.RSS = 0, 0
		}
		h.Add(snap(now, grow, aggregate.Service{Name: "flat", Kind: "unit", Procs: 3, RSS: 500 << 20}))
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
		h.Add(snap(t0.Add(time.Duration(i)*time.Second), aggregate.Service{Name: string(rune('a' + i)), Procs: 1, RSS: 1 << 20}))
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
	s := aggregate.Service{Procs: 7, RSS: 3 << 30, PSS: 1 << 30, Anon: 2 << 30, File: 1 << 20, Shmem: 4096, Swap: 8192, Mmap: -(5 << 20), Brk: 9 << 20}
	now := time.UnixMilli(1_700_000_000_123)
	got := toPoint(now, &s).sample()
	if got.Procs != 7 || got.RSS != s.RSS || got.PSS != s.PSS || got.Anon != s.Anon || got.File != s.File ||
		got.Shmem != s.Shmem || got.Swap != s.Swap || got.Mmap != s.Mmap || got.Brk != s.Brk || !got.Time.Equal(now) {
		t.Errorf("round trip %+v of %+v", got, s)
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
			out = append(out, aggregate.Service{Name: n, Procs: 2, RSS: 4 << 20})
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
