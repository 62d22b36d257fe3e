/* Every struct that crosses to userspace. Fixed width, explicit padding. */
#ifndef OOMTRACE_EVENTS_H
#define OOMTRACE_EVENTS_H

#define TASK_COMM_LEN 16
#define CGROUP_PATH_LEN 256
#define FILENAME_LEN 160

enum event_type {
	EV_MMAP = 1,
	EV_MUNMAP = 2,
	EV_BRK = 3,
	EV_MREMAP = 4,
	EV_MPROTECT = 5,
	EV_FORK = 6,
	EV_EXEC = 7,
	EV_EXIT = 8,
	EV_OOM_KILL = 9,
	EV_MAX = 10,
};

/* Where the OOM event came from. */
enum oom_source {
	OOM_SRC_TP_BTF = 1,
	OOM_SRC_TRACEPOINT = 2,
};

/* Leads every event on the shared ring; type selects the rest. */
struct event_hdr {
	__u64 ts_ns;       /* bpf_ktime_get_ns */
	__u64 start_ns;    /* process start (group leader start_boottime) */
	__u32 type;        /* enum event_type */
	__u32 pid;         /* tgid */
	__u32 tid;
	__u32 _pad;
	char comm[TASK_COMM_LEN];
};

/* mmap, munmap, brk, mremap, mprotect at or above the threshold. */
struct alloc_event {
	struct event_hdr hdr;
	__u64 addr;     /* mapped address, or new break for brk */
	__u64 len;      /* length; new length for mremap */
	__s64 delta;    /* signed change: brk growth, mremap new-old */
	__u64 old_len;  /* mremap old length */
	__u32 flags;    /* mmap flags */
	__u32 prot;     /* mmap/mprotect prot */
};

#include "python_event.h"

#define STACK_BYTES (32 * 1024)
#define STACK_CHUNK 1024
#define STACK_FRAMES 64

/* A sampled call, on the stacks ring: the call as an alloc_event, the
 * growth it stands for, and what userspace needs to unwind its stack. The
 * record is as long as the stack copied (stack_len bytes after the rest),
 * so that a sample touches no more of the ring than it fills. */
struct stack_event {
	struct alloc_event alloc;
	__u64 weight;      /* growth bytes since the process's previous sample */
	__u64 region_addr; /* [region_addr, +region_len): what this call grew */
	__u64 region_len;
	__u64 ip;          /* user registers at the syscall */
	__u64 sp;
	__u64 bp;
	__u32 stack_len;   /* bytes of stack copied from sp up */
	__u32 nr_frames;   /* frame-pointer walk's entries, after this struct */
	__u32 has_py;      /* the record ends with a struct py_stack */
	__u32 _pad;
	/* nr_frames __u64s, innermost first; then stack_len bytes of stack
	 * and up to 7 unused (more where the copy stopped at a page not
	 * present); then, if has_py, the Python
	 * frames (struct py_stack, python.h) to the record's end. Only what a
	 * sample has is written: each page of ring it touches costs a page
	 * walk. */
	__u8 data[];
};

/* fork (new process, not thread), exec and group exit. */
struct life_event {
	struct event_hdr hdr;
	__u32 ppid;      /* parent tgid */
	__u32 exit_code; /* wait status for exit */
	__u64 parent_start_ns;
	char filename[FILENAME_LEN]; /* exec only */
};

/* oom:mark_victim. The victim is the task chosen; the trigger is current. */
struct oom_event {
	__u64 ts_ns;
	__u64 victim_start_ns;
	__u32 victim_pid;
	__u32 victim_tid;
	__u32 trigger_pid;
	__u32 trigger_tid;
	__u32 uid;
	__s32 oom_score_adj;
	__u32 source;        /* enum oom_source */
	__u32 _pad;
	__u64 total_vm_pages;
	__u64 anon_rss_pages;
	__u64 file_rss_pages;
	__u64 shmem_rss_pages;
	__u64 pgtables_bytes;
	__u64 memcg_id;      /* kernfs id of the victim's memory cgroup */
	char victim_comm[TASK_COMM_LEN];
	char trigger_comm[TASK_COMM_LEN];
	char memcg_path[CGROUP_PATH_LEN];
};

/* Per-process counters, aggregated in the kernel. Read by userspace. */
struct proc_counters {
	__u64 mmap_calls;
	__u64 mmap_anon_bytes;
	__u64 mmap_file_bytes;
	__u64 mmap_reserve_bytes; /* PROT_NONE reservations */
	__u64 munmap_calls;
	__u64 munmap_bytes;
	__u64 brk_calls;
	__u64 brk_grow_bytes;
	__u64 brk_shrink_bytes;
	__u64 brk_cur;            /* last break seen */
	__u64 mremap_calls;
	__u64 mremap_grow_bytes;
	__u64 mremap_shrink_bytes;
	__u64 mprotect_calls;
	__u64 mprotect_write_bytes; /* made writable */
	__u64 failed_calls;
	/* Stack sampling (see grow in alloc.bpf.c): the growth since the
	 * first is sample_armed - sample_left, of which the samples so far
	 * weighed sample_taken. */
	__s64 sample_left;  /* growth bytes until the next sample */
	__u64 sample_armed; /* sum of the intervals armed */
	__u64 sample_taken; /* sum of the samples' weights */
	__u64 sample_busy;  /* a thread of the process is taking a sample */
	__u64 samples;      /* samples taken */
	__u64 samples_lost; /* of which the stacks ring had no room for */
};

/* The fast path's home for a process's counters: a table indexed by
 * tgid & the slot mask, whose lookup the verifier inlines. A process owns
 * the slot of its tgid if it was free when the process was first seen with
 * one thread; else its counters live in task storage. */
struct proc_slot {
	__u64 tgid;     /* owner; 0 when free */
	__u64 start_ns; /* owner's start (group leader start_boottime) */
	__u64 threaded; /* has had a second thread: update atomically */
	struct proc_counters counters;
};

/* Markers of the immediates the loader patches into the programs, where a
 * load from a global would cost a TLB miss per call on kernels without PCID
 * (see docs/performance.md). */
enum imm_marker {
	IMM_MIN_SIZE = 0x6d696e31,  /* streaming threshold, bytes */
	IMM_SLOT_MASK = 0x736c6f74, /* table size - 1; above 32 bits: no table */
	IMM_GROUP_DEAD = 0x67646561, /* 1: sched_process_exit has group_dead (6.16+) */
	IMM_STACK_SAMPLE = 0x73746b31, /* stack sampling interval, bytes; 0: off */
};

/* One process, as the task iterator reads it: what /proc/PID/status and
 * the counters would say, for every process in one pass. */
struct proc_sample {
	__u32 pid;
	__u32 has_counters;
	__u64 start_ns;
	__u64 anon_pages;
	__u64 file_pages;
	__u64 shmem_pages;
	__u64 swap_pages;
	struct proc_counters counters;
};

/* Per-CPU loss counters, indexed by event type. */
struct lost_counters {
	__u64 ring[EV_MAX];   /* ring reservation failed */
	__u64 map[EV_MAX];    /* map insert failed */
};

#endif
