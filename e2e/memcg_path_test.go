package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/cgroup"
	"github.com/oomtrace/oomtrace/internal/testutil"
	"github.com/oomtrace/oomtrace/internal/testutil/tracertest"
	"github.com/oomtrace/oomtrace/tracer"
)

// An OOM kill in a memory cgroup whose path is too deep (more than 12
// levels) or too long (past the 255 bytes of the event) for the OOM hook to
// copy whole: the path keeps the names nearest the cgroup and starts with
// "…", so that it cannot pass for another cgroup's whole path.
func TestOOMMemcgPathCut(t *testing.T) {
	testutil.NeedRoot(t)
	long := func(i int) string { return fmt.Sprintf("l%d-%s", i, strings.Repeat("x", 96)) }
	for _, tc := range []struct {
		name  string
		names []string // below our own cgroup, the first one unique
	}{
		{"deep", []string{"", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9", "d10", "d11", "d12", "d13"}},
		{"long", []string{"", long(2), long(3), long(4)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.names[0] = fmt.Sprintf("oomtrace-%s-%d", tc.name, os.Getpid())
			cg := nestedCgroup(t, tc.names, 64<<20)
			want := cutPath(cg.Path, 12, 255)
			if !strings.HasPrefix(want, tracer.MemcgPathCut+"/") || !strings.HasSuffix(want, "/"+tc.names[len(tc.names)-1]) {
				t.Fatalf("%s (v%d) is not cut: the test proves nothing", cg.Path, cg.H.Version)
			}
			_, col := tracertest.Start(t, tracer.Config{})
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
			k := col.WaitFor(t, "oom_kill", 10*time.Second, func(e *tracer.Event) bool {
				return e.Type == tracer.EventOOMKill && e.OOM.Victim.PID == uint32(c.Pid)
			}).OOM
			t.Logf("cgroup %s (%d bytes, v%d)\nevent   %s", cg.Path, len(cg.Path), cg.H.Version, k.MemcgPath)
			if k.Source != "tp_btf" {
				t.Fatalf("OOM read by %s, which has no cgroup path", k.Source)
			}
			if k.MemcgPath != want {
				t.Errorf("memcg path %q, want %q", k.MemcgPath, want)
			}
			var st syscall.Stat_t
			if err := syscall.Stat(cg.H.Dir(cg.Path), &st); err != nil || st.Ino != k.MemcgID {
				t.Errorf("memcg id %d, the cgroup directory's inode is %d (%v)", k.MemcgID, st.Ino, err)
			}
		})
	}
}

// cutPath is path as the OOM hook gives it: whole if it has at most depth
// names and fits in room bytes, else "…" and the names nearest the cgroup
// that fit.
func cutPath(path string, depth, room int) string {
	names := strings.Split(strings.Trim(path, "/"), "/")
	if len(names) <= depth && len(path) <= room {
		return path
	}
	out, n := "", len(tracer.MemcgPathCut)
	for i := len(names) - 1; i >= 0 && i >= len(names)-depth && n+1+len(names[i]) <= room; i-- {
		out = "/" + names[i] + out
		n += 1 + len(names[i])
	}
	return tracer.MemcgPathCut + out
}

// nestedCgroup makes memory cgroups nested one in the other, under our own,
// and returns the innermost, with the limit; they are removed at cleanup,
// innermost first.
func nestedCgroup(t *testing.T, names []string, limit uint64) cgroup.Memcg {
	t.Helper()
	h, err := cgroup.Detect()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cgroup: %v", err)
		}
		t.Skipf("cgroup: %v", err)
	}
	parent, err := h.PathOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	var cg cgroup.Memcg
	for i, name := range names {
		lim := uint64(1 << 40) // only the innermost limits
		if i == len(names)-1 {
			lim = limit
		}
		m, err := cgroup.CreateChild(h, parent, name, lim)
		if err != nil {
			t.Fatalf("create cgroup %s under %s (v%d): %v", name, parent, h.Version, err)
		}
		t.Cleanup(func() {
			pids, _ := m.Procs()
			for _, p := range pids {
				syscall.Kill(p, syscall.SIGKILL)
			}
			if err := m.Remove(); err != nil {
				t.Errorf("remove cgroup %s: %v", m.Path, err)
			}
		})
		cg, parent = m, m.Path
	}
	return cg
}
