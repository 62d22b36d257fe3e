package aggregate

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/proc"
)

// smapsFake gives each process its own USS, so that the worker figures can
// be checked against known ones.
type smapsFake struct {
	*fakeProcs
	uss map[int]uint64
}

func (f smapsFake) Smaps(pid int) (proc.Smaps, error) {
	s, err := f.fakeProcs.Smaps(pid)
	s.USS = f.uss[pid]
	return s, err
}

func (f smapsFake) proc(pid, ppid int, exe string, pss, uss uint64) {
	f.add(pid, ppid, 100, "gunicorn", []string{"/usr/bin/python3", "/usr/bin/gunicorn", "app:app"}, pss)
	in := f.info[pid]
	in.Exe = exe
	f.info[pid] = in
	f.pss[pid], f.uss[pid] = pss, uss
}

// A preforking master with four workers of its executable, and a helper it
// runs (another executable): the helper is no worker, the master none
// either; the figures are the workers' own, partial until each is read.
func TestWorkerCost(t *testing.T) {
	f := smapsFake{newFake(), map[int]uint64{}}
	f.add(1, 0, 1, "systemd", []string{"/sbin/init"}, 1<<20)
	f.proc(100, 1, "/usr/bin/python3.13", 300<<20, 250<<20)
	uss := []uint64{20 << 20, 22 << 20, 24 << 20, 30 << 20}
	for i, u := range uss {
		f.proc(101+i, 100, "/usr/bin/python3.13", u+50<<20, u)
	}
	f.proc(110, 100, "/usr/bin/dash", 90<<20, 1<<20) // a helper: not of the family
	// A lone process of another service has no workers.
	f.add(200, 1, 200, "redis", []string{"redis-server"}, 5<<20)
	a := New(Config{Interval: time.Second, PSSInterval: -1, PSSBudget: 2}, f, nil)
	t0 := time.Unix(1_700_000_000, 0)

	snap, err := a.Tick(t0)
	if err != nil {
		t.Fatal(err)
	}
	w := find(t, snap, "app").Workers
	if w != (Workers{Count: 4, Unread: 4}) || w.Partial() != "not read yet" {
		t.Fatalf("before any read: %+v (%q), want 4 workers, none read", w, w.Partial())
	}
	partial := false
	for i := 1; ; i++ {
		if snap, err = a.Tick(t0.Add(time.Duration(i) * time.Second)); err != nil {
			t.Fatal(err)
		}
		w = find(t, snap, "app").Workers
		if w.Unread == 0 {
			break
		}
		partial = partial || w.Unread < 4
		if w.Unread < 4 && (w.USSMean == 0 || w.Partial() == "") {
			t.Fatalf("some read: %+v (%q), want figures of those read, marked partial", w, w.Partial())
		}
		if i > 10 {
			t.Fatalf("workers still unread after %d ticks: %+v", i, w)
		}
	}
	if !partial {
		t.Error("never saw some workers read and others not, with 2 reads a tick")
	}
	want := Workers{Count: 4, USSMean: (20 + 22 + 24 + 30) << 20 / 4, USSMax: 30 << 20, Shared: 4 * 50 << 20}
	if w != want {
		t.Errorf("workers %+v, want %+v", w, want)
	}
	if r := find(t, snap, "redis").Workers; r != (Workers{}) {
		t.Errorf("lone redis: %+v, want no workers", r)
	}
	b, err := json.Marshal(find(t, snap, "redis"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"worker_count", "worker_uss_mean_bytes", "worker_uss_max_bytes", "shared_bytes"} {
		if strings.Contains(string(b), k) {
			t.Errorf("lone redis's JSON has %s: %s", k, b)
		}
	}
	b, _ = json.Marshal(find(t, snap, "app"))
	if !strings.Contains(string(b), `"worker_count":4,"worker_uss_mean_bytes":25165824,"worker_uss_max_bytes":31457280,"shared_bytes":209715200`) {
		t.Errorf("gunicorn's JSON: %s", b)
	}
}

// The master is the process with the most children of its own family:
// under a shell (another family) or an extra level of forks, and not a
// process whose children are different programs.
func TestWorkerMaster(t *testing.T) {
	py := func(pid, ppid int, uss uint64) member {
		return member{pid: pid, ppid: ppid, exe: "/usr/bin/python3", pss: uss + 10, uss: uss, read: true}
	}
	cases := []struct {
		name string
		ms   []member
		root int
		want Workers
	}{
		{"under a shell", []member{
			{pid: 10, ppid: 1, exe: "/bin/sh", read: true}, py(11, 10, 0), py(12, 11, 4), py(13, 11, 8), py(14, 11, 6),
		}, 10, Workers{Count: 3, USSMean: 6, USSMax: 8, Shared: 30}},
		{"a worker's own child is not a worker", []member{
			py(11, 1, 0), py(12, 11, 4), py(13, 11, 8), py(20, 12, 100),
		}, 11, Workers{Count: 2, USSMean: 6, USSMax: 8, Shared: 20}},
		{"one child is no master and workers", []member{py(11, 1, 0), py(12, 11, 4), {pid: 13, ppid: 11, exe: "/bin/sh"}}, 11, Workers{}},
		{"children of other programs", []member{
			{pid: 10, ppid: 1, exe: "/bin/sh"}, {pid: 11, ppid: 10, exe: "/bin/a"}, {pid: 12, ppid: 10, exe: "/bin/b"},
		}, 10, Workers{}},
		{"no exe: comm decides", []member{
			{pid: 5, ppid: 1, comm: "php-fpm"}, {pid: 6, ppid: 5, comm: "php-fpm", uss: 3, pss: 5, read: true},
			{pid: 7, ppid: 5, comm: "php-fpm", uss: 5, pss: 7, read: true}, {pid: 8, ppid: 5, comm: "other", uss: 9, pss: 9, read: true},
		}, 5, Workers{Count: 2, USSMean: 4, USSMax: 5, Shared: 4}},
		{"a tie goes to the key's root", []member{
			py(11, 1, 0), py(12, 11, 4), py(13, 11, 8), py(14, 1, 0), py(15, 14, 1), py(16, 14, 1),
		}, 14, Workers{Count: 2, USSMean: 1, USSMax: 1, Shared: 20}},
	}
	for _, c := range cases {
		if got := workerCost(c.ms, c.root); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}
