// Package recorder is the flight recorder: it keeps the history, joins each
// OOM kill with the kernel's own report, and writes a dump after every kill,
// on demand, and when the time-to-OOM estimate falls below a threshold.
package recorder

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/cgroup"
	"github.com/oomtrace/oomtrace/internal/dump"
	"github.com/oomtrace/oomtrace/internal/history"
	"github.com/oomtrace/oomtrace/internal/kmsg"
	"github.com/oomtrace/oomtrace/internal/schema"
	"github.com/oomtrace/oomtrace/tracer"
)

// Config tunes a Recorder.
type Config struct {
	OutDir    string
	Window    time.Duration     // span of a dump (default 10m)
	WarnAt    time.Duration     // write a warn dump when an estimate falls below this (0: never)
	KmsgWait  time.Duration     // how long a kill waits for the kernel's report (default 2s)
	MaxEvents int               // events in one dump at most (default 5000, the newest)
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
}

type pending struct {
	kill  dump.Kill
	since time.Time
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
	reports []kmsg.Report // reports not yet matched to a kill
	retry   []failed
	warned  map[string]time.Time
	kills   []dump.Kill
	dumps   []string
	vmStart uint64
	vmOK    bool
	lastErr string
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
		cfg.VMStat = readVMStatOOMKills
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ServiceOf == nil {
		cfg.ServiceOf = func(_ int, comm string) string { return comm }
	}
	r := &Recorder{cfg: cfg, hist: hist, warned: map[string]time.Time{}}
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
	p := &pending{kill: kill, since: r.cfg.Now()}
	r.pending = append(r.pending, p)
	r.joinLocked()
}

// OnReport takes a report the kernel printed to /dev/kmsg.
func (r *Recorder) OnReport(rep kmsg.Report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, rep)
	if len(r.reports) > 256 {
		r.reports = r.reports[len(r.reports)-256:]
	}
	r.joinLocked()
}

// joinLocked matches pending kills with reports and writes the joined ones.
func (r *Recorder) joinLocked() {
	keep := r.pending[:0]
	for _, p := range r.pending {
		if i := r.matchLocked(p.kill.Victim.PID); i >= 0 {
			rep := r.reports[i]
			r.reports = append(r.reports[:i], r.reports[i+1:]...)
			p.kill.KernelReport = true
			p.kill.Constraint, p.kill.OOMMemcg, p.kill.TaskMemcg = rep.Constraint, rep.OOMMemcg, rep.TaskMemcg
			if p.kill.Victim.Cgroup == "" {
				p.kill.Victim.Cgroup = rep.TaskMemcg
			}
			r.writeKillLocked(p.kill)
			continue
		}
		keep = append(keep, p)
	}
	r.pending = keep
}

func (r *Recorder) matchLocked(pid uint32) int {
	for i, rep := range r.reports {
		if rep.PID == int(pid) {
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
	keep := r.pending[:0]
	for _, p := range r.pending {
		if now.Sub(p.since) >= r.cfg.KmsgWait {
			r.writeKillLocked(p.kill)
			continue
		}
		keep = append(keep, p)
	}
	r.pending = keep
	r.warnLocked(snap)
	r.retryLocked(now)
}

// Flush writes every pending kill at once (on exit).
func (r *Recorder) Flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.pending {
		r.writeKillLocked(p.kill)
	}
	r.pending = nil
	r.retryLocked(time.Time{}.Add(1 << 62))
}

func (r *Recorder) writeKillLocked(k dump.Kill) {
	if r.cfg.Cgroups != nil && k.Victim.Cgroup != "" {
		m := cgroup.Memcg{H: *r.cfg.Cgroups, Path: k.Victim.Cgroup}
		if n, err := m.OOMKills(); err == nil {
			k.MemcgOOMKills = int64(n)
		}
		if lim, err := m.Limit(); err == nil && lim > 0 && k.MemcgOOMKills > 0 && k.Constraint == "" {
			k.Constraint, k.ConstraintInferred = "CONSTRAINT_MEMCG", true
			k.OOMMemcg, k.TaskMemcg = k.Victim.Cgroup, k.Victim.Cgroup
		}
	}
	r.kills = append(r.kills, k)
	d := r.buildLocked(dump.KindOOM, k.Time, []dump.Kill{k})
	r.writeLocked(dump.Name(dump.KindOOM, k.Time, k.Victim.PID), d)
}

func (r *Recorder) warnLocked(snap aggregate.Snapshot) {
	if r.cfg.WarnAt <= 0 {
		return
	}
	var ests []*aggregate.TimeToOOM
	if e := snap.System.TimeToOOM; e != nil && e.Domain == "system" {
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
		if last, ok := r.warned[e.Domain]; ok && snap.Time.Sub(last) < r.cfg.Window {
			continue
		}
		r.warned[e.Domain] = snap.Time
		d := r.buildLocked(dump.KindWarn, snap.Time, nil)
		w := *e
		d.Warning = &w
		r.cfg.Logger.Warn("OOM kill expected soon", "domain", e.Domain, "in", time.Duration(e.Seconds*float64(time.Second)).Round(time.Second), "service", e.Service)
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
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now()
	d := r.buildLocked(dump.KindSummary, now, append([]dump.Kill(nil), r.kills...))
	d.Window.Start = start.UTC()
	d.Services = r.hist.Services(start, now, now)
	d.SystemSamples = r.hist.System(start, now)
	run.Dumps = append([]string(nil), r.dumps...)
	d.Run = run
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
	if len(evs) > r.cfg.MaxEvents {
		evs = evs[len(evs)-r.cfg.MaxEvents:]
	}
	d.Events = make([]schema.Event, len(evs))
	for i := range evs {
		d.Events[i] = schema.FromEvent(&evs[i])
	}
	if len(kills) > 0 {
		k := kills[0]
		d.Victim, d.Trigger = &k.Victim, &k.Trigger
		d.Constraint, d.OOMMemcg, d.TaskMemcg = k.Constraint, k.OOMMemcg, k.TaskMemcg
		for i := range d.Services {
			d.Services[i].Victim = d.Services[i].Name == k.Victim.Service
		}
	}
	if r.vmOK {
		if v, err := r.cfg.VMStat(); err == nil && v >= r.vmStart {
			d.OOMKillsKernel = v - r.vmStart
			if seen := uint64(len(r.kills)); d.OOMKillsKernel > seen {
				d.Missed = d.OOMKillsKernel - seen
			}
		}
	}
	return d
}

// writeLocked writes a dump; a failure is logged and retried later.
func (r *Recorder) writeLocked(base string, d *dump.Dump) ([]string, error) {
	paths, err := r.tryWrite(base, d)
	if err != nil {
		if len(r.retry) < 16 {
			r.retry = append(r.retry, failed{base: base, d: d, next: r.cfg.Now().Add(5 * time.Second)})
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
	r.dumps = append(r.dumps, paths...)
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
			f.next = r.cfg.Now().Add(5 * time.Second)
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

func readVMStatOOMKills() (uint64, error) {
	f, err := os.Open("/proc/vmstat")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "oom_kill "); ok {
			return strconv.ParseUint(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("no oom_kill in /proc/vmstat")
}
