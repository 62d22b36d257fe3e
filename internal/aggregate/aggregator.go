// Package aggregate turns processes, kernel counters and events into
// per-service figures: memory, growth, leak suspects, OOM kills and the time
// left before the next one.
package aggregate

import (
	"runtime"
	"time"

	"github.com/oomtrace/oomtrace/internal/cgroup"
	"github.com/oomtrace/oomtrace/internal/proc"
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
	Launchers     []int             // pids whose children are services of their own (the recorder: run's command)
	Cgroups       *cgroup.Hierarchy // memory cgroup figures when set
	WithProcesses bool              // fill Service.PIDs and Service.Processes
	RedactAll     bool              // mask every argument of command lines, not only secrets
	// Stacks resolves sampled growth stacks; nil leaves samples out.
	Stacks StackResolver
	// Python puts the Python frames of a sample into its native stack;
	// nil leaves stacks native.
	Python PythonFrames
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
	keyed   []newKey          // their keys, resolved before any is given (see scan)
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
	stq stackQueue  // samples being resolved (stackqueue.go)
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
		resolver: service.NewResolver(cfg.Rules, cfg.Launchers...),
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
