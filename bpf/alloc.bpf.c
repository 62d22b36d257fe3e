/* mmap, munmap, brk, mremap, mprotect: counters in the process's slot or its
 * task storage, big calls to the ring.
 * One program per call, at exit: fexit on the syscall where the kernel permits
 * fentry, else the sys_exit tracepoint, which reads the arguments back from the
 * task's saved registers (the x86_64 syscall ABI leaves them intact). */
#include "common.h"
#include "python.h"

/* Keep these in BTF for bpf2go -type. */
const struct alloc_event *unused_alloc_event __attribute__((unused));
const struct event_hdr *unused_event_hdr __attribute__((unused));
const struct proc_counters *unused_proc_counters __attribute__((unused));
const struct lost_counters *unused_lost_counters __attribute__((unused));
const struct proc_slot *unused_proc_slot __attribute__((unused));
const enum imm_marker *unused_imm_marker __attribute__((unused));
const struct stack_event *unused_stack_event __attribute__((unused));
const struct py_proc *unused_py_proc __attribute__((unused));
const struct py_walk_stats *unused_py_walk_stats __attribute__((unused));
const struct py_stack *unused_py_stack __attribute__((unused));

#define PROT_WRITE 0x2
#define MAP_SHARED 0x01
#define MAP_ANONYMOUS 0x20

/* Calls at or above this many bytes are streamed. */
#define MIN_SIZE IMM(IMM_MIN_SIZE)

/* Growth bytes between stack samples, on average; 0: no sampling. */
#define STACK_SAMPLE IMM(IMM_STACK_SAMPLE)

/* Stack samples have their own ring, so that a flood of them cannot crowd
 * out the events, and their own loss counter (per CPU, one slot). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 2 * 1024 * 1024);
} stacks SEC(".maps");

/* A sample's per-CPU scratch. The frame-pointer walk lands in ip first (it
 * zero-fills what it does not use), so that the record holds only the
 * frames found; so does the stack's last, partial chunk. */
struct sample_scratch {
	__u64 ip[STACK_FRAMES];
	__u8 tail[STACK_CHUNK]; /* the stack's last, partial chunk (copy_tail) */
	__u64 unqueried; /* bytes of samples this CPU submitted since it last looked at the ring's fill */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sample_scratch);
} sample_scratch SEC(".maps");

/* The ring's fill is looked at once a CPU has submitted this much: the two
 * queries cost a tenth of a sample, and between looks each CPU adds at most
 * this and one record. */
#define QUERY_BYTES (16 * 1024)

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} stacks_lost SEC(".maps");

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

/* An interval drawn uniformly from [I/2, 3I/2), so that periodic
 * allocation patterns do not alias with the sampling. */
static __always_inline __u64 jittered(void)
{
	__u64 iv = STACK_SAMPLE, r;

	/* Below 4 GiB, r * iv / 2^32 is uniform on [0, iv): one draw and no
	 * division. The interval is an immediate: the verifier keeps one
	 * branch. */
	if (iv <= 0xffffffffULL)
		return iv / 2 + (((__u64)bpf_get_prandom_u32() * iv) >> 32);
	r = ((__u64)bpf_get_prandom_u32() << 32) | bpf_get_prandom_u32();
	return iv / 2 + r % iv;
}

/* The slow half of grow: the countdown crossed zero. Returns the weight of
 * a sample to take, 0 for none. Threads of a process take turns through
 * sample_busy; one that finds it taken leaves the sample to the next call. */
static __noinline __u64 rearm(struct proc_counters *c, int shared)
{
	__s64 left, step;
	__u64 grown, weight = 0;

	if (shared && __sync_val_compare_and_swap(&c->sample_busy, 0, 1) != 0)
		return 0;
	if (c->sample_armed == 0) {
		/* The process's first growth arms it; a sample only if it
		 * outgrows the first interval. */
		step = jittered();
		c->sample_armed = step;
		add(shared, (__u64 *)&c->sample_left, step);
	}
	/* Only the turn's holder changes sample_armed, so armed - left is the
	 * growth counted up to this read, and the weights sum to it exactly.
	 * Positive: another thread's turn re-armed since this call crossed. */
	left = *(volatile __s64 *)&c->sample_left;
	if (left > 0)
		goto out;
	grown = c->sample_armed - left;
	weight = grown - c->sample_taken;
	c->sample_taken = grown;
	c->samples++;
	/* The next interval starts now, however far below zero the
	 * countdown went; growth counted meanwhile stays counted. */
	step = jittered() - left;
	c->sample_armed += step;
	add(shared, (__u64 *)&c->sample_left, step);
out:
	if (shared)
		__sync_lock_test_and_set(&c->sample_busy, 0);
	return weight;
}

/* Counts growth against the process's countdown: one subtraction unless
 * it crosses zero. Returns the weight of a sample to take, 0 for none. */
static __always_inline __u64 grow(struct proc_counters *c, int shared, __u64 bytes)
{
	__s64 left;

	if (shared)
		left = __sync_fetch_and_add(&c->sample_left, -(__s64)bytes) - (__s64)bytes;
	else
		left = (c->sample_left -= bytes);
	if (left > 0)
		return 0;
	return rearm(c, shared);
}

static __always_inline void count_stack_lost(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&stacks_lost, &zero);

	if (n)
		__sync_fetch_and_add(n, 1);
}

/* bpf_find_vma's callback: the end of the mapping found. */
static long vma_end(struct task_struct *task, struct vm_area_struct *vma, void *end)
{
	*(__u64 *)end = vma->vm_end;
	return 0;
}

/* The bytes of user stack a sample copies from sp up: at most STACK_BYTES.
 * On the main thread's stack the copy ends with argc, at the initial stack
 * pointer: above lie argv, the environment and auxv, no frames, then a gap
 * never touched, whose fault costs more than the rest of a sample. Every
 * byte copied is a byte of ring written, which is most of a sample's cost.
 * *whole says the copy is to end at argc, above every frame. Elsewhere
 * (another thread's stack) it ends at the end of the stack's mapping, not
 * in whatever lies above it, unless the mapping cannot be looked up (its
 * lock is taken): then at the most it holds. */
static __always_inline __u32 stack_bytes(__u64 sp, struct task_struct *task, int *whole)
{
	__u64 top = task->mm->start_stack + 8, end = 0;

	*whole = top > sp && top - sp < STACK_BYTES;
	if (*whole)
		return top - sp;
	if (bpf_find_vma(task, sp, vma_end, &end, 0) == 0 && end > sp && end - sp < STACK_BYTES)
		return end - sp;
	return STACK_BYTES;
}

/* The stack's last, partial chunk goes through the scratch, so that a
 * record is reserved to the byte, not to a whole chunk: half the ring a
 * sample, for the small stacks of most processes. Returns the bytes
 * copied, to the first page not present. */
static __always_inline __u32 copy_tail(struct bpf_dynptr *rec, __u32 off, __u64 src, __u32 n, __u8 *tail)
{
	__u32 part;

	barrier_var(n); /* keep the masks for the verifier: the caller's n < STACK_CHUNK does not reach it */
	n &= STACK_CHUNK - 1;
	if (bpf_probe_read_user(tail, n, (void *)src) != 0) {
		part = PAGE_SIZE - (src & (PAGE_SIZE - 1));
		if (part >= n)
			return 0;
		barrier_var(part);
		n = part & (STACK_CHUNK - 1); /* part < n, so unchanged */
		if (bpf_probe_read_user(tail, n, (void *)src) != 0)
			return 0;
	}
	if (bpf_dynptr_write(rec, off, tail, n, 0))
		return 0;
	return n;
}

/* Copies len bytes of the user stack from sp into the record after its
 * fixed part: whole chunks straight into constant-size slices of the
 * record, the rest through the scratch. A read fails whole when any of it
 * is absent, so a chunk that fails is retried up to its page's end: the
 * copy ends at the first page not present (unmapped, or not resident),
 * whichever mapping it is in. Returns the bytes copied. */
static __always_inline __u32 copy_stack(struct bpf_dynptr *rec, __u32 off, __u64 sp, __u32 len, __u8 *tail)
{
	__u32 i, n, part;
	__u64 src;
	void *dst;

	for (i = 0; i < STACK_BYTES / STACK_CHUNK; i++) {
		if (i * STACK_CHUNK >= len)
			break;
		src = sp + i * STACK_CHUNK;
		n = len - i * STACK_CHUNK;
		if (n < STACK_CHUNK)
			return i * STACK_CHUNK + copy_tail(rec, off + i * STACK_CHUNK, src, n, tail);
		dst = bpf_dynptr_data(rec, off + i * STACK_CHUNK, STACK_CHUNK);
		if (!dst)
			return i * STACK_CHUNK;
		if (bpf_probe_read_user(dst, STACK_CHUNK, (void *)src) == 0)
			continue;
		part = PAGE_SIZE - (src & (PAGE_SIZE - 1));
		if (part < STACK_CHUNK && bpf_probe_read_user(dst, part, (void *)src) == 0)
			return i * STACK_CHUNK + part;
		return i * STACK_CHUNK;
	}
	return len;
}

/* A wakeup costs the sampling CPU an interrupt (several µs in a VM, more
 * than the rest of a sample): the reader polls, and is woken only once the
 * ring is half full. */
static __always_inline __u64 stacks_wakeup(struct sample_scratch *sc, __u64 size)
{
	sc->unqueried += size;
	if (sc->unqueried < QUERY_BYTES)
		return BPF_RB_NO_WAKEUP;
	sc->unqueried = 0;
	if (bpf_ringbuf_query(&stacks, BPF_RB_AVAIL_DATA) >= bpf_ringbuf_query(&stacks, BPF_RB_RING_SIZE) / 2)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* A sampled call: its record goes to the stacks ring instead of the events
 * ring, sized for the stack it will copy. When that is full the sample is
 * counted lost, and a call big enough to stream is still sent as a plain
 * event. */
static __always_inline void sample(void *ctx, struct proc_counters *c, int shared, __u32 type, struct task_struct *task, struct pt_regs *regs,
				   __u64 addr, __u64 len, __s64 delta, __u64 old_len, __u32 flags, __u32 prot,
				   __u64 weight, __u64 region_addr, __u64 region_len, int big)
{
	int whole;
	__u32 want = stack_bytes(regs->sp, task, &whole);
	__u32 room = (want + 7) & ~7; /* the Python frames after it stay aligned */
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 has_py = py_proc_of(pid_tgid) != 0;
	struct stack_event *e = 0;
	struct sample_scratch *sc;
	struct py_stack *ps;
	struct py_proc *py;
	struct bpf_dynptr rec;
	__u32 zero = 0, nf = 0, off;
	long n;

	sc = bpf_map_lookup_elem(&sample_scratch, &zero);
	/* A copy that reaches argc holds every frame the frame-pointer walk
	 * could read: the reader walks the copy instead (native.frameChain).
	 * The walk is a fifth of a sample's cost. */
	if (sc && !whole) {
		n = bpf_get_stack(ctx, sc->ip, sizeof(sc->ip), BPF_F_USER_STACK);
		/* Branchless (n <= 0: none): each path here is one more walk
		 * of the rest of the sample for the verifier. */
		nf = ((__u64)n & (__u64)(~(n >> 63)) & (sizeof(sc->ip) * 2 - 1)) / sizeof(sc->ip[0]);
	}
	off = sizeof(*e) + nf * sizeof(__u64);
	/* A failed reservation still has to be released. */
	if (bpf_ringbuf_reserve_dynptr(&stacks, off + room + (has_py ? sizeof(*ps) : 0), 0, &rec) == 0)
		e = bpf_dynptr_data(&rec, 0, sizeof(*e));
	if (!e)
		goto lost;
	fill_hdr(&e->alloc.hdr, type, task);
	e->alloc.addr = addr;
	e->alloc.len = len;
	e->alloc.delta = delta;
	e->alloc.old_len = old_len;
	e->alloc.flags = flags;
	e->alloc.prot = prot;
	e->weight = weight;
	e->region_addr = region_addr;
	e->region_len = region_len;
	e->ip = regs->ip;
	e->sp = regs->sp;
	e->bp = regs->bp;
	e->nr_frames = nf;
	e->has_py = has_py;
	e->_pad = 0;
	/* Neither fails inside the reservation; if one did, the record's
	 * layout would be wrong, so it is dropped. */
	if (!sc || bpf_dynptr_write(&rec, sizeof(*e), sc->ip, nf * sizeof(__u64), 0))
		goto lost;
	e->stack_len = copy_stack(&rec, off, e->sp, want, sc->tail);
	/* The Python frames last, at the record's end: the verifier then
	 * walks the copy once, not once for Python processes and once not. */
	if (e->has_py) {
		ps = bpf_dynptr_data(&rec, off + room, sizeof(*ps));
		if (!ps)
			goto lost;
		py = py_proc_of(pid_tgid);
		if (py) {
			py_walk(ps, py, pid_tgid);
		} else {
			ps->len = 0;
			ps->status = PY_NONE; /* unregistered meanwhile */
		}
	}
	bpf_ringbuf_submit_dynptr(&rec, stacks_wakeup(sc, off + room));
	return;
lost:
	bpf_ringbuf_discard_dynptr(&rec, 0);
	count_stack_lost();
	add(shared, &c->samples_lost, 1);
	if (big)
		emit(type, task, addr, len, delta, old_len, flags, prot);
}

static __always_inline __u64 abs64(__s64 v)
{
	return v < 0 ? -v : v;
}

static __always_inline int on_mmap(void *ctx, struct task_struct *task, struct pt_regs *regs, long ret)
{
	int shared;
	struct proc_counters *c = counters_of(task, EV_MMAP, &shared);
	__u64 len, w;
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
	/* Growth: anonymous or writable; PROT_NONE counts once made writable. */
	if (STACK_SAMPLE && prot != 0 && ((flags & MAP_ANONYMOUS) || (prot & PROT_WRITE))) {
		w = grow(c, shared, len);
		if (w) {
			sample(ctx, c, shared, EV_MMAP, task, regs, ret, len, len, 0, flags, prot, w, ret, len, len >= MIN_SIZE);
			return 0;
		}
	}
	if (len >= MIN_SIZE)
		emit(EV_MMAP, task, ret, len, len, 0, flags, prot);
	return 0;
}

static __always_inline int on_munmap(void *ctx, struct task_struct *task, struct pt_regs *regs, long ret)
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

static __always_inline int on_brk(void *ctx, struct task_struct *task, struct pt_regs *regs, long ret)
{
	int shared;
	struct proc_counters *c = counters_of(task, EV_BRK, &shared);
	__u64 req, cur = ret, prev, w;
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
	if (delta > 0) {
		add(shared, &c->brk_grow_bytes, delta);
		if (STACK_SAMPLE) {
			w = grow(c, shared, delta);
			if (w) {
				sample(ctx, c, shared, EV_BRK, task, regs, cur, delta, delta, 0, 0, 0, w, prev, delta,
				       delta >= MIN_SIZE);
				return 0;
			}
		}
	} else {
		add(shared, &c->brk_shrink_bytes, -delta);
	}
	if (abs64(delta) >= MIN_SIZE)
		emit(EV_BRK, task, cur, abs64(delta), delta, 0, 0, 0);
	return 0;
}

static __always_inline int on_mremap(void *ctx, struct task_struct *task, struct pt_regs *regs, long ret)
{
	int shared;
	struct proc_counters *c = counters_of(task, EV_MREMAP, &shared);
	__u64 old_len, new_len, w;
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
	if (delta > 0) {
		add(shared, &c->mremap_grow_bytes, delta);
		if (STACK_SAMPLE) {
			w = grow(c, shared, delta);
			if (w) {
				/* The grown tail, wherever the mapping now lies. */
				sample(ctx, c, shared, EV_MREMAP, task, regs, ret, new_len, delta, old_len, regs->r10, 0, w,
				       ret + old_len, delta, delta >= MIN_SIZE);
				return 0;
			}
		}
	} else if (delta < 0)
		add(shared, &c->mremap_shrink_bytes, -delta);
	if (abs64(delta) >= MIN_SIZE)
		emit(EV_MREMAP, task, ret, new_len, delta, old_len, regs->r10, 0);
	return 0;
}

static __always_inline int on_mprotect(void *ctx, struct task_struct *task, struct pt_regs *regs, long ret)
{
	int shared;
	struct proc_counters *c = counters_of(task, EV_MPROTECT, &shared);
	__u64 len, w;
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
	if (STACK_SAMPLE) {
		w = grow(c, shared, len);
		if (w) {
			sample(ctx, c, shared, EV_MPROTECT, task, regs, regs->di, len, len, 0, 0, prot, w, regs->di, len,
			       len >= MIN_SIZE);
			return 0;
		}
	}
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
		return on_##name(ctx, task, user_regs(task), ctx->ret); \
	}                                                             \
	SEC("fexit/__x64_sys_" #name)                                 \
	int BPF_PROG(fexit_##name, struct pt_regs *regs, long ret)    \
	{                                                             \
		return on_##name(ctx, bpf_get_current_task_btf(), regs, ret); \
	}

HOOKS(mmap)
HOOKS(munmap)
HOOKS(brk)
HOOKS(mremap)
HOOKS(mprotect)
