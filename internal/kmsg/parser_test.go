package kmsg

import (
	"reflect"
	"strings"
	"testing"
)

func feedAll(p *Parser, recs []Record) []Report {
	var got []Report
	for _, r := range recs {
		if rep, ok := p.Feed(r); ok {
			got = append(got, rep)
		}
	}
	return got
}

func checkReports(t *testing.T, got, want []Report) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d reports, want %d:\n%+v", len(got), len(want), got)
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("report %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestParserSamples(t *testing.T) {
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			var p Parser
			checkReports(t, feedAll(&p, dmesgRecords(s.text)), s.want)
		})
	}
}

// lines makes records of messages with consecutive sequence numbers.
func lines(msgs ...string) []Record { return dmesgRecords(strings.Join(msgs, "\n")) }

func TestParserCases(t *testing.T) {
	const mem = " total-vm:100kB, anon-rss:60kB, file-rss:8kB, shmem-rss:2kB, UID:1000 pgtables:4kB oom_score_adj:-17"
	full := func(pid int, comm string) Report {
		return Report{PID: pid, Comm: comm, UID: 1000, TotalVMKB: 100, AnonRSSKB: 60, FileRSSKB: 8,
			ShmemRSSKB: 2, PgTablesKB: 4, OOMScoreAdj: -17}
	}
	with := func(r Report, f func(*Report)) Report { f(&r); return r }
	const memcgOOM, globalOOM = "Memory cgroup out of memory", "Out of memory"
	because := func(reason string, r Report) Report { r.Reason = reason; return r }

	cases := []struct {
		name string
		recs []Record
		want []Report
	}{
		{"comm with spaces and parentheses", lines(
			"my (weird) proc invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
			"Memory cgroup out of memory: Killed process 77 (my (weird) proc)"+mem,
		), []Report{with(full(77, "my (weird) proc"), func(r *Report) {
			r.Trigger, r.GFPMask, r.Reason = "my (weird) proc", "0xcc0(GFP_KERNEL)", memcgOOM
		})}},
		{"comm in parentheses", lines("Out of memory: Killed process 5 ((sd-pam))" + mem),
			[]Report{because(globalOOM, full(5, "(sd-pam)"))}},
		{"comm that looks like fields", lines("Killed process 6 (a) total-vm:9)" + mem),
			[]Report{full(6, "a) total-vm:9")}},
		{"storm of three kills", lines(
			"w1 invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
			"CPU: 1 UID: 0 PID: 11 Comm: w1 Not tainted 6.8.0 #1",
			"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/a,task_memcg=/a/1,task=w1,pid=11,uid=1000",
			"Memory cgroup out of memory: Killed process 11 (w1)"+mem,
			"oom_reaper: reaped process 11 (w1), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB",
			"w2 invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0",
			"EXT4-fs (vda): mounted filesystem",
			"oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/b,task=big,pid=22,uid=1000",
			"Out of memory: Killed process 22 (big)"+mem,
			"w3 invoked oom-killer: gfp_mask=0x40dc0(GFP_KERNEL|__GFP_COMP|__GFP_ZERO), order=3, oom_score_adj=0",
			"oom-kill:constraint=CONSTRAINT_CPUSET,nodemask=0,cpuset=c,mems_allowed=0,global_oom,task_memcg=/c,task=w3,pid=33,uid=1000",
			"Out of memory: Killed process 33 (w3)"+mem,
		), []Report{
			with(full(11, "w1"), func(r *Report) {
				r.Trigger, r.TriggerPID, r.GFPMask, r.Constraint, r.OOMMemcg, r.TaskMemcg = "w1", 11, "0xcc0(GFP_KERNEL)", "CONSTRAINT_MEMCG", "/a", "/a/1"
				r.Reason = memcgOOM
			}),
			with(full(22, "big"), func(r *Report) {
				r.Trigger, r.GFPMask, r.Constraint, r.TaskMemcg = "w2", "0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP)", "CONSTRAINT_NONE", "/b"
				r.Reason = globalOOM
			}),
			with(full(33, "w3"), func(r *Report) {
				r.Trigger, r.GFPMask, r.Order, r.Constraint, r.TaskMemcg = "w3", "0x40dc0(GFP_KERNEL|__GFP_COMP|__GFP_ZERO)", 3, "CONSTRAINT_CPUSET", "/c"
				r.Reason = globalOOM
			}),
		}},
		{"a second kill without its own header has no context", lines(
			"w invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
			"Out of memory: Killed process 1 (a)"+mem,
			"Out of memory: Killed process 2 (b)"+mem,
		), []Report{
			with(full(1, "a"), func(r *Report) { r.Trigger, r.GFPMask, r.Reason = "w", "0xcc0(GFP_KERNEL)", globalOOM }),
			because(globalOOM, full(2, "b")),
		}},
		{"no oom-kill line", lines(
			"w invoked oom-killer: gfp_mask=0xd0, order=0, oom_score_adj=0",
			"Killed process 3 (c) total-vm:1kB, anon-rss:1kB, file-rss:0kB",
		), []Report{{Trigger: "w", GFPMask: "0xd0", PID: 3, Comm: "c", UID: -1, TotalVMKB: 1, AnonRSSKB: 1}}},
		{"no header line", lines(
			"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/m,task_memcg=/m/t,task=c,pid=3,uid=7",
			"Killed process 3 (c) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB",
		), []Report{{Constraint: "CONSTRAINT_MEMCG", OOMMemcg: "/m", TaskMemcg: "/m/t", PID: 3, Comm: "c", UID: 7, TotalVMKB: 1, AnonRSSKB: 1}}},
		{"uid of the summary only for its own pid", lines(
			"oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/m,task=p,pid=10,uid=5",
			"Out of memory: Kill process 10 (p) score 900 or sacrifice child",
			"Killed process 11 (child) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB",
		), []Report{{Constraint: "CONSTRAINT_NONE", TaskMemcg: "/m", PID: 11, Comm: "child", UID: -1, TotalVMKB: 1, AnonRSSKB: 1}}},
		{"RHEL 6 form", lines(
			// Real line from a blog's dmesg excerpt (RHEL 6 era).
			"Killed process 215701, UID 679, (java) total-vm:11017300kB, anon-rss:7152432kB, file-rss:1232kB",
		), []Report{{PID: 215701, Comm: "java", UID: 679, TotalVMKB: 11017300, AnonRSSKB: 7152432, FileRSSKB: 1232}}},
		{"oom_kill_allocating_task prefix", lines("Out of memory (oom_kill_allocating_task): Killed process 12 (x)" + mem),
			[]Report{because("Out of memory (oom_kill_allocating_task)", full(12, "x"))}},
		{"look-alikes are not kills", lines(
			"Out of memory: Kill process 9 (x) score 1 or sacrifice child",
			"oom_reaper: reaped process 9 (x), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB",
			"foo Killed process 9 (x)"+mem,
			"Killed process abc (x)"+mem,
			"Killed process 0 (x)"+mem,
			"Killed process 9 x"+mem,
			"Killed process 9 (x",
		), nil},
		{"nothing killable drops the header", lines(
			"w invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
			"Out of memory and no killable processes...",
			"Killed process 4 (d)"+mem,
		), []Report{full(4, "d")}},
		{"a second summary starts over", lines(
			"w invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
			"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/x,task_memcg=/x,task=a,pid=1,uid=0",
			"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/y,task_memcg=/y,task=b,pid=2,uid=0",
			"Killed process 2 (b)"+mem,
		), []Report{with(full(2, "b"), func(r *Report) { r.Constraint, r.OOMMemcg, r.TaskMemcg = "CONSTRAINT_MEMCG", "/y", "/y" })}},
		{"user space cannot forge a kill", []Record{
			{Priority: 14, Seq: 1, Message: "Out of memory: Killed process 1 (init)" + mem},
		}, nil},
		{"lost records drop the header", []Record{
			{Priority: 4, Seq: 1, Message: "w invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0"},
			{Priority: 3, Seq: 9, Message: "Out of memory: Killed process 4 (d)" + mem},
		}, []Report{because(globalOOM, full(4, "d"))}},
		{"group kill ends after its window", lines(
			"[    1.000000] w invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
			"[    1.000001] Memory cgroup out of memory: Killed process 1 (a)"+mem,
			"[    1.000002] Tasks in /g are going to be killed due to memory.oom.group set",
			"[    1.500000] Memory cgroup out of memory: Killed process 2 (b)"+mem,
			"[   10.000000] Memory cgroup out of memory: Killed process 3 (c)"+mem,
		), []Report{
			with(full(1, "a"), func(r *Report) { r.Usec, r.Trigger, r.GFPMask, r.Reason = 1000001, "w", "0xcc0(GFP_KERNEL)", memcgOOM }),
			with(full(2, "b"), func(r *Report) { r.Usec, r.Trigger, r.GFPMask, r.Reason = 1500000, "w", "0xcc0(GFP_KERNEL)", memcgOOM }),
			with(full(3, "c"), func(r *Report) { r.Usec, r.Reason = 10000000, memcgOOM }),
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p Parser
			checkReports(t, feedAll(&p, c.recs), c.want)
		})
	}
}

func TestParserReset(t *testing.T) {
	var p Parser
	p.Feed(Record{Seq: 1, Message: "w invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0"})
	p.Reset()
	rep, ok := p.Feed(Record{Seq: 2, Message: "Killed process 3 (c) total-vm:1kB"})
	if !ok || rep.Trigger != "" || rep.PID != 3 {
		t.Fatalf("after Reset: %+v, %v", rep, ok)
	}
}
