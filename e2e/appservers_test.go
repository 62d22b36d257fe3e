package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/dump"
	"github.com/oomtrace/oomtrace/internal/testutil"
)

// topSnapshots runs `oomtrace top --json` for n snapshots and hands each to
// each, as soon as it is read (the test reads /proc right after).
func topSnapshots(t *testing.T, n int, each func(i int, snap aggregate.Snapshot)) {
	t.Helper()
	args := []string{"-d", "500ms", "-n", strconv.Itoa(n), "--pss-interval", "0"}
	if got := topJSON(t, args, func(i int, _ []byte, snap aggregate.Snapshot) bool { each(i, snap); return true }); got != n {
		t.Fatalf("oomtrace top: %d snapshots, want %d", got, n)
	}
}

// checkTrees checks that each named service is exactly its tree: its pids,
// and RSS within 2% of what /proc says right after the snapshot, or within
// the per-CPU counters' error. The trees are idle, so no growth is allowed for.
func checkTrees(t *testing.T, i int, snap aggregate.Snapshot, want map[string][]int) {
	t.Helper()
	got := map[string]aggregate.Service{}
	for _, s := range snap.Services {
		got[s.Name] = s
	}
	for name, pids := range want {
		s, ok := got[name]
		if !ok {
			t.Errorf("snapshot %d: no service %q", i, name)
			continue
		}
		if s.Procs != len(pids) || !slices.Equal(s.PIDs, pids) || s.Kind != "tree" {
			t.Errorf("snapshot %d: %s has %d processes %v (%s), want its tree %v", i, name, s.Procs, s.PIDs, s.Kind, pids)
			continue
		}
		var rss uint64
		for _, p := range pids {
			r, _ := smapsRollup(t, p)
			rss += r
		}
		// 2%, or the per-CPU counters' batch per process where that is
		// more: the emperor alone is some 7 MiB.
		if slack := uint64(len(pids)) * testutil.CounterSlack(); !near(s.RSS, rss, 0) && !(s.RSS <= rss+slack && rss <= s.RSS+slack) {
			t.Errorf("snapshot %d: %s rss %d, /proc says %d (slack %d)", i, name, s.RSS, rss, slack)
		}
	}
}

// children are a process's child pids, sorted.
func children(t *testing.T, pid int) []int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		n, _ := strconv.Atoi(f)
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// startServer runs an app server in a session of its own, as a service
// manager would, and waits for its master to fork its workers; it returns
// the tree's pids, the master's first, and the file of its output.
func startServer(t *testing.T, dir string, workers int, name string, args ...string) ([]int, string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	log, err := os.CreateTemp(dir, filepath.Base(name)+"-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	exited := make(chan struct{})
	go func() { cmd.Process.Wait(); close(exited) }()
	return waitTree(t, cmd.Process.Pid, workers, exited, log.Name()), log.Name()
}

// waitTree waits for a master to have its workers, and returns its pid and
// theirs; log is where the server writes, for a failure.
func waitTree(t *testing.T, master, workers int, exited chan struct{}, log string) []int {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		select {
		case <-exited:
			b, _ := os.ReadFile(log)
			t.Fatalf("%d exited:\n%s", master, b)
		default:
		}
		if kids := children(t, master); len(kids) == workers {
			return append([]int{master}, kids...)
		}
		if time.Now().After(end) {
			b, _ := os.ReadFile(log)
			t.Fatalf("%d forked %v, want %d workers:\n%s", master, children(t, master), workers, b)
		}
	}
}

// The gate node: two uwsgi services with their own --ini, a
// gunicorn service, and a uwsgi emperor with two vassals; none in a unit or
// container, no rules. Each app is its own service named by it, with its
// master and workers and their RSS, in top, in a recorder's metrics and in
// its snapshot dump.
func TestAppServersNamedByApp(t *testing.T) {
	testutil.NeedRoot(t)
	uwsgi := testutil.NeedTool(t, "uwsgi", "uwsgi uwsgi-plugin-python3")
	testutil.NeedFile(t, "/usr/lib/uwsgi/plugins/python3_plugin.so", "uwsgi-plugin-python3")
	gunicorn := testutil.NeedTool(t, "gunicorn", "gunicorn")

	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Each app holds a different amount, touched, so that a swap or a sum
	// of two trees shows.
	app := func(mb int) string {
		return fmt.Sprintf("blob = b'x' * (%d << 20)\n\ndef application(env, start):\n    start('200 OK', [])\n    return [b'ok']\n", mb)
	}
	write("nova.py", app(8))
	write("glance.py", app(24))
	write("billing/__init__.py", "")
	write("billing/wsgi.py", app(16))
	ini := func(name, file string) string {
		return write(name, fmt.Sprintf("[uwsgi]\nplugin = python3\nmaster = true\nprocesses = 2\nwsgi-file = %s\nsocket = %s\n",
			filepath.Join(dir, file), filepath.Join(dir, name+".sock")))
	}
	want := map[string][]int{}
	want["nova-api-uwsgi"], _ = startServer(t, dir, 2, uwsgi, "--ini", ini("nova-api-uwsgi.ini", "nova.py"))
	want["glance-api-uwsgi"], _ = startServer(t, dir, 2, uwsgi, "--ini", ini("glance-api-uwsgi.ini", "glance.py"))
	want["billing.wsgi"], _ = startServer(t, dir, 2, gunicorn, "-w", "2", "-b", "unix:"+filepath.Join(dir, "g.sock"), "billing.wsgi:application")
	// uwsgi's emperor runs two more, its vassals, each an app of its own.
	ini("vassals/keystone.ini", "nova.py")
	ini("vassals/placement.ini", "billing/wsgi.py")
	emperor, log := startServer(t, dir, 2, uwsgi, "--emperor", filepath.Join(dir, "vassals"))
	for _, v := range emperor[1:] {
		tree := waitTree(t, v, 2, nil, log) // a vassal has exec'd once it forks
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", v))
		if err != nil {
			t.Fatal(err)
		}
		args := strings.Split(string(bytes.TrimRight(cmdline, "\x00")), "\x00")
		want[strings.TrimSuffix(args[len(args)-1], ".ini")] = tree
	}
	if want["keystone"] == nil || want["placement"] == nil {
		t.Fatalf("the emperor's vassals are %v, want keystone and placement", emperor[1:])
	}
	for _, pids := range want {
		slices.Sort(pids)
	}
	want["uwsgi"] = emperor[:1] // the emperor itself, alone
	topSnapshots(t, 6, func(i int, snap aggregate.Snapshot) {
		checkTrees(t, i, snap, want)
		for _, s := range snap.Services {
			if s.Name == "gunicorn" || strings.HasPrefix(s.Name, "uwsgi#") {
				t.Errorf("snapshot %d: service %s %v, named by the server, not its app", i, s.Name, s.PIDs)
			}
		}
	})

	// The recorder names them the same in its metrics and dumps.
	port := freePort(t)
	out, rec, _ := startRecorder(t, "-d", "250ms", "--metrics-addr", fmt.Sprintf(":%d", port))
	delete(want, "uwsgi")
	for name, pids := range want {
		if n := scrape(t, port, fmt.Sprintf(`oomtrace_service_processes{kind="tree",service=%q}`, name)); n != float64(len(pids)) {
			t.Errorf("metrics: %s has %v processes, want %d", name, n, len(pids))
		}
	}
	rec.Process.Signal(syscall.SIGUSR2)
	snaps := waitGlob(t, filepath.Join(out, "snapshot-*.json"), 1, 10*time.Second)
	d, err := dump.ReadFile(snaps[0])
	if err != nil {
		t.Fatal(err)
	}
	for name, pids := range want {
		i := slices.IndexFunc(d.Services, func(s dump.Service) bool { return s.Name == name })
		if i < 0 || d.Services[i].Procs != len(pids) {
			t.Errorf("snapshot dump: service %s %+v, want %d processes", name, d.Services, len(pids))
		}
	}
}

// Two trees of one binary with one name and nothing else to tell them
// apart stay two services, NAME and NAME#2, each with its own master,
// workers and RSS, the same in every snapshot.
func TestSameNameTreesStayApart(t *testing.T) {
	testutil.NeedRoot(t)
	small := testutil.StartService(t, "svc-twin", 2, 8, 0)
	big := testutil.StartService(t, "svc-twin", 2, 24, 0)
	slices.Sort(small)
	slices.Sort(big)
	var first map[string][]int
	topSnapshots(t, 5, func(i int, snap aggregate.Snapshot) {
		got := map[string][]int{}
		for _, s := range snap.Services {
			if s.Name == "svc-twin" || strings.HasPrefix(s.Name, "svc-twin#") {
				got[s.Name] = s.PIDs
			}
		}
		if len(got) != 2 || got["svc-twin"] == nil || got["svc-twin#2"] == nil {
			t.Fatalf("snapshot %d: services %v, want svc-twin and svc-twin#2", i, got)
		}
		if first == nil {
			first = got
		}
		// Which tree is seen first is not fixed; each keeps its name.
		want := map[string][]int{"svc-twin": small, "svc-twin#2": big}
		if slices.Equal(first["svc-twin"], big) {
			want = map[string][]int{"svc-twin": big, "svc-twin#2": small}
		}
		checkTrees(t, i, snap, want)
	})
}
