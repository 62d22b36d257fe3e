package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/testutil"
	"github.com/oomtrace/oomtrace/internal/testutil/tracertest"
	"github.com/oomtrace/oomtrace/tracer"
)

// oomPaths are the two ways the OOM hook reads a kill: tp_btf, and the plain
// tracepoint it falls back to.
var oomPaths = []struct {
	name  string
	force bool // tracer.Config.ForceTracepoint
}{{"tp_btf", false}, {"tracepoint", true}}

// A process allocates past a 64 MiB memory cgroup limit until the kernel
// kills it. The OOM event must name it as victim and trigger, match the
// kernel's own report field for field, and carry the cgroup path.
func TestRealOOMKill(t *testing.T) {
	testutil.NeedRoot(t)
	for _, tc := range oomPaths {
		t.Run(tc.name, func(t *testing.T) {
			cg := testCgroup(t, "oom-"+tc.name, 64<<20)
			reports := kernelReports(t)
			tr, col := tracertest.Start(t, tracer.Config{ForceTracepoint: tc.force})
			for _, h := range tr.Hooks() {
				if h.Name == "oom/mark_victim" && h.Mechanism != tc.name {
					t.Fatalf("oom/mark_victim attached with %s, want %s", h.Mechanism, tc.name)
				}
			}
			c := testutil.StartChild(t, "hog", strconv.Itoa(4<<20))
			c.Expect(t, "ready")
			if err := cg.AddProc(c.Pid); err != nil {
				t.Fatal(err)
			}
			c.Send(t)
			err := c.Cmd.Wait()
			if ws, ok := c.Cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("workload ended with %v, want SIGKILL from the OOM killer", err)
			}
			rep := reportFor(t, reports, c.Pid, 10*time.Second)
			ev := col.WaitFor(t, "oom_kill", 10*time.Second, func(e *tracer.Event) bool {
				return e.Type == tracer.EventOOMKill && e.OOM.Victim.PID == uint32(c.Pid)
			})
			k := ev.OOM
			t.Logf("kernel: %+v", rep)
			t.Logf("oomtrace: %+v", *k)

			if k.Source != tc.name {
				t.Errorf("source %q, want %q", k.Source, tc.name)
			}
			if k.Victim.Comm != "workload" || rep.Comm != "workload" {
				t.Errorf("victim comm %q, kernel says %q", k.Victim.Comm, rep.Comm)
			}
			// Nothing else runs in the cgroup: the hog's own charge hit the limit.
			if k.Trigger.PID != uint32(c.Pid) || rep.TriggerPID != c.Pid || k.Trigger.Comm != rep.Trigger {
				t.Errorf("trigger %d(%s), want %d(%s) as the kernel's 'invoked oom-killer' line says", k.Trigger.PID, k.Trigger.Comm, c.Pid, rep.Trigger)
			}
			for _, f := range []struct {
				name     string
				got, kbs uint64
			}{
				{"total_vm", k.TotalVMBytes, rep.TotalVMKB},
				{"anon_rss", k.AnonRSSBytes, rep.AnonRSSKB},
				{"file_rss", k.FileRSSBytes, rep.FileRSSKB},
				{"shmem_rss", k.ShmemRSSBytes, rep.ShmemRSSKB},
				{"pgtables", k.PgTablesBytes, rep.PgTablesKB},
			} {
				if f.got != f.kbs*1024 {
					t.Errorf("%s = %d bytes, the kernel printed %d kB", f.name, f.got, f.kbs)
				}
			}
			if k.AnonRSSBytes < 48<<20 {
				t.Errorf("anon rss %d at a 64 MiB limit: implausibly small", k.AnonRSSBytes)
			}
			if int(k.OOMScoreAdj) != rep.OOMScoreAdj || int(k.UID) != rep.UID {
				t.Errorf("oom_score_adj %d uid %d, kernel says %d and %d", k.OOMScoreAdj, k.UID, rep.OOMScoreAdj, rep.UID)
			}
			if rep.Constraint != "CONSTRAINT_MEMCG" || rep.OOMMemcg != cg.Path || rep.TaskMemcg != cg.Path {
				t.Errorf("kernel report constraint=%s oom_memcg=%s task_memcg=%s, want a memcg OOM in %s", rep.Constraint, rep.OOMMemcg, rep.TaskMemcg, cg.Path)
			}
			if tc.name == "tp_btf" {
				if k.MemcgPath != cg.Path {
					t.Errorf("victim memcg %q, want %q", k.MemcgPath, cg.Path)
				}
				var st syscall.Stat_t
				if err := syscall.Stat(cg.H.Dir(cg.Path), &st); err != nil || st.Ino != k.MemcgID {
					t.Errorf("memcg id %d, the cgroup directory's inode is %d (%v)", k.MemcgID, st.Ino, err)
				}
			}
			// Allocations made before the kill are delivered before it.
			evs := col.Events()
			oomAt := -1
			for i, e := range evs {
				if e.Type == tracer.EventOOMKill && e.PID == uint32(c.Pid) {
					oomAt = i
				}
			}
			for i, e := range evs {
				if e.Type == tracer.EventMmap && e.PID == uint32(c.Pid) && e.Time.Before(ev.Time) && i > oomAt {
					t.Errorf("mmap at %s delivered after the OOM kill at %s", e.Time.Format("15:04:05.000000"), ev.Time.Format("15:04:05.000000"))
				}
			}
			if n, err := cg.OOMKills(); err != nil || n != 1 {
				t.Errorf("cgroup oom_kill counter %d (%v), want 1", n, err)
			}
			exit := col.WaitFor(t, "exit", 5*time.Second, func(e *tracer.Event) bool { return e.Type == tracer.EventExit && e.PID == uint32(c.Pid) })
			if ws := syscall.WaitStatus(exit.Proc.ExitCode); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Errorf("exit event status %#x, want killed by SIGKILL", exit.Proc.ExitCode)
			}
			if st, _ := tr.Stats(); st.LostRing[tracer.EventOOMKill] != 0 {
				t.Errorf("%d OOM events lost", st.LostRing[tracer.EventOOMKill])
			}
		})
	}
}

// Two processes share a 64 MiB memory cgroup: a large one that touched
// 48 MiB and idles with oom_score_adj 1000, then a small one that touches
// 24 MiB. The small one's charge hits the limit (the trigger), the large one
// is killed (the victim). The OOM event must tell them apart as the kernel's
// report does: "invoked oom-killer" and the CPU line name the trigger,
// "Killed process" the victim.
func TestOOMTriggerIsNotVictim(t *testing.T) {
	testutil.NeedRoot(t)
	for _, tc := range oomPaths {
		t.Run(tc.name, func(t *testing.T) {
			cg := testCgroup(t, "trigger-"+tc.name, 64<<20)
			reports := kernelReports(t)
			_, col := tracertest.Start(t, tracer.Config{ForceTracepoint: tc.force})

			big := startChildIn(t, cg, "service", "oomvictim", "0", "40", "0")
			big.Expect(t, "service")
			if err := os.WriteFile(fmt.Sprintf("/proc/%d/oom_score_adj", big.Pid), []byte("1000"), 0); err != nil {
				t.Fatal(err)
			}
			small := startChildIn(t, cg, "service", "oomtrigger", "0", "16", "0")
			small.Expect(t, "service") // its charge went past the limit, and the big one died for it
			big.Cmd.Wait()
			if ws, ok := big.Cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("the big process ended with %v, want SIGKILL from the OOM killer", big.Cmd.ProcessState)
			}
			rep := reportFor(t, reports, big.Pid, 10*time.Second)
			ev := col.WaitFor(t, "oom_kill", 10*time.Second, func(e *tracer.Event) bool { return e.Type == tracer.EventOOMKill })
			k := ev.OOM
			t.Logf("kernel: %+v", rep)
			t.Logf("oomtrace: %+v", *k)

			if rep.PID != big.Pid || rep.Comm != "oomvictim" || rep.OOMScoreAdj != 1000 {
				t.Errorf("kernel killed %d (%s) adj %d, want the big process %d (oomvictim) adj 1000", rep.PID, rep.Comm, rep.OOMScoreAdj, big.Pid)
			}
			if rep.Trigger != "oomtrigger" || rep.TriggerPID != small.Pid {
				t.Errorf("kernel trigger %d (%s), want the small process %d (oomtrigger)", rep.TriggerPID, rep.Trigger, small.Pid)
			}
			if k.Victim.PID != uint32(rep.PID) || k.Victim.Comm != rep.Comm || k.OOMScoreAdj != 1000 {
				t.Errorf("victim %d (%s) adj %d, the kernel killed %d (%s)", k.Victim.PID, k.Victim.Comm, k.OOMScoreAdj, rep.PID, rep.Comm)
			}
			if k.Trigger.PID != uint32(rep.TriggerPID) || k.Trigger.Comm != rep.Trigger {
				t.Errorf("trigger %d (%s), the kernel's report names %d (%s)", k.Trigger.PID, k.Trigger.Comm, rep.TriggerPID, rep.Trigger)
			}
			// The victim is not current: killed, it may run and fold its
			// cached RSS deltas into the mm (SPLIT_RSS_COUNTING, before 6.2:
			// 64 events a counter, each a page or a few) between mark_victim
			// and the print.
			near := func(got, kb uint64) bool { return max(got, kb*1024)-min(got, kb*1024) <= 1<<20 }
			if !near(k.AnonRSSBytes, rep.AnonRSSKB) || !near(k.ShmemRSSBytes, rep.ShmemRSSKB) || k.AnonRSSBytes < 32<<20 {
				t.Errorf("victim anon %d shmem %d bytes, the kernel printed %d and %d kB", k.AnonRSSBytes, k.ShmemRSSBytes, rep.AnonRSSKB, rep.ShmemRSSKB)
			}
			if n := len(col.Matching(func(e *tracer.Event) bool { return e.Type == tracer.EventOOMKill })); n != 1 {
				t.Errorf("%d OOM events, want 1", n)
			}
			if n, err := cg.OOMKills(); err != nil || n != 1 {
				t.Errorf("cgroup oom_kill counter %d (%v), want 1", n, err)
			}
		})
	}
}

// A process whose leader thread has exited is killed in its 64 MiB memory
// cgroup: the thread left holds the mm, so the kernel marks and prints that
// thread ("Killed process TID"). Both hook paths must report the process's
// tgid as the victim's pid, and the thread as its tid.
func TestOOMThreadVictim(t *testing.T) {
	testutil.NeedRoot(t)
	for _, tc := range oomPaths {
		t.Run(tc.name, func(t *testing.T) {
			cg := testCgroup(t, "thread-"+tc.name, 64<<20)
			reports := kernelReports(t)
			_, col := tracertest.Start(t, tracer.Config{ForceTracepoint: tc.force})
			// In the cgroup from the start: a leader that exits outside it
			// leaves none there for the OOM killer's walk of processes.
			c := startChildIn(t, cg, "threadhog", strconv.Itoa(4<<20))
			f := c.Expect(t, "ready")
			tid, err := strconv.Atoi(f[len(f)-1])
			if err != nil || len(f) != 3 || tid == c.Pid {
				t.Fatalf("workload said %q, want ready PID TID of a second thread", f)
			}
			// Ground truth: the thread belongs to the process, whose leader is gone.
			status := testutil.ReadFile(t, fmt.Sprintf("/proc/%d/task/%d/status", c.Pid, tid))
			if !strings.Contains(status, fmt.Sprintf("\nTgid:\t%d\n", c.Pid)) {
				t.Fatalf("thread %d is not in process %d:\n%s", tid, c.Pid, status)
			}
			for end := time.Now().Add(5 * time.Second); !strings.Contains(testutil.ReadFile(t, fmt.Sprintf("/proc/%d/status", c.Pid)), "State:\tZ"); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(end) {
					t.Fatalf("leader of %d has not exited within 5s", c.Pid)
				}
			}
			c.Send(t)
			c.Cmd.Wait()
			if ws, ok := c.Cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("workload ended with %v, want SIGKILL from the OOM killer", c.Cmd.ProcessState)
			}
			rep := reportFor(t, reports, tid, 10*time.Second)
			ev := col.WaitFor(t, "oom_kill", 10*time.Second, func(e *tracer.Event) bool { return e.Type == tracer.EventOOMKill })
			k := ev.OOM
			t.Logf("kernel: Killed process %d (%s)", rep.PID, rep.Comm)
			t.Logf("oomtrace: victim pid %d tid %d start %d (%s)", k.Victim.PID, k.Victim.TID, k.Victim.Start, k.Source)
			if k.Source != tc.name {
				t.Errorf("source %q, want %q", k.Source, tc.name)
			}
			if k.Victim.PID != uint32(c.Pid) || k.Victim.TID != uint32(rep.PID) {
				t.Errorf("victim pid %d tid %d, want the process %d and the thread %d the kernel killed", k.Victim.PID, k.Victim.TID, c.Pid, rep.PID)
			}
			if n := len(col.Matching(func(e *tracer.Event) bool { return e.Type == tracer.EventOOMKill })); n != 1 {
				t.Errorf("%d OOM events, want 1", n)
			}
		})
	}
}
