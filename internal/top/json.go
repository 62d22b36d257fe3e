package top

import (
	"encoding/json"
	"io"
	"math"
	"slices"

	"github.com/oomtrace/oomtrace/internal/aggregate"
)

// WriteJSON prints snap as exactly one line of JSON, in the schema of the
// aggregate types, with the services sorted by key. Names are encoded as JSON
// strings (control characters escaped; invalid UTF-8 becomes U+FFFD), so the
// line is always valid JSON; NaN and infinite figures, which JSON cannot
// hold, are written as 0, and a time to OOM that is not finite is left out.
func WriteJSON(w io.Writer, snap aggregate.Snapshot, key SortKey) error {
	out := finite(snap)
	SortServices(out.Services, key)
	return json.NewEncoder(w).Encode(out)
}

// finite copies snap deeply enough to sort its services and replace NaN and
// ±Inf without touching the caller's data.
func finite(snap aggregate.Snapshot) aggregate.Snapshot {
	sys := &snap.System
	sys.EventsPerSec = fin(sys.EventsPerSec)
	sys.GrowthBytesPerS = fin(sys.GrowthBytesPerS)
	if sys.PSI != nil {
		p := *sys.PSI
		p.Some10, p.Some60, p.Some300 = fin(p.Some10), fin(p.Some60), fin(p.Some300)
		p.Full10, p.Full60, p.Full300 = fin(p.Full10), fin(p.Full60), fin(p.Full300)
		sys.PSI = &p
	}
	sys.TimeToOOM = finiteTTO(sys.TimeToOOM)
	sys.Memcgs = slices.Clone(sys.Memcgs)
	for i := range sys.Memcgs {
		sys.Memcgs[i].TimeToOOM = finiteTTO(sys.Memcgs[i].TimeToOOM)
	}

	snap.Services = slices.Clone(snap.Services)
	if snap.Services == nil {
		snap.Services = []aggregate.Service{}
	}
	for i := range snap.Services {
		s := &snap.Services[i]
		s.PSSAgeS = fin(s.PSSAgeS)
		s.CallsPerSec = fin(s.CallsPerSec)
		s.Growth, s.Growth1m, s.Growth5m, s.Growth15m = fin(s.Growth), fin(s.Growth1m), fin(s.Growth5m), fin(s.Growth15m)
		if s.Memcg != nil {
			m := *s.Memcg
			m.TimeToOOM = finiteTTO(m.TimeToOOM)
			s.Memcg = &m
		}
		if s.TimeToOOMS != nil && !isFinite(*s.TimeToOOMS) {
			s.TimeToOOMS = nil
		}
		if len(s.Processes) > 0 {
			s.Processes = slices.Clone(s.Processes)
			for j := range s.Processes {
				s.Processes[j].PSSAgeS = fin(s.Processes[j].PSSAgeS)
			}
		}
	}
	return snap
}

func finiteTTO(t *aggregate.TimeToOOM) *aggregate.TimeToOOM {
	if t == nil || !isFinite(t.Seconds) {
		return nil
	}
	c := *t
	c.Growth = fin(c.Growth)
	return &c
}

func fin(f float64) float64 {
	if !isFinite(f) {
		return 0
	}
	return f
}

func isFinite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
