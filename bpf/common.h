/* Shared includes, maps and helpers for every BPF object. */
#ifndef OOMTRACE_COMMON_H
#define OOMTRACE_COMMON_H

#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpf_core_read.h"
#include "bpf_tracing.h"
#include "events.h"

#ifndef __TARGET_ARCH_x86
#error "oomtrace reads syscall arguments from x86_64 pt_regs"
#endif

#define PAGE_SIZE 4096ULL
#define PAGE_ALIGN(x) (((x) + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))
#define IS_ERR_VALUE(x) ((unsigned long)(x) >= (unsigned long)-4095)

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Maps below are declared in every object; the loader shares one copy. */

/* Allocation and lifecycle events. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 512 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lost_counters);
} lost SEC(".maps");

/* Per-process counters, stored on the thread-group leader. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct proc_counters);
} procs SEC(".maps");

/* Per-process counters on the fast path (see struct proc_slot). The loader
 * sizes it to a power of two and patches the mask in. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct proc_slot);
} slots SEC(".maps");

/* The value the loader patched over an IMM_* marker (enum imm_marker). */
#define IMM(marker)                                                         \
	({                                                                  \
		__u64 __v;                                                  \
		asm volatile("%0 = %1 ll" : "=r"(__v) : "i"((__u64)(marker))); \
		__v;                                                        \
	})

/* Wake the reader only once this much is queued; it also polls. */
const volatile __u64 wakeup_bytes = 64 * 1024;

static __always_inline void count_lost(int ring, __u32 type)
{
	__u32 zero = 0;
	struct lost_counters *l = bpf_map_lookup_elem(&lost, &zero);

	if (!l || type >= EV_MAX)
		return;
	if (ring)
		__sync_fetch_and_add(&l->ring[type], 1);
	else
		__sync_fetch_and_add(&l->map[type], 1);
}

static __always_inline __u64 wakeup_flags(void *rb)
{
	if (bpf_ringbuf_query(rb, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

static __always_inline void fill_hdr(struct event_hdr *h, __u32 type, struct task_struct *task)
{
	h->ts_ns = bpf_ktime_get_ns();
	h->type = type;
	h->pid = task->tgid;
	h->tid = task->pid;
	h->_pad = 0;
	h->start_ns = task->group_leader->start_boottime;
	bpf_probe_read_kernel_str(h->comm, sizeof(h->comm), task->comm);
}

static __always_inline struct proc_slot *slot_of(__u32 tgid)
{
	__u64 mask = IMM(IMM_SLOT_MASK);
	__u32 idx = tgid & mask;

	if (mask > 0xffffffffULL)
		return 0;
	return bpf_map_lookup_elem(&slots, &idx);
}

static __always_inline int slot_owned(struct proc_slot *s, __u32 tgid, __u64 start)
{
	return s && s->tgid == tgid && s->start_ns == start;
}

/* Takes a free slot. Only where no other thread of the process can count at
 * the same time (fork, exec, a process with one thread), so that all its
 * threads agree on where its counters and its last break live. */
static __always_inline struct proc_counters *claim_slot(struct proc_slot *s, __u32 tgid, __u64 start)
{
	if (!s || s->tgid != 0 || __sync_val_compare_and_swap(&s->tgid, 0, (__u64)tgid) != 0)
		return 0;
	s->start_ns = start;
	return &s->counters;
}

/* A process's counters are updated by plain adds while it has one thread:
 * only that thread writes them. Task storage, and a slot whose process has
 * had a second thread, take atomic adds. */
static __always_inline void add(int shared, __u64 *p, __u64 v)
{
	if (shared)
		__sync_fetch_and_add(p, v);
	else
		*p += v;
}

/* At group exit: the slot is zeroed, then freed. */
static __always_inline void release_slot(__u32 tgid, __u64 start)
{
	struct proc_slot *s = slot_of(tgid);

	if (!slot_owned(s, tgid, start))
		return;
	__builtin_memset(&s->counters, 0, sizeof(s->counters));
	s->start_ns = 0;
	s->threaded = 0;
	__sync_lock_test_and_set(&s->tgid, 0); /* a full barrier: the zeroes land first */
}

/* The process's slot if it owns one, else its task storage. A process that
 * has no storage takes its slot if free and it has one thread: at fork, at
 * exec, or at its first call if it predates the tracer. So a process counts
 * in one or the other, never both. The slot lookup is inlined; the storage
 * helper costs about as much as the rest of a syscall program. *shared says
 * whether other threads may update the same counters at the same time. */
static __always_inline struct proc_counters *counters_of(struct task_struct *task, __u32 type, int *shared)
{
	struct task_struct *leader = task->group_leader;
	__u32 tgid = task->tgid;
	__u64 start = leader->start_boottime;
	struct proc_slot *s = slot_of(tgid);
	struct proc_counters *c;

	if (slot_owned(s, tgid, start)) {
		*shared = s->threaded != 0;
		return &s->counters;
	}
	*shared = 1;
	c = bpf_task_storage_get(&procs, leader, 0, 0);
	if (c)
		return c;
	if (task->signal->nr_threads == 1) {
		c = claim_slot(s, tgid, start);
		if (c)
			return c;
	}
	c = bpf_task_storage_get(&procs, leader, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!c)
		count_lost(0, type);
	return c;
}

/* A sampled process's counters, from its slot or else its task storage
 * (never both: see counters_of). */
static __always_inline int read_counters(struct proc_counters *dst, struct task_struct *leader)
{
	struct proc_slot *s = slot_of(leader->tgid);
	struct proc_counters *c;

	if (slot_owned(s, leader->tgid, leader->start_boottime)) {
		*dst = s->counters;
		return 1;
	}
	c = bpf_task_storage_get(&procs, leader, 0, 0);
	if (c) {
		*dst = *c;
		return 1;
	}
	__builtin_memset(dst, 0, sizeof(*dst));
	return 0;
}

/* enum of mm counters; stable since 2.6 */
#define MM_FILE 0
#define MM_ANON 1
#define MM_SWAP 2
#define MM_SHMEM 3

/* Kernels before 6.2 kept RSS counters in an atomic array. */
struct mm_rss_stat___old {
	atomic_long_t count[4];
} __attribute__((preserve_access_index));

struct mm_struct___old {
	struct mm_rss_stat___old rss_stat;
} __attribute__((preserve_access_index));

static __always_inline __u64 rss_pages(struct mm_struct *mm, int member)
{
	struct mm_struct___old *old = (void *)mm;
	__s64 v;

	/* A field test, not a type match: before 6.2 mm_struct's fields sit in
	 * an anonymous struct, which a type match does not look into. */
	if (bpf_core_field_exists(old->rss_stat.count)) {
		v = BPF_CORE_READ(old, rss_stat.count[member].counter);
	} else {
		v = BPF_CORE_READ(mm, rss_stat[member].count);
	}
	return v < 0 ? 0 : v; /* percpu_counter_read_positive */
}

#endif
