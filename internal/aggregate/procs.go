package aggregate

import (
	"cmp"
	"slices"
	"time"

	"github.com/oomtrace/oomtrace/internal/proc"
	"github.com/oomtrace/oomtrace/internal/redact"
	"github.com/oomtrace/oomtrace/internal/service"
	"github.com/oomtrace/oomtrace/tracer"
)

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

// newKey is a process added this tick, with its key not yet given.
type newKey struct {
	p         *procState
	k         service.Key
	rootStart uint64 // the start of the key's root process
}

// startOf is pid's start time, 0 if it is not in the table.
func (a *Aggregator) startOf(pid int) uint64 {
	if r := a.table[pid]; r != nil {
		return r.info.StartTicks
	}
	return 0
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
	// them may add more parents, at the end of the list. All are resolved,
	// then given oldest master first: of two masters of one name seen in
	// one tick, the older gets the name, however young its workers (a HUP
	// re-forks them). All before any is summed: a worker's key may rename
	// its master.
	keyed := a.keyed[:0]
	for i := 0; i < len(a.added); i++ {
		if p := a.added[i]; a.table[p.info.PID] == p && p.key.Name == "" {
			k := a.resolve(p)
			keyed = append(keyed, newKey{p: p, k: k, rootStart: a.startOf(k.Root)})
		}
	}
	slices.SortStableFunc(keyed, func(x, y newKey) int {
		return cmp.Or(cmp.Compare(x.rootStart, y.rootStart), cmp.Compare(x.k.Root, y.k.Root))
	})
	for _, nk := range keyed {
		a.setKey(nk.p, nk.k)
	}
	clear(keyed)
	a.keyed = keyed[:0]
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

// inOrder finds a listed process in the table. The kernel lists processes
// in the same order each tick (the task list, or pid order from /proc), so
// the next entry of the last tick's list is tried before the map: most
// ticks then make no map lookup at all. A process gone since is skipped;
// a new one falls back to the map.
func (a *Aggregator) inOrder(pid int) (*procState, bool) {
	for c := a.cursor; c < len(a.prev) && c <= a.cursor+1; c++ {
		if p := a.prev[c]; p.info.PID == pid && !p.dropped {
			a.cursor = c + 1
			return p, true
		}
	}
	p, ok := a.table[pid]
	return p, ok
}

// goneFor is how long a dropped process's service and command line are
// kept for an OOM event that arrives late.
const goneFor = 10 * time.Second

// goneProc is what is kept of a process dropped from the table.
type goneProc struct {
	key     service.Key
	cmdline string
	at      time.Time // the tick that dropped it
}

// drop removes a process from the table, remembering its service.
func (a *Aggregator) drop(pid int, p *procState) {
	delete(a.table, pid)
	p.dropped = true
	a.release(p.inst)
	p.inst = instance{}
	if p.key.Name != "" {
		a.gone[pid] = goneProc{key: p.key, cmdline: p.cmdline, at: a.now}
	}
}

// expireGone forgets processes dropped more than goneFor ago.
func (a *Aggregator) expireGone(now time.Time) {
	for pid, g := range a.gone {
		if now.Sub(g.at) > goneFor {
			delete(a.gone, pid)
		}
	}
}
