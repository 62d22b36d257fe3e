package kmsg

import "testing"

func TestParseInvoked(t *testing.T) {
	for _, s := range invokedSamples {
		comm, gfp, order, ok := parseInvoked(s.line)
		if !ok || comm != s.comm || gfp != s.gfp || order != s.order {
			t.Errorf("parseInvoked(%q) = %q, %q, %d, %v", s.line, comm, gfp, order, ok)
		}
	}
	if _, _, _, ok := parseInvoked("Out of memory: Kill process 1 (x) score 1 or sacrifice child"); ok {
		t.Error("matched a non-header line")
	}
}

func TestParseOOMKill(t *testing.T) {
	cases := []struct {
		line string
		want oomKill
		ok   bool
	}{
		{"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/a/b,task_memcg=/a/b/c,task=workload,pid=5403,uid=0",
			oomKill{"CONSTRAINT_MEMCG", "/a/b", "/a/b/c", 5403, 0}, true},
		{"oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0-1,global_oom,task_memcg=/user.slice,task=oom01,pid=25507,uid=0",
			oomKill{"CONSTRAINT_NONE", "", "/user.slice", 25507, 0}, true},
		// Cgroup paths and comms may hold commas and "=".
		{"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=0,cpuset=x,mems_allowed=0,oom_memcg=/p,q=1,task_memcg=/p,q=1/r,task=a,b,pid=7,uid=1000",
			oomKill{"CONSTRAINT_MEMCG", "/p,q=1", "/p,q=1/r", 7, 1000}, true},
		// Cut short (as in quoted logs): take what is there.
		{"oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=init.scope,mems_allowed=0,global_oom,task_memcg=/system.slice/x.service,task=victoria-metric",
			oomKill{"CONSTRAINT_NONE", "", "/system.slice/x.service", 0, -1}, true},
		{"oom-kill: constraint=CONSTRAINT_NONE", oomKill{"CONSTRAINT_NONE", "", "", 0, -1}, true},
		{"oom_kill_process: 70 callbacks suppressed", oomKill{}, false},
	}
	for _, c := range cases {
		got, ok := parseOOMKill(c.line)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("parseOOMKill(%q) = %+v, %v; want %+v", c.line, got, ok, c.want)
		}
	}
}

func TestParseTaskIn(t *testing.T) {
	task, limit, ok := parseTaskIn("Task in /1/2 killed as a result of limit of /1")
	if !ok || task != "/1/2" || limit != "/1" {
		t.Errorf("got %q, %q, %v", task, limit, ok)
	}
}
