package tracer

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"time"
	"unsafe"
)

// EventType is the kind of an event; the values come from bpf/events.h.
type EventType uint32

const (
	EventMmap     = EventType(oomEventTypeEV_MMAP)
	EventMunmap   = EventType(oomEventTypeEV_MUNMAP)
	EventBrk      = EventType(oomEventTypeEV_BRK)
	EventMremap   = EventType(oomEventTypeEV_MREMAP)
	EventMprotect = EventType(oomEventTypeEV_MPROTECT)
	EventFork     = EventType(oomEventTypeEV_FORK)
	EventExec     = EventType(oomEventTypeEV_EXEC)
	EventExit     = EventType(oomEventTypeEV_EXIT)
	EventOOMKill  = EventType(oomEventTypeEV_OOM_KILL)
	numEventTypes = int(oomEventTypeEV_MAX)
)

var eventNames = [numEventTypes]string{"", "mmap", "munmap", "brk", "mremap", "mprotect", "fork", "exec", "exit", "oom_kill"}

func (t EventType) String() string {
	if int(t) < numEventTypes && eventNames[t] != "" {
		return eventNames[t]
	}
	return fmt.Sprintf("type%d", uint32(t))
}

// EventTypes lists every event type in order.
func EventTypes() []EventType {
	out := make([]EventType, 0, numEventTypes-1)
	for t := EventMmap; int(t) < numEventTypes; t++ {
		out = append(out, t)
	}
	return out
}

// IsAlloc reports whether t is one of the traced memory syscalls.
func (t EventType) IsAlloc() bool { return t >= EventMmap && t <= EventMprotect }

// IsLifecycle reports whether t is fork, exec or exit.
func (t EventType) IsLifecycle() bool { return t == EventFork || t == EventExec || t == EventExit }

// Event is one significant event, decoded from a ring buffer.
type Event struct {
	Type  EventType
	Time  time.Time
	PID   uint32 // thread group id
	TID   uint32
	Start uint64 // process start, ns since boot (identity across pid reuse)
	Comm  string
	Alloc Alloc    // mmap, munmap, brk, mremap, mprotect
	Proc  Proc     // fork, exec, exit
	OOM   *OOMKill // oom_kill
	// Sample is the stack sample this call was chosen for (see
	// Config.StackSample), nil for most events. A sampled call is an
	// event whatever its size.
	Sample *Sample
}

// Sample is a call chosen by the byte-weighted stack sampling: it stands
// for the growth of its process since the previous sample. A consumer done
// with it may Release it, so that the reader makes no garbage a sample.
type Sample struct {
	Weight     uint64 // growth bytes since the process's previous sample
	RegionAddr uint64 // [RegionAddr, RegionAddr+RegionLen) is what this call grew
	RegionLen  uint64
	Regs       UserRegs
	// Stack is the user stack copied from Regs.SP upward: at most 32 KiB,
	// on the main thread up to argc at the initial stack pointer, on
	// another up to the end of its stack's mapping (unless that mapping
	// could not be looked up: its lock was taken), and shorter at the
	// first page not present (unmapped, or not resident).
	Stack []byte
	// FramePointers is the kernel's frame-pointer walk of the user stack,
	// innermost first (at most 64); it stops or goes wrong in code built
	// without frame pointers. Empty when Stack holds the whole stack (up
	// to argc): every frame it could read is in the copy, and BPF leaves
	// the walk out, which is a fifth of a sample's cost.
	FramePointers []uint64
	// Python is the sampling thread's CPython frames, for processes
	// registered with Tracer.SetPython; its Status is PyNone otherwise.
	Python PyStack
}

// PyStack is the Python frame chain BPF read at a sample, innermost first.
type PyStack struct {
	Status PyStatus
	Frames []PyFrame
}

// PyFrame is one _PyInterpreterFrame: its code object and the code unit
// before its next instruction (prev_instr), both addresses in the process.
type PyFrame struct {
	Code, Instr uint64
	Owner       uint8 // _PyInterpreterFrame.owner
	Entry       bool  // is_entry: the first frame of its _PyEval_EvalFrameDefault call
}

// PyStatus says why the Python walk stopped (bpf/python_event.h).
type PyStatus uint32

const (
	PyNone        PyStatus = iota // not a registered CPython process
	PyDone                        // reached the outermost frame
	PyDepth                       // more than 64 frames: truncated
	PyCycle                       // the chain loops: truncated
	PyFault                       // a pointer could not be read: truncated
	PyNoThread                    // no thread holds the GIL
	PyOtherThread                 // another thread holds the GIL
)

// Truncated says the walk stopped before the outermost frame.
func (s PyStatus) Truncated() bool { return s == PyDepth || s == PyCycle || s == PyFault }

func (s PyStatus) String() string {
	switch s {
	case PyNone:
		return "none"
	case PyDone:
		return "done"
	case PyDepth:
		return "depth"
	case PyCycle:
		return "cycle"
	case PyFault:
		return "fault"
	case PyNoThread:
		return "no thread"
	case PyOtherThread:
		return "other thread"
	}
	return fmt.Sprintf("status %d", uint32(s))
}

// UserRegs are the user registers at the sampled syscall.
type UserRegs struct{ IP, SP, BP uint64 }

// Alloc describes a traced memory syscall that succeeded.
type Alloc struct {
	Addr   uint64 // mapped address, or the new break for brk
	Len    uint64 // bytes, page aligned; new length for mremap
	Delta  int64  // signed change of the mapping or break
	OldLen uint64 // mremap only
	Flags  uint32 // mmap flags
	Prot   uint32
}

// Proc describes a fork (PID is the child), exec or exit.
type Proc struct {
	PPID        uint32
	ParentStart uint64
	ExitCode    uint32 // wait status, exit only
	Filename    string // exec only
}

// Task names one process.
type Task struct {
	PID   uint32
	TID   uint32
	Comm  string
	Start uint64
}

// OOMKill is the kernel's choice of victim and the task that hit the OOM.
type OOMKill struct {
	Victim        Task
	Trigger       Task
	UID           uint32
	OOMScoreAdj   int32
	TotalVMBytes  uint64
	AnonRSSBytes  uint64
	FileRSSBytes  uint64
	ShmemRSSBytes uint64
	PgTablesBytes uint64
	MemcgID       uint64
	MemcgPath     string // root first; starts with MemcgPathCut when cut
	Source        string // "tp_btf" or "tracepoint"
}

// MemcgPathCut starts a memory cgroup path too deep (more than 12 levels) or
// too long (255 bytes) for the OOM hook: what follows is the path's end,
// "/" and the names nearest the cgroup.
const MemcgPathCut = "…"

var pageSize = uint64(os.Getpagesize())

// clock converts bpf_ktime_get_ns values to wall time.
type clock struct{ offset int64 }

func (c clock) wall(ns uint64) time.Time { return time.Unix(0, int64(ns)+c.offset) }

func cstr(b []int8) string {
	return cstrReuse("", b)
}

// cstrReuse is cstr, but returns prev when it holds the same bytes: a read
// loop decodes into one Event, so a flood from one task allocates no name.
func cstrReuse(prev string, b []int8) string {
	bs := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(b))), len(b))
	if i := bytes.IndexByte(bs, 0); i >= 0 {
		bs = bs[:i]
	}
	if string(bs) == prev {
		return prev
	}
	return string(bs)
}

// view casts raw to *T when it is long enough. The ring gives 8-byte aligned samples.
func view[T any](raw []byte) (*T, error) {
	var zero T
	if len(raw) < int(unsafe.Sizeof(zero)) {
		return nil, fmt.Errorf("short sample: %d bytes, want %d", len(raw), unsafe.Sizeof(zero))
	}
	return (*T)(unsafe.Pointer(unsafe.SliceData(raw))), nil
}

// decodeEvent decodes a sample of the shared events ring into ev.
func decodeEvent(raw []byte, c clock, ev *Event) error {
	h, err := view[allocEventHdr](raw)
	if err != nil {
		return err
	}
	*ev = Event{
		Type:  EventType(h.Type),
		Time:  c.wall(h.TsNs),
		PID:   h.Pid,
		TID:   h.Tid,
		Start: h.StartNs,
		Comm:  cstrReuse(ev.Comm, h.Comm[:]),
	}
	switch {
	case ev.Type.IsAlloc():
		a, err := view[allocAllocEvent](raw)
		if err != nil {
			return err
		}
		ev.Alloc = Alloc{Addr: a.Addr, Len: a.Len, Delta: a.Delta, OldLen: a.OldLen, Flags: a.Flags, Prot: a.Prot}
	case ev.Type.IsLifecycle():
		p, err := view[procLifeEvent](raw)
		if err != nil {
			return err
		}
		ev.Proc = Proc{PPID: p.Ppid, ParentStart: p.ParentStartNs, ExitCode: p.ExitCode, Filename: cstr(p.Filename[:])}
	default:
		return fmt.Errorf("unknown event type %d", h.Type)
	}
	return nil
}

const (
	stackMax    = 32 * 1024 // bpf/events.h STACK_BYTES
	stackFrames = 64        // bpf/events.h STACK_FRAMES
)

// decodeStack decodes a sample of the stacks ring into ev: the call, and
// its sample. The record is the fixed part, nr_frames frame addresses,
// stack_len bytes of stack at most, and the Python frames at its end if
// has_py; the stack and frames are copied out of the ring.
func decodeStack(raw []byte, c clock, ev *Event) error {
	e, err := view[allocStackEvent](raw)
	if err != nil {
		return err
	}
	if err := decodeEvent(raw[:unsafe.Sizeof(e.Alloc)], c, ev); err != nil {
		return err
	}
	if !ev.Type.IsAlloc() {
		return fmt.Errorf("stack sample of a %s event", ev.Type)
	}
	// Offsetof, not Sizeof: Go pads a struct that ends in a zero-size array.
	rest := raw[unsafe.Offsetof(e.Data):]
	if e.NrFrames > stackFrames || int(e.NrFrames)*8 > len(rest) {
		return fmt.Errorf("stack sample: %d frames in a record with room for %d bytes", e.NrFrames, len(rest))
	}
	fp := rest[:8*e.NrFrames]
	rest = rest[len(fp):]
	var py *allocPyStack
	if e.HasPy != 0 {
		n := int(unsafe.Sizeof(*py))
		if len(rest) < n {
			return fmt.Errorf("stack sample: python frames: %d bytes left, want %d", len(rest), n)
		}
		// The ring's records are 8-byte aligned and so are their lengths.
		if py, err = view[allocPyStack](rest[len(rest)-n:]); err != nil {
			return fmt.Errorf("stack sample: python frames: %w", err)
		}
		rest = rest[:len(rest)-n]
	}
	if n := int(e.StackLen); n > len(rest) || n > stackMax {
		return fmt.Errorf("stack sample: %d bytes of stack in a record with room for %d", n, len(rest))
	}
	// Reused, with its slices' room, if a consumer released one.
	sm := samplePool.Get().(*Sample)
	sm.Weight, sm.RegionAddr, sm.RegionLen = e.Weight, e.RegionAddr, e.RegionLen
	sm.Regs = UserRegs{IP: e.Ip, SP: e.Sp, BP: e.Bp}
	// Room far beyond this stack (a Python sample's, reused for a C one's)
	// is let go: a sample holds about what it carries.
	if cap(sm.Stack) > 2*int(e.StackLen)+1024 {
		sm.Stack = nil
	}
	sm.Stack = append(sm.Stack[:0], rest[:e.StackLen]...)
	sm.FramePointers = sm.FramePointers[:0]
	for i := 0; i < len(fp); i += 8 {
		sm.FramePointers = append(sm.FramePointers, binary.LittleEndian.Uint64(fp[i:]))
	}
	sm.Python = PyStack{Frames: sm.Python.Frames[:0]}
	if py != nil && py.Status != uint32(PyNone) {
		sm.Python.Status = PyStatus(py.Status)
		for i := range min(int(py.Len), len(py.Frames)) {
			sm.Python.Frames = append(sm.Python.Frames, PyFrame{Code: py.Frames[i].Code, Instr: py.Frames[i].Instr,
				Owner: py.Flags[i] & 0x7f, Entry: py.Flags[i]&0x80 != 0})
		}
	}
	ev.Sample = sm
	return nil
}

// samplePool recycles released Samples and their copies: at a flood of
// samples the stack copies were most of the reader's garbage, and each
// collection of it cost the reader more than the samples did.
var samplePool = sync.Pool{New: func() any { return new(Sample) }}

// Release lets a later sample reuse s and the room of its slices. A
// consumer that is done with a sample may call it once; s and everything
// it holds must not be used after. A sample not released is collected.
func (s *Sample) Release() {
	if s == nil {
		return
	}
	*s = Sample{Stack: s.Stack[:0], FramePointers: s.FramePointers[:0], Python: PyStack{Frames: s.Python.Frames[:0]}}
	samplePool.Put(s)
}

// decodeOOM decodes a sample of the OOM ring into ev.
func decodeOOM(raw []byte, c clock, ev *Event) error {
	o, err := view[oomOomEvent](raw)
	if err != nil {
		return err
	}
	src := "tp_btf"
	if oomOomSource(o.Source) == oomOomSourceOOM_SRC_TRACEPOINT {
		src = "tracepoint"
	}
	k := &OOMKill{
		Victim:        Task{PID: o.VictimPid, TID: o.VictimTid, Comm: cstr(o.VictimComm[:]), Start: o.VictimStartNs},
		Trigger:       Task{PID: o.TriggerPid, TID: o.TriggerTid, Comm: cstr(o.TriggerComm[:])},
		UID:           o.Uid,
		OOMScoreAdj:   o.OomScoreAdj,
		TotalVMBytes:  o.TotalVmPages * pageSize,
		AnonRSSBytes:  o.AnonRssPages * pageSize,
		FileRSSBytes:  o.FileRssPages * pageSize,
		ShmemRSSBytes: o.ShmemRssPages * pageSize,
		PgTablesBytes: o.PgtablesBytes,
		MemcgID:       o.MemcgId,
		MemcgPath:     cstr(o.MemcgPath[:]),
		Source:        src,
	}
	*ev = Event{
		Type:  EventOOMKill,
		Time:  c.wall(o.TsNs),
		PID:   k.Victim.PID,
		TID:   k.Victim.TID,
		Start: k.Victim.Start,
		Comm:  k.Victim.Comm,
		OOM:   k,
	}
	return nil
}
