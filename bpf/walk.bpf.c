/* Every process's resident memory and counters in one run, on demand: a
 * raw_tp program that userspace runs with BPF_PROG_TEST_RUN. It walks the
 * processes with the open-coded task iterator (6.7+) and writes
 * into an mmapable array, so neither a per-task seq_file step nor a read()
 * copy is paid. The loader sizes the array; iter/task (sample.bpf.c) is the
 * fallback on older kernels. */
#include "common.h"

extern int bpf_iter_task_new(struct bpf_iter_task *it, struct task_struct *task,
			     unsigned int flags) __ksym;
extern struct task_struct *bpf_iter_task_next(struct bpf_iter_task *it) __ksym;
extern void bpf_iter_task_destroy(struct bpf_iter_task *it) __ksym;

/* Indexed 0..n-1 by the run that filled it. max_entries is set by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct proc_sample);
} samples SEC(".maps");

#define WALK_TRUNCATED 0xffffffffu
#define PF_KTHREAD 0x00200000

/* The 6.2+ layout (every kernel with the task iterator kfuncs has it), read
 * with direct loads rather than a probe-read helper call each. */
static __always_inline __u64 pages(struct mm_struct *mm, int member)
{
	__s64 v = mm->rss_stat[member].count;

	return v < 0 ? 0 : v; /* percpu_counter_read_positive */
}

/* Returns the number of samples written, or WALK_TRUNCATED when the array
 * was too small. */
SEC("raw_tp")
int walk_procs(void *ctx)
{
	struct bpf_iter_task it;
	struct task_struct *task;
	__u32 n = 0, last = 0;

	/* Every thread, a process's threads in a row: a leader that called
	 * pthread_exit has no mm while its other threads run (pid 1 on these
	 * machines), so a process is sampled at its first thread with an mm. */
	bpf_iter_task_new(&it, NULL, BPF_TASK_ITER_ALL_THREADS);
	while ((task = bpf_iter_task_next(&it))) {
		struct task_struct *leader;
		struct proc_sample *s;
		struct mm_struct *mm;
		__u32 key = n;

		if (task->tgid == last || task->flags & PF_KTHREAD)
			continue;
		mm = task->mm;
		if (!mm)
			continue; /* exiting, or a leader gone before its threads */
		last = task->tgid;
		leader = task->group_leader;
		s = bpf_map_lookup_elem(&samples, &key);
		if (!s) {
			n = WALK_TRUNCATED;
			break;
		}
		s->pid = task->tgid;
		s->start_ns = leader->start_boottime;
		/* percpu_counter_read_positive: what the mm's counters last folded */
		s->anon_pages = pages(mm, MM_ANON);
		s->file_pages = pages(mm, MM_FILE);
		s->shmem_pages = pages(mm, MM_SHMEM);
		s->swap_pages = pages(mm, MM_SWAP);
		s->has_counters = read_counters(&s->counters, leader);
		n++;
	}
	bpf_iter_task_destroy(&it);
	return n;
}
