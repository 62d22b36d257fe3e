// Package aggregate turns processes, kernel counters and events into
// per-service figures: memory, growth, leak suspects, OOM kills and the time
// left before the next one.
package aggregate

import (
	"sort"
	"time"

	"github.com/oomtrace/oomtrace/internal/cgroup"
	"github.com/oomtrace/oomtrace/internal/proc"
	"github.com/oomtrace/oomtrace/internal/redact"
	"github.com/oomtrace/oomtrace/internal/service"
	"github.com/oomtrace/oomtrace/tracer"
)

// ProcSource reads processes and the system; *proc.Reader is one.
type ProcSource interface {
	Pids() ([]int, error)
	Info(pid int) (proc.Info, error)
	Mem(pid int) (proc.Mem, error)
	Smaps(pid int) (proc.Smaps, error)
	System() (proc.System, error)
}

// CounterSource gives the kernel's per-process counters and event stats;
// *tracer.Tracer is one. It may be nil (no BPF).
type CounterSource interface {
	Counters(pid int) (tracer.Counters, error)
	Stats() (tracer.Stats, error)
}

// Sampler, when a CounterSource has it, reads every process in one pass
// (the kernel's task iterator). /proc/PID/status is then re-read only for a
// process whose memory or counters moved, or every memMaxAge.
type Sampler interface {
	Processes() ([]tracer.ProcSample, error)
}

const (
	memMaxAge  = 30 * time.Second
	smapsSlice = 5 * time.Millisecond // smaps_rollup reading per tick at most
)

// Config tunes an Aggregator. Zero values get the defaults.
type Config struct {
	Interval      time.Duration     // expected time between ticks (default 1s)
	PSSInterval   time.Duration     // re-read a process's smaps_rollup at most this often (default 10s; <0: every tick)
	PSSBudget     int               // smaps_rollup reads per tick at most (default 256)
	LeakWindow    time.Duration     // window of the leak-suspect fit (default 5m)
	LeakMinR2     float64           // fit quality needed (default 0.8)
	LeakMinBytes  float64           // growth over the window needed (default 1 MiB)
	KeepDead      time.Duration     // keep a service with no processes this long (default 5m)
	Rules         []service.Rule    // user rules, first match wins
	Cgroups       *cgroup.Hierarchy // memory cgroup figures when set
	WithProcesses bool              // fill Service.Processes
	RedactAll     bool              // mask every argument of command lines, not only secrets
}

func (c *Config) defaults() {
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.PSSInterval == 0 {
		c.PSSInterval = 10 * time.Second
	}
	if c.PSSBudget <= 0 {
		c.PSSBudget = 256
	}
	if c.LeakWindow <= 0 {
		c.LeakWindow = 5 * time.Minute
	}
	if c.LeakMinR2 <= 0 {
		c.LeakMinR2 = 0.8
	}
	if c.LeakMinBytes <= 0 {
		c.LeakMinBytes = 1 << 20
	}
	if c.KeepDead <= 0 {
		c.KeepDead = 5 * time.Minute
	}
}

type procState struct {
	info    proc.Info
	cmdline string // redacted once per exec
	key     service.Key
	mem     proc.Mem
	memAt   time.Time // when mem was read from /proc
	approx  uint64    // the task iterator's resident figure at that read
	smaps   proc.Smaps
	smapsAt time.Time // zero: never read
	ctr     tracer.Counters
	gen     uint64
	exited  bool
	reread  bool // exec seen: identity changed
}

type serviceState struct {
	key       service.Key
	rss       *series
	oomKills  int
	lastOOM   time.Time
	lastSeen  time.Time
	prevCalls uint64
	prevAt    time.Time
}

type domainState struct {
	usage    *series
	lastSeen time.Time
}

// Aggregator keeps the process table and per-service history. It is not safe
// for concurrent use: one goroutine feeds it events and ticks.
type Aggregator struct {
	cfg      Config
	procs    ProcSource
	ctrs     CounterSource
	resolver *service.Resolver

	table   map[int]*procState
	svcs    map[string]*serviceState
	domains map[string]*domainState
	system  *series
	gen     uint64

	oomKills     uint64
	prevTick     time.Time
	prevReceived uint64
}

// New makes an aggregator. ctrs may be nil.
func New(cfg Config, procs ProcSource, ctrs CounterSource) *Aggregator {
	cfg.defaults()
	return &Aggregator{
		cfg: cfg, procs: procs, ctrs: ctrs,
		resolver: service.NewResolver(cfg.Rules),
		table:    map[int]*procState{},
		svcs:     map[string]*serviceState{},
		domains:  map[string]*domainState{},
		system:   newSeries(capacityFor(15*time.Minute, cfg.Interval)),
	}
}

func capacityFor(window, interval time.Duration) int {
	return int(window/interval) + 2
}

// HandleEvent updates the process table from a lifecycle or OOM event.
func (a *Aggregator) HandleEvent(ev *tracer.Event) {
	switch ev.Type {
	case tracer.EventExec:
		if p, ok := a.table[int(ev.PID)]; ok {
			p.reread = true
		}
	case tracer.EventExit:
		if p, ok := a.table[int(ev.PID)]; ok {
			p.exited = true // removed at the next tick, after any OOM attribution
		}
	case tracer.EventOOMKill:
		a.oomKills++
		key := a.ServiceOf(int(ev.OOM.Victim.PID), ev.OOM.Victim.Comm)
		s := a.service(key)
		s.oomKills++
		s.lastOOM = ev.Time
	}
}

// CmdlineOf is a known process's command line, redacted; "" if unknown.
func (a *Aggregator) CmdlineOf(pid int) string {
	if p, ok := a.table[pid]; ok {
		return p.cmdline
	}
	return ""
}

// ServiceOf names the service of a process, reading /proc for one not yet
// seen; comm is the fallback for a process that is already gone.
func (a *Aggregator) ServiceOf(pid int, comm string) service.Key {
	if p, ok := a.table[pid]; ok && p.key.Name != "" {
		if p.reread { // exec'd since it was read
			if info, err := a.procs.Info(pid); err == nil {
				p.info, p.reread = info, false
				p.cmdline = redact.Line(info.Cmdline, a.cfg.RedactAll)
				p.key = a.resolve(p)
			}
		}
		return p.key
	}
	if p := a.add(pid); p != nil {
		return p.key
	}
	return service.Key{Name: comm, Kind: service.KindComm, Root: pid}
}

func (a *Aggregator) service(key service.Key) *serviceState {
	s, ok := a.svcs[key.Name]
	if !ok {
		s = &serviceState{key: key, rss: newSeries(capacityFor(15*time.Minute, a.cfg.Interval))}
		a.svcs[key.Name] = s
	}
	return s
}

// add reads a new process and resolves its service.
func (a *Aggregator) add(pid int) *procState {
	info, err := a.procs.Info(pid)
	if err != nil {
		return nil
	}
	p := &procState{info: info, gen: a.gen, cmdline: redact.Line(info.Cmdline, a.cfg.RedactAll)}
	a.table[pid] = p
	p.key = a.resolve(p)
	return p
}

func (a *Aggregator) resolve(p *procState) service.Key {
	return a.resolver.Resolve(toService(p.info), func(pid int) (service.Proc, bool) {
		q, ok := a.table[pid]
		if !ok {
			if q = a.add(pid); q == nil {
				return service.Proc{}, false
			}
		}
		return toService(q.info), true
	})
}

func toService(in proc.Info) service.Proc {
	return service.Proc{PID: in.PID, PPID: in.PPID, SID: in.SID, Comm: in.Comm, Cmdline: in.Cmdline, Exe: in.Exe, Cgroup: in.Cgroup, Kernel: in.Kernel}
}

// Tick samples every process and returns the snapshot for now.
func (a *Aggregator) Tick(now time.Time) (Snapshot, error) {
	a.gen++
	samples := a.sample()
	if err := a.scan(samples); err != nil {
		return Snapshot{}, err
	}
	a.refresh(now, samples)
	snap := Snapshot{Time: now}
	sys, err := a.procs.System()
	if err != nil {
		return Snapshot{}, err
	}
	snap.System = a.systemFigures(now, sys)
	snap.Services = a.serviceFigures(now)
	var pss uint64
	for _, s := range snap.Services {
		pss += s.PSS
	}
	snap.System.UnexplainedBytes = int64(snap.System.UsedBytes) - int64(pss)
	snap.System.Procs = len(a.table)
	a.memcgFigures(now, &snap)
	a.timeToOOM(&snap)
	a.prevTick = now
	return snap, nil
}

// sample reads every process in one pass where the kernel allows; nil otherwise.
func (a *Aggregator) sample() map[int]*tracer.ProcSample {
	sm, ok := a.ctrs.(Sampler)
	if !ok {
		return nil
	}
	list, err := sm.Processes()
	if err != nil {
		return nil
	}
	samples := make(map[int]*tracer.ProcSample, len(list))
	for i := range list {
		samples[list[i].PID] = &list[i]
	}
	return samples
}

// scan adds new processes, drops those gone, and re-reads exec'd ones. The
// task iterator's list, when there is one, saves a /proc directory walk
// (it has no kernel threads, which hold no memory of their own).
func (a *Aggregator) scan(samples map[int]*tracer.ProcSample) error {
	var pids []int
	if samples != nil {
		pids = make([]int, 0, len(samples))
		for pid := range samples {
			pids = append(pids, pid)
		}
	} else {
		var err error
		if pids, err = a.procs.Pids(); err != nil {
			return err
		}
	}
	for _, pid := range pids {
		p, ok := a.table[pid]
		switch {
		case !ok:
			a.add(pid)
		case p.exited:
			// The pid is listed again: a zombie not yet reaped, or a new process.
			delete(a.table, pid)
			if q := a.add(pid); q != nil && q.info.StartTicks == p.info.StartTicks {
				delete(a.table, pid)
			}
		case p.reread:
			if info, err := a.procs.Info(pid); err == nil {
				if info.StartTicks != p.info.StartTicks {
					p.ctr, p.smapsAt, p.smaps = tracer.Counters{}, time.Time{}, proc.Smaps{}
				}
				p.info, p.reread = info, false
				p.cmdline = redact.Line(info.Cmdline, a.cfg.RedactAll)
				p.key = a.resolve(p)
			}
			p.gen = a.gen
		default:
			p.gen = a.gen
		}
	}
	for pid, p := range a.table {
		if p.gen != a.gen || p.exited {
			delete(a.table, pid)
		}
	}
	// Keys of children may depend on parents added this tick.
	for _, p := range a.table {
		if p.key.Name == "" {
			p.key = a.resolve(p)
		}
	}
	return nil
}

// refresh reads memory of every process, and smaps_rollup within budget.
func (a *Aggregator) refresh(now time.Time, samples map[int]*tracer.ProcSample) {
	var stale []*procState
	for pid, p := range a.table {
		if p.info.Kernel {
			continue
		}
		read := true
		if s, ok := samples[pid]; ok {
			approx := s.Anon + s.File + s.Shmem + s.Swap
			moved := approx != p.approx || s.HasCounters && s.Counters != p.ctr
			read = moved || p.memAt.IsZero() || now.Sub(p.memAt) >= memMaxAge
			p.approx = approx
			if s.HasCounters {
				p.ctr = s.Counters
			}
		} else if a.ctrs != nil {
			if c, err := a.ctrs.Counters(pid); err == nil {
				p.ctr = c
			}
		}
		if read {
			m, err := a.procs.Mem(pid)
			if err != nil {
				continue
			}
			p.mem, p.memAt = m, now
		}
		if a.cfg.PSSInterval < 0 || now.Sub(p.smapsAt) >= a.cfg.PSSInterval {
			stale = append(stale, p)
		}
	}
	sort.Slice(stale, func(i, j int) bool { return stale[i].smapsAt.Before(stale[j].smapsAt) })
	start := time.Now()
	for i, p := range stale {
		// Oldest first, within a count and a time budget; with PSSInterval < 0
		// (every tick, for tests) only the count applies.
		if i >= a.cfg.PSSBudget || a.cfg.PSSInterval >= 0 && i > 0 && time.Since(start) > smapsSlice {
			break
		}
		if s, err := a.procs.Smaps(p.info.PID); err == nil {
			p.smaps, p.smapsAt = s, now
		}
	}
}

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
	out.GrowthBytesPerS = a.system.fitWindow(now, time.Minute).Slope
	return out
}

func (a *Aggregator) serviceFigures(now time.Time) []Service {
	byName := map[string]*Service{}
	calls := map[string]uint64{}
	for _, p := range a.table {
		if p.info.Kernel {
			continue // kernel threads hold no memory of their own
		}
		name := p.key.Name
		s, ok := byName[name]
		if !ok {
			s = &Service{Name: name, Kind: string(p.key.Kind)}
			byName[name] = s
		}
		pss, age := p.smaps.PSS, now.Sub(p.smapsAt).Seconds()
		if p.smapsAt.IsZero() {
			pss, age = p.mem.RSS(), -1 // not read yet: RSS stands in
		}
		s.Procs++
		s.PIDs = append(s.PIDs, p.info.PID)
		s.RSS += p.mem.RSS()
		s.Anon += p.mem.RSSAnon
		s.File += p.mem.RSSFile
		s.Shmem += p.mem.RSSShmem
		s.Swap += p.mem.Swap
		s.PSS += pss
		s.USS += p.smaps.USS
		if age < 0 || s.PSSAgeS >= 0 && age > s.PSSAgeS {
			s.PSSAgeS = age
		}
		c := p.ctr
		mmap := int64(c.MmapAnonBytes+c.MmapFileBytes+c.MmapReserveBytes) - int64(c.MunmapBytes)
		brk := int64(c.BrkGrowBytes) - int64(c.BrkShrinkBytes)
		s.Mmap += mmap
		s.Brk += brk
		s.Mremap += int64(c.MremapGrowBytes) - int64(c.MremapShrinkBytes)
		s.Mprotect += c.MprotectWriteBytes
		n := c.MmapCalls + c.MunmapCalls + c.BrkCalls + c.MremapCalls + c.MprotectCalls
		calls[name] += n
		if a.cfg.WithProcesses {
			s.Processes = append(s.Processes, Process{
				PID: p.info.PID, PPID: p.info.PPID, Comm: p.info.Comm, Cmdline: p.cmdline,
				RSS: p.mem.RSS(), PSS: pss, USS: p.smaps.USS, Anon: p.mem.RSSAnon, File: p.mem.RSSFile,
				Shmem: p.mem.RSSShmem, Swap: p.mem.Swap, PSSAgeS: age, Mmap: mmap, Brk: brk, Calls: n,
			})
		}
	}
	out := make([]Service, 0, len(a.svcs)+len(byName))
	for name, s := range byName {
		st := a.service(service.Key{Name: name, Kind: service.Kind(s.Kind)})
		st.lastSeen = now
		st.rss.add(now, float64(s.RSS))
		if !st.prevAt.IsZero() && calls[name] >= st.prevCalls {
			if dt := now.Sub(st.prevAt).Seconds(); dt > 0 {
				s.CallsPerSec = float64(calls[name]-st.prevCalls) / dt
			}
		}
		st.prevCalls, st.prevAt = calls[name], now
		sort.Ints(s.PIDs)
		sort.Slice(s.Processes, func(i, j int) bool { return s.Processes[i].RSS > s.Processes[j].RSS })
		a.growth(now, st, s)
		out = append(out, *s)
	}
	for name, st := range a.svcs {
		if _, live := byName[name]; live {
			continue
		}
		if now.Sub(st.lastSeen) > a.cfg.KeepDead && now.Sub(st.lastOOM) > a.cfg.KeepDead {
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
	s.Growth1m = st.rss.fitWindow(now, time.Minute).Slope
	s.Growth5m = st.rss.fitWindow(now, 5*time.Minute).Slope
	s.Growth15m = st.rss.fitWindow(now, 15*time.Minute).Slope
	s.Growth = s.Growth1m
	f := st.rss.fitWindow(now, a.cfg.LeakWindow)
	s.LeakSuspect = f.Slope > 0 && f.R2 >= a.cfg.LeakMinR2 && f.Span >= a.cfg.LeakWindow*8/10 &&
		f.Slope*f.Span.Seconds() >= a.cfg.LeakMinBytes
	s.OOMKills = st.oomKills
	if !st.lastOOM.IsZero() {
		t := st.lastOOM
		s.LastOOM = &t
	}
}

// memcgFigures reports each memory cgroup that has a limit and holds processes.
func (a *Aggregator) memcgFigures(now time.Time, snap *Snapshot) {
	if a.cfg.Cgroups == nil {
		return
	}
	paths := map[string][]string{} // memcg -> services in it
	svcPaths := map[string]map[string]bool{}
	for _, p := range a.table {
		if p.info.Memcg == "" || p.info.Kernel {
			continue
		}
		paths[p.info.Memcg] = append(paths[p.info.Memcg], p.key.Name)
		if svcPaths[p.key.Name] == nil {
			svcPaths[p.key.Name] = map[string]bool{}
		}
		svcPaths[p.key.Name][p.info.Memcg] = true
	}
	byPath := map[string]*MemcgDomain{}
	for path := range paths {
		m := cgroup.Memcg{H: *a.cfg.Cgroups, Path: path}
		limit, err := m.Limit()
		if err != nil || limit == 0 {
			continue
		}
		usage, err := m.Usage()
		if err != nil {
			continue
		}
		d := &MemcgDomain{Path: path, UsageBytes: usage, LimitBytes: limit}
		d.OOMKills, _ = m.OOMKills()
		ds, ok := a.domains[path]
		if !ok {
			ds = &domainState{usage: newSeries(capacityFor(15*time.Minute, a.cfg.Interval))}
			a.domains[path] = ds
		}
		ds.usage.add(now, float64(usage))
		ds.lastSeen = now
		if slope := ds.usage.fitWindow(now, time.Minute).Slope; slope > 0 && limit > usage {
			d.TimeToOOM = &TimeToOOM{Domain: path, Seconds: float64(limit-usage) / slope, Headroom: limit - usage, Growth: slope,
				Service: fastest(snap.Services, paths[path])}
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
		if ps := svcPaths[s.Name]; len(ps) == 1 {
			for path := range ps {
				if d, ok := byPath[path]; ok {
					dd := *d
					s.Memcg = &dd
				}
			}
		}
	}
}

// timeToOOM picks the soonest estimate over the system and every memcg.
func (a *Aggregator) timeToOOM(snap *Snapshot) {
	sys := &snap.System
	var best *TimeToOOM
	if g := sys.GrowthBytesPerS; g > 0 && sys.AvailableBytes > 0 {
		all := make([]string, 0, len(snap.Services))
		for _, s := range snap.Services {
			all = append(all, s.Name)
		}
		best = &TimeToOOM{Domain: "system", Seconds: float64(sys.AvailableBytes) / g, Headroom: sys.AvailableBytes, Growth: g, Service: fastest(snap.Services, all)}
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
		var est *TimeToOOM
		if s.Memcg != nil && s.Memcg.TimeToOOM != nil {
			est = s.Memcg.TimeToOOM
		} else if sys.TimeToOOM != nil && sys.TimeToOOM.Domain == "system" && sys.TimeToOOM.Service == s.Name {
			est = sys.TimeToOOM
		}
		if est != nil {
			v := est.Seconds
			s.TimeToOOMS = &v
		}
	}
}

// fastest names the fastest-growing of the named services.
func fastest(svcs []Service, names []string) string {
	in := map[string]bool{}
	for _, n := range names {
		in[n] = true
	}
	best, rate := "", 0.0
	for _, s := range svcs {
		if in[s.Name] && s.Growth > rate {
			best, rate = s.Name, s.Growth
		}
	}
	return best
}
