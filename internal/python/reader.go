package python

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/oomtrace/oomtrace/internal/native"
	"github.com/oomtrace/oomtrace/tracer"
)

// Setter is the tracer's side: *tracer.Tracer is one.
type Setter interface {
	SetPython(pid int, p tracer.PyProc) error
	ForgetPython(pid int) error
}

// MaxProcs bounds the processes a Reader keeps: the BPF map's size
// (bpf/python.h py_procs), and the code caches, each codesPerProc objects.
const MaxProcs = 4096

// evalFunction is the native frame a run of Python frames stands for.
const evalFunction = "_PyEval_EvalFrameDefault"

// Reader finds interpreters, registers them with the tracer and names the
// Python frames of their samples. Safe for concurrent use.
type Reader struct {
	set Setter
	mu  sync.Mutex
	// procs are the processes looked at, by pid: interp is nil for a
	// process that is not a CPython oomtrace reads.
	procs map[uint32]*proc
}

type proc struct {
	interp  *Interp
	err     error
	checked int // lookups made; a libpython loads after exec
	mem     mem
	codes   map[uint64]code
}

// NewReader returns a Reader registering interpreters with set (nil: only
// name frames).
func NewReader(set Setter) *Reader {
	return &Reader{set: set, procs: map[uint32]*proc{}}
}

// ScanRunning looks at every process running now.
func (r *Reader) ScanRunning() {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 0 {
			r.Exec(uint32(pid))
		}
	}
}

// Exec looks at a process that just started a program, forgetting what it
// ran before. It runs on the tracer's events reader (Tracer.OnExec), so only
// a program named like python is looked into here (a readlink); one that
// embeds libpython (uwsgi) is found at its first sample.
func (r *Reader) Exec(pid uint32) {
	r.Forget(pid)
	exe, err := os.Readlink("/proc/" + strconv.Itoa(int(pid)) + "/exe")
	if err != nil || !pyFileRe.MatchString(filepath.Base(exe)) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.look(pid)
}

// look finds pid's interpreter and registers it. Called with mu held.
func (r *Reader) look(pid uint32) *proc {
	p := r.procs[pid]
	if p == nil {
		if len(r.procs) >= MaxProcs {
			for k, q := range r.procs { // drop one that is not Python first
				if q.interp == nil || len(r.procs) >= MaxProcs+1 {
					r.drop(k)
					break
				}
			}
		}
		p = &proc{}
		r.procs[pid] = p
	}
	if p.interp != nil || p.checked >= 2 {
		return p
	}
	p.checked++
	p.interp, p.err = Find(int(pid))
	if p.interp == nil {
		return p
	}
	if r.set != nil {
		bp := p.interp.Offsets.BPF
		bp.TstateCurrent = p.interp.Runtime + p.interp.Offsets.RuntimeTstateCurrent
		if bp.Flags&tracer.PyThreadList != 0 {
			bp.TstateCurrent = p.interp.Runtime + p.interp.Offsets.RuntimeInterpsHead
		}
		if err := r.set.SetPython(int(pid), bp); err != nil {
			p.err = err
		}
	}
	return p
}

// Forget drops what is known of pid (its exit, or exec).
func (r *Reader) Forget(pid uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.drop(pid)
}

func (r *Reader) drop(pid uint32) {
	p := r.procs[pid]
	if p == nil {
		return
	}
	if p.mem.f != nil {
		p.mem.f.Close()
	}
	if p.interp != nil && r.set != nil {
		r.set.ForgetPython(int(pid))
	}
	delete(r.procs, pid)
}

// Interp is pid's interpreter, or why there is none.
func (r *Reader) Interp(pid uint32) (*Interp, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.look(pid)
	if p.interp == nil && p.err == nil {
		return nil, ErrNotPython
	}
	return p.interp, p.err
}

// Frame is a named Python frame.
type Frame struct {
	Qualname, File string
	Line           int // 0 when the location table gives none
	Entry          bool
}

// Frames names a sample's Python frames, innermost first, skipping the
// incomplete frames CPython's own traceback skips. ok is false when a
// frame's code object could not be read: the stack ends before it.
func (r *Reader) Frames(pid uint32, py tracer.PyStack) (out []Frame, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.look(pid)
	if p.interp == nil {
		return nil, false
	}
	if p.mem.f == nil {
		var err error
		if p.mem, err = openMem(int(pid)); err != nil {
			return nil, false
		}
	}
	o := p.interp.Offsets
	for _, f := range py.Frames {
		if o.FrameOwnedByCStack != 0 && f.Owner == o.FrameOwnedByCStack {
			// 3.13's entry shim: the frame before it ended a run
			if len(out) > 0 {
				out[len(out)-1].Entry = true
			}
			continue
		}
		c, hit := p.codes[f.Code]
		if !hit {
			if p.codes == nil || len(p.codes) >= codesPerProc {
				p.codes = map[uint64]code{}
			}
			c = readCode(p.mem, p.interp, f.Code)
			p.codes[f.Code] = c
		}
		if !c.ok {
			return out, false
		}
		base := f.Code + o.CodeCodeAdaptive
		if f.Owner != o.FrameOwnedByGenerator && f.Instr < base+2*c.firstTraceable {
			continue // incomplete: its function has not started
		}
		line := c.firstLine
		if f.Instr >= base && (f.Instr-base)/2 < 1<<24 {
			if l := lineAt(c.linetable, c.firstLine, (f.Instr-base)/2); l > 0 {
				line = l
			}
		}
		out = append(out, Frame{Qualname: c.qualname, File: c.file, Line: line, Entry: f.Entry})
	}
	return out, true
}

// Merge puts a sample's Python frames into its native stack, in place of
// the _PyEval_EvalFrameDefault frames that ran them: the k-th eval frame
// from the innermost gives way to the k-th run of Python frames (a run
// ends at an entry frame). Native frames between and below stay. Python
// frames left over once the native stack ends go after it.
func (r *Reader) Merge(pid uint32, ns native.Stack, py tracer.PyStack) native.Stack {
	if py.Status == tracer.PyNone || len(py.Frames) == 0 {
		if py.Status == tracer.PyNone {
			r.mu.Lock()
			r.look(pid) // a libpython mapped after exec: the next samples
			r.mu.Unlock()
		}
		return ns
	}
	frames, ok := r.Frames(pid, py)
	return merge(ns, frames, ok, py.Status)
}

// merge is Merge once the Python frames are named; ok false says a code
// object could not be read.
func merge(ns native.Stack, frames []Frame, ok bool, status tracer.PyStatus) native.Stack {
	if len(frames) == 0 {
		return ns
	}
	out := native.Stack{Frames: make([]native.Frame, 0, len(ns.Frames)+len(frames)),
		Truncated: ns.Truncated, Reason: ns.Reason}
	pyFrame := func(f Frame) native.Frame {
		return native.Frame{Function: f.Qualname, File: f.File, Line: f.Line, Kind: "python"}
	}
	next := func() { // one run of frames
		for len(frames) > 0 {
			f := frames[0]
			frames = frames[1:]
			out.Frames = append(out.Frames, pyFrame(f))
			if f.Entry {
				return
			}
		}
	}
	for _, f := range ns.Frames {
		if f.Function == evalFunction && len(frames) > 0 {
			next()
			continue
		}
		out.Frames = append(out.Frames, f)
	}
	for _, f := range frames {
		out.Frames = append(out.Frames, pyFrame(f))
	}
	if !ok || status.Truncated() {
		out.Truncated = true
		if out.Reason == "" {
			out.Reason = "python frames: " + status.String()
			if !ok {
				out.Reason = "python frames: unreadable code object"
			}
		}
	}
	return out
}
