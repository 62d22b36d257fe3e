package aggregate

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/proc"
	"github.com/oomtrace/oomtrace/internal/service"
	"github.com/oomtrace/oomtrace/tracer"
)

// addTree adds a master and its workers, each with anon MiB.
func (f *fakeProcs) addTree(master int, workers int, comm string, args []string, anon uint64) {
	f.add(master, 1, master, comm, args, anon)
	for w := master + 1; w <= master+workers; w++ {
		f.add(w, master, master, comm, args, anon)
	}
}

func (f *fakeProcs) removeTree(master, workers int) {
	for pid := master; pid <= master+workers; pid++ {
		delete(f.info, pid)
	}
}

// Two masters whose trees resolve to one name are two services, uwsgi and
// uwsgi#2, each with its own processes and memory; each name holds while its
// tree lives, and a master restarted (in the same tick even) gets its name
// back; an exec'd master keeps its name.
func TestSameNameTreesStayApart(t *testing.T) {
	f := newFake()
	f.add(1, 0, 1, "systemd", []string{"/sbin/init"}, 1<<20)
	args := []string{"uwsgi", "--http", ":80"} // nothing that names the app
	f.addTree(100, 2, "uwsgi", args, 10<<20)
	f.addTree(200, 2, "uwsgi", args, 30<<20)
	a := New(Config{WithProcesses: true}, f, nil)
	t0 := time.Unix(1_700_000_000, 0)
	tick := func(i int) Snapshot {
		t.Helper()
		snap, err := a.Tick(t0.Add(time.Duration(i) * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return snap
	}
	check := func(snap Snapshot, name string, master int, anon uint64) {
		t.Helper()
		s := find(t, snap, name)
		if want := []int{master, master + 1, master + 2}; s.Procs != 3 || !slices.Equal(s.PIDs, want) || s.Kind != "tree" {
			t.Errorf("%s: %d procs %v kind %s, want %v, tree", name, s.Procs, s.PIDs, s.Kind, want)
		}
		if want := 3 * (anon + 10<<20); s.RSS != want {
			t.Errorf("%s: rss %d, want %d", name, s.RSS, want)
		}
	}
	snap := tick(0)
	check(snap, "uwsgi", 100, 10<<20)
	check(snap, "uwsgi#2", 200, 30<<20)
	if k := a.ServiceOf(202, "uwsgi"); k.Name != "uwsgi#2" || k.Root != 200 {
		t.Errorf("a worker of the second master: %+v", k)
	}

	// The first tree goes: the second keeps its name.
	f.removeTree(100, 2)
	snap = tick(1)
	check(snap, "uwsgi#2", 200, 30<<20)
	if s := find(t, snap, "uwsgi"); s.Procs != 0 {
		t.Errorf("uwsgi after its tree ended: %d procs", s.Procs)
	}
	// A new tree takes the free name, and the service carries on.
	f.addTree(300, 2, "uwsgi", args, 20<<20)
	snap = tick(2)
	check(snap, "uwsgi", 300, 20<<20)
	check(snap, "uwsgi#2", 200, 30<<20)

	// The second master is restarted between two ticks: the new tree is
	// seen in the tick that drops the old one, and still gets uwsgi#2.
	f.removeTree(200, 2)
	a.HandleEvent(&tracer.Event{Type: tracer.EventExit, PID: 200})
	f.addTree(400, 2, "uwsgi", args, 40<<20)
	snap = tick(3)
	check(snap, "uwsgi", 300, 20<<20)
	check(snap, "uwsgi#2", 400, 40<<20)

	// The master execs itself (uwsgi's reload): same tree, same name.
	a.HandleEvent(&tracer.Event{Type: tracer.EventExec, PID: 400})
	snap = tick(4)
	check(snap, "uwsgi#2", 400, 40<<20)
	if len(a.claims) != 2 || len(a.holders) != 2 {
		t.Errorf("%d claims, %d names held; want 2 live masters", len(a.claims), len(a.holders))
	}

	// A rule names both trees: one service, as the rule says.
	b := New(Config{Rules: []service.Rule{mustRule(t, "api=comm:^uwsgi$")}}, f, nil)
	snap, _ = b.Tick(t0)
	if s := find(t, snap, "api"); s.Procs != 6 || s.Kind != "rule" {
		t.Errorf("the rule's service: %d procs, kind %s; want both trees, 6", s.Procs, s.Kind)
	}
	for _, s := range snap.Services {
		if s.Name == "uwsgi" || s.Name == "uwsgi#2" {
			t.Errorf("service %s beside the rule's", s.Name)
		}
	}
}

// A reused pid is another tree: the new master does not inherit the old
// one's name while the old tree's worker lives on.
func TestInstanceIsRootAndStart(t *testing.T) {
	f := newFake()
	f.add(1, 0, 1, "systemd", nil, 1<<20)
	f.addTree(100, 1, "srv", []string{"srv"}, 1<<20)
	a := New(Config{WithProcesses: true}, f, nil)
	t0 := time.Unix(0, 0)
	a.Tick(t0)
	// The master exits; its worker lives on, reparented to init; the pid
	// comes back as a new master with a worker.
	w := f.info[101]
	w.PPID = 1
	f.info[101] = w
	a.HandleEvent(&tracer.Event{Type: tracer.EventExit, PID: 100})
	f.info[100] = proc.Info{PID: 100, PPID: 1, SID: 100, Comm: "srv", Cmdline: []string{"srv"}, StartTicks: 5000}
	f.add(102, 100, 100, "srv", []string{"srv"}, 1<<20)
	snap, _ := a.Tick(t0.Add(time.Second))
	if s := find(t, snap, "srv"); !slices.Equal(s.PIDs, []int{101}) {
		t.Errorf("srv: %v, want the old worker alone", s.PIDs)
	}
	if s := find(t, snap, "srv#2"); !slices.Equal(s.PIDs, []int{100, 102}) {
		t.Errorf("srv#2: %v, want the new master and its worker", s.PIDs)
	}
}

// Processes alone in their trees (shells, a sleep each) stay one service
// of their name, as do the trees past 64 masters of one name. A lone
// process that forks a worker becomes a master, named as one from the next
// tick on (the first master of a name shares it with the lone processes).
func TestLoneProcessesAndMastersPastTheCap(t *testing.T) {
	f := newFake()
	f.add(1, 0, 1, "systemd", nil, 1<<20)
	for pid := 10; pid < 13; pid++ {
		f.add(pid, 1, pid, "sleep", []string{"sleep", "60"}, 1<<20)
	}
	for m := 0; m < maxInstances+6; m++ {
		f.addTree(1000+2*m, 1, "m", []string{"m"}, 1<<20)
	}
	a := New(Config{WithProcesses: true}, f, nil)
	t0 := time.Unix(0, 0)
	snap, _ := a.Tick(t0)
	if s := find(t, snap, "sleep"); !slices.Equal(s.PIDs, []int{10, 11, 12}) {
		t.Errorf("sleep: %v, want the three lone sleeps", s.PIDs)
	}
	for i := 1; i <= maxInstances; i++ {
		name := "m"
		if i > 1 {
			name += "#" + strconv.Itoa(i)
		}
		if s := find(t, snap, name); s.Procs != 2 {
			t.Errorf("%s: %v, want one master and its worker", name, s.PIDs)
		}
	}
	if s := find(t, snap, "m#*"); s.Procs != 12 {
		t.Errorf("m#*: %d procs, want the 6 trees past %d", s.Procs, maxInstances)
	}
	// A sleep forks: it is a master beside none other, so it keeps the name.
	// Another does: it is the second master, sleep#2, with its worker.
	f.add(20, 10, 10, "sleep", []string{"sleep", "60"}, 1<<20)
	a.Tick(t0.Add(time.Second))
	f.add(21, 11, 11, "sleep", []string{"sleep", "60"}, 1<<20)
	a.Tick(t0.Add(2 * time.Second)) // the tick that sees the worker summed its master already
	snap, _ = a.Tick(t0.Add(3 * time.Second))
	if s := find(t, snap, "sleep"); !slices.Equal(s.PIDs, []int{10, 12, 20}) {
		t.Errorf("sleep: %v, want the first master, its worker and the lone sleep", s.PIDs)
	}
	if s := find(t, snap, "sleep#2"); !slices.Equal(s.PIDs, []int{11, 21}) {
		t.Errorf("sleep#2: %v, want the second master and its worker", s.PIDs)
	}
}

func mustRule(t *testing.T, s string) service.Rule {
	t.Helper()
	r, err := service.ParseRule(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Of two masters of one name first seen in the same tick, the older gets
// the name, however young its workers: a HUP re-forks them, with pids past
// the other master's workers (which made the younger master "uwsgi").
func TestSameNameOlderMasterFirst(t *testing.T) {
	f := newFake()
	f.add(1, 0, 1, "systemd", []string{"/sbin/init"}, 1<<20)
	args := []string{"uwsgi", "--http", ":80"}
	f.add(100, 1, 100, "uwsgi", args, 10<<20)
	f.addTree(200, 2, "uwsgi", args, 30<<20)
	for _, w := range []int{300, 301} { // 100's workers, re-forked after 200's
		f.add(w, 100, 100, "uwsgi", args, 10<<20)
	}
	a := New(Config{WithProcesses: true}, f, nil)
	snap, err := a.Tick(time.Unix(1_700_000_000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if s := find(t, snap, "uwsgi"); !slices.Equal(s.PIDs, []int{100, 300, 301}) {
		t.Errorf("uwsgi: pids %v, want the older master 100 and its workers", s.PIDs)
	}
	if s := find(t, snap, "uwsgi#2"); !slices.Equal(s.PIDs, []int{200, 201, 202}) {
		t.Errorf("uwsgi#2: pids %v, want 200 and its workers", s.PIDs)
	}
}
