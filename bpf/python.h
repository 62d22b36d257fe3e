/* CPython frames at a stack sample: the sampling thread's
 * _PyInterpreterFrame chain, read with bpf_probe_read_user only, for the
 * processes userspace put in py_procs (internal/python). Any other process
 * pays one hash lookup per sample, nothing per call. */
#ifndef OOMTRACE_PYTHON_H
#define OOMTRACE_PYTHON_H

#include "python_event.h"

/* Where one process's interpreter keeps its frames: addresses in the
 * process and structure offsets of its CPython version. */
struct py_proc {
	/* 3.11: &_PyRuntime.gilstate.tstate_current, the GIL holder's thread
	 * state; with PY_THREAD_LIST: &_PyRuntime.interpreters.head */
	__u64 tstate_current;
	__u32 flags;                  /* PY_THREAD_LIST | PY_NO_CFRAME | PY_NO_IS_ENTRY */
	__u32 interp_threads_head;    /* PY_THREAD_LIST: PyInterpreterState.threads.head */
	__u32 tstate_next;            /* PY_THREAD_LIST: PyThreadState.next */
	__u32 tstate_native_thread_id;
	__u32 tstate_cframe;        /* PyThreadState.cframe; PY_NO_CFRAME: .current_frame */
	__u32 cframe_current_frame; /* _PyCFrame.current_frame */
	__u32 frame_code;           /* _PyInterpreterFrame.f_code (3.13: f_executable) */
	__u32 frame_previous;
	__u32 frame_prev_instr; /* 3.13: instr_ptr */
	__u32 frame_is_entry;   /* byte */
	__u32 frame_owner;      /* byte */
};

/* py_proc.flags. 3.12 and later keep the current thread state in a
 * thread-local, out of a BPF program's reach: the sampling thread's state
 * is found in the interpreter's list of threads by its native id. */
#define PY_THREAD_LIST (1 << 0)
#define PY_NO_CFRAME (1 << 1)   /* 3.13: the thread state points at the frame */
#define PY_NO_IS_ENTRY (1 << 2) /* 3.13: entry frames are shims (owner CSTACK) */

/* Thread states looked at in the list, at most. */
#define PY_THREADS 32

/* The bytes of a frame read at once; every field offset lies below. */
#define PY_FRAME_READ 80

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); /* tgid */
	__type(value, struct py_proc);
} py_procs SEC(".maps");

/* What the walks cost, per CPU: walks, frames read and their run time (two
 * clock reads a walk, at samples of registered processes only). */
struct py_walk_stats {
	__u64 walks;
	__u64 frames;
	__u64 ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct py_walk_stats);
} py_stats SEC(".maps");

static __always_inline __u64 py_word(const __u64 *buf, __u32 off)
{
	return buf[(off >> 3) & 15];
}

static __always_inline __u8 py_byte(const __u64 *buf, __u32 off)
{
	return buf[(off >> 3) & 15] >> ((off & 7) * 8);
}

/* Finds the sampling thread's state in the first interpreter's list of
 * threads (3.13): 0 and *tstate set, else non-zero with out->status set.
 * The list is read at most PY_THREADS long, so a loop in it ends. */
static __always_inline int py_find_thread(__u64 *tstate, struct py_proc *p, __u64 pid_tgid, struct py_stack *out)
{
	__u64 interp = 0, t = 0, tid = 0;
	__u32 i;

	if (bpf_probe_read_user(&interp, sizeof(interp), (void *)p->tstate_current) || !interp ||
	    bpf_probe_read_user(&t, sizeof(t), (void *)(interp + p->interp_threads_head)))
		return 1;
	for (i = 0; i < PY_THREADS; i++) {
		if (!t) {
			out->status = PY_NO_THREAD;
			return 1;
		}
		if (bpf_probe_read_user(&tid, sizeof(tid), (void *)(t + p->tstate_native_thread_id)))
			return 1;
		if (tid == (__u32)pid_tgid) {
			*tstate = t;
			return 0;
		}
		if (bpf_probe_read_user(&t, sizeof(t), (void *)(t + p->tstate_next)))
			return 1;
	}
	out->status = PY_NO_THREAD;
	return 1;
}

/* Fills out with the Python frames of the current thread, innermost first.
 * A loop in the chain is caught by Brent's method (a saved frame, moved at
 * each power of two), so a corrupt chain ends early instead of repeating.
 * A global function: the verifier checks it once, not once for every path
 * of the sample that reaches it. */
__noinline int py_walk_frames(struct py_stack *out, struct py_proc *p, __u64 pid_tgid)
{
	__u64 tstate = 0, tid = 0, cframe = 0, frame = 0, saved = 0;
	__u64 buf[16] = {};
	__u32 i, n = 0, power = 1, status = PY_DEPTH;

	if (!out || !p)
		return 0;
	out->status = PY_FAULT;
	if (p->flags & PY_THREAD_LIST) {
		if (py_find_thread(&tstate, p, pid_tgid, out))
			return 0;
	} else {
		if (bpf_probe_read_user(&tstate, sizeof(tstate), (void *)p->tstate_current))
			return 0;
		if (!tstate) {
			out->status = PY_NO_THREAD;
			return 0;
		}
		if (bpf_probe_read_user(&tid, sizeof(tid), (void *)(tstate + p->tstate_native_thread_id)))
			return 0;
		if (tid != (__u32)pid_tgid) {
			out->status = PY_OTHER_THREAD;
			return 0;
		}
	}
	if (p->flags & PY_NO_CFRAME) {
		if (bpf_probe_read_user(&frame, sizeof(frame), (void *)(tstate + p->tstate_cframe)))
			return 0;
	} else if (bpf_probe_read_user(&cframe, sizeof(cframe), (void *)(tstate + p->tstate_cframe)) ||
		   bpf_probe_read_user(&frame, sizeof(frame), (void *)(cframe + p->cframe_current_frame))) {
		return 0;
	}
	for (i = 0; i < PY_FRAMES + 1; i++) {
		if (!frame) {
			status = PY_DONE;
			break;
		}
		if (i == PY_FRAMES)
			break;
		if (frame == saved) {
			status = PY_CYCLE;
			break;
		}
		if (i + 1 == power) {
			saved = frame;
			power <<= 1;
		}
		if (bpf_probe_read_user(buf, PY_FRAME_READ, (void *)frame)) {
			status = PY_FAULT;
			break;
		}
		out->frames[i & (PY_FRAMES - 1)].code = py_word(buf, p->frame_code);
		out->frames[i & (PY_FRAMES - 1)].instr = py_word(buf, p->frame_prev_instr);
		out->flags[i & (PY_FRAMES - 1)] = (py_byte(buf, p->frame_owner) & 0x7f) |
						  (!(p->flags & PY_NO_IS_ENTRY) && py_byte(buf, p->frame_is_entry) ? 0x80 : 0);
		n = i + 1;
		frame = py_word(buf, p->frame_previous);
	}
	out->len = n;
	out->status = status;
	return 0;
}

/* The process's registration, if userspace put it in py_procs. */
static __always_inline struct py_proc *py_proc_of(__u64 pid_tgid)
{
	__u32 tgid = pid_tgid >> 32;

	return bpf_map_lookup_elem(&py_procs, &tgid);
}

/* The walk for the current thread's sample of registered process p, timed. */
static __always_inline void py_walk(struct py_stack *out, struct py_proc *p, __u64 pid_tgid)
{
	struct py_walk_stats *st;
	__u32 zero = 0;
	__u64 t0;

	out->len = 0;
	t0 = bpf_ktime_get_ns();
	py_walk_frames(out, p, pid_tgid);
	st = bpf_map_lookup_elem(&py_stats, &zero);
	if (st) {
		st->walks++;
		st->frames += out->len;
		st->ns += bpf_ktime_get_ns() - t0;
	}
}

#endif
