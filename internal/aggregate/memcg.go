package aggregate

import (
	"path"
	"sort"
	"time"

	"github.com/oomtrace/oomtrace/internal/cgroup"
)

// limitMaxAge is how often memory cgroup limits are re-read.
const limitMaxAge = 10 * time.Second

type domainState struct {
	usage    *series
	lastSeen time.Time
	limit    uint64
	limitAt  time.Time
}

// memcgFigures reports each memory cgroup that has a limit and holds
// processes, itself or in a descendant: a limit on a parent (a systemd
// slice's MemoryMax, a pod) bounds everything under it. It returns each
// service's soonest estimate over the domains that bound it.
func (a *Aggregator) memcgFigures(now time.Time, snap *Snapshot) map[string]*TimeToOOM {
	if a.cfg.Cgroups == nil {
		return nil
	}
	paths := map[string][]string{} // memcg -> services in it or below it
	for name, st := range a.svcs {
		if st.gen != a.gen {
			continue
		}
		for _, m := range st.memcgs {
			for p := m; p != "" && p != "/" && p != "."; p = path.Dir(p) {
				if l := paths[p]; len(l) == 0 || l[len(l)-1] != name {
					paths[p] = append(l, name)
				}
			}
		}
	}
	byPath := map[string]*MemcgDomain{}
	for path := range paths {
		m := cgroup.Memcg{H: *a.cfg.Cgroups, Path: path}
		ds, ok := a.domains[path]
		if !ok {
			ds = &domainState{}
			a.domains[path] = ds
		}
		ds.lastSeen = now
		if now.Sub(ds.limitAt) >= limitMaxAge || now.Before(ds.limitAt) {
			limit, err := m.Limit()
			if err != nil {
				limit = 0
			}
			ds.limit, ds.limitAt = limit, now
		}
		limit := ds.limit
		if limit == 0 {
			continue
		}
		usage, err := m.Usage()
		if err != nil {
			continue
		}
		d := &MemcgDomain{Path: path, UsageBytes: usage, LimitBytes: limit}
		d.OOMKills, _ = m.OOMKills()
		if snap.System.SwapTotalBytes > 0 {
			d.SwapBytes, d.SwapLimitBytes, _ = m.Swap(usage, limit)
		}
		if ds.usage == nil {
			ds.usage = newSeries(capacityFor(15*time.Minute, a.cfg.Interval))
		}
		ds.usage.add(now, float64(usage))
		if f := ds.usage.fitWindow(now, time.Minute); f.Slope > 0 && limit > usage {
			d.TimeToOOM = &TimeToOOM{Domain: path, Seconds: float64(limit-usage) / f.Slope, Headroom: limit - usage, Growth: f.Slope,
				Service: fastest(snap.Services, paths[path]), GrowthSpanS: f.Span.Seconds(), Covered: f.covers(time.Minute)}
		}
		byPath[path] = d
		snap.System.Memcgs = append(snap.System.Memcgs, *d)
	}
	for path, ds := range a.domains {
		if now.Sub(ds.lastSeen) > a.cfg.KeepDead {
			delete(a.domains, path)
		}
	}
	sort.Slice(snap.System.Memcgs, func(i, j int) bool { return snap.System.Memcgs[i].Path < snap.System.Memcgs[j].Path })
	for i := range snap.Services {
		s := &snap.Services[i]
		if st := a.svcs[s.Name]; st != nil && st.gen == a.gen && len(st.memcgs) == 1 {
			if d, ok := byPath[st.memcgs[0]]; ok {
				dd := *d
				s.Memcg = &dd
			}
		}
	}
	soonest := map[string]*TimeToOOM{}
	for path, names := range paths {
		d := byPath[path]
		if d == nil || d.TimeToOOM == nil {
			continue
		}
		for _, n := range names {
			if e := soonest[n]; e == nil || d.TimeToOOM.Seconds < e.Seconds {
				soonest[n] = d.TimeToOOM
			}
		}
	}
	return soonest
}

// timeToOOM picks the soonest estimate over the system and every memcg, and
// gives each service its own: soonest is memcgFigures' answer.
func (a *Aggregator) timeToOOM(snap *Snapshot, soonest map[string]*TimeToOOM) {
	sys := &snap.System
	var best *TimeToOOM
	if g := sys.GrowthBytesPerS; g > 0 && sys.AvailableBytes > 0 {
		all := make([]string, 0, len(snap.Services))
		for _, s := range snap.Services {
			all = append(all, s.Name)
		}
		best = &TimeToOOM{Domain: "system", Seconds: float64(sys.AvailableBytes) / g, Headroom: sys.AvailableBytes, Growth: g, Service: fastest(snap.Services, all),
			GrowthSpanS: sys.GrowthSpanS, Covered: sys.GrowthCovered}
		own := *best
		sys.SystemTimeToOOM = &own
	}
	for _, d := range sys.Memcgs {
		if d.TimeToOOM != nil && (best == nil || d.TimeToOOM.Seconds < best.Seconds) {
			t := *d.TimeToOOM
			best = &t
		}
	}
	sys.TimeToOOM = best
	for i := range snap.Services {
		s := &snap.Services[i]
		est := soonest[s.Name]
		if est == nil && sys.TimeToOOM != nil && sys.TimeToOOM.Domain == "system" && sys.TimeToOOM.Service == s.Name {
			est = sys.TimeToOOM
		}
		if est != nil {
			v := est.Seconds
			s.TimeToOOMS, s.TimeToOOMCovered = &v, est.Covered
		}
	}
}

// fastest names the fastest-growing of the named services, or the largest
// when none has a growth figure yet (a service seen for one tick only).
func fastest(svcs []Service, names []string) string {
	in := map[string]bool{}
	for _, n := range names {
		in[n] = true
	}
	best, rate := "", 0.0
	largest, rss := "", uint64(0)
	for _, s := range svcs {
		if !in[s.Name] {
			continue
		}
		if s.Growth > rate {
			best, rate = s.Name, s.Growth
		}
		if s.RSS > rss {
			largest, rss = s.Name, s.RSS
		}
	}
	if best == "" {
		return largest
	}
	return best
}
