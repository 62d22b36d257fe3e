/* iter/task: every process's resident memory and counters in one read, so
 * userspace need not open /proc/PID/status and a pidfd per process per tick. */
#include "common.h"

/* Keep these in BTF for bpf2go -type. */
const struct proc_sample *unused_proc_sample __attribute__((unused));

SEC("iter/task")
int sample_tasks(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct proc_sample s = {};
	struct mm_struct *mm;

	if (!task || task->pid != task->tgid)
		return 0; /* thread group leaders only */
	mm = task->mm;
	if (!mm)
		return 0; /* kernel thread, or exiting */
	s.pid = task->tgid;
	s.start_ns = task->start_boottime;
	s.anon_pages = rss_pages(mm, MM_ANON);
	s.file_pages = rss_pages(mm, MM_FILE);
	s.shmem_pages = rss_pages(mm, MM_SHMEM);
	s.swap_pages = rss_pages(mm, MM_SWAP);
	s.has_counters = read_counters(&s.counters, task);
	bpf_seq_write(ctx->meta->seq, &s, sizeof(s));
	return 0;
}
