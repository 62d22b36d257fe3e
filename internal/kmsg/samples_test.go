package kmsg

import (
	"strconv"
	"strings"
)

// Real OOM reports from public bug reports and mailing lists, kept as data.
// Lines are verbatim; syslog prefixes ("Mon DD hh:mm:ss host kernel: ") and
// dmesg -T dates were dropped, and mail-wrapped lines rejoined. Long stack
// traces and task lists are cut.
type sample struct {
	name string // kernel version
	text string // dmesg-style lines: "[ sec.usec] message" or bare messages
	want []Report
}

var samples = []sample{
	{
		// 3.10.0-327.4.5.el7 (RHEL 7), memcg; kubernetes/kubernetes#56891.
		// No shmem-rss yet; the "invoked" line after the kill starts the next one.
		name: "3.10-el7",
		text: `[ pid ]   uid  tgid total_vm      rss nr_ptes swapents oom_score_adj name
[28438]     0 28438  5063909   119961    1661   136409          -998 java
Memory cgroup out of memory: Kill process 24572 (java) score 0 or sacrifice child
Killed process 28438 (java) total-vm:20255636kB, anon-rss:466160kB, file-rss:13684kB
java invoked oom-killer: gfp_mask=0xd0, order=0, oom_score_adj=-998
java cpuset=1e479e759020fa0b6c72def90973540a2d33982fea2ad67a96373b4da751a820 mems_allowed=0
CPU: 9 PID: 14881 Comm: java Tainted: G    B          ------------ T 3.10.0-327.4.5.el7.x86_64 #1`,
		want: []Report{{PID: 28438, Comm: "java", UID: -1,
			TotalVMKB: 20255636, AnonRSSKB: 466160, FileRSSKB: 13684}},
	},
	{
		// 3.10.0-1160.el7 (CentOS 7), memcg storm, RHEL's "(comm), UID N," form;
		// linux-test-project/ltp#1080.
		name: "3.10-el7-storm",
		text: `Killed process 42452 (memcg_test_1), UID 0, total-vm:7296kB, anon-rss:96kB, file-rss:164kB, shmem-rss:0kB
Memory cgroup out of memory: Kill process 42453 (memcg_test_1) score 0 or sacrifice child
Killed process 42453 (memcg_test_1), UID 0, total-vm:7296kB, anon-rss:96kB, file-rss:164kB, shmem-rss:0kB
Memory cgroup out of memory: Kill process 42474 (memcg_test_1) score 0 or sacrifice child
Killed process 42474 (memcg_test_1), UID 0, total-vm:7296kB, anon-rss:96kB, file-rss:0kB, shmem-rss:0kB
[42426]     0 42426     1824       24       8        0             0 memcg_test_1
Memory cgroup out of memory: Kill process 42425 (memcg_test_1) score 0 or sacrifice child
Killed process 42425 (memcg_test_1), UID 0, total-vm:7296kB, anon-rss:96kB, file-rss:0kB, shmem-rss:0kB
memcg_test_1 invoked oom-killer: gfp_mask=0xd0, order=0, oom_score_adj=0
memcg_test_1 cpuset=/ mems_allowed=0-1
CPU: 11 PID: 42421 Comm: memcg_test_1 Kdump: loaded Tainted: G        W  OE  ------------   3.10.0-1160.el7.x86_64 #1`,
		want: []Report{
			{PID: 42452, Comm: "memcg_test_1", UID: 0, TotalVMKB: 7296, AnonRSSKB: 96, FileRSSKB: 164},
			{PID: 42453, Comm: "memcg_test_1", UID: 0, TotalVMKB: 7296, AnonRSSKB: 96, FileRSSKB: 164},
			{PID: 42474, Comm: "memcg_test_1", UID: 0, TotalVMKB: 7296, AnonRSSKB: 96},
			{PID: 42425, Comm: "memcg_test_1", UID: 0, TotalVMKB: 7296, AnonRSSKB: 96},
		},
	},
	{
		// 4.4.0-130-generic (Ubuntu 16.04), docker memcg; from a blog post
		// ("SRE: Debugging Simple Memory Leaks in Go", dm03514). The kernel
		// printed "Task in" twice.
		name: "4.4-ubuntu",
		text: `[14808.063890] main invoked oom-killer: gfp_mask=0x24000c0, order=0, oom_score_adj=0
[14808.063893] main cpuset=34186d9bd07706222bd427bb647ceed81e8e108eb653ff73c7137099fca1cab6 mems_allowed=0
[14808.063899] CPU: 2 PID: 11345 Comm: main Not tainted 4.4.0-130-generic #156-Ubuntu
[14808.063911] Call Trace:
[14808.063917]  [<ffffffff81401c43>] dump_stack+0x63/0x90
[14808.063932]  [<ffffffff81197dd2>] oom_kill_process+0x202/0x3c0
[14808.063986] Task in /docker/34186d9bd07706222bd427bb647ceed81e8e108eb653ff73c7137099fca1cab6 killed as a result of limit of /docker/34186d9bd07706222bd427bb647ceed81e8e108eb653ff73c7137099fca1cab6
[14808.063994] memory: usage 204800kB, limit 204800kB, failcnt 4563
[14808.063986] Task in /docker/34186d9bd07706222bd427bb647ceed81e8e108eb653ff73c7137099fca1cab6 killed as a result of limit of /docker/34186d9bd07706222bd427bb647ceed81e8e108eb653ff73c7137099fca1cab6
[14808.064008] [ pid ]   uid  tgid total_vm      rss nr_ptes nr_pmds swapents oom_score_adj name
[14808.064117] [10517]     0 10517    74852     4784      32       5        0             0 go
[14808.064121] [11344]     0 11344    97590    46185     113       5        0             0 main
[14808.064125] Memory cgroup out of memory: Kill process 11344 (main) score 904 or sacrifice child
[14808.083306] Killed process 11344 (main) total-vm:390360kB, anon-rss:183712kB, file-rss:1016kB`,
		want: []Report{{Usec: 14808083306, Trigger: "main", TriggerPID: 11345, GFPMask: "0x24000c0",
			OOMMemcg:  "/docker/34186d9bd07706222bd427bb647ceed81e8e108eb653ff73c7137099fca1cab6",
			TaskMemcg: "/docker/34186d9bd07706222bd427bb647ceed81e8e108eb653ff73c7137099fca1cab6",
			PID:       11344, Comm: "main", UID: -1, TotalVMKB: 390360, AnonRSSKB: 183712, FileRSSKB: 1016}},
	},
	{
		// 4.14.134-rt63 (ARM, global): the kernel chose 15545 and killed its
		// child 15575; linux-test-project/ltp#635.
		name: "4.14-rt",
		text: `[  557.858875] Out of memory: Kill process 15545 (execve05) score 0 or sacrifice child
[  557.896262] Killed process 15575 (execve05) total-vm:1816kB, anon-rss:68kB, file-rss:776kB, shmem-rss:4kB`,
		want: []Report{{Usec: 557896262, PID: 15575, Comm: "execve05", UID: -1,
			TotalVMKB: 1816, AnonRSSKB: 68, FileRSSKB: 776, ShmemRSSKB: 4}},
	},
	{
		// 4.19-rc (memory.oom.group review on LKML, Aug 2018): the whole cgroup
		// is killed, and the first victim once more (dropped).
		name: "4.19-rc-oom-group",
		text: `[   52.835327] Out of memory: Kill process 1221 (allocate) score 241 or sacrifice child
[   52.836625] Killed process 1221 (allocate) total-vm:2257144kB, anon-rss:2009128kB, file-rss:4kB, shmem-rss:0kB
[   52.841431] Tasks in /A1 are going to be killed due to memory.oom.group set
[   52.869439] Killed process 1217 (allocate) total-vm:2052344kB, anon-rss:1704036kB, file-rss:0kB, shmem-rss:0kB
[   52.875601] Killed process 1218 (allocate) total-vm:106668kB, anon-rss:24668kB, file-rss:0kB, shmem-rss:0kB
[   52.882914] Killed process 1219 (allocate) total-vm:106668kB, anon-rss:21528kB, file-rss:0kB, shmem-rss:0kB
[   52.891806] Killed process 1220 (allocate) total-vm:2257144kB, anon-rss:1984120kB, file-rss:4kB, shmem-rss:0kB
[   52.903770] Killed process 1221 (allocate) total-vm:2257144kB, anon-rss:2009128kB, file-rss:4kB, shmem-rss:0kB
[   52.905574] Killed process 1222 (allocate) total-vm:2257144kB, anon-rss:2063640kB, file-rss:0kB, shmem-rss:0kB
[   53.202153] oom_reaper: reaped process 1222 (allocate), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB`,
		want: []Report{
			{Usec: 52836625, PID: 1221, Comm: "allocate", UID: -1, TotalVMKB: 2257144, AnonRSSKB: 2009128, FileRSSKB: 4},
			{Usec: 52869439, PID: 1217, Comm: "allocate", UID: -1, TotalVMKB: 2052344, AnonRSSKB: 1704036},
			{Usec: 52875601, PID: 1218, Comm: "allocate", UID: -1, TotalVMKB: 106668, AnonRSSKB: 24668},
			{Usec: 52882914, PID: 1219, Comm: "allocate", UID: -1, TotalVMKB: 106668, AnonRSSKB: 21528},
			{Usec: 52891806, PID: 1220, Comm: "allocate", UID: -1, TotalVMKB: 2257144, AnonRSSKB: 1984120, FileRSSKB: 4},
			{Usec: 52905574, PID: 1222, Comm: "allocate", UID: -1, TotalVMKB: 2257144, AnonRSSKB: 2063640},
		},
	},
	{
		// 5.0.0-rc4-next-20190131, memcg with memory.oom.group; LKML, Tetsuo
		// Handa, "mm,oom: Don't kill global init via memory.oom.group" (Feb 2019).
		// The constraint really is printed as CONSTRAINT_NONE there. Cut to
		// three of the eleven group kills.
		name: "5.0-rc-oom-group",
		text: `[   37.052923][ T9185] a.out invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0
[   37.056169][ T9185] CPU: 4 PID: 9185 Comm: a.out Kdump: loaded Not tainted 5.0.0-rc4-next-20190131 #280
[   37.110840][ T9185] memory: usage 51200kB, limit 51200kB, failcnt 125
[   37.117660][ T9185] Memory cgroup stats for /test1: cache:0KB rss:49484KB rss_huge:30720KB shmem:0KB mapped_file:0KB dirty:0KB writeback:0KB inactive_anon:0KB active_anon:49700KB inactive_file:0KB active_file:0KB unevictable:0KB
[   37.123371][ T9185] oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/test1,task_memcg=/test1,task=a.out,pid=9188,uid=0
[   37.128158][ T9185] Memory cgroup out of memory: Killed process 9188 (a.out) total-vm:14456kB, anon-rss:10324kB, file-rss:504kB, shmem-rss:0kB
[   37.132710][ T9185] Tasks in /test1 are going to be killed due to memory.oom.group set
[   37.132833][   T54] oom_reaper: reaped process 9188 (a.out), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB
[   37.135498][ T9185] Memory cgroup out of memory: Killed process 1 (systemd) total-vm:43400kB, anon-rss:1228kB, file-rss:3992kB, shmem-rss:0kB
[   37.143434][ T9185] Memory cgroup out of memory: Killed process 9182 (a.out) total-vm:14456kB, anon-rss:76kB, file-rss:588kB, shmem-rss:0kB
[   37.144328][   T54] oom_reaper: reaped process 1 (systemd), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB
[   37.218860][ T9185] Memory cgroup out of memory: Killed process 9192 (a.out) total-vm:14456kB, anon-rss:1080kB, file-rss:512kB, shmem-rss:0kB`,
		want: []Report{
			{Reason: "Memory cgroup out of memory", Usec: 37128158, Trigger: "a.out", TriggerPID: 9185, GFPMask: "0xcc0(GFP_KERNEL)", Constraint: "CONSTRAINT_NONE",
				OOMMemcg: "/test1", TaskMemcg: "/test1", PID: 9188, Comm: "a.out", UID: 0,
				TotalVMKB: 14456, AnonRSSKB: 10324, FileRSSKB: 504},
			{Reason: "Memory cgroup out of memory", Usec: 37135498, Trigger: "a.out", TriggerPID: 9185, GFPMask: "0xcc0(GFP_KERNEL)", Constraint: "CONSTRAINT_NONE",
				OOMMemcg: "/test1", PID: 1, Comm: "systemd", UID: -1,
				TotalVMKB: 43400, AnonRSSKB: 1228, FileRSSKB: 3992},
			{Reason: "Memory cgroup out of memory", Usec: 37143434, Trigger: "a.out", TriggerPID: 9185, GFPMask: "0xcc0(GFP_KERNEL)", Constraint: "CONSTRAINT_NONE",
				OOMMemcg: "/test1", PID: 9182, Comm: "a.out", UID: -1,
				TotalVMKB: 14456, AnonRSSKB: 76, FileRSSKB: 588},
			{Reason: "Memory cgroup out of memory", Usec: 37218860, Trigger: "a.out", TriggerPID: 9185, GFPMask: "0xcc0(GFP_KERNEL)", Constraint: "CONSTRAINT_NONE",
				OOMMemcg: "/test1", PID: 9192, Comm: "a.out", UID: -1,
				TotalVMKB: 14456, AnonRSSKB: 1080, FileRSSKB: 512},
		},
	},
	{
		// 5.3.0-rc5, global; LKML, Edward Chron (Aug 2019), "It now looks like
		// this with 5.3.0-rc5": no UID on the kill line, so it comes from
		// the oom-kill: line.
		name: "5.3-rc5-global",
		text: `oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/user.slice/user-10383.slice/user@10383.service,task=oomprocs,pid=3035,uid=10383
Out of memory: Killed process 3035 (oomprocs) total-vm:1056800kB, anon-rss:8kB, file-rss:4kB, shmem-rss:0kB
oom_reaper: reaped process 3035 (oomprocs), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB`,
		want: []Report{{Reason: "Out of memory", Constraint: "CONSTRAINT_NONE", TaskMemcg: "/user.slice/user-10383.slice/user@10383.service",
			PID: 3035, Comm: "oomprocs", UID: 10383, TotalVMKB: 1056800, AnonRSSKB: 8, FileRSSKB: 4}},
	},
	{
		// 5.3.0-rc7-next-20190904, global, LTP oom01; LKML (Sep 2019). That
		// kernel printed pgtables in bytes; the next OOM starts at "irqbalance".
		name: "5.3-rc7-global",
		text: `oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0-1,global_oom,task_memcg=/user.slice,task=oom01,pid=25507,uid=0
Out of memory: Killed process 25507 (oom01) total-vm:6324780kB, anon-rss:5647168kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:11395072kB oom_score_adj:0
oom_reaper: reaped process 25507 (oom01), now anon-rss:5647452kB, file-rss:0kB, shmem-rss:0kB
irqbalance invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), order=0, oom_score_adj=0
CPU: 40 PID: 2588 Comm: irqbalance Not tainted 5.3.0-rc7-next-20190904+ #5`,
		want: []Report{{Reason: "Out of memory", Constraint: "CONSTRAINT_NONE", TaskMemcg: "/user.slice", PID: 25507, Comm: "oom01",
			UID: 0, TotalVMKB: 6324780, AnonRSSKB: 5647168, PgTablesKB: 11395072}},
	},
	{
		// 5.4.0-77-generic (Ubuntu 20.04), memcg kill whose header is above
		// the quoted part; reportportal/kubernetes#203.
		name: "5.4-ubuntu",
		text: `[ 7063.247407] Memory cgroup out of memory: Killed process 63214 (uwsgi) total-vm:3149468kB, anon-rss:164992kB, file-rss:52176kB, shmem-rss:92kB, UID:0 pgtables:1372kB oom_score_adj:986
[ 7063.263325] oom_reaper: reaped process 63214 (uwsgi), now anon-rss:0kB, file-rss:0kB, shmem-rss:92kB
[ 7093.543707] uwsgi invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=986
[ 7093.543711] CPU: 4 PID: 63635 Comm: uwsgi Not tainted 5.4.0-77-generic #86-Ubuntu`,
		want: []Report{{Reason: "Memory cgroup out of memory", Usec: 7063247407, PID: 63214, Comm: "uwsgi", UID: 0, TotalVMKB: 3149468,
			AnonRSSKB: 164992, FileRSSKB: 52176, ShmemRSSKB: 92, PgTablesKB: 1372, OOMScoreAdj: 986}},
	},
	{
		// 5.10.179, global, syzkaller; LKML, Greg Kroah-Hartman's reply on
		// io_uring (May 2023). The mail cut the kill line after the comm.
		name: "5.10-truncated",
		text: `[  244.945440][ T3106] oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0-1,global_oom,task_memcg=/,task=dhclient,pid=4526,uid=0
[  244.946537][ T3106] Out of memory: Killed process 4526 (dhclient)`,
		want: []Report{{Reason: "Out of memory", Usec: 244946537, Constraint: "CONSTRAINT_NONE", TaskMemcg: "/", PID: 4526,
			Comm: "dhclient", UID: 0}},
	},
	{
		// 6.16.9+deb14-amd64 (Debian), global; inducer/relate#1383. The
		// oom-kill: line is not in the quoted part.
		name: "6.16-debian-global",
		text: `postgres invoked oom-killer: gfp_mask=0x140dca(GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP), order=0, oom_score_adj=0
CPU: 2 UID: 104 PID: 3589817 Comm: postgres Not tainted 6.16.9+deb14-amd64 #1 PREEMPT(lazy)  Debian 6.16.9-1 
Call Trace:
 <TASK>
 dump_stack_lvl+0x5d/0x80
[1099268]    33 1099268    31403     1486      326     1128        32   294912    18208             0 uwsgi
Out of memory: Killed process 3581527 (uwsgi) total-vm:517892kB, anon-rss:263092kB, file-rss:29128kB, shmem-rss:0kB, UID:33 pgtables:740kB oom_score_adj:0
systemd-journald[375]: Under memory pressure, flushing caches.`,
		want: []Report{{Reason: "Out of memory", Trigger: "postgres", TriggerPID: 3589817, GFPMask: "0x140dca(GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP)",
			PID: 3581527, Comm: "uwsgi", UID: 33, TotalVMKB: 517892, AnonRSSKB: 263092, FileRSSKB: 29128,
			PgTablesKB: 740}},
	},
	{
		// 6.17.3-arch, memcg with nothing to kill: no report, and the next
		// header starts clean; systemd/systemd#40208.
		name: "6.17-arch-nothing-killable",
		text: `Out of memory and no killable processes...
systemd invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=100
CPU: 10 UID: 1000 PID: 20957 Comm: systemd Not tainted 6.17.3-arch2-1-lily #1 PREEMPT(full)  5546952e0558be8ad192ae6bf444bb1ecb351d96`,
	},
	{
		// AKS node (Jun 2025; the kernel version is not in the sample), memcg
		// with memory.oom.group: the first victim is killed twice, reported once.
		name: "aks-oom-group",
		text: `[ 8341.856856] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=cri-containerd-178ec18073cc6ac7be2de8d9869daf162a6349dd056b6535849112c53ec3102a.scope,mems_allowed=0,oom_memcg=/kubepods.slice,task_memcg=/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod10d16a28_60ff_475f_a631_510d9792219f.slice/cri-containerd-178ec18073cc6ac7be2de8d9869daf162a6349dd056b6535849112c53ec3102a.scope,task=stress,pid=68061,uid=0
[ 8341.856870] Memory cgroup out of memory: Killed process 68061 (stress) total-vm:4195088kB, anon-rss:2884696kB, file-rss:288kB, shmem-rss:0kB, UID:0 pgtables:5696kB oom_score_adj:872
[ 8341.868335] Tasks in /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod10d16a28_60ff_475f_a631_510d9792219f.slice/cri-containerd-178ec18073cc6ac7be2de8d9869daf162a6349dd056b6535849112c53ec3102a.scope are going to be killed due to memory.oom.group set
[ 8341.890658] Memory cgroup out of memory: Killed process 68061 (stress) total-vm:4195088kB, anon-rss:2884696kB, file-rss:288kB, shmem-rss:0kB, UID:0 pgtables:5696kB oom_score_adj:872`,
		want: []Report{{Reason: "Memory cgroup out of memory", Usec: 8341856870, Constraint: "CONSTRAINT_MEMCG", OOMMemcg: "/kubepods.slice",
			TaskMemcg: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod10d16a28_60ff_475f_a631_510d9792219f.slice/cri-containerd-178ec18073cc6ac7be2de8d9869daf162a6349dd056b6535849112c53ec3102a.scope",
			PID:       68061, Comm: "stress", UID: 0, TotalVMKB: 4195088, AnonRSSKB: 2884696, FileRSSKB: 288,
			PgTablesKB: 5696, OOMScoreAdj: 872}},
	},
}

// Single header lines with odd comms or masks, each from a real report.
var invokedSamples = []struct {
	line, comm, gfp string // kernel version and source in the comment
	order           int
}{
	// 4.18.0 (RHEL 8) prints nodemask; linux-test-project/ltp#614.
	{"oom05 invoked oom-killer: gfp_mask=0x6000c0(GFP_KERNEL), nodemask=(null), order=0, oom_score_adj=0", "oom05", "0x6000c0(GFP_KERNEL)", 0},
	// 5.3.0-1032-gcp (Ubuntu 18.04); nestybox/sysbox#30.
	{"runc:[1:CHILD] invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=-999", "runc:[1:CHILD]", "0xcc0(GFP_KERNEL)", 0},
	// 5.3.18-150300.59.63-default (SLE 15 SP3); harvester/harvester#2419.
	{"CPU 2/KVM invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=872", "CPU 2/KVM", "0xcc0(GFP_KERNEL)", 0},
	// 5.4.0-29-generic (Ubuntu 20.04), a slab OOM; docker/for-linux#1001.
	{"python3 invoked oom-killer: gfp_mask=0x0(), order=0, oom_score_adj=0", "python3", "0x0()", 0},
	// 5.14.21-150500.55.83-default (SLE 15 SP5); harvester/harvester#7545.
	{"harvester-netwo invoked oom-killer: gfp_mask=0x1100cca(GFP_HIGHUSER_MOVABLE), order=0, oom_score_adj=999", "harvester-netwo", "0x1100cca(GFP_HIGHUSER_MOVABLE)", 0},
}

// dmesgRecords turns sample lines into kernel records with consecutive
// sequence numbers, reading "[ sec.usec]" (and dropping a "[ T123]" caller).
func dmesgRecords(text string) []Record {
	var recs []Record
	for i, line := range strings.Split(text, "\n") {
		var usec uint64
		if ts, rest, ok := bracket(line); ok {
			if sec, frac, ok := strings.Cut(ts, "."); ok {
				s, err1 := strconv.ParseUint(sec, 10, 64)
				f, err2 := strconv.ParseUint((frac + "000000")[:6], 10, 64)
				if err1 == nil && err2 == nil {
					usec, line = s*1_000_000+f, rest
					if c, rest, ok := bracket(line); ok && (c[0] == 'T' || c[0] == 'C') {
						line = rest
					}
					line = strings.TrimPrefix(line, " ")
				}
			}
		}
		recs = append(recs, Record{Priority: 4, Seq: uint64(100 + i), Usec: usec, Message: line})
	}
	return recs
}

// bracket splits "[ x]rest" into "x" and "rest".
func bracket(s string) (in, rest string, ok bool) {
	if !strings.HasPrefix(s, "[") {
		return "", s, false
	}
	in, rest, ok = strings.Cut(s[1:], "]")
	in = strings.TrimSpace(in)
	return in, rest, ok && in != ""
}
