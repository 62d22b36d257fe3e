/* iter/task: every process's resident memory and counters in one read, so
 * userspace need not open /proc/PID/status and a pidfd per process per tick. */
#include "common.h"

/* Keep these in BTF for bpf2go -type. */
const struct proc_sample *unused_proc_sample __attribute__((unused));

#define PF_KTHREAD 0x00200000
#define MAX_THREAD_SCAN 64

/* Whether task is the first thread of its group, in the group's list, that
 * has an mm. Read through probe reads: only for a process whose leader is
 * gone, so the common case pays nothing. */
static __always_inline int first_with_mm(struct task_struct *task)
{
	struct signal_struct *sig = BPF_CORE_READ(task, signal);
	__u64 head = (__u64)sig + bpf_core_field_offset(struct signal_struct, thread_head);
	__u64 node = bpf_core_field_offset(struct task_struct, thread_node);
	struct list_head *pos = BPF_CORE_READ(sig, thread_head.next);
	int i;

	for (i = 0; i < MAX_THREAD_SCAN && pos && (__u64)pos != head; i++) {
		struct task_struct *t = (void *)((__u64)pos - node);

		if (BPF_CORE_READ(t, mm))
			return BPF_CORE_READ(t, pid) == task->pid;
		pos = BPF_CORE_READ(pos, next);
	}
	return 0;
}

SEC("iter/task")
int sample_tasks(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct task_struct *leader;
	struct proc_sample s = {};
	struct mm_struct *mm;

	if (!task || task->flags & PF_KTHREAD)
		return 0;
	mm = task->mm;
	if (!mm)
		return 0; /* exiting, or a leader gone before its threads */
	leader = task->group_leader;
	/* A process is sampled at its leader; one whose leader called
	 * pthread_exit while other threads run (the leader has no mm then) at
	 * its first thread with an mm, as the task walk does. */
	if (task->pid != task->tgid && (leader->mm || !first_with_mm(task)))
		return 0;
	s.pid = task->tgid;
	s.start_ns = leader->start_boottime;
	s.anon_pages = rss_pages(mm, MM_ANON);
	s.file_pages = rss_pages(mm, MM_FILE);
	s.shmem_pages = rss_pages(mm, MM_SHMEM);
	s.swap_pages = rss_pages(mm, MM_SWAP);
	s.has_counters = read_counters(&s.counters, leader);
	bpf_seq_write(ctx->meta->seq, &s, sizeof(s));
	return 0;
}
