// Package recorder is the flight recorder: it keeps the history, joins each
// OOM kill with the kernel's own report, and writes a dump after every kill,
// on demand, and when the time-to-OOM estimate falls below a threshold.
package recorder

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/cgroup"
	"github.com/oomtrace/oomtrace/internal/dump"
	"github.com/oomtrace/oomtrace/internal/history"
	"github.com/oomtrace/oomtrace/internal/kmsg"
	"github.com/oomtrace/oomtrace/internal/proc"
	"github.com/oomtrace/oomtrace/internal/schema"
	"github.com/oomtrace/oomtrace/tracer"
)

const (
	// maxReports bounds the kernel reports waiting for their kill: in a
	// storm the oldest, whose kills are long written, go first.
	maxReports = 256
	// recentKills bounds the search of the kills written for one naming a
	// leftover report's victim: that kill, if any, is among the newest.
	recentKills = 256
	// maxMemcgs bounds the memory cgroups whose counters are kept, on a
	// host that starts and stops many of them.
	maxMemcgs = 4096
	// maxRetries bounds the failed dumps queued, each held whole in memory.
	maxRetries = 16
	// retryEvery spaces the attempts to write a failed dump: a full disk
	// is not freed in a moment.
	retryEvery = 5 * time.Second
	// lateWait is how long a kernel report waits for its kill's event while
	// the ring has lost no OOM event: then the event is late, not lost (a
	// consumer slowed by emulated CPUs or by dumps being written), and a
	// dump from the report alone would be a second dump of one kill.
	lateWait = 30 * time.Second
)

// Config tunes a Recorder.
type Config struct {
	OutDir    string
	Window    time.Duration     // span of a dump (default 10m)
	WarnAt    time.Duration     // write a warn dump when an estimate falls below this (0: never)
	KmsgWait  time.Duration     // how long a kill waits for the kernel's report (default 2s)
	MaxEvents int               // events in one dump at most (default 5000, the newest of each kind)
	Host      dump.Host         // written into every dump
	Cgroups   *cgroup.Hierarchy // for the memcg oom_kill cross-check
	Logger    *slog.Logger
	// ServiceOf names the service of a process (at the moment of the kill).
	ServiceOf func(pid int, comm string) string
	// CmdlineOf gives a process's redacted command line (may be nil).
	CmdlineOf func(pid int) string
	// VMStat reads the kernel's OOM kill counter; default /proc/vmstat oom_kill.
	VMStat func() (uint64, error)
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Watermarks reads the zones' watermarks for a system kill's domain;
	// default /proc/zoneinfo.
	Watermarks func() (proc.Watermarks, error)
}

type pending struct {
	kill   dump.Kill
	since  time.Time
	reason string // the kernel report's kmsg.Report.Reason, once joined
}

// report is a kernel report not yet matched to a kill, and when it came.
type report struct {
	rep kmsg.Report
	at  time.Time
}

// memcgState is what the recorder knows of a memory cgroup's counters as of
// the previous kill in it (or as first seen in a snapshot).
type memcgState struct {
	kills  uint64 // oom_kill counter, one per kill accounted
	hits   uint64 // v2 memory.events oom: OOMs of the cgroup itself
	credit uint64 // kills the last rise of hits covers, not yet attributed
}

// level is a count of the kernel's kills and when the recorder first read it.
type level struct {
	n  uint64
	at time.Time
}

type failed struct {
	base string
	d    *dump.Dump
	next time.Time
}

// Recorder is safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	cfg     Config
	hist    *history.History
	pending []*pending
	reports []report // reports not yet matched to a kill
	retry   []failed
	warned  map[string]time.Time
	kills   []dump.Kill
	dumps   []string
	bases   map[string]bool // base names given out, written or queued
	paths   map[string]bool // the paths in dumps
	vmStart uint64
	vmOK    bool
	lastErr string
	memcgs  map[string]*memcgState
	// levels are the kernel's kill counts (since the start) and when each
	// was first read, to tell a kill missed from one still on its way.
	levels []level
}

// New makes a recorder writing into cfg.OutDir.
func New(cfg Config, hist *history.History) *Recorder {
	if cfg.Window <= 0 {
		cfg.Window = 10 * time.Minute
	}
	if cfg.KmsgWait <= 0 {
		cfg.KmsgWait = 2 * time.Second
	}
	if cfg.MaxEvents <= 0 {
		cfg.MaxEvents = 5000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.VMStat == nil {
		cfg.VMStat = proc.VMStatOOMKills
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Watermarks == nil {
		cfg.Watermarks = proc.ReadWatermarks
	}
	if cfg.ServiceOf == nil {
		cfg.ServiceOf = func(_ int, comm string) string { return comm }
	}
	r := &Recorder{cfg: cfg, hist: hist, warned: map[string]time.Time{}, memcgs: map[string]*memcgState{},
		bases: map[string]bool{}, paths: map[string]bool{}}
	r.vmStart, r.vmOK = 0, false
	if v, err := cfg.VMStat(); err == nil {
		r.vmStart, r.vmOK = v, true
	}
	return r
}

// OnEvent records an event; an OOM kill becomes a pending dump.
func (r *Recorder) OnEvent(ev *tracer.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hist.AddEvent(ev)
	if ev.OOM == nil {
		return
	}
	k := ev.OOM
	kill := dump.Kill{
		Time: ev.Time.UTC(),
		Victim: dump.Victim{
			Task:         dump.Task{PID: k.Victim.PID, Comm: k.Victim.Comm, Service: r.cfg.ServiceOf(int(k.Victim.PID), k.Victim.Comm)},
			Cgroup:       k.MemcgPath,
			AnonRSSBytes: k.AnonRSSBytes, FileRSSBytes: k.FileRSSBytes, ShmemRSSBytes: k.ShmemRSSBytes,
			TotalVMBytes: k.TotalVMBytes, PgTablesBytes: k.PgTablesBytes, OOMScoreAdj: k.OOMScoreAdj, UID: k.UID,
		},
		Trigger:       dump.Task{PID: k.Trigger.PID, Comm: k.Trigger.Comm, Service: r.cfg.ServiceOf(int(k.Trigger.PID), k.Trigger.Comm)},
		MemcgOOMKills: -1,
		Source:        k.Source,
	}
	if r.cfg.CmdlineOf != nil {
		kill.Victim.Cmdline = r.cfg.CmdlineOf(int(k.Victim.PID))
	}
	if r.writtenLocked(k.Victim.PID, "kmsg") { // its event, come late, adds nothing
		r.cfg.Logger.Info("OOM kill event came after its dump was written from the kernel's report", "pid", k.Victim.PID)
		return
	}
	p := &pending{kill: kill, since: r.cfg.Now()}
	r.pending = append(r.pending, p)
	r.joinLocked()
}

// OnReport takes a report the kernel printed to /dev/kmsg.
func (r *Recorder) OnReport(rep kmsg.Report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, report{rep: rep, at: r.cfg.Now()})
	if len(r.reports) > maxReports {
		r.reports = r.reports[len(r.reports)-maxReports:]
	}
	r.joinLocked()
}

// joinLocked matches pending kills with reports and writes the joined ones.
func (r *Recorder) joinLocked() {
	var due []*pending
	keep := r.pending[:0]
	for _, p := range r.pending {
		if i := r.matchLocked(p.kill.Victim.PID); i >= 0 {
			rep := r.reports[i].rep
			r.reports = append(r.reports[:i], r.reports[i+1:]...)
			joinReport(&p.kill, rep)
			p.reason = rep.Reason
			if p.kill.Victim.Comm != "" && p.kill.Victim.Service == "" {
				p.kill.Victim.Service = r.cfg.ServiceOf(int(p.kill.Victim.PID), p.kill.Victim.Comm)
			}
			due = append(due, p)
			continue
		}
		keep = append(keep, p)
	}
	r.pending = keep
	r.writeKillsLocked(due)
}

// writeKillsLocked writes kills already taken off the pending list, so that
// no kill counts twice (as pending and as written) in a dump's accounting.
func (r *Recorder) writeKillsLocked(kills []*pending) {
	for _, p := range kills {
		r.writeKillLocked(p.kill, p.reason)
	}
}

// joinReport adds the kernel's report to a kill. A kill from the plain
// tracepoint of a kernel before about 6.8 has only the victim's pid: its
// comm, sizes, oom_score_adj and uid then come from the report.
func joinReport(k *dump.Kill, rep kmsg.Report) {
	k.KernelReport = true
	k.Constraint, k.OOMMemcg, k.TaskMemcg = rep.Constraint, rep.OOMMemcg, rep.TaskMemcg
	// A path the OOM hook had to cut gives way to the kernel's whole one.
	if k.Victim.Cgroup == "" || rep.TaskMemcg != "" && strings.HasPrefix(k.Victim.Cgroup, tracer.MemcgPathCut) {
		k.Victim.Cgroup = rep.TaskMemcg
	}
	if v := &k.Victim; v.Comm == "" {
		v.Comm, v.Service = rep.Comm, ""
		v.AnonRSSBytes, v.FileRSSBytes, v.ShmemRSSBytes = rep.AnonRSSKB*1024, rep.FileRSSKB*1024, rep.ShmemRSSKB*1024
		v.TotalVMBytes, v.PgTablesBytes, v.OOMScoreAdj = rep.TotalVMKB*1024, rep.PgTablesKB*1024, int32(rep.OOMScoreAdj)
		if rep.UID >= 0 {
			v.UID = uint32(rep.UID)
		}
	}
}

// killFromReport makes a kill of a kernel report alone, for a kill whose
// event the BPF side did not deliver. Its time is when the report came.
func (r *Recorder) killFromReport(rp report) dump.Kill {
	rep := rp.rep
	k := dump.Kill{
		Time:          rp.at.UTC(),
		Victim:        dump.Victim{Task: dump.Task{PID: uint32(rep.PID)}},
		Trigger:       dump.Task{PID: uint32(rep.TriggerPID), Comm: rep.Trigger},
		MemcgOOMKills: -1,
		Source:        "kmsg",
	}
	joinReport(&k, rep)
	k.Victim.Service = r.cfg.ServiceOf(rep.PID, rep.Comm)
	if rep.Trigger != "" {
		k.Trigger.Service = r.cfg.ServiceOf(rep.TriggerPID, rep.Trigger)
	}
	return k
}

func (r *Recorder) matchLocked(pid uint32) int {
	for i, rp := range r.reports {
		if rp.rep.PID == int(pid) {
			return i
		}
	}
	return -1
}

// OnSnapshot records a snapshot, writes kills whose report did not come in
// time, warns, and retries failed writes.
func (r *Recorder) OnSnapshot(snap aggregate.Snapshot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hist.Add(snap)
	now := r.cfg.Now()
	var due []*pending
	keep := r.pending[:0]
	for _, p := range r.pending {
		if now.Sub(p.since) >= r.cfg.KmsgWait {
			due = append(due, p)
			continue
		}
		keep = append(keep, p)
	}
	r.pending = keep
	r.writeKillsLocked(due)
	r.reportsOnlyLocked(now)
	r.baselineLocked(snap)
	r.warnLocked(snap)
	r.retryLocked(now)
}

// reportsOnlyLocked writes a dump for each kernel report no event came for
// within KmsgWait, while the kernel has counted more kills than the recorder
// saw for at least as long: the BPF side lost those kills (ring full), the
// kernel did not. A report whose kill was written already (it came late), or
// whose kill the kernel's counter does not miss, is dropped.
func (r *Recorder) reportsOnlyLocked(now time.Time) {
	if len(r.reports) == 0 {
		return
	}
	v, ok := r.kernelKillsLocked()
	if !ok {
		return
	}
	lost := r.hist.Last().System.Lost[tracer.EventOOMKill.String()]
	for len(r.reports) > 0 {
		rp := r.reports[0]
		raw, missed := r.deficitLocked(now, v)
		if now.Sub(rp.at) < r.cfg.KmsgWait || (raw > 0 && missed == 0) || (lost == 0 && now.Sub(rp.at) < lateWait) {
			return
		}
		r.reports = r.reports[1:]
		if missed > 0 && !r.writtenLocked(uint32(rp.rep.PID), "") {
			r.writeKillLocked(r.killFromReport(rp), rp.rep.Reason)
		}
	}
}

// writtenLocked says whether a recent kill already names pid as victim,
// from a dump of the given source ("kmsg": the kernel's report alone), or
// of any source when source is "".
func (r *Recorder) writtenLocked(pid uint32, source string) bool {
	for i := len(r.kills) - 1; i >= 0 && i >= len(r.kills)-recentKills; i-- {
		if k := r.kills[i]; k.Victim.PID == pid && (source == "" || k.Source == source) {
			return true
		}
	}
	return false
}

// kernelKillsLocked reads the kernel's OOM kill count since the start.
func (r *Recorder) kernelKillsLocked() (uint64, bool) {
	if !r.vmOK {
		return 0, false
	}
	v, err := r.cfg.VMStat()
	if err != nil || v < r.vmStart {
		return 0, false
	}
	return v - r.vmStart, true
}

// deficitLocked returns how many of the v kills the kernel counted since the
// start are beyond those written or pending (raw), and how many of those it
// had counted KmsgWait ago already (missed): a kill counted a moment ago may
// still be on its way, even while others keep coming, as in a storm.
func (r *Recorder) deficitLocked(now time.Time, v uint64) (raw, missed uint64) {
	if len(r.levels) == 0 || v > r.levels[len(r.levels)-1].n {
		r.levels = append(r.levels, level{n: v, at: now})
	}
	// Of the levels read KmsgWait ago or earlier, the newest is all that counts.
	old := -1
	for i, l := range r.levels {
		if now.Sub(l.at) >= r.cfg.KmsgWait {
			old = i
		}
	}
	if old > 0 {
		r.levels = r.levels[old:]
	}
	seen := uint64(len(r.kills) + len(r.pending))
	if v > seen {
		raw = v - seen
	}
	if old >= 0 && r.levels[0].n > seen {
		missed = r.levels[0].n - seen
	}
	return raw, missed
}

// baselineLocked notes the OOM counters of memory cgroups seen for the first
// time, so the first kill in one can tell a memcg OOM from a global one.
func (r *Recorder) baselineLocked(snap aggregate.Snapshot) {
	if r.cfg.Cgroups == nil {
		return
	}
	for _, d := range snap.System.Memcgs {
		if _, ok := r.memcgs[d.Path]; ok || len(r.memcgs) >= maxMemcgs || r.pendingInLocked(d.Path) {
			continue
		}
		st := &memcgState{kills: d.OOMKills}
		if r.cfg.Cgroups.Version == 2 {
			h, err := cgroup.Memcg{H: *r.cfg.Cgroups, Path: d.Path}.OOMs()
			if err != nil {
				continue
			}
			st.hits = h
		}
		r.memcgs[d.Path] = st
	}
}

// Flush writes every pending kill at once (on exit).
func (r *Recorder) Flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	var due []*pending
	for _, p := range r.pending {
		due = append(due, p)
	}
	r.pending = nil
	r.writeKillsLocked(due)
	r.retryLocked(time.Time{}.Add(1 << 62))
}

// memcgReason begins the kernel's "Killed process" line of a memcg OOM.
const memcgReason = "Memory cgroup out of memory"

// writeKillLocked writes a kill; reason is the start of the kernel's
// "Killed process" line, "" when there was none or it was bare.
//
// When the kernel printed no constraint (it rate-limits all of its report
// but that line), a memcg OOM is inferred: from reason, which the kernel
// prints for every kill since about 5.0; else from the victim cgroup's
// counters (see memcgOOMLocked).
func (r *Recorder) writeKillLocked(k dump.Kill, reason string) {
	memcg, limited := reason == memcgReason, false
	if r.cfg.Cgroups != nil && k.Victim.Cgroup != "" {
		m := cgroup.Memcg{H: *r.cfg.Cgroups, Path: k.Victim.Cgroup}
		n, err := m.OOMKills()
		if err == nil {
			k.MemcgOOMKills = int64(n)
		}
		byCounters := err == nil && r.memcgOOMLocked(m, n) // kept in step for every kill
		lim, err := m.Limit()
		limited = err == nil && lim > 0
		if reason == "" {
			memcg = byCounters && limited
		}
	}
	if memcg && k.Constraint == "" {
		k.Constraint, k.ConstraintInferred = "CONSTRAINT_MEMCG", true
		k.TaskMemcg = k.Victim.Cgroup
		if limited { // else the limit that was hit is an ancestor's
			k.OOMMemcg = k.Victim.Cgroup
		}
	}
	r.kills = append(r.kills, k)
	d := r.buildLocked(dump.KindOOM, k.Time, []dump.Kill{k})
	r.writeLocked(dump.Name(dump.KindOOM, k.Time, k.Victim.PID), d)
}

// pendingInLocked says whether a kill waiting for its report was in cgroup
// path: its counters already include that kill, so they are no baseline.
func (r *Recorder) pendingInLocked(path string) bool {
	for _, p := range r.pending {
		if p.kill.Victim.Cgroup == path {
			return true
		}
	}
	return false
}

// memcgOOMLocked accounts one kill in cgroup m, whose oom_kill counter now
// reads kills, and says whether the counters show it as a memcg OOM. The
// kernel raises a cgroup's oom_kill for any kill of a task in it, a global
// one too; so on cgroup v2 it takes the cgroup's "oom" event (raised by
// memcg OOMs only) having risen since the previous kill in the cgroup: then
// every kill the oom_kill counter shows beyond those accounted is a memcg
// one. cgroup v1 has no such event (its memory.failcnt rises only after the
// kill, too late to read): there, a rise of oom_kill since the previous
// kill is all it takes, and a global kill of a task in a limited cgroup
// without a kernel report is taken for a memcg one. A cgroup never seen
// before starts at zero.
func (r *Recorder) memcgOOMLocked(m cgroup.Memcg, kills uint64) bool {
	st := r.memcgs[m.Path]
	if st == nil {
		st = &memcgState{}
		if len(r.memcgs) < maxMemcgs {
			r.memcgs[m.Path] = st
		}
	}
	rose := kills > st.kills
	if m.H.Version != 2 {
		if rose {
			st.kills++
		}
		return rose
	}
	if h, err := m.OOMs(); err == nil && h > st.hits {
		st.hits = h
		if rose {
			st.credit = kills - st.kills
		}
	}
	if rose {
		st.kills++
	}
	if st.credit == 0 {
		return false
	}
	st.credit--
	return true
}

func (r *Recorder) warnLocked(snap aggregate.Snapshot) {
	if r.cfg.WarnAt <= 0 {
		return
	}
	var ests []*aggregate.TimeToOOM
	if e := snap.System.SystemTimeToOOM; e != nil { // also behind a sooner memcg
		ests = append(ests, e)
	}
	for i := range snap.System.Memcgs {
		if e := snap.System.Memcgs[i].TimeToOOM; e != nil {
			ests = append(ests, e)
		}
	}
	for _, e := range ests {
		if e.Seconds >= r.cfg.WarnAt.Seconds() {
			continue
		}
		// Once a window, unless a kill in the domain has come since.
		if last, ok := r.warned[e.Domain]; ok && snap.Time.Sub(last) < r.cfg.Window && !r.lastKillLocked(e.Domain, snap.Time).After(last) {
			continue
		}
		r.warned[e.Domain] = snap.Time
		d := r.buildLocked(dump.KindWarn, snap.Time, nil)
		w := *e
		d.Warning = &w
		d.Domains = []dump.Domain{r.domainLocked(e.Domain, d.Window.Start, d.Window.End, time.Time{})}
		r.cfg.Logger.Warn("OOM kill expected soon", "domain", e.Domain, "in", time.Duration(e.Seconds*float64(time.Second)).Round(time.Second), "service", e.Service,
			"covered", e.Covered, "growth_span", time.Duration(e.GrowthSpanS*float64(time.Second)).Round(time.Second))
		r.writeLocked(dump.Name(dump.KindWarn, snap.Time, 0), d)
	}
}

// Snapshot writes a snapshot dump now (SIGUSR2).
func (r *Recorder) Snapshot() ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now()
	d := r.buildLocked(dump.KindSnapshot, now, nil)
	return r.writeLocked(dump.Name(dump.KindSnapshot, now, 0), d)
}

// Summary writes the end-of-run summary with every kill of the run.
func (r *Recorder) Summary(run *dump.Run, start time.Time) ([]string, error) {
	return r.SummaryJudged(run, start, nil)
}

// SummaryJudged is Summary with judge, if not nil, called on the summary
// before it is written: run's budgets and baseline are judged on the
// services it holds, and written with them.
func (r *Recorder) SummaryJudged(run *dump.Run, start time.Time, judge func(*dump.Dump)) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now()
	d := r.buildLocked(dump.KindSummary, now, append([]dump.Kill(nil), r.kills...))
	d.Window.Start = start.UTC()
	d.Services = r.hist.Services(start, now, now)
	markVictim(d)
	d.SystemSamples = r.hist.System(start, now)
	run.Dumps = append([]string(nil), r.dumps...)
	d.Run = run
	if judge != nil {
		judge(d)
	}
	return r.writeLocked(dump.Name(dump.KindSummary, now, 0), d)
}

// Kills returns every kill recorded so far.
func (r *Recorder) Kills() []dump.Kill {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]dump.Kill(nil), r.kills...)
}

// Dumps returns the paths written so far.
func (r *Recorder) Dumps() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.dumps...)
}

func (r *Recorder) buildLocked(kind string, at time.Time, kills []dump.Kill) *dump.Dump {
	end := r.cfg.Now().UTC()
	if at.After(end) {
		end = at
	}
	start := at.Add(-r.cfg.Window)
	last := r.hist.Last()
	d := &dump.Dump{
		Version: dump.Version, Kind: kind, Time: at.UTC(), Host: r.cfg.Host,
		Window:        dump.Window{Start: start.UTC(), End: end.UTC()},
		Kills:         kills,
		System:        last.System,
		Services:      r.hist.Services(start, end, at),
		SystemSamples: r.hist.System(start, end),
		LostEvents:    last.System.Lost,
	}
	if d.LostEvents == nil {
		d.LostEvents = map[string]uint64{}
	}
	evs := r.hist.Events(start, end)
	evs = trimEvents(evs, r.cfg.MaxEvents)
	d.Events = make([]schema.Event, len(evs))
	for i := range evs {
		d.Events[i] = schema.FromEvent(&evs[i])
		d.Events[i].Service = r.hist.ServiceOfPID(int(evs[i].PID))
	}
	if len(kills) > 0 {
		k := kills[0]
		d.Victim, d.Trigger = &k.Victim, &k.Trigger
		d.Constraint, d.OOMMemcg, d.TaskMemcg = k.Constraint, k.OOMMemcg, k.TaskMemcg
		markVictim(d)
	}
	d.Domains = r.domainsLocked(start, end, kills)
	dump.AttachStacks(d, r.hist.Stacks)
	if v, ok := r.kernelKillsLocked(); ok {
		d.OOMKillsKernel = v
		// Kills pending, or reported by the kernel and waiting for their
		// event, are not missed; nor is a kill counted a moment ago whose
		// event is still on its way: only a deficit older than KmsgWait is.
		if _, missed := r.deficitLocked(r.cfg.Now(), v); missed > uint64(len(r.reports)) {
			d.Missed = missed - uint64(len(r.reports))
		}
	}
	return d
}

// markVictim flags the service of the dump's (first) victim.
func markVictim(d *dump.Dump) {
	for i := range d.Services {
		d.Services[i].Victim = d.Victim != nil && d.Services[i].Name == d.Victim.Service
	}
}

// writeLocked writes a dump; a failure is logged and retried later. A base
// name given out before (two warnings in one sample, two snapshots in one
// millisecond) gets a suffix, so no dump replaces another; the summary's
// fixed name is the exception.
func (r *Recorder) writeLocked(base string, d *dump.Dump) ([]string, error) {
	if d.Kind != dump.KindSummary {
		base = dump.Unique(base, func(b string) bool {
			if r.bases[b] {
				return true
			}
			_, err := os.Lstat(filepath.Join(r.cfg.OutDir, b+".json"))
			return err == nil
		})
	}
	r.bases[base] = true
	paths, err := r.tryWrite(base, d)
	if err != nil {
		if len(r.retry) < maxRetries {
			r.retry = append(r.retry, failed{base: base, d: d, next: r.cfg.Now().Add(retryEvery)})
		} else {
			r.cfg.Logger.Error("dump dropped: too many failed writes queued", "dump", base)
		}
		return nil, err
	}
	return paths, nil
}

func (r *Recorder) tryWrite(base string, d *dump.Dump) ([]string, error) {
	err := os.MkdirAll(r.cfg.OutDir, 0o700)
	var paths []string
	if err == nil {
		paths, err = dump.WriteFiles(r.cfg.OutDir, base, d)
	}
	if err != nil {
		if msg := err.Error(); msg != r.lastErr {
			r.cfg.Logger.Error("cannot write dump; will retry", "dump", base, "dir", r.cfg.OutDir, "err", msg)
			r.lastErr = msg
		}
		return nil, err
	}
	r.lastErr = ""
	for _, p := range paths {
		if !r.paths[p] {
			r.paths[p] = true
			r.dumps = append(r.dumps, p)
		}
	}
	r.cfg.Logger.Info("dump written", "kind", d.Kind, "file", paths[0])
	return paths, nil
}

func (r *Recorder) retryLocked(now time.Time) {
	keep := r.retry[:0]
	for _, f := range r.retry {
		if now.Before(f.next) {
			keep = append(keep, f)
			continue
		}
		if _, err := r.tryWrite(f.base, f.d); err != nil {
			f.next = r.cfg.Now().Add(retryEvery)
			keep = append(keep, f)
		}
	}
	r.retry = keep
}

// Pending reports how many dumps wait for a retry.
func (r *Recorder) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.retry) + len(r.pending)
}
