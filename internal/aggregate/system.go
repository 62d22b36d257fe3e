package aggregate

import (
	"time"

	"github.com/oomtrace/oomtrace/internal/proc"
	"github.com/oomtrace/oomtrace/tracer"
)

// systemFigures is the machine's memory, pressure, event rate and growth.
func (a *Aggregator) systemFigures(now time.Time, sys proc.System) System {
	out := System{
		TotalBytes: sys.Total, AvailableBytes: sys.Available, UsedBytes: sys.Used(),
		SwapTotalBytes: sys.SwapTotal, SwapFreeBytes: sys.SwapFree, OOMKills: a.oomKills,
	}
	if p := sys.PSI; p != nil {
		out.PSI = &PSI{Some10: p.SomeAvg10, Some60: p.SomeAvg60, Some300: p.SomeAvg300, Full10: p.FullAvg10, Full60: p.FullAvg60, Full300: p.FullAvg300}
	}
	if a.ctrs != nil {
		if st, err := a.ctrs.Stats(); err == nil {
			var recv uint64
			for _, v := range st.Received {
				recv += v
			}
			if !a.prevTick.IsZero() {
				if dt := now.Sub(a.prevTick).Seconds(); dt > 0 {
					out.EventsPerSec = float64(recv-a.prevReceived) / dt
				}
			}
			a.prevReceived = recv
			out.LostEvents = st.LostTotal()
			out.Lost = map[string]uint64{}
			for _, t := range tracer.EventTypes() {
				if n := st.LostRing[t] + st.LostMap[t]; n > 0 {
					out.Lost[t.String()] = n
				}
			}
		}
	}
	a.system.add(now, float64(out.UsedBytes))
	f := a.system.fitWindow(now, time.Minute)
	out.GrowthBytesPerS, out.GrowthSpanS, out.GrowthCovered = f.Slope, f.Span.Seconds(), f.covers(time.Minute)
	return out
}
