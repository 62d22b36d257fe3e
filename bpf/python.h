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
	__u64 tstate_current; /* &_PyRuntime.gilstate.tstate_current */
	__u32 tstate_native_thread_id;
	__u32 tstate_cframe;        /* PyThreadState.cframe */
	__u32 cframe_current_frame; /* _PyCFrame.current_frame */
	__u32 frame_code;           /* _PyInterpreterFrame.f_code */
	__u32 frame_previous;
	__u32 frame_prev_instr;
	__u32 frame_is_entry; /* byte */
	__u32 frame_owner;    /* byte */
};

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

/* Fills out with the Python frames of the current thread, innermost first.
 * A loop in the chain is caught by Brent's method (a saved frame, moved at
 * each power of two), so a corrupt chain ends early instead of repeating. */
static __always_inline void py_walk_frames(struct py_stack *out, struct py_proc *p, __u64 pid_tgid)
{
	__u64 tstate = 0, tid = 0, cframe = 0, frame = 0, saved = 0;
	__u64 buf[16] = {};
	__u32 i, n = 0, power = 1, status = PY_DEPTH;

	out->status = PY_FAULT;
	if (bpf_probe_read_user(&tstate, sizeof(tstate), (void *)p->tstate_current))
		return;
	if (!tstate) {
		out->status = PY_NO_THREAD;
		return;
	}
	if (bpf_probe_read_user(&tid, sizeof(tid), (void *)(tstate + p->tstate_native_thread_id)))
		return;
	if (tid != (__u32)pid_tgid) {
		out->status = PY_OTHER_THREAD;
		return;
	}
	if (bpf_probe_read_user(&cframe, sizeof(cframe), (void *)(tstate + p->tstate_cframe)) ||
	    bpf_probe_read_user(&frame, sizeof(frame), (void *)(cframe + p->cframe_current_frame)))
		return;
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
						  (py_byte(buf, p->frame_is_entry) ? 0x80 : 0);
		n = i + 1;
		frame = py_word(buf, p->frame_previous);
	}
	out->len = n;
	out->status = status;
}

/* The walk for the current thread's sample, timed, if its process is
 * registered. */
static __always_inline void py_walk(struct py_stack *out)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, zero = 0;
	struct py_walk_stats *st;
	struct py_proc *p;
	__u64 t0;

	out->len = 0;
	out->status = PY_NONE;
	p = bpf_map_lookup_elem(&py_procs, &tgid);
	if (!p)
		return;
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
