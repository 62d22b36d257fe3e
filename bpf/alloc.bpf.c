/* mmap, munmap, brk, mremap, mprotect: counters in the process's slot or its
 * task storage, big calls to the ring.
 * One program per call, at exit: fexit on the syscall where the kernel permits
 * fentry, else the sys_exit tracepoint, which reads the arguments back from the
 * task's saved registers (the x86_64 syscall ABI leaves them intact). */
#include "common.h"

/* Keep these in BTF for bpf2go -type. */
const struct alloc_event *unused_alloc_event __attribute__((unused));
const struct event_hdr *unused_event_hdr __attribute__((unused));
const struct proc_counters *unused_proc_counters __attribute__((unused));
const struct lost_counters *unused_lost_counters __attribute__((unused));
const struct proc_slot *unused_proc_slot __attribute__((unused));
const enum imm_marker *unused_imm_marker __attribute__((unused));

#define PROT_WRITE 0x2
#define MAP_SHARED 0x01
#define MAP_ANONYMOUS 0x20

/* Calls at or above this many bytes are streamed. */
#define MIN_SIZE IMM(IMM_MIN_SIZE)

/* Layout of every syscalls:sys_exit_* record (see its format file). */
struct sys_exit_ctx {
	__u64 common;
	__s32 nr;
	__u32 _pad;
	__s64 ret;
};

static __always_inline struct pt_regs *user_regs(struct task_struct *task)
{
	return (struct pt_regs *)bpf_task_pt_regs(task);
}

static __always_inline void emit(__u32 type, struct task_struct *task, __u64 addr, __u64 len,
				 __s64 delta, __u64 old_len, __u32 flags, __u32 prot)
{
	struct alloc_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count_lost(1, type);
		return;
	}
	fill_hdr(&e->hdr, type, task);
	e->addr = addr;
	e->len = len;
	e->delta = delta;
	e->old_len = old_len;
	e->flags = flags;
	e->prot = prot;
	bpf_ringbuf_submit(e, wakeup_flags(&events));
}

static __always_inline __u64 abs64(__s64 v)
{
	return v < 0 ? -v : v;
}

static __always_inline int on_mmap(struct task_struct *task, struct pt_regs *regs, long ret)
{
	int shared;
	struct proc_counters *c = counters_of(task, EV_MMAP, &shared);
	__u64 len;
	__u32 prot, flags;

	if (!c)
		return 0;
	if (IS_ERR_VALUE(ret)) {
		add(shared, &c->failed_calls, 1);
		return 0;
	}
	len = PAGE_ALIGN(regs->si);
	prot = regs->dx;
	flags = regs->r10;
	add(shared, &c->mmap_calls, 1);
	if (prot == 0)
		add(shared, &c->mmap_reserve_bytes, len);
	else if (flags & MAP_ANONYMOUS)
		add(shared, &c->mmap_anon_bytes, len);
	else
		add(shared, &c->mmap_file_bytes, len);
	if (len >= MIN_SIZE)
		emit(EV_MMAP, task, ret, len, len, 0, flags, prot);
	return 0;
}

static __always_inline int on_munmap(struct task_struct *task, struct pt_regs *regs, long ret)
{
	int shared;
	struct proc_counters *c = counters_of(task, EV_MUNMAP, &shared);
	__u64 len;

	if (!c)
		return 0;
	if (ret != 0) {
		add(shared, &c->failed_calls, 1);
		return 0;
	}
	len = PAGE_ALIGN(regs->si);
	add(shared, &c->munmap_calls, 1);
	add(shared, &c->munmap_bytes, len);
	if (len >= MIN_SIZE)
		emit(EV_MUNMAP, task, regs->di, len, -(__s64)len, 0, 0, 0);
	return 0;
}

static __always_inline int on_brk(struct task_struct *task, struct pt_regs *regs, long ret)
{
	int shared;
	struct proc_counters *c = counters_of(task, EV_BRK, &shared);
	__u64 req, cur = ret, prev;
	__s64 delta;

	if (!c)
		return 0;
	/* A failed brk returns the unchanged break, not an error. */
	req = regs->di;
	if (req != 0 && req != cur) {
		add(shared, &c->failed_calls, 1);
		return 0;
	}
	add(shared, &c->brk_calls, 1);
	/* Exchange keeps the sum of deltas exact when threads race. */
	if (shared) {
		prev = __sync_lock_test_and_set(&c->brk_cur, cur);
	} else {
		prev = c->brk_cur;
		c->brk_cur = cur;
	}
	if (prev == 0 || prev == cur)
		return 0;
	delta = (__s64)(cur - prev);
	if (delta > 0)
		add(shared, &c->brk_grow_bytes, delta);
	else
		add(shared, &c->brk_shrink_bytes, -delta);
	if (abs64(delta) >= MIN_SIZE)
		emit(EV_BRK, task, cur, abs64(delta), delta, 0, 0, 0);
	return 0;
}

static __always_inline int on_mremap(struct task_struct *task, struct pt_regs *regs, long ret)
{
	int shared;
	struct proc_counters *c = counters_of(task, EV_MREMAP, &shared);
	__u64 old_len, new_len;
	__s64 delta;

	if (!c)
		return 0;
	if (IS_ERR_VALUE(ret)) {
		add(shared, &c->failed_calls, 1);
		return 0;
	}
	old_len = PAGE_ALIGN(regs->si);
	new_len = PAGE_ALIGN(regs->dx);
	delta = (__s64)(new_len - old_len);
	add(shared, &c->mremap_calls, 1);
	if (delta > 0)
		add(shared, &c->mremap_grow_bytes, delta);
	else if (delta < 0)
		add(shared, &c->mremap_shrink_bytes, -delta);
	if (abs64(delta) >= MIN_SIZE)
		emit(EV_MREMAP, task, ret, new_len, delta, old_len, regs->r10, 0);
	return 0;
}

static __always_inline int on_mprotect(struct task_struct *task, struct pt_regs *regs, long ret)
{
	int shared;
	struct proc_counters *c = counters_of(task, EV_MPROTECT, &shared);
	__u64 len;
	__u32 prot;

	if (!c)
		return 0;
	if (ret != 0) {
		add(shared, &c->failed_calls, 1);
		return 0;
	}
	len = PAGE_ALIGN(regs->si);
	prot = regs->dx;
	add(shared, &c->mprotect_calls, 1);
	if (!(prot & PROT_WRITE))
		return 0;
	add(shared, &c->mprotect_write_bytes, len);
	if (len >= MIN_SIZE)
		emit(EV_MPROTECT, task, regs->di, len, len, 0, 0, prot);
	return 0;
}

/* Each syscall gets a tracepoint program and an fexit one; the loader keeps one set. */
#define HOOKS(name)                                                   \
	SEC("tracepoint/syscalls/sys_exit_" #name)                    \
	int exit_##name(struct sys_exit_ctx *ctx)                     \
	{                                                             \
		struct task_struct *task = bpf_get_current_task_btf(); \
		return on_##name(task, user_regs(task), ctx->ret);     \
	}                                                             \
	SEC("fexit/__x64_sys_" #name)                                 \
	int BPF_PROG(fexit_##name, struct pt_regs *regs, long ret)    \
	{                                                             \
		return on_##name(bpf_get_current_task_btf(), regs, ret); \
	}

HOOKS(mmap)
HOOKS(munmap)
HOOKS(brk)
HOOKS(mremap)
HOOKS(mprotect)
