package aggregate

import (
	"slices"
	"sort"
	"time"

	"github.com/oomtrace/oomtrace/internal/service"
)

type serviceState struct {
	key       service.Key
	gen       uint64   // tick whose figures cur holds
	cur       Service  // this tick's sums
	calls     uint64   // this tick's call count
	procs     int      // processes at the last tick
	memcgs    []string // memory cgroups of this tick's processes
	members   []member // this tick's processes, for the worker figures
	gone      bool     // dropped from the table
	rss       *series
	oomKills  int
	lastOOM   time.Time
	lastSeen  time.Time
	prevCalls uint64
	prevAt    time.Time
}

func (a *Aggregator) service(key service.Key) *serviceState {
	s, ok := a.svcs[key.Name]
	if !ok {
		s = &serviceState{key: key, rss: newSeries(capacityFor(15*time.Minute, a.cfg.Interval))}
		a.svcs[key.Name] = s
	}
	return s
}

// sum adds a live process to its service's figures for this tick, once.
func (a *Aggregator) sum(now time.Time, p *procState) {
	if p.info.Kernel || p.sumGen == a.gen || p.key.Name == "" {
		return // kernel threads hold no memory of their own
	}
	p.sumGen = a.gen
	st := p.svc
	if st == nil || st.gone || st.key.Name != p.key.Name {
		st = a.service(p.key)
		p.svc = st
	}
	if st.gen != a.gen {
		clear(st.memcgs)
		st.gen, st.calls, st.memcgs, st.members = a.gen, 0, st.memcgs[:0], st.members[:0]
		st.cur = Service{Name: p.key.Name, Kind: string(p.key.Kind)}
		if a.cfg.WithProcesses {
			st.cur.PIDs = make([]int, 0, st.procs)
		}
		a.live = append(a.live, st)
	}
	if m := p.info.Memcg; m != "" && !slices.Contains(st.memcgs, m) {
		st.memcgs = append(st.memcgs, m)
	}
	s := &st.cur
	pss, uss, age := p.smaps.PSS, p.smaps.USS, now.Sub(p.smapsAt).Seconds()
	if p.smapsAt.IsZero() {
		pss, uss, age = p.mem.RSS(), p.mem.RSS(), -1 // not read yet: RSS stands in for both
		a.unreadProcs++
		a.unreadBytes += pss
	}
	s.Procs++
	st.addMember(p, pss, uss)
	if a.cfg.WithProcesses {
		s.PIDs = append(s.PIDs, p.info.PID)
	}
	c := &p.ctr
	m := Memory{
		RSS: p.mem.RSS(), PSS: pss, USS: uss, Anon: p.mem.RSSAnon, File: p.mem.RSSFile,
		Shmem: p.mem.RSSShmem, Swap: p.mem.Swap, PSSAgeS: age,
		Mmap:     int64(c.MmapAnonBytes+c.MmapFileBytes+c.MmapReserveBytes) - int64(c.MunmapBytes),
		Brk:      int64(c.BrkGrowBytes) - int64(c.BrkShrinkBytes),
		Mremap:   int64(c.MremapGrowBytes) - int64(c.MremapShrinkBytes),
		Mprotect: c.MprotectWriteBytes,
	}
	s.add(m)
	n := c.MmapCalls + c.MunmapCalls + c.BrkCalls + c.MremapCalls + c.MprotectCalls
	st.calls += n
	if a.cfg.WithProcesses {
		g, span := p.marks.growth(now, m.RSS)
		s.Processes = append(s.Processes, Process{
			PID: p.info.PID, PPID: p.info.PPID, Comm: p.info.Comm, Cmdline: p.cmdline, Memory: m, Calls: n,
			Growth: g, GrowthSpanS: span, GrowthCovered: span >= marksCovered.Seconds(),
		})
	}
}

// serviceFigures finishes the services summed in this tick's scan, and
// lists those without processes until they are dropped.
func (a *Aggregator) serviceFigures(now time.Time) []Service {
	live := a.live
	out := make([]Service, 0, len(a.svcs))
	for _, st := range live {
		s := &st.cur
		st.lastSeen, st.procs = now, s.Procs
		st.rss.add(now, float64(s.RSS))
		if !st.prevAt.IsZero() && st.calls >= st.prevCalls {
			if dt := now.Sub(st.prevAt).Seconds(); dt > 0 {
				s.CallsPerSec = float64(st.calls-st.prevCalls) / dt
			}
		}
		st.prevCalls, st.prevAt = st.calls, now
		slices.Sort(s.PIDs)
		sort.Slice(s.Processes, func(i, j int) bool { return s.Processes[i].RSS > s.Processes[j].RSS })
		a.growth(now, st, s)
		s.Workers = workerCost(st.members, st.key.Root)
		out = append(out, *s)
		st.cur = Service{} // the snapshot owns its slices now
	}
	clear(live)
	a.live = live[:0]
	for name, st := range a.svcs {
		if st.gen == a.gen {
			continue
		}
		if now.Sub(st.lastSeen) > a.cfg.KeepDead && now.Sub(st.lastOOM) > a.cfg.KeepDead {
			st.gone = true
			delete(a.svcs, name)
			continue
		}
		s := Service{Name: name, Kind: string(st.key.Kind), PIDs: []int{}}
		st.rss.add(now, 0)
		a.growth(now, st, &s)
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].RSS > out[j].RSS || out[i].RSS == out[j].RSS && out[i].Name < out[j].Name
	})
	return out
}

func (a *Aggregator) growth(now time.Time, st *serviceState, s *Service) {
	f1 := st.rss.fitWindow(now, time.Minute)
	f5 := st.rss.fitWindow(now, 5*time.Minute)
	f15 := st.rss.fitWindow(now, 15*time.Minute)
	s.Growth1m, s.Growth1mCovered = f1.Slope, f1.covers(time.Minute)
	s.Growth5m, s.Growth5mCovered = f5.Slope, f5.covers(5*time.Minute)
	s.Growth15m, s.Growth15mCovered = f15.Slope, f15.covers(15*time.Minute)
	s.Growth, s.GrowthSpanS = s.Growth1m, f15.Span.Seconds()
	f := st.rss.fitWindow(now, a.cfg.LeakWindow)
	s.LeakSuspect = f.Slope > 0 && f.R2 >= a.cfg.LeakMinR2 && f.covers(a.cfg.LeakWindow) &&
		f.Slope*f.Span.Seconds() >= a.cfg.LeakMinBytes
	s.OOMKills = st.oomKills
	if !st.lastOOM.IsZero() {
		t := st.lastOOM
		s.LastOOM = &t
	}
}
