package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/cgroup"
	"github.com/oomtrace/oomtrace/internal/dump"
	"github.com/oomtrace/oomtrace/internal/testutil"
)

func vmstatOOMKills(t *testing.T) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/vmstat")
	if err != nil {
		t.Fatal(err)
	}
	var v uint64
	for _, line := range splitLines(string(b)) {
		if _, err := fmt.Sscanf(line, "oom_kill %d", &v); err == nil {
			return v
		}
	}
	t.Fatal("no oom_kill in /proc/vmstat")
	return 0
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		out = append(out, s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}

// Twenty OOM kills within a second or two, in twenty cgroups at once: each
// gets its own dump naming the right victim, trigger and service, and the
// number of dumps equals the kernel's count of kills.
func TestOOMStorm(t *testing.T) {
	testutil.NeedRoot(t)
	const n = 20
	out, _, _ := startRecorder(t, "-d", "250ms", "--window", "1m")
	before := vmstatOOMKills(t)
	victims := map[uint32]cgroup.Memcg{}
	var kids []*testutil.Child
	for i := 0; i < n; i++ {
		cg := testCgroup(t, "storm"+strconv.Itoa(i), 32<<20)
		c := startChildIn(t, cg, "hog", strconv.Itoa(4<<20))
		c.Expect(t, "ready")
		victims[uint32(c.Pid)] = cg
		kids = append(kids, c)
	}
	start := time.Now()
	for _, c := range kids {
		c.Send(t)
	}
	for _, c := range kids {
		c.Cmd.Wait()
		if ws, ok := c.Cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Errorf("hog %d was not OOM-killed: %v", c.Pid, c.Cmd.ProcessState)
		}
	}
	t.Logf("%d kills in %s", n, time.Since(start).Round(time.Millisecond))
	files := waitGlob(t, filepath.Join(out, "oom-*.json"), n, 15*time.Second)
	if len(files) != n {
		t.Errorf("%d OOM dumps, want %d", len(files), n)
	}
	seen := map[uint32]bool{}
	inferred := 0
	var maxKernel uint64
	for _, f := range files {
		d, err := dump.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		v := d.Victim
		cg, ok := victims[v.PID]
		if !ok || seen[v.PID] {
			t.Errorf("%s: victim %d is not one of the hogs, or seen twice", f, v.PID)
			continue
		}
		seen[v.PID] = true
		if v.Comm != "workload" || v.Service != "workload" || d.Trigger.PID != v.PID || v.Cgroup != cg.Path || d.TaskMemcg != cg.Path {
			t.Errorf("%s: victim %+v trigger %+v task_memcg %s; want the hog in %s", f, v, d.Trigger, d.TaskMemcg, cg.Path)
		}
		// The kernel prints its full report for 10 kills per 5 s, then only
		// the "Killed process" line: the constraint is inferred for the rest.
		if k := d.Kills[0]; !k.KernelReport || k.MemcgOOMKills != 1 || k.Constraint != "CONSTRAINT_MEMCG" {
			t.Errorf("%s: kernel report joined %v, memcg counter %d, constraint %q", f, k.KernelReport, k.MemcgOOMKills, k.Constraint)
		} else if k.ConstraintInferred {
			inferred++
		}
		if d.Missed != 0 {
			t.Errorf("%s: claims %d missed kills; each kill of the storm is recorded", f, d.Missed)
		}
		maxKernel = max(maxKernel, d.OOMKillsKernel)
	}
	t.Logf("%d of %d constraints inferred (kernel report rate-limited)", inferred, n)
	if got := vmstatOOMKills(t) - before; got != n {
		t.Errorf("the kernel counted %d kills, want %d", got, n)
	}
	if maxKernel != n {
		t.Errorf("dumps saw at most %d kernel kills, want %d", maxKernel, n)
	}
}
