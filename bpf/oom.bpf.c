/* oom:mark_victim: the victim the kernel chose and the task that hit the OOM.
 * tp_btf reads the victim's task_struct with CO-RE; the plain tracepoint is the
 * fallback, with field offsets taken from its format file by the loader. */
#include "common.h"

/* Keep these in BTF for bpf2go -type. */
const struct oom_event *unused_oom_event __attribute__((unused));
const enum event_type *unused_event_type __attribute__((unused));
const enum oom_source *unused_oom_source __attribute__((unused));

#define MAX_CGROUP_DEPTH 12
#define NAME_MAX_COPY 256 /* NAME_MAX and its NUL */
#define CUT_MARK "\xe2\x80\xa6" /* U+2026, a path cut at its root side */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} oom_events SEC(".maps");

/* kernfs_node.parent became __parent in 6.15. */
struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	struct kernfs_node___old *old = (void *)kn;

	if (bpf_core_field_exists(old->parent))
		return BPF_CORE_READ(old, parent);
	return BPF_CORE_READ(kn, __parent);
}

static __always_inline void fill_trigger(struct oom_event *e)
{
	__u64 id = bpf_get_current_pid_tgid();

	e->ts_ns = bpf_ktime_get_ns();
	e->trigger_pid = id >> 32;
	e->trigger_tid = (__u32)id;
	bpf_get_current_comm(e->trigger_comm, sizeof(e->trigger_comm));
}

/* The path is assembled here: a name of up to NAME_MAX_COPY bytes is read
 * at any offset below CGROUP_PATH_LEN, which the verifier can bound. */
struct path_buf {
	char b[CGROUP_PATH_LEN + NAME_MAX_COPY];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct path_buf);
} path_scratch SEC(".maps");

/* Writes the memory cgroup's path, root first, into e->memcg_path. A path
 * deeper than MAX_CGROUP_DEPTH or longer than the buffer keeps its names
 * nearest the cgroup and starts with CUT_MARK, so that it cannot pass for a
 * whole path (memcg_id still names the cgroup). */
static __always_inline void fill_memcg(struct oom_event *e, struct task_struct *task)
{
	const char *names[MAX_CGROUP_DEPTH] = {};
	__u32 lens[MAX_CGROUP_DEPTH] = {};
	struct kernfs_node *kn, *parent;
	struct cgroup_subsys_state *css;
	struct path_buf *buf;
	struct cgroup *cgrp;
	__u32 zero = 0, off = 0, total = 0, room;
	int depth = 0, keep = 0, cut = 0, i;

	if (bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id)) {
		int idx = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);

		css = BPF_CORE_READ(task, cgroups, subsys[idx]);
		cgrp = BPF_CORE_READ(css, cgroup);
	} else {
		cgrp = BPF_CORE_READ(task, cgroups, dfl_cgrp);
	}
	kn = BPF_CORE_READ(cgrp, kn);
	e->memcg_id = BPF_CORE_READ(kn, id);
	buf = bpf_map_lookup_elem(&path_scratch, &zero);
	if (!buf)
		return;
	/* Names leaf first, with their lengths (the root has no name). */
	for (i = 0; i < MAX_CGROUP_DEPTH; i++) {
		long n;

		parent = kn_parent(kn);
		if (!parent)
			break;
		names[i] = BPF_CORE_READ(kn, name);
		n = bpf_probe_read_kernel_str(buf->b, NAME_MAX_COPY, names[i]);
		if (n <= 1) {
			cut = 1; /* unreadable: the path ends below it */
			break;
		}
		lens[i] = n - 1;
		total += n; /* with its '/' */
		depth++;
		kn = parent;
	}
	if (i == MAX_CGROUP_DEPTH && kn_parent(kn))
		cut = 1; /* deeper than MAX_CGROUP_DEPTH */
	if (total > CGROUP_PATH_LEN - 1)
		cut = 1;
	/* Keep the names nearest the cgroup that fit beside the mark. */
	room = CGROUP_PATH_LEN - 1 - (cut ? sizeof(CUT_MARK) - 1 : 0);
	total = 0;
	for (i = 0; i < MAX_CGROUP_DEPTH; i++) {
		if (i >= depth || total + lens[i] + 1 > room)
			break;
		total += lens[i] + 1;
		keep++;
	}
	if (keep < depth)
		cut = 1;
	if (cut) {
		__builtin_memcpy(buf->b, CUT_MARK, sizeof(CUT_MARK) - 1);
		off = sizeof(CUT_MARK) - 1;
	} else if (keep == 0) {
		buf->b[off++] = '/'; /* the root */
	}
	for (i = MAX_CGROUP_DEPTH - 1; i >= 0; i--) {
		if (i >= keep)
			continue;
		buf->b[off & (CGROUP_PATH_LEN - 1)] = '/';
		off++;
		barrier_var(off); /* keep the mask below for the verifier */
		bpf_probe_read_kernel_str(&buf->b[off & (CGROUP_PATH_LEN - 1)], NAME_MAX_COPY, names[i]);
		off += lens[i];
	}
	buf->b[off & (CGROUP_PATH_LEN - 1)] = 0;
	bpf_probe_read_kernel(e->memcg_path, CGROUP_PATH_LEN, buf->b);
	e->memcg_path[CGROUP_PATH_LEN - 1] = 0;
}

static __always_inline void submit_oom(struct oom_event *e)
{
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
}

SEC("tp_btf/mark_victim")
int BPF_PROG(oom_mark_victim_btf, struct task_struct *task)
{
	struct oom_event *e = bpf_ringbuf_reserve(&oom_events, sizeof(*e), 0);
	struct mm_struct *mm;

	if (!e) {
		count_lost(1, EV_OOM_KILL);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	fill_trigger(e);
	e->source = OOM_SRC_TP_BTF;
	e->victim_pid = BPF_CORE_READ(task, tgid);
	e->victim_tid = BPF_CORE_READ(task, pid);
	e->victim_start_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	bpf_probe_read_kernel_str(e->victim_comm, sizeof(e->victim_comm), task->comm);
	e->uid = BPF_CORE_READ(task, real_cred, uid.val);
	e->oom_score_adj = BPF_CORE_READ(task, signal, oom_score_adj);
	mm = BPF_CORE_READ(task, mm);
	if (mm) {
		e->total_vm_pages = BPF_CORE_READ(mm, total_vm);
		e->file_rss_pages = rss_pages(mm, MM_FILE);
		e->anon_rss_pages = rss_pages(mm, MM_ANON);
		e->shmem_rss_pages = rss_pages(mm, MM_SHMEM);
		e->pgtables_bytes = BPF_CORE_READ(mm, pgtables_bytes.counter);
	}
	fill_memcg(e, task);
	submit_oom(e);
	return 0;
}

/* Offsets of the tracepoint's fields; -1 where this kernel lacks one. */
const volatile __s32 tp_off_pid = 8;
const volatile __s32 tp_off_comm = -1; /* __data_loc */
const volatile __s32 tp_off_total_vm = -1;
const volatile __s32 tp_off_anon_rss = -1;
const volatile __s32 tp_off_file_rss = -1;
const volatile __s32 tp_off_shmem_rss = -1;
const volatile __s32 tp_off_uid = -1;
const volatile __s32 tp_off_pgtables = -1;
const volatile __s32 tp_off_oom_score_adj = -1;

/* The task of a global pid, as find_task_by_pid_ns(nr, &init_pid_ns) finds
 * it: the pid namespace's IDR is an xarray of struct pid, a tree of nodes
 * of 64 slots (an internal entry, tagged 2, points to a node). NULL if the
 * walk fails or lands on another task. */
static __always_inline struct task_struct *task_of_pid(__u32 nr)
{
	struct task_struct *cur = (void *)bpf_get_current_task();
	struct pid_namespace *ns = BPF_CORE_READ(cur, thread_pid, numbers[0].ns);
	unsigned long entry = (unsigned long)BPF_CORE_READ(ns, idr.idr_rt.xa_head);
	unsigned long index = nr - BPF_CORE_READ(ns, idr.idr_base);
	struct hlist_node *first;
	struct task_struct *task;
	int i;

	if ((entry & 3) != 2 || entry <= 4096)
		return 0; /* one pid in the namespace, or none */
	for (i = 0; i < 8 && (entry & 3) == 2 && entry > 4096; i++) {
		struct xa_node *node = (void *)(entry - 2);
		unsigned char shift = BPF_CORE_READ(node, shift);

		if (i == 0 && (index >> shift) > 63)
			return 0; /* beyond the tree */
		entry = (unsigned long)BPF_CORE_READ(node, slots[(index >> shift) & 63]);
		if (shift == 0)
			break;
	}
	if (!entry || (entry & 3) != 0)
		return 0;
	first = BPF_CORE_READ((struct pid *)entry, tasks[PIDTYPE_PID].first);
	if (!first)
		return 0;
	task = (void *)first - bpf_core_field_offset(struct task_struct, pid_links);
	if (BPF_CORE_READ(task, pid) != (int)nr)
		return 0;
	return task;
}

#define TP_READ(dst, off)                                                   \
	do {                                                                \
		if ((off) >= 0)                                             \
			bpf_probe_read_kernel(&(dst), sizeof(dst), (char *)ctx + (off)); \
	} while (0)

SEC("tracepoint/oom/mark_victim")
int oom_mark_victim_tp(void *ctx)
{
	struct oom_event *e = bpf_ringbuf_reserve(&oom_events, sizeof(*e), 0);
	struct task_struct *victim;
	__s16 adj = 0;
	__u32 loc = 0;

	if (!e) {
		count_lost(1, EV_OOM_KILL);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	fill_trigger(e);
	e->source = OOM_SRC_TRACEPOINT;
	TP_READ(e->victim_tid, tp_off_pid);
	/* The record has the thread's pid: a thread other than the leader
	 * when that one has exited. Report its process, as tp_btf does. */
	victim = task_of_pid(e->victim_tid);
	if (victim) {
		e->victim_pid = BPF_CORE_READ(victim, tgid);
		e->victim_start_ns = BPF_CORE_READ(victim, group_leader, start_boottime);
	} else {
		e->victim_pid = e->victim_tid;
	}
	/* The tracepoint records kB. */
	TP_READ(e->total_vm_pages, tp_off_total_vm);
	TP_READ(e->anon_rss_pages, tp_off_anon_rss);
	TP_READ(e->file_rss_pages, tp_off_file_rss);
	TP_READ(e->shmem_rss_pages, tp_off_shmem_rss);
	TP_READ(e->pgtables_bytes, tp_off_pgtables);
	e->total_vm_pages = e->total_vm_pages * 1024 / PAGE_SIZE;
	e->anon_rss_pages = e->anon_rss_pages * 1024 / PAGE_SIZE;
	e->file_rss_pages = e->file_rss_pages * 1024 / PAGE_SIZE;
	e->shmem_rss_pages = e->shmem_rss_pages * 1024 / PAGE_SIZE;
	e->pgtables_bytes *= 1024;
	TP_READ(e->uid, tp_off_uid);
	TP_READ(adj, tp_off_oom_score_adj);
	e->oom_score_adj = adj;
	TP_READ(loc, tp_off_comm);
	if (loc)
		bpf_probe_read_kernel_str(e->victim_comm, sizeof(e->victim_comm),
					  (char *)ctx + (loc & 0xffff));
	submit_oom(e);
	return 0;
}
