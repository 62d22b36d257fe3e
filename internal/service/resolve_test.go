package service

import (
	"strings"
	"testing"
)

type table map[int]Proc

func (t table) add(pid, ppid, sid int, comm, cmdline, exe, cgroup string) {
	if cgroup == "" {
		cgroup = "/"
	}
	var argv []string
	if cmdline != "" {
		argv = strings.Split(cmdline, " ")
	}
	t[pid] = Proc{PID: pid, PPID: ppid, SID: sid, Comm: comm, Cmdline: argv, Exe: exe, Cgroup: cgroup}
}

func (t table) lookup(pid int) (Proc, bool) { p, ok := t[pid]; return p, ok }

// procs is a synthetic process table; cgroups are "/" (v1 without
// name=systemd information) unless a test is about them.
func procs() table {
	t := table{}
	t.add(1, 0, 1, "systemd", "/sbin/init splash", "/usr/lib/systemd/systemd", "")
	t[2] = Proc{PID: 2, Comm: "kthreadd", Kernel: true, Cgroup: "/"}
	t[30] = Proc{PID: 30, PPID: 2, Comm: "kworker/0:1", Kernel: true, Cgroup: "/"}

	// nova-api: a python master forked by systemd with 8 workers.
	nova := "/usr/bin/python3 /usr/bin/nova-api --config-file /etc/nova/nova.conf"
	t.add(100, 1, 100, "python3", nova, "/usr/bin/python3.11", "")
	for pid := 101; pid <= 108; pid++ {
		t.add(pid, 100, 100, "python3", nova, "/usr/bin/python3.11", "")
	}

	// gunicorn started from an interactive bash.
	t.add(200, 1, 200, "sshd", "sshd: alice [priv]", "/usr/sbin/sshd", "")
	t.add(201, 200, 201, "bash", "-bash", "/usr/bin/bash", "")
	t.add(210, 201, 201, "gunicorn", "/usr/bin/python3 /usr/bin/gunicorn app:app -w 2", "/usr/bin/python3.11", "")
	t.add(211, 210, 201, "gunicorn", "/usr/bin/python3 /usr/bin/gunicorn app:app -w 2", "/usr/bin/python3.11", "")
	t.add(212, 210, 201, "gunicorn", "/usr/bin/python3 /usr/bin/gunicorn app:app -w 2", "/usr/bin/python3.11", "")
	t.add(220, 201, 201, "sleep", "sleep 100", "/usr/bin/sleep", "")

	// appctl (not a launcher) starts a setsid'd master with workers.
	t.add(290, 1, 290, "appctl", "appctl start", "/usr/bin/appctl", "")
	t.add(300, 290, 300, "cached", "cached -d", "/usr/sbin/cached", "")
	t.add(301, 300, 300, "cached", "cached -d", "/usr/sbin/cached", "")
	t.add(302, 300, 300, "cached", "cached -d", "/usr/sbin/cached", "")

	// nginx in its unit, workers too; a rule names it.
	t.add(400, 1, 400, "nginx", "nginx: master process /usr/sbin/nginx", "/usr/sbin/nginx", "/system.slice/nginx.service")
	t.add(401, 400, 400, "nginx", "nginx: worker process", "/usr/sbin/nginx", "/system.slice/nginx.service")

	// uwsgi whose master alone says "master" in its argv.
	t.add(500, 1, 500, "uwsgi", "uwsgi master --ini /etc/uwsgi/keystone.ini", "/usr/bin/uwsgi", "")
	t.add(501, 500, 500, "uwsgi", "uwsgi worker 1", "/usr/bin/uwsgi", "")
	t.add(502, 500, 500, "uwsgi", "uwsgi worker 2", "/usr/bin/uwsgi", "")

	// uwsgi's emperor runs each vassal as an app of its own, under its
	// flag or under its process name.
	t.add(520, 1, 520, "uwsgi", "uwsgi --emperor /etc/uwsgi/vassals", "/usr/bin/uwsgi-core", "")
	t.add(521, 520, 520, "uwsgi-core", "/usr/bin/uwsgi-core --ini keystone.ini", "/usr/bin/uwsgi-core", "")
	t.add(522, 521, 520, "uwsgi-core", "/usr/bin/uwsgi-core --ini keystone.ini", "/usr/bin/uwsgi-core", "")
	t.add(523, 520, 520, "uwsgi-core", "/usr/bin/uwsgi-core --ini placement.ini", "/usr/bin/uwsgi-core", "")
	t.add(524, 523, 520, "uwsgi-core", "/usr/bin/uwsgi-core --ini placement.ini", "/usr/bin/uwsgi-core", "")
	t[530] = Proc{PID: 530, PPID: 1, SID: 530, Comm: "uwsgi", Cmdline: []string{"uWSGI Emperor"}, Exe: "/usr/bin/uwsgi-core"}
	t.add(531, 530, 530, "uwsgi", "uwsgi --ini /etc/cinder/cinder-api.ini", "/usr/bin/uwsgi-core", "")
	t.add(540, 1, 540, "uwsgi", "uwsgi --ini emperor-not.ini", "/usr/bin/uwsgi-core", "") // no emperor
	t.add(541, 540, 540, "uwsgi", "uwsgi --ini emperor-not.ini", "/usr/bin/uwsgi-core", "")

	// A unit wins over the tree.
	t.add(600, 1, 600, "foo", "/usr/bin/foo", "/usr/bin/foo", "/system.slice/foo.service")
	t.add(601, 600, 600, "foo", "/usr/bin/foo --worker", "/usr/bin/foo", "/system.slice/foo.service")

	// A docker container under its shim.
	t.add(690, 1, 690, "containerd-shim", "/usr/bin/containerd-shim-runc-v2 -namespace moby", "/usr/bin/containerd-shim-runc-v2", "/system.slice/containerd.service")
	t.add(700, 690, 700, "redis-server", "redis-server *:6379", "/usr/local/bin/redis-server", "/system.slice/docker-"+id+".scope")
	t.add(701, 700, 700, "redis-server", "redis-rdb-bgsave", "/usr/local/bin/redis-server", "/system.slice/docker-"+id+".scope")

	// Broken ancestry: a ppid cycle, a self-parent, missing parents.
	t.add(800, 801, 0, "loop-a", "", "", "")
	t.add(801, 800, 0, "loop-b", "", "", "")
	t.add(802, 802, 0, "self", "", "", "")
	t.add(900, 12345, 0, "orphan", "orphan", "", "")
	t.add(910, 999, 0, "mast", "mast", "", "")
	t.add(911, 910, 0, "work", "work", "", "")

	// A usermode helper: a user process whose parent is kthreadd.
	t.add(950, 2, 0, "modprobe", "/sbin/modprobe -q -- net-pf-10", "/usr/bin/kmod", "")

	// A shell script (comm is the script, exe the shell) is a launcher.
	t.add(1000, 1, 1000, "start.sh", "/bin/bash /opt/start.sh", "/usr/bin/bash", "")
	t.add(1001, 1000, 1000, "worker", "worker", "/opt/worker", "")
	// So are tmux and go run; a test binary is not.
	t.add(1100, 1, 1100, "tmux: server", "tmux", "/usr/bin/tmux", "")
	t.add(1101, 1100, 1101, "zsh", "-zsh", "/usr/bin/zsh", "")
	t.add(1102, 1101, 1101, "go", "go run .", "/usr/local/go/bin/go", "")
	t.add(1103, 1102, 1101, "main", "/tmp/go-build1/b001/exe/main", "/tmp/go-build1/b001/exe/main", "")
	t.add(1104, 1101, 1101, "service.test", "./service.test -test.v", "/home/a/service.test", "")
	t.add(1105, 1104, 1101, "sleep", "sleep 1", "/usr/bin/sleep", "")
	// flock forks the command and waits: a gunicorn under it is its app.
	t.add(1200, 1101, 1101, "flock", "flock /tmp/lock gunicorn -w 2 app:application", "/usr/bin/flock", "")
	t.add(1201, 1200, 1101, "gunicorn", "/usr/bin/python3 /usr/bin/gunicorn -w 2 app:application", "/usr/bin/python3.11", "")
	t.add(1202, 1201, 1101, "gunicorn", "/usr/bin/python3 /usr/bin/gunicorn -w 2 app:application", "/usr/bin/python3.11", "")
	// oomtrace run starts a job with a worker: once oomtrace's pid is a
	// launcher (NewResolver's), the job is a service of its own.
	t.add(1300, 1101, 1101, "oomtrace", "oomtrace run -- ./job", "/usr/local/bin/oomtrace", "")
	t.add(1301, 1300, 1101, "job", "./job", "/tmp/job", "")
	t.add(1302, 1301, 1101, "job", "./job --worker", "/tmp/job", "")
	return t
}

func TestResolve(t *testing.T) {
	tab := procs()
	// A chain deeper than maxDepth.
	for pid := 2000; pid < 2100; pid++ {
		tab.add(pid, pid-1, 0, "deep", "", "", "")
	}
	tab.add(1999, 1, 1999, "top", "", "", "")

	rules := []Rule{
		mustRule(t, "web=comm:^nginx$"),
		mustRule(t, "app=cmdline:^uwsgi master "),
		mustRule(t, "tagged=cmdline:worker 2$"), // p's own rule beats its master's
	}
	res := NewResolver(rules)
	plain := NewResolver(nil)
	run := NewResolver(nil, 1300)
	for _, tc := range []struct {
		pid  int
		r    *Resolver
		want Key
	}{
		{100, plain, Key{"nova-api", KindTree, 100}},
		{101, plain, Key{"nova-api", KindTree, 100}},
		{108, plain, Key{"nova-api", KindTree, 100}},
		{1202, plain, Key{"app", KindTree, 1201}},
		{1302, plain, Key{"oomtrace", KindTree, 1300}},
		{1301, run, Key{"job", KindTree, 1301}},
		{1302, run, Key{"job", KindTree, 1301}},
		{1300, run, Key{"oomtrace", KindTree, 1300}},
		{210, plain, Key{"app", KindTree, 210}}, // gunicorn app:app,
		{211, plain, Key{"app", KindTree, 210}},
		{201, plain, Key{"bash", KindTree, 201}},
		{220, plain, Key{"sleep", KindTree, 220}},
		{200, plain, Key{"sshd", KindTree, 200}},
		{300, plain, Key{"cached", KindTree, 300}},
		{301, plain, Key{"cached", KindTree, 300}},
		{290, plain, Key{"appctl", KindTree, 290}},
		{400, res, Key{"web", KindRule, 400}},
		{401, res, Key{"web", KindRule, 401}},
		{401, plain, Key{"nginx.service", KindUnit, 401}},
		{500, res, Key{"app", KindRule, 500}},
		{501, res, Key{"app", KindRule, 500}},
		{502, res, Key{"tagged", KindRule, 502}},
		{501, plain, Key{"keystone", KindTree, 500}}, // without the rule: the --ini file,
		{520, plain, Key{"uwsgi", KindTree, 520}},
		{522, plain, Key{"keystone", KindTree, 521}},
		{524, plain, Key{"placement", KindTree, 523}},
		{531, plain, Key{"cinder-api", KindTree, 531}},
		{541, plain, Key{"emperor-not", KindTree, 540}},
		{600, plain, Key{"foo.service", KindUnit, 600}},
		{601, plain, Key{"foo.service", KindUnit, 601}},
		{700, plain, Key{"docker:" + id[:12], KindContainer, 700}},
		{701, plain, Key{"docker:" + id[:12], KindContainer, 701}},
		{690, plain, Key{"containerd.service", KindUnit, 690}},
		{2, plain, Key{"kernel", KindKernel, 2}},
		{30, res, Key{"kernel", KindKernel, 30}},
		{1, plain, Key{"systemd", KindTree, 1}},
		{800, plain, Key{"loop-a", KindComm, 800}},
		{801, plain, Key{"loop-b", KindComm, 801}},
		{802, plain, Key{"self", KindComm, 802}},
		{900, plain, Key{"orphan", KindComm, 900}},
		{911, plain, Key{"mast", KindTree, 910}},
		{910, plain, Key{"mast", KindComm, 910}},
		{950, plain, Key{"modprobe", KindTree, 950}},
		{1001, plain, Key{"worker", KindTree, 1001}},
		{1000, plain, Key{"start.sh", KindTree, 1000}},
		{1101, plain, Key{"zsh", KindTree, 1101}},
		{1103, plain, Key{"main", KindTree, 1103}},
		{1105, plain, Key{"service.test", KindTree, 1104}},
		{2099, plain, Key{"deep", KindComm, 2099}},
		{2010, plain, Key{"top", KindTree, 1999}},
	} {
		if got := tc.r.Resolve(tab[tc.pid], tab.lookup); got != tc.want {
			t.Errorf("Resolve(%d) = %+v; want %+v", tc.pid, got, tc.want)
		}
	}
}

// Everything started from an ssh login is in its session scope (and the
// user manager in user@UID.service): the scope names no service, so a
// master and its workers group by the tree, apart from the login's shell
// and from other programs in the same session. Real path shapes, v2 and v1.
func TestResolveSessionScope(t *testing.T) {
	for _, cg := range []struct{ session, manager, unit string }{
		{"/user.slice/user-1000.slice/session-3.scope",
			"/user.slice/user-1000.slice/user@1000.service/init.scope",
			"/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service"},
		{"0::/user.slice/user-1000.slice/session-3.scope",
			"0::/user.slice/user-1000.slice/user@1000.service/init.scope",
			"0::/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service"},
		{"1:name=systemd:/user.slice/user-1000.slice/session-3.scope",
			"1:name=systemd:/user.slice/user-1000.slice/user@1000.service",
			"1:name=systemd:/user.slice/user-1000.slice/user@1000.service/foo.service"},
	} {
		tab := procs()
		tab.add(40, 1, 40, "sshd", "sshd: /usr/sbin/sshd -D", "/usr/sbin/sshd", "/system.slice/ssh.service")
		tab.add(41, 40, 41, "sshd-session", "sshd-session: alice [priv]", "/usr/lib/openssh/sshd-session", cg.session)
		tab.add(42, 41, 41, "sshd-session", "sshd-session: alice@pts/0", "/usr/lib/openssh/sshd-session", cg.session)
		tab.add(43, 42, 43, "bash", "-bash", "/usr/bin/bash", cg.session)
		tab.add(50, 43, 43, "master", "./master --workers 3", "/home/alice/master", cg.session)
		for pid := 51; pid <= 53; pid++ {
			tab.add(pid, 50, 43, "master", "./master --worker", "/home/alice/master", cg.session)
		}
		tab.add(60, 43, 43, "python3", "python3 other.py", "/usr/bin/python3.11", cg.session)
		tab.add(70, 1, 70, "systemd", "/usr/lib/systemd/systemd --user", "/usr/lib/systemd/systemd", cg.manager)
		tab.add(71, 70, 71, "foo", "/usr/bin/foo", "/usr/bin/foo", cg.unit)
		r := NewResolver(nil)
		for _, tc := range []struct {
			pid  int
			want Key
		}{
			{50, Key{"master", KindTree, 50}},
			{51, Key{"master", KindTree, 50}},
			{53, Key{"master", KindTree, 50}},
			{60, Key{"other.py", KindTree, 60}},
			{43, Key{"bash", KindTree, 43}},
			{42, Key{"sshd-session", KindTree, 42}}, // sshd is a launcher
			{40, Key{"ssh.service", KindUnit, 40}},
			{70, Key{"systemd", KindTree, 70}},
			{71, Key{"user@1000.service/foo.service", KindUnit, 71}},
		} {
			if got := r.Resolve(tab[tc.pid], tab.lookup); got != tc.want {
				t.Errorf("%s: Resolve(%d) = %+v; want %+v", cg.session, tc.pid, got, tc.want)
			}
		}
	}
}

func TestResolveEdges(t *testing.T) {
	r := NewResolver(nil)
	w := Proc{PID: 101, PPID: 100, SID: 100, Comm: "python3", Cmdline: []string{"python3", "/usr/bin/nova-api"}, Cgroup: "/"}
	if got := r.Resolve(w, nil); got != (Key{"nova-api", KindComm, 101}) {
		t.Errorf("nil lookup: %+v", got)
	}
	if got := r.Resolve(Proc{}, nil); got.Kind != KindKernel {
		t.Errorf("pid 0: %+v", got)
	}
	// A lookup returning a proc with another pid must not loop.
	lie := func(pid int) (Proc, bool) { return Proc{PID: 7, PPID: 5, Comm: "x"}, true }
	if got := r.Resolve(Proc{PID: 5, PPID: 6, Comm: "y"}, lie); got.Name == "" {
		t.Errorf("lying lookup: %+v", got)
	}
	// The rules given to NewResolver are copied.
	rules := []Rule{mustRule(t, "a=comm:^y$")}
	r = NewResolver(rules)
	rules[0] = mustRule(t, "b=comm:^y$")
	if got := r.Resolve(Proc{PID: 5, PPID: 1, Comm: "y"}, nil); got.Name != "a" {
		t.Errorf("rules not copied: %+v", got)
	}
}

func mustRule(t *testing.T, s string) Rule {
	t.Helper()
	r, err := ParseRule(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
