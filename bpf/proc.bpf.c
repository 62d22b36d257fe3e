/* sched_process_fork/exec/exit: lifecycle events and per-process clean-up. */
#include "common.h"

/* Keep these in BTF for bpf2go -type. */
const struct life_event *unused_life_event __attribute__((unused));
const struct event_hdr *unused_event_hdr __attribute__((unused));

#define SIGNAL_GROUP_EXIT 0x00000004

static __always_inline struct life_event *reserve(__u32 type)
{
	struct life_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e)
		count_lost(1, type);
	return e;
}

/* A process's counters start with the break of its (new) address space. */
static __always_inline void seed_counters(struct task_struct *task, __u32 type)
{
	struct mm_struct *mm = task->mm;
	struct proc_counters *c;
	int shared;

	c = counters_of(task, type, &shared);
	if (c && mm)
		c->brk_cur = mm->brk;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	struct life_event *e;

	if (child->pid != child->tgid) {
		/* A new thread, not a process. It runs only after this returns, so
		 * from its first call on its process's slot takes atomic adds. */
		struct proc_slot *s = slot_of(child->tgid);

		if (slot_owned(s, child->tgid, child->group_leader->start_boottime))
			s->threaded = 1;
		return 0;
	}
	seed_counters(child, EV_FORK);
	e = reserve(EV_FORK);
	if (!e)
		return 0;
	fill_hdr(&e->hdr, EV_FORK, child);
	e->hdr.start_ns = child->start_boottime;
	e->ppid = parent->tgid;
	e->parent_start_ns = parent->group_leader->start_boottime;
	e->exit_code = 0;
	e->filename[0] = 0;
	bpf_ringbuf_submit(e, wakeup_flags(&events));
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct life_event *e;

	seed_counters(p, EV_EXEC);
	e = reserve(EV_EXEC);
	if (!e)
		return 0;
	fill_hdr(&e->hdr, EV_EXEC, p);
	e->ppid = p->real_parent->tgid;
	e->parent_start_ns = p->real_parent->group_leader->start_boottime;
	e->exit_code = 0;
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), bprm->filename);
	bpf_ringbuf_submit(e, wakeup_flags(&events));
	return 0;
}

/* Marks, on a group leader, that its process's exit was reported: where the
 * tracepoint has no group_dead, every thread that reaches it after the last
 * one left the group sees signal->live at 0, and the first to set the mark
 * reports. The leader's task_struct, and so the mark, lives until the whole
 * group is reaped. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} exit_marks SEC(".maps");

/* Whether p is the one thread that reports its process's exit. */
static __always_inline int group_exit_once(struct task_struct *p, __u64 *ctx)
{
	struct task_struct *leader = p->group_leader;
	__u64 *mark;

	if (IMM(IMM_GROUP_DEAD)) {
		/* 6.16+: group_dead is the result of the one decrement that
		 * reached 0. The branch is pruned where the argument is absent. */
		__u64 dead;

		asm volatile("%0 = *(u64 *)(%1 + 8)" : "=r"(dead) : "r"(ctx));
		return (__u8)dead != 0;
	}
	if (p->signal->live.counter != 0)
		return 0; /* other threads of the group still run */
	mark = bpf_task_storage_get(&exit_marks, leader, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!mark) /* a sibling created it first (EEXIST), or no memory */
		mark = bpf_task_storage_get(&exit_marks, leader, 0, 0);
	if (!mark)
		return 1; /* unmarked: reporting twice beats not at all */
	return __sync_val_compare_and_swap(mark, 0, 1) == 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *p)
{
	struct signal_struct *sig = p->signal;
	struct life_event *e;

	if (!group_exit_once(p, ctx))
		return 0;
	release_slot(p->tgid, p->group_leader->start_boottime);
	bpf_task_storage_delete(&procs, p->group_leader);
	e = reserve(EV_EXIT);
	if (!e)
		return 0;
	fill_hdr(&e->hdr, EV_EXIT, p);
	e->ppid = p->real_parent->tgid;
	e->parent_start_ns = p->real_parent->group_leader->start_boottime;
	if (sig->flags & SIGNAL_GROUP_EXIT)
		e->exit_code = sig->group_exit_code;
	else
		e->exit_code = p->exit_code;
	e->filename[0] = 0;
	bpf_ringbuf_submit(e, wakeup_flags(&events));
	return 0;
}
