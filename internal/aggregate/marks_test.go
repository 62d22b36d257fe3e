package aggregate

import (
	"testing"
	"time"
)

// A process's growth comes from a mark 40-60 s old, so a steady grower
// reads its true rate and an old spike ages out.
func TestRSSMarks(t *testing.T) {
	var m rssMarks
	t0 := time.Unix(1_700_000_000, 0)
	if g, span := m.growth(t0, 1); g != 0 || span != 0 {
		t.Fatalf("empty marks: %v %v", g, span)
	}
	rss := func(s int) uint64 { return uint64(100<<20 + s*(64<<10)) } // 64 KiB/s
	for s := 0; s <= 300; s++ {
		now := t0.Add(time.Duration(s) * time.Second)
		m.add(now, rss(s))
		g, span := m.growth(now, rss(s))
		if s == 0 {
			continue
		}
		if want := float64(64 << 10); g != want {
			t.Fatalf("at %d s growth %.0f, want %.0f", s, g, want)
		}
		if s >= 60 && (span < 40 || span > 60) {
			t.Fatalf("at %d s the fit spans %.0f s, want 40-60", s, span)
		}
	}
	// Flat after a jump: once the jump is over a minute old it is gone.
	now := t0.Add(400 * time.Second)
	for s := 301; s <= 400; s++ {
		m.add(t0.Add(time.Duration(s)*time.Second), 500<<20)
	}
	if g, _ := m.growth(now, 500<<20); g != 0 {
		t.Errorf("flat for 100 s after a jump, growth %.0f", g)
	}
}

// Drill-down figures per process: its own growth and kernel counters.
func TestProcessFigures(t *testing.T) {
	f := newFake()
	f.add(1, 0, 1, "systemd", []string{"/sbin/init"}, 1<<20)
	f.add(10, 1, 10, "grower", []string{"grower"}, 10<<20)
	f.add(11, 10, 10, "grower", []string{"grower"}, 10<<20)
	ctr := fakeCounters{11: {MremapGrowBytes: 3 << 20, MremapShrinkBytes: 1 << 20, MprotectWriteBytes: 5 << 20, MprotectCalls: 7}}
	a := New(Config{Interval: time.Second, PSSInterval: -1, WithProcesses: true}, f, ctr)
	t0 := time.Unix(1_700_000_000, 0)
	var snap Snapshot
	for i := range 90 {
		m := f.mem[11]
		m.RSSAnon += 128 << 10
		f.mem[11] = m
		var err error
		if snap, err = a.Tick(t0.Add(time.Duration(i) * time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	s := find(t, snap, "grower")
	byPID := map[int]Process{}
	for _, p := range s.Processes {
		byPID[p.PID] = p
	}
	w, m := byPID[11], byPID[10]
	if w.Growth != 128<<10 || w.GrowthSpanS < 40 || w.GrowthSpanS > 60 || !w.GrowthCovered {
		t.Errorf("worker growth %.0f over %.0f s, want 131072 over 40-60 s", w.Growth, w.GrowthSpanS)
	}
	if m.Growth != 0 {
		t.Errorf("flat master growth %.0f", m.Growth)
	}
	if w.Mremap != 2<<20 || w.Mprotect != 5<<20 || w.Calls != 7 {
		t.Errorf("worker counters mremap %d mprotect %d calls %d", w.Mremap, w.Mprotect, w.Calls)
	}
}
