package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/testutil"
)

const (
	workersTable   = 200 << 20 // built by the master before it forks
	workersPrivate = 20 << 20  // allocated by each worker after the fork
	workersN       = 4
)

// privateBytes is a process's USS as the aggregator defines it,
// smaps_rollup's Private_Clean + Private_Dirty, and its Pss, read on their
// own from /proc.
func privateBytes(t *testing.T, pid int) (uss, pss uint64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l) // "Private_Dirty:   1234 kB"
		if len(f) != 3 || f[2] != "kB" {
			continue
		}
		n, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			t.Fatalf("smaps_rollup of %d: %q", pid, l)
		}
		switch f[0] {
		case "Private_Clean:", "Private_Dirty:":
			uss += n << 10
		case "Pss:":
			pss += n << 10
		}
	}
	return uss, pss
}

// A preloading gunicorn: the master builds a 200 MiB table, touched page by
// page, before it forks four workers, each of which then touches 20 MiB of
// its own. top --json reports the master's four workers, their mean and
// largest USS within 5% of /proc's, and the memory they share: most of
// their PSS, at least their share of the table.
func TestWorkerCostPreforked(t *testing.T) {
	testutil.NeedRoot(t)
	gunicorn := testutil.NeedTool(t, "gunicorn", "gunicorn")
	dir := t.TempDir()
	app := fmt.Sprintf(`table = bytearray(%d)
table[::4096] = b'\x01' * len(range(0, len(table), 4096))  # every page touched: resident, shared after the fork

def application(env, start):
    start('200 OK', [])
    return [b'ok']
`, workersTable)
	conf := fmt.Sprintf(`mine = None

def post_fork(server, worker):
    global mine
    mine = b'\x02' * %d  # written: the worker's own pages
`, workersPrivate)
	for name, text := range map[string]string{"costly.py": app, "costly_conf.py": conf} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tree, log := startServer(t, dir, workersN, gunicorn, "--preload", "-w", strconv.Itoa(workersN), "-c", "costly_conf.py",
		"-b", "unix:"+filepath.Join(dir, "g.sock"), "costly:application")
	master, workers := tree[0], slices.Clone(tree[1:])
	slices.Sort(tree)

	var got aggregate.Service
	n := topJSON(t, []string{"-d", "500ms", "-n", "40", "--pss-interval", "0"}, func(n int, _ []byte, snap aggregate.Snapshot) bool {
		for _, s := range snap.Services {
			if slices.Contains(s.PIDs, master) {
				got = s
			}
		}
		// Until every worker is read and has its 20 MiB (post_fork may
		// still be running at the first snapshots).
		return got.Workers.Count != workersN || got.Unread > 0 || got.USSMax < workersPrivate
	})
	b, _ := os.ReadFile(log)
	// Its name is costly, or costly#2 beside another app of that name.
	if !strings.HasPrefix(got.Name, "costly") || !slices.Equal(got.PIDs, tree) || got.Workers.Count != workersN || got.Unread > 0 {
		t.Fatalf("after %d snapshots: service %q pids %v workers %+v, want costly's tree %v with %d workers, all read\n%s",
			n, got.Name, got.PIDs, got.Workers, tree, workersN, b)
	}
	var uss, pss, largest uint64
	for _, w := range workers {
		u, p := privateBytes(t, w)
		uss, pss, largest = uss+u, pss+p, max(largest, u)
	}
	mean := uss / workersN
	t.Logf("costly: %d workers, USS mean %d max %d, shared %d; /proc: mean %d max %d, shared %d, PSS %d",
		got.Workers.Count, got.USSMean, got.USSMax, got.Shared, mean, largest, pss-uss, pss)
	if !within(got.USSMean, mean, 0.05) || !within(got.USSMax, largest, 0.05) {
		t.Errorf("worker USS mean %d max %d, /proc says %d and %d", got.USSMean, got.USSMax, mean, largest)
	}
	if got.USSMean < workersPrivate {
		t.Errorf("worker USS mean %d, less than the %d each touched", got.USSMean, workersPrivate)
	}
	if !within(got.Shared, pss-uss, 0.05) {
		t.Errorf("shared %d, /proc says %d", got.Shared, pss-uss)
	}
	// The table is shared five ways (the master and four workers): the
	// workers' share of it alone is 4/5 of it; that is most of their PSS.
	if share := uint64(workersTable) / 5 * workersN; got.Shared < share*95/100 || got.Shared*2 < pss {
		t.Errorf("shared %d: want at least the workers' share of the table, %d, and most of their PSS, %d", got.Shared, share, pss)
	}
}
