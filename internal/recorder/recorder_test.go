package recorder

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/cgroup"
	"github.com/oomtrace/oomtrace/internal/dump"
	"github.com/oomtrace/oomtrace/internal/history"
	"github.com/oomtrace/oomtrace/internal/kmsg"
	"github.com/oomtrace/oomtrace/tracer"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time                 { return c.t }
func (c *clock) step(d time.Duration) time.Time { c.t = c.t.Add(d); return c.t }

func newTest(t *testing.T, dir string, kernelKills *uint64) (*Recorder, *clock, *bytes.Buffer) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	var logs bytes.Buffer
	r := New(Config{
		OutDir: dir, Window: time.Minute, WarnAt: 30 * time.Second, Now: c.now,
		Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
		ServiceOf: func(pid int, comm string) string { return "svc-" + comm },
		VMStat:    func() (uint64, error) { return *kernelKills, nil },
	}, history.New(history.Config{}))
	return r, c, &logs
}

func oomEvent(at time.Time, pid uint32) *tracer.Event {
	return &tracer.Event{Type: tracer.EventOOMKill, Time: at, PID: pid,
		OOM: &tracer.OOMKill{Victim: tracer.Task{PID: pid, Comm: "hog"}, Trigger: tracer.Task{PID: pid + 1, Comm: "trig"}, AnonRSSBytes: 64 << 20, Source: "tp_btf"}}
}

func readDumps(t *testing.T, pattern string) []*dump.Dump {
	t.Helper()
	files, _ := filepath.Glob(pattern)
	var out []*dump.Dump
	for _, f := range files {
		d, err := dump.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// A kill is written as soon as the kernel's report joins it; one whose report
// never comes is written after KmsgWait; a kill the ring lost, and whose
// report never came either, shows as missed once it is older than KmsgWait.
func TestKillsJoinTimeoutAndMissed(t *testing.T) {
	dir := t.TempDir()
	var kernel uint64 = 10
	r, c, _ := newTest(t, dir, &kernel)
	r.OnSnapshot(aggregate.Snapshot{Time: c.now(), Services: []aggregate.Service{{Name: "svc-hog", Procs: 1, Memory: aggregate.Memory{RSS: 60 << 20}}}})

	kernel += 3 // three kills; the BPF ring delivers two
	r.OnEvent(oomEvent(c.step(time.Second), 100))
	if n := len(readDumps(t, filepath.Join(dir, "oom-*.json"))); n != 0 {
		t.Fatalf("%d dumps before the report or timeout", n)
	}
	r.OnReport(kmsg.Report{PID: 100, Constraint: "CONSTRAINT_MEMCG", OOMMemcg: "/a", TaskMemcg: "/a/b", Trigger: "trig"})
	ds := readDumps(t, filepath.Join(dir, "oom-*-100.json"))
	if len(ds) != 1 || !ds[0].Kills[0].KernelReport || ds[0].Constraint != "CONSTRAINT_MEMCG" || ds[0].TaskMemcg != "/a/b" ||
		ds[0].Victim.Service != "svc-hog" || ds[0].Trigger.Service != "svc-trig" || ds[0].Victim.Cgroup != "/a/b" {
		t.Fatalf("joined dump: %+v", ds)
	}
	// The other two kills may still be on their way: not missed yet.
	if ds[0].OOMKillsKernel != 3 || ds[0].Missed != 0 {
		t.Errorf("kernel counted %d, missed %d; want 3 and 0 (the deficit is younger than KmsgWait)", ds[0].OOMKillsKernel, ds[0].Missed)
	}

	r.OnEvent(oomEvent(c.step(time.Second), 200))
	r.OnSnapshot(aggregate.Snapshot{Time: c.step(time.Second)})
	if n := len(readDumps(t, filepath.Join(dir, "oom-*-200.json"))); n != 0 {
		t.Fatal("written before KmsgWait")
	}
	r.OnSnapshot(aggregate.Snapshot{Time: c.step(2 * time.Second)})
	ds = readDumps(t, filepath.Join(dir, "oom-*-200.json"))
	if len(ds) != 1 || ds[0].Kills[0].KernelReport || ds[0].Missed != 1 {
		t.Fatalf("timed-out dump: %+v", ds)
	}
	if len(r.Kills()) != 2 {
		t.Errorf("%d kills recorded", len(r.Kills()))
	}
	// The summary lists both kills and flags the first victim's service.
	if _, err := r.Summary(&dump.Run{}, time.Unix(1_700_000_000, 0)); err != nil {
		t.Fatal(err)
	}
	s := readDumps(t, filepath.Join(dir, "summary.json"))
	if len(s) != 1 || len(s[0].Kills) != 2 || len(s[0].Services) == 0 || s[0].Services[0].Name != "svc-hog" || !s[0].Services[0].Victim {
		t.Errorf("summary: %+v", s)
	}
}

// The warning comes once per domain per window, and names the driver.
func TestWarnOncePerWindow(t *testing.T) {
	dir := t.TempDir()
	var kernel uint64
	r, c, _ := newTest(t, dir, &kernel)
	snap := func() aggregate.Snapshot {
		return aggregate.Snapshot{Time: c.step(time.Second), System: aggregate.System{Memcgs: []aggregate.MemcgDomain{
			{Path: "/a", TimeToOOM: &aggregate.TimeToOOM{Domain: "/a", Seconds: 12, Service: "leaky"}},
			{Path: "/b", TimeToOOM: &aggregate.TimeToOOM{Domain: "/b", Seconds: 3600, Service: "slow"}},
		}}}
	}
	for i := 0; i < 5; i++ {
		r.OnSnapshot(snap())
	}
	ds := readDumps(t, filepath.Join(dir, "warn-*.json"))
	if len(ds) != 1 || ds[0].Warning.Domain != "/a" || ds[0].Warning.Service != "leaky" {
		t.Fatalf("warn dumps %+v, want one for /a", ds)
	}
	c.step(time.Minute)
	r.OnSnapshot(snap())
	if ds := readDumps(t, filepath.Join(dir, "warn-*.json")); len(ds) != 2 {
		t.Errorf("%d warn dumps after a window, want 2", len(ds))
	}
}

// The system domain warns too while a memory cgroup's estimate is sooner.
func TestWarnSystemBehindMemcg(t *testing.T) {
	dir := t.TempDir()
	var kernel uint64
	r, c, _ := newTest(t, dir, &kernel)
	sys := &aggregate.TimeToOOM{Domain: "system", Seconds: 20, Service: "grower"}
	cg := &aggregate.TimeToOOM{Domain: "/a", Seconds: 5, Service: "leaky"}
	r.OnSnapshot(aggregate.Snapshot{Time: c.step(time.Second), System: aggregate.System{
		TimeToOOM: cg, SystemTimeToOOM: sys,
		Memcgs: []aggregate.MemcgDomain{{Path: "/a", TimeToOOM: cg}},
	}})
	got := map[string]string{}
	for _, d := range readDumps(t, filepath.Join(dir, "warn-*.json")) {
		got[d.Warning.Domain] = d.Warning.Service
	}
	if len(got) != 2 || got["system"] != "grower" || got["/a"] != "leaky" {
		t.Errorf("warnings %v, want system (grower) and /a (leaky)", got)
	}
}

// An unwritable directory is logged once, the recorder goes on, and the dump
// is written when the directory becomes usable.
func TestWriteFailureRetries(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "out")
	if err := os.WriteFile(dir, []byte("a file, not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	var kernel uint64
	r, c, logs := newTest(t, dir, &kernel)
	r.OnEvent(oomEvent(c.now(), 300))
	r.OnReport(kmsg.Report{PID: 300})
	if _, err := r.Snapshot(); err == nil {
		t.Fatal("snapshot into a file path succeeded")
	}
	if n := strings.Count(logs.String(), "cannot write dump"); n != 1 {
		t.Errorf("%d error lines, want 1 (repeats are not logged):\n%s", n, logs.String())
	}
	if r.Pending() != 2 {
		t.Errorf("%d pending, want 2", r.Pending())
	}
	os.Remove(dir)
	r.OnSnapshot(aggregate.Snapshot{Time: c.step(10 * time.Second)})
	if r.Pending() != 0 || len(readDumps(t, filepath.Join(dir, "oom-*-300.json"))) != 1 || len(readDumps(t, filepath.Join(dir, "snapshot-*.json"))) != 1 {
		t.Errorf("after the directory came back: pending %d", r.Pending())
	}
}

// killedLine is the kernel's report of a kill of pid by comm's trigger.
func killedLine(pid int, comm string) kmsg.Report {
	return kmsg.Report{PID: pid, Comm: comm, UID: 1000, Trigger: "trig", TriggerPID: pid + 1,
		Constraint: "CONSTRAINT_MEMCG", OOMMemcg: "/a", TaskMemcg: "/a/b",
		TotalVMKB: 70000, AnonRSSKB: 65000, FileRSSKB: 1400, ShmemRSSKB: 8, PgTablesKB: 168, OOMScoreAdj: 500}
}

// lostOOM is a snapshot at t whose tracer counted one OOM event lost.
func lostOOM(t time.Time) aggregate.Snapshot {
	return aggregate.Snapshot{Time: t, System: aggregate.System{Lost: map[string]uint64{tracer.EventOOMKill.String(): 1}}}
}

// A kill whose BPF event was lost but whose kernel report came still gets a
// dump, from the report alone, once the kernel's counter has shown the kill
// unaccounted for longer than KmsgWait.
func TestReportWithoutEvent(t *testing.T) {
	dir := t.TempDir()
	var kernel uint64
	r, c, _ := newTest(t, dir, &kernel)
	kernel++
	r.OnReport(killedLine(500, "java"))
	r.OnSnapshot(lostOOM(c.step(time.Second)))
	if n := len(readDumps(t, filepath.Join(dir, "oom-*.json"))); n != 0 {
		t.Fatalf("%d dumps before KmsgWait", n)
	}
	r.OnSnapshot(lostOOM(c.step(time.Second)))
	r.OnSnapshot(lostOOM(c.step(time.Second)))
	ds := readDumps(t, filepath.Join(dir, "oom-*-500.json"))
	if len(ds) != 1 {
		t.Fatalf("%d dumps for the kill the ring lost, want 1", len(ds))
	}
	d, k := ds[0], ds[0].Kills[0]
	if k.Source != "kmsg" || !k.KernelReport || d.Victim.Comm != "java" || d.Victim.Service != "svc-java" || d.Victim.Cgroup != "/a/b" ||
		d.Victim.AnonRSSBytes != 65000*1024 || d.Victim.TotalVMBytes != 70000*1024 || d.Victim.PgTablesBytes != 168*1024 ||
		d.Victim.UID != 1000 || d.Victim.OOMScoreAdj != 500 || d.Constraint != "CONSTRAINT_MEMCG" {
		t.Errorf("dump from the report: %+v %+v", k, *d.Victim)
	}
	if d.Trigger.PID != 501 || d.Trigger.Comm != "trig" || d.Trigger.Service != "svc-trig" {
		t.Errorf("trigger %+v, want 501 (trig)", *d.Trigger)
	}
	if d.OOMKillsKernel != 1 || d.Missed != 0 {
		t.Errorf("kernel counted %d, missed %d; want 1 and 0", d.OOMKillsKernel, d.Missed)
	}
	// The kill is counted once; a later stray report makes no second dump.
	r.OnReport(killedLine(500, "java"))
	c.step(5 * time.Second)
	r.OnSnapshot(aggregate.Snapshot{Time: c.now()})
	if n := len(readDumps(t, filepath.Join(dir, "oom-*.json"))); n != 1 || len(r.Kills()) != 1 {
		t.Errorf("%d dumps and %d kills after a stray report, want 1", n, len(r.Kills()))
	}
}

// A kill whose event comes late (the consumer slowed, the ring lost
// nothing) gets one dump, from the event joined with its report, however
// long after KmsgWait; only after lateWait does the report make a dump
// alone, and an event coming after that makes no second one.
func TestLateEventOneDump(t *testing.T) {
	dir := t.TempDir()
	var kernel uint64
	r, c, _ := newTest(t, dir, &kernel)
	kernel++
	r.OnReport(killedLine(600, "hog"))
	for i := 0; i < 10; i++ {
		r.OnSnapshot(aggregate.Snapshot{Time: c.step(time.Second)})
	}
	if n := len(readDumps(t, filepath.Join(dir, "oom-*.json"))); n != 0 {
		t.Fatalf("%d dumps from the report while no event was lost, want 0 (the event is late)", n)
	}
	r.OnEvent(oomEvent(c.now(), 600))
	r.OnSnapshot(aggregate.Snapshot{Time: c.step(time.Second)})
	ds := readDumps(t, filepath.Join(dir, "oom-*-600.json"))
	if len(ds) != 1 || ds[0].Kills[0].Source != "tp_btf" || !ds[0].Kills[0].KernelReport {
		t.Fatalf("%d dumps of the late kill, want 1 from its event joined with its report", len(ds))
	}

	kernel++
	r.OnReport(killedLine(700, "hog"))
	for i := 0; i < int(lateWait/time.Second)+2; i++ {
		r.OnSnapshot(aggregate.Snapshot{Time: c.step(time.Second)})
	}
	if ds := readDumps(t, filepath.Join(dir, "oom-*-700.json")); len(ds) != 1 || ds[0].Kills[0].Source != "kmsg" {
		t.Fatalf("%d dumps of a kill whose event never came in %s, want 1 from its report", len(ds), lateWait)
	}
	r.OnEvent(oomEvent(c.now(), 700))
	r.OnSnapshot(aggregate.Snapshot{Time: c.step(5 * time.Second)})
	if n := len(readDumps(t, filepath.Join(dir, "oom-*.json"))); n != 2 || len(r.Kills()) != 2 {
		t.Errorf("%d dumps and %d kills after the very late event, want 2", n, len(r.Kills()))
	}
}

// A storm: the kernel has counted five kills; their events come in a burst
// and their reports one by one. No dump claims a missed kill: each kill is
// pending or on its way, none is lost.
func TestStormPendingNotMissed(t *testing.T) {
	dir := t.TempDir()
	var kernel uint64
	r, c, _ := newTest(t, dir, &kernel)
	kernel += 5
	c.step(time.Second)
	for pid := 100; pid < 103; pid++ {
		r.OnEvent(oomEvent(c.now(), uint32(pid)))
	}
	c.step(500 * time.Millisecond)
	for pid := 100; pid < 103; pid++ {
		r.OnReport(killedLine(pid, "hog"))
	}
	r.OnSnapshot(aggregate.Snapshot{Time: c.step(200 * time.Millisecond)})
	for pid := 103; pid < 105; pid++ { // the last two events lag behind
		r.OnEvent(oomEvent(c.now(), uint32(pid)))
	}
	for pid := 103; pid < 105; pid++ {
		r.OnReport(killedLine(pid, "hog"))
		r.OnSnapshot(aggregate.Snapshot{Time: c.step(time.Second)})
	}
	ds := readDumps(t, filepath.Join(dir, "oom-*.json"))
	if len(ds) != 5 {
		t.Fatalf("%d dumps, want 5", len(ds))
	}
	for _, d := range ds {
		if d.Missed != 0 || d.OOMKillsKernel != 5 || !d.Kills[0].KernelReport {
			t.Errorf("dump of %d: kernel %d, missed %d, report %v; want 5 kills, none missed", d.Victim.PID, d.OOMKillsKernel, d.Missed, d.Kills[0].KernelReport)
		}
	}
}

// On a kernel whose plain tracepoint has only the victim's pid, the comm,
// sizes and uid come from the kernel's report.
func TestPidOnlyEventJoinsReport(t *testing.T) {
	dir := t.TempDir()
	var kernel uint64
	r, c, _ := newTest(t, dir, &kernel)
	kernel++
	r.OnEvent(&tracer.Event{Type: tracer.EventOOMKill, Time: c.now(), PID: 600,
		OOM: &tracer.OOMKill{Victim: tracer.Task{PID: 600}, Trigger: tracer.Task{PID: 601, Comm: "trig"}, Source: "tracepoint"}})
	r.OnReport(killedLine(600, "java"))
	ds := readDumps(t, filepath.Join(dir, "oom-*-600.json"))
	if len(ds) != 1 {
		t.Fatalf("%d dumps", len(ds))
	}
	v := ds[0].Victim
	if v.Comm != "java" || v.Service != "svc-java" || v.AnonRSSBytes != 65000*1024 || v.FileRSSBytes != 1400*1024 || v.ShmemRSSBytes != 8*1024 ||
		v.TotalVMBytes != 70000*1024 || v.PgTablesBytes != 168*1024 || v.UID != 1000 || v.OOMScoreAdj != 500 || ds[0].Kills[0].Source != "tracepoint" {
		t.Errorf("victim %+v, want the kernel report's java", *v)
	}
}

// A memory cgroup path the OOM hook had to cut is replaced by the whole
// one of the kernel's report.
func TestCutMemcgPathJoinsReport(t *testing.T) {
	dir := t.TempDir()
	var kernel uint64
	r, c, _ := newTest(t, dir, &kernel)
	kernel++
	ev := oomEvent(c.now(), 700)
	ev.OOM.MemcgPath = tracer.MemcgPathCut + "/b"
	r.OnEvent(ev)
	r.OnReport(killedLine(700, "hog"))
	ds := readDumps(t, filepath.Join(dir, "oom-*-700.json"))
	if len(ds) != 1 {
		t.Fatalf("%d dumps", len(ds))
	}
	if got := ds[0].Victim.Cgroup; got != "/a/b" {
		t.Errorf("victim cgroup %q, want the kernel's /a/b", got)
	}
}

// When the kernel rate-limits its report, the constraint is inferred: from
// the start of the "Killed process" line, which the kernel always prints,
// else from the victim cgroup's counters since the previous kill in it. A
// global kill of a task in a limited cgroup, which raises the cgroup's
// oom_kill as well, is not labelled memcg.
func TestInferredConstraint(t *testing.T) {
	for _, version := range []int{1, 2} {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			mount, dir := t.TempDir(), t.TempDir()
			cg := filepath.Join(mount, "svc")
			if err := os.Mkdir(cg, 0o755); err != nil {
				t.Fatal(err)
			}
			set := func(kills, ooms int) {
				files := map[string]string{
					"memory.limit_in_bytes": "67108864\n",
					"memory.oom_control":    fmt.Sprintf("oom_kill_disable 0\nunder_oom 0\noom_kill %d\n", kills),
				}
				if version == 2 {
					files = map[string]string{
						"memory.max":    "67108864\n",
						"memory.events": fmt.Sprintf("low 0\nhigh 0\nmax %d\noom %d\noom_kill %d\noom_group_kill 0\n", ooms*3, ooms, kills),
					}
				}
				for name, text := range files {
					if err := os.WriteFile(filepath.Join(cg, name), []byte(text), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			var kernel uint64
			c := &clock{t: time.Unix(1_700_000_000, 0)}
			r := New(Config{OutDir: dir, Window: time.Minute, Now: c.now, Cgroups: &cgroup.Hierarchy{Version: version, Mount: mount},
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), VMStat: func() (uint64, error) { return kernel, nil }}, history.New(history.Config{}))
			// An earlier kill in the cgroup, before the recorder started.
			set(1, 1)
			r.OnSnapshot(aggregate.Snapshot{Time: c.now(), System: aggregate.System{Memcgs: []aggregate.MemcgDomain{{Path: "/svc", LimitBytes: 64 << 20, OOMKills: 1}}}})
			// kill has the kernel print only its "Killed process" line, as
			// when it rate-limits the rest, starting with reason.
			kill := func(pid uint32, reason string) dump.Kill {
				t.Helper()
				kernel++
				ev := oomEvent(c.step(time.Second), pid)
				ev.OOM.MemcgPath = "/svc"
				r.OnEvent(ev)
				r.OnReport(kmsg.Report{PID: int(pid), Comm: "hog", Reason: reason})
				ks := r.Kills()
				if len(ks) == 0 || ks[len(ks)-1].Victim.PID != pid {
					t.Fatalf("kill of %d not written", pid)
				}
				return ks[len(ks)-1]
			}
			const memcg, global = "Memory cgroup out of memory", "Out of memory"
			set(2, 1) // a global kill: the cgroup's oom_kill rises, not its oom event
			if k := kill(10, global); k.Constraint != "" || k.ConstraintInferred {
				t.Errorf("global kill labelled %q (inferred %v)", k.Constraint, k.ConstraintInferred)
			}
			set(3, 2)
			if k := kill(11, memcg); k.Constraint != "CONSTRAINT_MEMCG" || !k.ConstraintInferred || k.OOMMemcg != "/svc" || k.TaskMemcg != "/svc" || k.MemcgOOMKills != 3 {
				t.Errorf("memcg kill: %+v", k)
			}
			// Kernels that print the line bare: the counters decide.
			set(3, 2) // the counter did not move since the previous kill
			if k := kill(12, ""); k.Constraint != "" {
				t.Errorf("kill with no rise of the cgroup's counter labelled %q", k.Constraint)
			}
			set(5, 3) // two memcg kills at once, written one after the other
			for pid := uint32(13); pid < 15; pid++ {
				if k := kill(pid, ""); k.Constraint != "CONSTRAINT_MEMCG" {
					t.Errorf("kill %d of a memcg storm labelled %q", pid, k.Constraint)
				}
			}
			set(6, 3) // global: only cgroup v2 can tell from the counters
			k := kill(15, "")
			if want := map[int]string{1: "CONSTRAINT_MEMCG", 2: ""}[version]; k.Constraint != want {
				t.Errorf("global kill with a bare kernel line labelled %q, want %q", k.Constraint, want)
			}
		})
	}
}

// Two snapshots in the same millisecond, and warnings for two domains in one
// sample, each keep their own files, and every path is counted once.
func TestDumpNamesUnique(t *testing.T) {
	dir := t.TempDir()
	var kernel uint64
	r, c, _ := newTest(t, dir, &kernel)
	r.OnSnapshot(aggregate.Snapshot{Time: c.step(time.Second), System: aggregate.System{Memcgs: []aggregate.MemcgDomain{
		{Path: "/a", TimeToOOM: &aggregate.TimeToOOM{Domain: "/a", Seconds: 12, Service: "leaky"}},
		{Path: "/b", TimeToOOM: &aggregate.TimeToOOM{Domain: "/b", Seconds: 20, Service: "slow"}},
	}}})
	for i := 0; i < 2; i++ {
		if _, err := r.Snapshot(); err != nil {
			t.Fatal(err)
		}
	}
	domains := map[string]bool{}
	for _, d := range readDumps(t, filepath.Join(dir, "warn-*.json")) {
		domains[d.Warning.Domain] = true
	}
	if !domains["/a"] || !domains["/b"] {
		t.Errorf("warn dumps for %v, want /a and /b", domains)
	}
	if n := len(readDumps(t, filepath.Join(dir, "snapshot-*.json"))); n != 2 {
		t.Errorf("%d snapshot dumps, want 2", n)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	seen := map[string]bool{}
	for _, p := range r.Dumps() {
		if seen[p] {
			t.Errorf("%s counted twice", p)
		}
		seen[p] = true
	}
	if len(files) != 12 || len(seen) != 12 {
		t.Errorf("%d files on disk, %d counted; want 12 and 12", len(files), len(seen))
	}
}

// A long storm: for seconds on end the kernel has always counted one kill
// more than the recorder has seen, each a different kill whose event is a
// moment late. None of them is missed.
func TestLongStormNotMissed(t *testing.T) {
	dir := t.TempDir()
	var kernel uint64
	r, c, _ := newTest(t, dir, &kernel)
	kernel++
	for pid := uint32(100); pid < 120; pid++ {
		kernel++ // the next kill is counted before this one's event comes
		r.OnSnapshot(aggregate.Snapshot{Time: c.step(200 * time.Millisecond)})
		r.OnEvent(oomEvent(c.step(50*time.Millisecond), pid))
		r.OnReport(killedLine(int(pid), "hog"))
	}
	ds := readDumps(t, filepath.Join(dir, "oom-*.json"))
	if len(ds) != 20 {
		t.Fatalf("%d dumps, want 20", len(ds))
	}
	for _, d := range ds {
		if d.Missed != 0 {
			t.Errorf("dump of %d claims %d missed kills; the kernel counted %d", d.Victim.PID, d.Missed, d.OOMKillsKernel)
		}
	}
}
