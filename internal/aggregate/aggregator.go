// Package aggregate turns processes, kernel counters and events into
// per-service figures: memory, growth, leak suspects, OOM kills and the time
// left before the next one.
package aggregate

import (
	"errors"
	"path"
	"runtime"
	"slices"
	"sort"
	"time"

	"golang.org/x/sys/unix"

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
// (the kernel's task iterator), appending to a reused slice. Its resident
// figures then stand in for /proc/PID/status, which is not read at all.
type Sampler interface {
	AppendProcesses(dst []tracer.ProcSample) ([]tracer.ProcSample, error)
}

const (
	smapsSlice = time.Millisecond // smaps_rollup re-reading per tick at most, in CPU time
	smapsKeep  = 64               // candidates kept for it
	// Processes never read get their own, larger slice: 1/firstShare of
	// the interval (6% of a core), at most firstMax a tick. A read costs
	// 2-3 ms per 100 MiB mapped, so a hundred such processes are all read
	// within the first five ticks, not one a tick for minutes.
	firstShare = 16
	firstMax   = 100 * time.Millisecond
	// A process whose resident memory has not moved since its smaps_rollup
	// was read is read again only this often.
	pssMaxAgeFactor = 30               // × PSSInterval
	limitMaxAge     = 10 * time.Second // memory cgroup limits are re-read this often
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
	WithProcesses bool              // fill Service.PIDs and Service.Processes
	RedactAll     bool              // mask every argument of command lines, not only secrets
	// Stacks resolves sampled growth stacks; nil leaves samples out.
	Stacks StackResolver
	// StackWindow is the span a stack's grown bytes are summed over: the
	// recorder's --window (default 10m).
	StackWindow time.Duration
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
	if c.StackWindow <= 0 {
		c.StackWindow = 10 * time.Minute
	}
}

type procState struct {
	info      proc.Info
	cmdline   string // redacted once per exec
	key       service.Key
	mem       proc.Mem
	memAt     time.Time // when mem was read
	smaps     proc.Smaps
	smapsAt   time.Time // zero: never read
	smapsOf   uint64    // resident bytes when smaps was read
	seenAt    time.Time // first tick that took its memory
	marks     rssMarks  // for its growth over about the last minute
	sumGen    uint64    // tick that summed it into its service
	dropped   bool      // no longer in the table
	ctr       tracer.Counters
	gen       uint64
	exited    bool
	reread    bool  // exec seen: identity changed
	unsettled uint8 // smaps_rollup reads in a row that did not match RSS
	svc       *serviceState
	inst      instance // the master's tree whose name it holds, if any
}

type serviceState struct {
	key       service.Key
	gen       uint64   // tick whose figures cur holds
	cur       Service  // this tick's sums
	calls     uint64   // this tick's call count
	procs     int      // processes at the last tick
	memcgs    []string // memory cgroups of this tick's processes
	gone      bool     // dropped from the table
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
	limit    uint64
	limitAt  time.Time
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
	claims  map[instance]*claim // live masters' service names
	holders map[string]instance // and back
	// deferKeys: processes added while a tick lists them get their keys
	// after the exits are dropped, so that a master restarted within the
	// tick gets its old name back.
	deferKeys bool
	domains   map[string]*domainState
	system    *series
	gen       uint64

	oomKills     uint64
	prevTick     time.Time
	prevReceived uint64

	samples []tracer.ProcSample // reused each tick
	stale   []*procState        // smaps_rollup candidates, read at the next tick
	live    []*serviceState
	exits   []int             // pids whose exit was seen since the last tick
	gone    map[int]goneProc  // recently dropped from the table, by pid
	now     time.Time         // the tick being taken
	paths   map[string]string // cgroup paths, one copy each
	order   []*procState      // this tick's processes, in the order listed
	prev    []*procState      // the last tick's
	cursor  int               // where this tick's list is in prev
	added   []*procState      // added this tick
	marked  int               // table entries listed this tick
	keep    int               // smaps_rollup candidates kept a tick

	// smaps_rollup reading: the first reads' slice and the clock of both
	// budgets; this tick's reads, the CPU time its first reads took, and
	// the RSS standing in for PSS in its sums (and of how many processes).
	firstSlice  time.Duration
	cpu         func() time.Duration // this thread's CPU time; a fake in tests
	reads       int
	firstSpent  time.Duration
	unreadBytes uint64
	unreadProcs int

	tableSize, goneSize, svcsSize, claimsSize, holdersSize peak // of the maps, to resize them after a burst

	stk *stackTable // growth stacks (stacks.go)
}

// New makes an aggregator. ctrs may be nil.
func New(cfg Config, procs ProcSource, ctrs CounterSource) *Aggregator {
	cfg.defaults()
	keep := min(cfg.PSSBudget, smapsKeep) // the time budget allows a few reads a tick
	if cfg.PSSInterval < 0 {
		keep = cfg.PSSBudget
	}
	return &Aggregator{
		cfg: cfg, procs: procs, ctrs: ctrs, keep: keep,
		firstSlice: min(max(cfg.Interval/firstShare, smapsSlice), firstMax), cpu: threadCPU,
		resolver: service.NewResolver(cfg.Rules),
		table:    map[int]*procState{},
		gone:     map[int]goneProc{},
		svcs:     map[string]*serviceState{},
		claims:   map[instance]*claim{},
		holders:  map[string]instance{},
		domains:  map[string]*domainState{},
		system:   newSeries(capacityFor(15*time.Minute, cfg.Interval)),
		stk:      newStackTable(cfg.StackWindow, "/proc"),
	}
}

// threadCPU is the calling thread's CPU time: the budgets count what reads
// cost, not time spent waiting for a CPU on a loaded machine.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return time.Duration(time.Now().UnixNano()) // wall time bounds it
	}
	return time.Duration(ts.Nano())
}

func capacityFor(window, interval time.Duration) int {
	return int(window/interval) + 2
}

// HandleEvent updates the process table from a lifecycle or OOM event.
func (a *Aggregator) HandleEvent(ev *tracer.Event) {
	a.stackEvent(ev)
	switch ev.Type {
	case tracer.EventExec:
		if p, ok := a.table[int(ev.PID)]; ok {
			p.reread = true
		}
	case tracer.EventExit:
		if p, ok := a.table[int(ev.PID)]; ok {
			p.exited = true // removed at the next tick, after any OOM attribution
			a.exits = append(a.exits, int(ev.PID))
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
	return a.gone[pid].cmdline
}

// ServiceOf names the service of a process, reading /proc for one not yet
// seen; comm is the fallback for a process that is already gone.
func (a *Aggregator) ServiceOf(pid int, comm string) service.Key {
	if p, ok := a.table[pid]; ok && p.key.Name != "" {
		if p.reread { // exec'd since it was read
			a.reidentify(p)
		}
		return p.key
	}
	// An OOM event comes on its own ring and may be read after the
	// victim's exit was seen and the process dropped.
	if g, ok := a.gone[pid]; ok {
		return g.key
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
	p := &procState{info: a.interned(info), gen: a.gen, cmdline: redact.Line(info.Cmdline, a.cfg.RedactAll)}
	a.table[pid] = p
	a.added = append(a.added, p)
	if !a.deferKeys {
		a.setKey(p, a.resolve(p))
	}
	return p
}

// reidentify re-reads an exec'd process and resolves its service again; a
// reused pid (another start time) starts from zero.
func (a *Aggregator) reidentify(p *procState) {
	info, err := a.procs.Info(p.info.PID)
	if err != nil {
		return
	}
	info = a.interned(info)
	if info.StartTicks != p.info.StartTicks {
		p.ctr, p.smapsAt, p.smaps = tracer.Counters{}, time.Time{}, proc.Smaps{}
	}
	p.marks = rssMarks{} // a new program: its memory starts over
	p.info, p.reread = info, false
	p.cmdline = redact.Line(info.Cmdline, a.cfg.RedactAll)
	a.setKey(p, a.resolve(p))
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
	a.now = now
	runtime.LockOSThread() // the reads' CPU time is this thread's
	defer runtime.UnlockOSThread()
	a.reads, a.firstSpent, a.unreadBytes, a.unreadProcs = 0, 0, 0, 0
	// The last tick's candidates are read first, so the one pass of scan
	// sums every figure, PSS included.
	a.readSmaps(now)
	samples := a.sample()
	if err := a.scan(now, samples); err != nil {
		return Snapshot{}, err
	}
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
	u := &snap.System
	u.UnexplainedBytes = int64(u.UsedBytes) - int64(pss)
	u.PSSUnreadProcs, u.PSSUnreadBytes = a.unreadProcs, a.unreadBytes
	// RSS standing in for PSS overstates it by less than itself: the figure
	// is true to within a 32nd of used memory, or not a fact.
	u.UnexplainedCovered = u.UnexplainedBytes >= 0 && a.unreadBytes <= u.UsedBytes/32
	snap.System.Procs = len(a.table)
	a.timeToOOM(&snap, a.memcgFigures(now, &snap))
	a.stackFigures(now, &snap)
	a.prevTick = now
	a.table = shrink(&a.tableSize, a.table)
	a.gone = shrink(&a.goneSize, a.gone)
	a.svcs = shrink(&a.svcsSize, a.svcs)
	a.claims = shrink(&a.claimsSize, a.claims)
	a.holders = shrink(&a.holdersSize, a.holders)
	return snap, nil
}

// sample reads every process in one pass where the kernel allows; nil otherwise.
func (a *Aggregator) sample() []tracer.ProcSample {
	sm, ok := a.ctrs.(Sampler)
	if !ok {
		return nil
	}
	list, err := sm.AppendProcesses(a.samples[:0])
	if err != nil {
		return nil
	}
	a.samples = list
	if oversized(cap(list), len(list)) {
		a.samples = nil // after a burst: the next tick allocates what it needs
	}
	if list == nil {
		list = []tracer.ProcSample{} // none, but the iterator works
	}
	return list
}

// scan adds new processes, drops those gone, re-reads exec'd ones, and
// takes each one's memory, in one pass over the list. The task iterator's
// list, when there is one, saves a /proc directory walk (it has no kernel
// threads, which hold no memory of their own).
func (a *Aggregator) scan(now time.Time, samples []tracer.ProcSample) error {
	a.marked = 0
	// The list before last becomes this tick's. It is cleared whole, so that
	// its tail past what this tick lists keeps no exited process alive, and
	// let go when a burst left it much larger than the last tick's.
	next := a.prev
	clear(next[:cap(next)])
	if oversized(cap(next), len(a.order)) {
		next = nil
	}
	a.prev, a.order, a.cursor = a.order, next[:0], 0
	a.deferKeys = true
	defer func() { a.deferKeys = false }()
	clear(a.live) // a tick that failed may have left some
	a.live = a.live[:0]
	if samples != nil {
		for i := range samples {
			if p := a.see(samples[i].PID); p != nil {
				a.take(now, p, &samples[i])
				a.sum(now, p)
			}
		}
	} else {
		pids, err := a.procs.Pids()
		if err != nil {
			return err
		}
		for _, pid := range pids {
			if p := a.see(pid); p != nil {
				a.take(now, p, nil)
				a.sum(now, p)
			}
		}
	}
	a.expireGone(now)
	for _, pid := range a.exits {
		if p, ok := a.table[pid]; ok && (p.gen != a.gen || p.exited) {
			a.drop(pid, p)
		}
	}
	clear(a.exits)
	a.exits = a.exits[:0]
	if len(a.table) > a.marked { // some vanished unannounced, or were added for a tree
		for pid, p := range a.table {
			if p.gen != a.gen || p.exited {
				a.drop(pid, p)
			}
		}
	}
	// Keys of children may depend on parents added this tick; resolving
	// them may add more parents, at the end of the list. All are resolved
	// before any is summed: a worker's key may rename its master.
	for i := 0; i < len(a.added); i++ {
		if p := a.added[i]; a.table[p.info.PID] == p && p.key.Name == "" {
			a.setKey(p, a.resolve(p))
		}
	}
	for _, p := range a.added {
		if a.table[p.info.PID] != p {
			continue
		}
		if !p.memAt.Equal(now) {
			a.take(now, p, nil) // a parent the list did not give
		}
		a.sum(now, p)
	}
	clear(a.added)
	a.added = a.added[:0]
	return nil
}

// see marks a listed pid as live this tick: it adds a new process, replaces
// one whose pid was reused, and re-reads an exec'd one.
func (a *Aggregator) see(pid int) *procState {
	p, ok := a.inOrder(pid)
	switch {
	case !ok:
		a.add(pid)
	case p.exited:
		// The pid is listed again: a zombie not yet reaped, or a new process.
		a.drop(pid, p)
		if q := a.add(pid); q != nil && q.info.StartTicks == p.info.StartTicks {
			delete(a.table, pid) // not drop: the zombie's read must not replace p's in gone
			q.dropped = true
		}
	case p.reread:
		a.reidentify(p)
		p.gen = a.gen
	default:
		p.gen = a.gen
	}
	if p := a.table[pid]; p != nil && p.gen == a.gen && !p.exited {
		a.marked++
		a.order = append(a.order, p)
		return p
	}
	return nil
}

// take sets a process's memory and counters from its sample, or from
// /proc/PID/status and a counter lookup without one, and makes it a
// smaps_rollup candidate when its PSS is due.
func (a *Aggregator) take(now time.Time, p *procState, s *tracer.ProcSample) {
	if p.info.Kernel {
		return
	}
	if s != nil {
		p.mem = proc.Mem{RSSAnon: s.Anon, RSSFile: s.File, RSSShmem: s.Shmem, Swap: s.Swap}
		p.memAt = now
		if s.HasCounters {
			p.ctr = s.Counters
		}
	} else {
		m, err := a.procs.Mem(p.info.PID)
		if err != nil {
			return
		}
		p.mem, p.memAt = m, now
		if a.ctrs != nil {
			if c, err := a.ctrs.Counters(p.info.PID); err == nil {
				p.ctr = c
			}
		}
	}
	p.marks.add(now, p.mem.RSS())
	fresh := p.seenAt.IsZero() && !a.prevTick.IsZero() // born since the last tick
	if p.seenAt.IsZero() {
		p.seenAt = now
	}
	switch age := now.Sub(p.smapsAt); {
	case fresh && a.cfg.PSSInterval >= 0:
		// One that lives less than a tick is not worth a read.
	case a.cfg.PSSInterval < 0:
		a.stale = oldest(a.stale, p, a.keep)
	case p.smapsAt.IsZero():
		a.readFirst(now, p)
	case age >= a.cfg.PSSInterval*pssMaxAgeFactor:
		a.stale = oldest(a.stale, p, a.keep)
	case age >= a.cfg.PSSInterval && moved(p.smapsOf, p.mem.RSS()):
		a.stale = oldest(a.stale, p, a.keep)
	}
}

// readSmaps reads smaps_rollup of this tick's candidates, oldest first,
// within a count and a CPU time budget; with PSSInterval < 0 (every tick,
// for tests) only the count applies.
func (a *Aggregator) readSmaps(now time.Time) {
	stale := a.stale
	sort.Slice(stale, func(i, j int) bool { return stale[i].smapsAt.Before(stale[j].smapsAt) })
	start := a.cpu()
	for i, p := range stale {
		if a.reads >= a.cfg.PSSBudget || a.cfg.PSSInterval >= 0 && i > 0 && a.cpu()-start > smapsSlice {
			break
		}
		if a.table[p.info.PID] != p {
			continue // gone since
		}
		a.readOne(now, p)
	}
	clear(stale)
	a.stale = stale[:0]
}

// readFirst reads a process never read before at once, in the scan that
// sums it, while this tick's first-read slice lasts; the rest wait for the
// next tick's.
func (a *Aggregator) readFirst(now time.Time, p *procState) {
	if a.reads >= a.cfg.PSSBudget || a.firstSpent >= a.firstSlice {
		return
	}
	start := a.cpu()
	a.readOne(now, p)
	a.firstSpent += a.cpu() - start
}

func (a *Aggregator) readOne(now time.Time, p *procState) {
	a.reads++
	s, err := a.procs.Smaps(p.info.PID)
	if errors.Is(err, proc.ErrUnsettled) && p.unsettled < 2 {
		p.unsettled++ // keep the last figure and its age; read again when due
		return
	}
	if err == nil || errors.Is(err, proc.ErrUnsettled) {
		p.smaps, p.smapsAt, p.smapsOf, p.unsettled = s, now, p.mem.RSS(), 0
	}
}

// oldest adds p to h, a max-heap on smapsAt of at most k processes: the k
// read longest ago.
func oldest(h []*procState, p *procState, k int) []*procState {
	older := func(i, j int) bool { return h[i].smapsAt.After(h[j].smapsAt) }
	if len(h) == k {
		if !p.smapsAt.Before(h[0].smapsAt) {
			return h
		}
		h[0] = p
	} else {
		h = append(h, p)
		for i := len(h) - 1; i > 0; { // sift up
			up := (i - 1) / 2
			if !older(i, up) {
				break
			}
			h[i], h[up] = h[up], h[i]
			i = up
		}
		return h
	}
	for i := 0; ; { // sift down
		l, r, big := 2*i+1, 2*i+2, i
		if l < len(h) && older(l, big) {
			big = l
		}
		if r < len(h) && older(r, big) {
			big = r
		}
		if big == i {
			return h
		}
		h[i], h[big] = h[big], h[i]
		i = big
	}
}

// moved says resident memory changed by more than a page batch's noise
// (64 KiB) or 1% since smaps_rollup was read.
func moved(then, now uint64) bool {
	d := max(then, now) - min(then, now)
	return d > 64<<10 && d*100 > then
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
	f := a.system.fitWindow(now, time.Minute)
	out.GrowthBytesPerS, out.GrowthSpanS, out.GrowthCovered = f.Slope, f.Span.Seconds(), f.covers(time.Minute)
	return out
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
		st.gen, st.calls, st.memcgs = a.gen, 0, st.memcgs[:0]
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
