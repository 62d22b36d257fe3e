package e2e

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/testutil"
	"github.com/oomtrace/oomtrace/internal/testutil/tracertest"
	"github.com/oomtrace/oomtrace/tracer"
)

// A process of 8 threads calls exit_group, which wakes the other 7 to exit
// beside it; before 6.16 the last thread to drop the mm also tears down
// 64 MiB on its way to sched_process_exit, after others saw the group
// empty. Each round must give exactly one exit event, from one of the
// process's threads, with its status.
func TestExitGroupOnce(t *testing.T) {
	testutil.NeedRoot(t)
	const threads, code = 8, 7
	const rounds = 100
	tr, col := tracertest.Start(t, tracer.Config{})
	t.Logf("sched_process_exit: %s", exitHook(t, tr))
	bad := map[int]int{} // pid -> its exit events, where not 1
	for range rounds {
		c := testutil.StartChild(t, "group", strconv.Itoa(threads), "64", strconv.Itoa(code))
		c.Expect(t, "ready")
		tasks, err := os.ReadDir("/proc/" + strconv.Itoa(c.Pid) + "/task")
		if err != nil || len(tasks) != threads {
			t.Fatalf("workload %d has %d threads (%v), want %d", c.Pid, len(tasks), err, threads)
		}
		tids := map[uint32]bool{}
		for _, d := range tasks {
			tid, _ := strconv.Atoi(d.Name())
			tids[uint32(tid)] = true
		}
		c.Send(t)
		c.Cmd.Wait()
		if ws, _ := c.Cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Exited() || ws.ExitStatus() != code {
			t.Fatalf("workload ended with %v, want exit %d", c.Cmd.ProcessState, code)
		}
		// Every thread passed the tracepoint before the group could be
		// reaped; the ring is in order, so once the exit of a process
		// started after that is in, so are all of the workload's.
		mark := exec.Command(testutil.WorkloadBin(t), "exit")
		if err := mark.Run(); err != nil {
			t.Fatal(err)
		}
		col.WaitFor(t, "marker exit", 10*time.Second, func(e *tracer.Event) bool {
			return e.Type == tracer.EventExit && e.PID == uint32(mark.Process.Pid)
		})
		exits := col.Matching(func(e *tracer.Event) bool { return e.Type == tracer.EventExit && e.PID == uint32(c.Pid) })
		if len(exits) != 1 {
			bad[c.Pid] = len(exits)
		}
		for _, e := range exits {
			if ws := syscall.WaitStatus(e.Proc.ExitCode); !ws.Exited() || ws.ExitStatus() != code || !tids[e.TID] {
				t.Errorf("pid %d: exit from tid %d status %#x, want one of its %d threads with exit %d", c.Pid, e.TID, e.Proc.ExitCode, threads, code)
			}
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d of %d processes gave other than one exit event (pid:events): %v", len(bad), rounds, bad)
	}
}

func exitHook(t *testing.T, tr *tracer.Tracer) string {
	for _, h := range tr.Hooks() {
		if h.Name == "sched/sched_process_exit" {
			return h.Mechanism
		}
	}
	t.Fatal("no sched/sched_process_exit hook")
	return ""
}
