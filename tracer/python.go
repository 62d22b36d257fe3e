package tracer

import (
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
)

// PyProc is what the sample program needs to read one process's Python
// frames (bpf/python.h): the address of the GIL holder's thread state
// pointer (3.11) or of the interpreters list's head (PyThreadList, 3.13),
// and the structure offsets of the process's CPython version.
type PyProc struct {
	TstateCurrent        uint64 // &_PyRuntime.gilstate.tstate_current; PyThreadList: &_PyRuntime.interpreters.head
	Flags                uint32 // PyThreadList | PyNoCframe | PyNoIsEntry
	InterpThreadsHead    uint32 // PyThreadList: PyInterpreterState.threads.head
	TstateNext           uint32 // PyThreadList: PyThreadState.next
	TstateNativeThreadID uint32
	TstateCframe         uint32
	CframeCurrentFrame   uint32
	FrameCode            uint32
	FramePrevious        uint32
	FramePrevInstr       uint32
	FrameIsEntry         uint32
	FrameOwner           uint32
}

// PyProc.Flags (bpf/python.h).
const (
	PyThreadList = 1 << 0 // find the sampling thread's state in the interpreter's list
	PyNoCframe   = 1 << 1 // TstateCframe is the offset of the current frame pointer
	PyNoIsEntry  = 1 << 2 // frames have no is_entry byte
)

// pyFrameRead is bpf/python.h PY_FRAME_READ: frame fields lie below it.
const pyFrameRead = 80

func (t *Tracer) pyProcs() (*ebpf.Map, error) {
	for _, c := range t.objs.colls {
		if m := c.Maps[allocMapPyProcs]; m != nil {
			return m, nil
		}
	}
	return nil, errors.New("no python map")
}

// SetPython has the samples of pid carry its Python frames.
func (t *Tracer) SetPython(pid int, p PyProc) error {
	for _, off := range []uint32{p.FrameCode, p.FramePrevious, p.FramePrevInstr} {
		if off%8 != 0 || off+8 > pyFrameRead {
			return fmt.Errorf("python frame offset %d: not an aligned word below %d", off, pyFrameRead)
		}
	}
	if p.FrameIsEntry >= pyFrameRead || p.FrameOwner >= pyFrameRead {
		return fmt.Errorf("python frame flags at %d and %d: beyond %d", p.FrameIsEntry, p.FrameOwner, pyFrameRead)
	}
	m, err := t.pyProcs()
	if err != nil {
		return err
	}
	v := allocPyProc{TstateCurrent: p.TstateCurrent, Flags: p.Flags, InterpThreadsHead: p.InterpThreadsHead,
		TstateNext: p.TstateNext, TstateNativeThreadId: p.TstateNativeThreadID,
		TstateCframe: p.TstateCframe, CframeCurrentFrame: p.CframeCurrentFrame, FrameCode: p.FrameCode,
		FramePrevious: p.FramePrevious, FramePrevInstr: p.FramePrevInstr, FrameIsEntry: p.FrameIsEntry,
		FrameOwner: p.FrameOwner}
	return m.Put(uint32(pid), &v)
}

// ForgetPython stops reading pid's Python frames (at its exit or exec).
func (t *Tracer) ForgetPython(pid int) error {
	m, err := t.pyProcs()
	if err != nil {
		return err
	}
	if err := m.Delete(uint32(pid)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return err
	}
	return nil
}

// OnExec has f called with the pid of each exec event as the events ring is
// read, before the event queues behind others on Events: an interpreter is
// registered before the samples of its first calls are taken. f must be
// quick; it runs on the events ring's reader.
func (t *Tracer) OnExec(f func(pid uint32)) { t.onExec.Store(&f) }

func (t *Tracer) execHook(pid uint32) {
	if f := t.onExec.Load(); f != nil {
		(*f)(pid)
	}
}

// PyWalkStats sums the BPF Python walks over all CPUs: how many, the frames
// they read and their run time.
type PyWalkStats struct {
	Walks, Frames uint64
	Time          time.Duration
}

// PythonWalks reads the Python walks' counters.
func (t *Tracer) PythonWalks() (PyWalkStats, error) {
	var m *ebpf.Map
	for _, c := range t.objs.colls {
		if m = c.Maps[allocMapPyStats]; m != nil {
			break
		}
	}
	if m == nil {
		return PyWalkStats{}, errors.New("no python stats map")
	}
	var per []allocPyWalkStats
	if err := m.Lookup(uint32(0), &per); err != nil {
		return PyWalkStats{}, err
	}
	var s PyWalkStats
	for _, c := range per {
		s.Walks += c.Walks
		s.Frames += c.Frames
		s.Time += time.Duration(c.Ns)
	}
	return s, nil
}
