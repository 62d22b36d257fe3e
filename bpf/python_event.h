/* Python frames of a stack sample (see python.h). Included by events.h. */
#ifndef OOMTRACE_PYTHON_EVENT_H
#define OOMTRACE_PYTHON_EVENT_H

#define PY_FRAMES 64

/* Why the walk stopped. */
enum py_status {
	PY_NONE = 0,        /* not a CPython process oomtrace knows */
	PY_DONE = 1,        /* reached the thread's outermost frame */
	PY_DEPTH = 2,       /* PY_FRAMES frames and more left: truncated */
	PY_CYCLE = 3,       /* the chain loops: truncated */
	PY_FAULT = 4,       /* a pointer could not be read: truncated */
	PY_NO_THREAD = 5,   /* no thread holds the GIL */
	PY_OTHER_THREAD = 6 /* the GIL holder is another thread: no frames */
};

struct py_frame {
	__u64 code;  /* PyCodeObject * */
	__u64 instr; /* prev_instr: the code unit before the next instruction */
};

struct py_stack {
	__u32 len;    /* entries of frames, innermost first */
	__u32 status; /* enum py_status */
	struct py_frame frames[PY_FRAMES];
	__u8 flags[PY_FRAMES]; /* owner | is_entry << 7 */
};

#endif
