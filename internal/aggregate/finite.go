package aggregate

import (
	"math"
	"slices"
)

// JSON cannot hold NaN or ±Inf. The aggregator makes none, but every writer
// of this schema goes through Finite so that a dump or a line is never lost
// to one: such a figure becomes 0, and a time to OOM that is not finite is
// dropped. The receiver is never modified.

func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// Finite returns a copy with finite figures, or nil when the time is not finite.
func (t *TimeToOOM) Finite() *TimeToOOM {
	if t == nil || math.IsNaN(t.Seconds) || math.IsInf(t.Seconds, 0) {
		return nil
	}
	c := *t
	c.Growth, c.GrowthSpanS = finite(c.Growth), finite(c.GrowthSpanS)
	return &c
}

// Finite returns a copy with finite figures.
func (s System) Finite() System {
	s.EventsPerSec = finite(s.EventsPerSec)
	s.GrowthBytesPerS, s.GrowthSpanS = finite(s.GrowthBytesPerS), finite(s.GrowthSpanS)
	if s.PSI != nil {
		p := *s.PSI
		p.Some10, p.Some60, p.Some300 = finite(p.Some10), finite(p.Some60), finite(p.Some300)
		p.Full10, p.Full60, p.Full300 = finite(p.Full10), finite(p.Full60), finite(p.Full300)
		s.PSI = &p
	}
	s.TimeToOOM = s.TimeToOOM.Finite()
	s.Memcgs = slices.Clone(s.Memcgs)
	for i := range s.Memcgs {
		s.Memcgs[i].TimeToOOM = s.Memcgs[i].TimeToOOM.Finite()
	}
	return s
}

// Finite returns a copy with finite figures; services and processes are
// copied too, so the result may be sorted. Empty lists are [], not null.
func (snap Snapshot) Finite() Snapshot {
	snap.System = snap.System.Finite()
	snap.Services = slices.Clone(snap.Services)
	if snap.Services == nil {
		snap.Services = []Service{}
	}
	for i := range snap.Services {
		s := &snap.Services[i]
		if s.PIDs == nil {
			s.PIDs = []int{} // a list, never null
		}
		s.PSSAgeS = finite(s.PSSAgeS)
		s.CallsPerSec = finite(s.CallsPerSec)
		s.Growth, s.Growth1m, s.Growth5m, s.Growth15m = finite(s.Growth), finite(s.Growth1m), finite(s.Growth5m), finite(s.Growth15m)
		s.GrowthSpanS = finite(s.GrowthSpanS)
		if s.Memcg != nil {
			m := *s.Memcg
			m.TimeToOOM = m.TimeToOOM.Finite()
			s.Memcg = &m
		}
		if s.TimeToOOMS != nil && (math.IsNaN(*s.TimeToOOMS) || math.IsInf(*s.TimeToOOMS, 0)) {
			s.TimeToOOMS = nil
		}
		s.Processes = slices.Clone(s.Processes)
		for j := range s.Processes {
			s.Processes[j].PSSAgeS = finite(s.Processes[j].PSSAgeS)
		}
	}
	return snap
}
