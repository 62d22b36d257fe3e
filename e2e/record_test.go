package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/dump"
	"github.com/oomtrace/oomtrace/internal/testutil"
)

// A service grows inside a 64 MiB memory cgroup until the kernel kills it.
// A warn dump must come first, then an OOM dump naming the victim, its
// service and the kernel's constraint, with samples of the growth before it.
func TestRecordOOMDump(t *testing.T) {
	testutil.NeedRoot(t)
	cg := testCgroup(t, "record", 64<<20)
	reports := kernelReports(t)
	out, rec, _ := startRecorder(t, "-d", "250ms", "--window", "1m", "--warn-at", "1m")

	c := startChildIn(t, cg, "service", "svc-oom", "0", "4", "12")
	f := c.Expect(t, "service")
	pid, _ := strconv.Atoi(f[1])
	rep := reportFor(t, reports, pid, 30*time.Second)
	killed := time.Now()

	files := waitGlob(t, filepath.Join(out, "oom-*.json"), 1, 10*time.Second)
	t.Logf("dump after %s: %s", time.Since(killed).Round(time.Millisecond), files[0])
	d, err := dump.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if d.Victim == nil || d.Victim.PID != uint32(pid) || d.Victim.Service != "svc-oom" || d.Victim.Comm != "svc-oom" {
		t.Fatalf("victim %+v, want pid %d of service svc-oom", d.Victim, pid)
	}
	if !strings.HasSuffix(d.Victim.Cmdline, "/workload service svc-oom 0 4 12") {
		t.Errorf("victim cmdline %q", d.Victim.Cmdline)
	}
	if d.Trigger == nil || d.Trigger.PID != uint32(pid) {
		t.Errorf("trigger %+v, want %d", d.Trigger, pid)
	}
	if d.Constraint != rep.Constraint || d.Constraint != "CONSTRAINT_MEMCG" || d.OOMMemcg != rep.OOMMemcg || d.TaskMemcg != cg.Path {
		t.Errorf("constraint %q oom_memcg %q task_memcg %q; the kernel said %q %q %q", d.Constraint, d.OOMMemcg, d.TaskMemcg, rep.Constraint, rep.OOMMemcg, rep.TaskMemcg)
	}
	if k := d.Kills[0]; !k.KernelReport || k.MemcgOOMKills != 1 || k.Victim.AnonRSSBytes != rep.AnonRSSKB*1024 {
		t.Errorf("kill %+v: want the kernel report joined, memcg counter 1, anon rss %d kB", k, rep.AnonRSSKB)
	}
	if d.OOMKillsKernel < 1 || d.Missed != 0 {
		t.Errorf("kernel counter %d, missed %d", d.OOMKillsKernel, d.Missed)
	}
	var svc *dump.Service
	for i := range d.Services {
		if d.Services[i].Name == "svc-oom" {
			svc = &d.Services[i]
		}
	}
	if svc == nil || !svc.Victim {
		t.Fatalf("no victim service svc-oom in the dump")
	}
	// It grew 12 MiB/s from about 12 MiB to the 64 MiB limit: the samples
	// before the kill must show it.
	var before []dump.Sample
	for _, s := range svc.Samples {
		if !s.Time.After(d.Kills[0].Time) {
			before = append(before, s)
		}
	}
	if len(before) < 8 || before[len(before)-1].RSS < before[0].RSS+32<<20 || svc.GrowthBytes < 32<<20 || svc.PeakBytes < 48<<20 {
		t.Errorf("svc-oom: %d samples before the kill, growth %d, peak %d; want steady growth to the limit", len(before), svc.GrowthBytes, svc.PeakBytes)
	}
	// Most grown first. (Unrelated processes may have grown more.)
	for i := 1; i < len(d.Services); i++ {
		if d.Services[i].GrowthBytes > d.Services[i-1].GrowthBytes {
			t.Errorf("services not sorted by growth: %s (%d) after %s (%d)", d.Services[i].Name, d.Services[i].GrowthBytes, d.Services[i-1].Name, d.Services[i-1].GrowthBytes)
		}
	}
	base := strings.TrimSuffix(files[0], ".json")
	// The .html and .txt are written after the .json (on a slow CPU, such
	// as the emulated second-kernel VM, noticeably after).
	waitFile(t, base+".txt", 10*time.Second)
	for _, ext := range []string{".json", ".html", ".txt"} {
		st, err := os.Stat(base + ext)
		if err != nil {
			t.Error(err)
		} else if st.Mode().Perm() != 0o600 {
			t.Errorf("%s%s: mode %v, want 0600", base, ext, st.Mode().Perm())
		}
	}
	html, _ := os.ReadFile(base + ".html")
	if strings.Contains(string(html), "http://") || strings.Contains(string(html), "https://") || !strings.Contains(string(html), "svc-oom") {
		t.Errorf("HTML is not self-contained or lacks the service")
	}
	txt, _ := os.ReadFile(base + ".txt")
	if !strings.Contains(string(txt), "svc-oom") || !strings.Contains(string(txt), "CONSTRAINT_MEMCG") {
		t.Errorf("text summary lacks the victim or constraint:\n%s", txt)
	}

	// The cgroup's warning. On a small machine (the 4 GiB second-kernel VM)
	// the system domain may warn as well: the test's processes starting up
	// look like fast growth against little headroom.
	warns := waitGlob(t, filepath.Join(out, "warn-*.json"), 1, time.Second)
	var w *dump.Dump
	for _, f := range warns {
		wd, err := dump.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if w == nil {
			w = wd
		}
		if wd.Warning != nil && wd.Warning.Domain == cg.Path {
			w = wd
			break
		}
	}
	if w.Warning == nil || !w.Time.Before(d.Kills[0].Time) || w.Warning.Domain != cg.Path || w.Warning.Service != "svc-oom" {
		t.Errorf("warning %+v at %s, want one for %s driven by svc-oom before the kill at %s", w.Warning, w.Time, cg.Path, d.Kills[0].Time)
	}

	// SIGUSR2 writes a snapshot at once.
	rec.Process.Signal(syscall.SIGUSR2)
	snaps := waitGlob(t, filepath.Join(out, "snapshot-*.json"), 1, 5*time.Second)
	if s, err := dump.ReadFile(snaps[0]); err != nil || s.Kind != dump.KindSnapshot || len(s.Services) == 0 {
		t.Errorf("snapshot %v: %+v", err, s)
	}
}
