package recorder

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/dump"
	"github.com/oomtrace/oomtrace/internal/kmsg"
	"github.com/oomtrace/oomtrace/internal/proc"
	"github.com/oomtrace/oomtrace/tracer"
)

// An OOM dump carries its memcg's usage against its limit over the window,
// exactly as the snapshots reported it, with the time oomtrace warned of
// it; its events name their processes' services, so the text lists the
// victim's service's (a worker's too) before a shell's that ran later. A
// system kill's domain has the zones' watermarks.
func TestDumpDomain(t *testing.T) {
	dir := t.TempDir()
	var kernel uint64
	r, c, _ := newTest(t, dir, &kernel)
	r.cfg.Watermarks = func() (proc.Watermarks, error) { return proc.Watermarks{Min: 64 << 20, Low: 80 << 20}, nil }
	const limit = 64 << 20
	var warnAt time.Time
	for i := range 20 {
		now := c.step(time.Second)
		usage := uint64(40+i) << 20
		d := aggregate.MemcgDomain{Path: "/a", UsageBytes: usage, LimitBytes: limit}
		if secs := float64(limit-usage) / (1 << 20); secs < 30 {
			d.TimeToOOM = &aggregate.TimeToOOM{Domain: "/a", Seconds: secs, Headroom: limit - usage, Growth: 1 << 20, Service: "svc-hog", Covered: true}
			if warnAt.IsZero() {
				warnAt = now
			}
		}
		r.OnSnapshot(aggregate.Snapshot{Time: now, System: aggregate.System{TotalBytes: 8 << 30, AvailableBytes: 4 << 30, Memcgs: []aggregate.MemcgDomain{d}},
			Services: []aggregate.Service{
				{Name: "svc-hog", Procs: 2, PIDs: []int{100, 105}, Memory: aggregate.Memory{RSS: usage}},
				{Name: "svc-trig", Procs: 1, PIDs: []int{101}},
				{Name: "ci-shell", Procs: 1, PIDs: []int{300}},
			}})
		if i == 5 {
			r.OnEvent(&tracer.Event{Type: tracer.EventMmap, Time: now, PID: 105, Comm: "worker", Alloc: tracer.Alloc{Len: 8 << 20}})
		}
	}
	r.OnEvent(&tracer.Event{Type: tracer.EventExec, Time: c.now(), PID: 300, Comm: "sh", Proc: tracer.Proc{PPID: 1, Filename: "/bin/sh"}})
	kernel++
	r.OnEvent(oomEvent(c.step(100*time.Millisecond), 100))
	r.OnReport(kmsg.Report{PID: 100, Constraint: "CONSTRAINT_MEMCG", OOMMemcg: "/a", TaskMemcg: "/a", Trigger: "trig"})
	ds := readDumps(t, filepath.Join(dir, "oom-*-100.json"))
	if len(ds) != 1 || len(ds[0].Domains) != 1 {
		t.Fatalf("%d dumps, want 1 with one domain: %+v", len(ds), ds)
	}
	dm := ds[0].Domains[0]
	if dm.Memcg != "/a" || !dm.Kill.Equal(ds[0].Kills[0].Time) || warnAt.IsZero() || !dm.Warned.Equal(warnAt) {
		t.Errorf("domain %s kill %s warned %s; want /a, the kill at %s, warned at %s", dm.Memcg, dm.Kill, dm.Warned, ds[0].Kills[0].Time, warnAt)
	}
	// The window is a minute: all 20 samples, 40 to 59 MiB of 64.
	if n := len(dm.Samples); n != 20 || dm.Samples[0].Usage != 40<<20 || dm.Samples[n-1].Usage != 59<<20 || dm.Samples[n-1].Limit != limit {
		t.Errorf("samples %+v", dm.Samples)
	}
	var svc = map[uint32]string{}
	for _, e := range ds[0].Events {
		svc[e.PID] = e.Service
	}
	if svc[105] != "svc-hog" || svc[300] != "ci-shell" {
		t.Errorf("event services %v", svc)
	}
	var b bytes.Buffer
	if err := dump.WriteText(&b, ds[0]); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	own, other := strings.Index(out, "events of the victim's and trigger's services"), strings.Index(out, "other events")
	worker, shell := strings.Index(out, "worker"), strings.Index(out, "/bin/sh")
	if own < 0 || other < own || worker < own || worker > other || shell < other {
		t.Errorf("event order: services' at %d, worker's mmap at %d, others at %d, the shell's exec at %d:\n%s", own, worker, other, shell, out)
	}
	if !strings.Contains(out, "last minute: filled at +1.0MiB/s, usage 40.0MiB → 59.0MiB") {
		t.Errorf("text lacks the fill:\n%s", out)
	}

	// A second run-up in /a after the kill: 5 to 24 MiB at 1 MiB/s, warned
	// of again (a kill came since the last warning). Its dump's domain
	// starts after the first kill: this run-up's samples, fill and warning.
	firstKill := ds[0].Kills[0].Time
	var warn2 time.Time
	for i := range 20 {
		now := c.step(time.Second)
		usage := uint64(5+i) << 20
		d := aggregate.MemcgDomain{Path: "/a", UsageBytes: usage, LimitBytes: limit}
		if i >= 15 {
			d.TimeToOOM = &aggregate.TimeToOOM{Domain: "/a", Seconds: 20, Headroom: limit - usage, Growth: 1 << 20, Service: "svc-hog", Covered: true}
			if warn2.IsZero() {
				warn2 = now
			}
		}
		r.OnSnapshot(aggregate.Snapshot{Time: now, System: aggregate.System{TotalBytes: 8 << 30, AvailableBytes: 4 << 30, Memcgs: []aggregate.MemcgDomain{d}},
			Services: []aggregate.Service{{Name: "svc-hog", Procs: 1, PIDs: []int{400}, Memory: aggregate.Memory{RSS: usage}}}})
	}
	if warns, _ := filepath.Glob(filepath.Join(dir, "warn-*.json")); len(warns) != 2 {
		t.Errorf("%d warning dumps, want 2 (one a run-up): %v", len(warns), warns)
	}
	kernel++
	r.OnEvent(oomEvent(c.step(100*time.Millisecond), 400))
	r.OnReport(kmsg.Report{PID: 400, Constraint: "CONSTRAINT_MEMCG", OOMMemcg: "/a", TaskMemcg: "/a", Trigger: "trig"})
	ds = readDumps(t, filepath.Join(dir, "oom-*-400.json"))
	if len(ds) != 1 || len(ds[0].Domains) != 1 {
		t.Fatalf("%d dumps, want 1 with one domain", len(ds))
	}
	dm = ds[0].Domains[0]
	if !dm.Warned.Equal(warn2) || len(dm.Samples) != 20 || !dm.Samples[0].Time.After(firstKill) || dm.Samples[0].Usage != 5<<20 {
		t.Errorf("second kill's domain: warned %s (want %s), %d samples from %+v; want 20 after the first kill at %s, from 5 MiB", dm.Warned, warn2, len(dm.Samples), dm.Samples[0], firstKill)
	}
	b.Reset()
	if err := dump.WriteText(&b, ds[0]); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "last minute: filled at +1.0MiB/s, usage 5.0MiB → 24.0MiB") {
		t.Errorf("second kill's text lacks this run-up's fill:\n%s", out)
	}

	// A global kill: the system's domain, with its watermarks.
	kernel++
	r.OnEvent(oomEvent(c.step(time.Second), 200))
	r.OnReport(kmsg.Report{PID: 200, Constraint: "CONSTRAINT_NONE", TaskMemcg: "/b", Trigger: "trig"})
	ds = readDumps(t, filepath.Join(dir, "oom-*-200.json"))
	if len(ds) != 1 || len(ds[0].Domains) != 1 {
		t.Fatalf("%d dumps, want 1 with one domain", len(ds))
	}
	if dm := ds[0].Domains[0]; dm.Memcg != "" || dm.MinWatermarkBytes != 64<<20 || dm.LowWatermarkBytes != 80<<20 || dm.Samples != nil {
		t.Errorf("system domain %+v", dm)
	}
}
