package recorder

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
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
// never comes is written after KmsgWait; a kill the ring lost shows as missed.
func TestKillsJoinTimeoutAndMissed(t *testing.T) {
	dir := t.TempDir()
	var kernel uint64 = 10
	r, c, _ := newTest(t, dir, &kernel)
	r.OnSnapshot(aggregate.Snapshot{Time: c.now(), Services: []aggregate.Service{{Name: "svc-hog", Procs: 1, RSS: 60 << 20}}})

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
	if ds[0].OOMKillsKernel != 3 || ds[0].Missed != 2 {
		t.Errorf("kernel counted %d, missed %d; want 3 and 2 (one kill seen so far)", ds[0].OOMKillsKernel, ds[0].Missed)
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
