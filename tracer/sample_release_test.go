package tracer

import (
	"encoding/binary"
	"testing"
	"unsafe"
)

// stackRecord is a stacks-ring record: frames, the stack, and Python
// frames at its end when py is not nil.
func stackRecord(frames []uint64, stack []byte, py *allocPyStack) []byte {
	head := &allocStackEvent{Sp: 0x7ffc_0000_1234, StackLen: uint32(len(stack)), NrFrames: uint32(len(frames))}
	head.Alloc.Hdr = allocEventHdr{Type: uint32(EventBrk), Pid: 42, Comm: comm("python3")}
	if py != nil {
		head.HasPy = 1
	}
	raw := bytesOf(head)[:unsafe.Offsetof(head.Data)]
	for _, f := range frames {
		raw = binary.LittleEndian.AppendUint64(raw, f)
	}
	raw = append(raw, stack...)
	raw = append(raw, make([]byte, (8-len(raw)%8)%8)...)
	if py != nil {
		raw = append(raw, bytesOf(py)...)
	}
	return raw
}

// A released sample keeps its room and nothing of what it held: a later
// sample without Python frames or frame pointers shows none of its
// predecessor's.
func TestSampleReleaseReuse(t *testing.T) {
	py := &allocPyStack{Len: 1, Status: uint32(PyDone)}
	py.Frames[0].Code, py.Frames[0].Instr = 0xc0de, 1
	var ev Event
	if err := decodeStack(stackRecord([]uint64{0x401000, 0x402000}, make([]byte, 4096), py), clock{}, &ev); err != nil {
		t.Fatal(err)
	}
	first := ev.Sample
	first.Release()
	if len(first.Stack) != 0 || cap(first.Stack) < 4096 || len(first.FramePointers) != 0 || cap(first.FramePointers) < 2 ||
		first.Python.Status != PyNone || len(first.Python.Frames) != 0 || first.Weight != 0 {
		t.Fatalf("released as %+v (stack room %d); want it empty, with its room", first, cap(first.Stack))
	}
	if err := decodeStack(stackRecord(nil, []byte("01234567"), nil), clock{}, &ev); err != nil {
		t.Fatal(err)
	}
	if s := ev.Sample; s.Python.Status != PyNone || len(s.Python.Frames) != 0 || len(s.FramePointers) != 0 || string(s.Stack) != "01234567" {
		t.Fatalf("decoded after a release as %+v", s)
	}
}

// Decoding samples that consumers release allocates nothing once warm: no
// stack copy, no Sample, not even the comm of a task that samples again.
func TestSampleReleaseNoGarbage(t *testing.T) {
	a := stackRecord([]uint64{0x401000}, make([]byte, 1500), nil)
	b := stackRecord(nil, make([]byte, 700), nil)
	var ev Event
	allocs := testing.AllocsPerRun(1000, func() {
		for _, raw := range [][]byte{a, b} {
			if err := decodeStack(raw, clock{}, &ev); err != nil {
				t.Fatal(err)
			}
			ev.Sample.Release()
		}
	})
	if allocs > 0.1 && !raceOn {
		t.Errorf("%.1f allocations a pair of released samples, want none", allocs)
	}
	if err := decodeStack(b, clock{}, &ev); err != nil || len(ev.Sample.Stack) != 700 || ev.Comm != "python3" {
		t.Errorf("decoded as %+v", ev)
	}
}

// A small stack decoded into a released sample that held a big one does not
// keep the big one's room: the aggregator's queue bounds samples by it.
func TestSampleReleaseRoomFollowsStack(t *testing.T) {
	var ev Event
	if err := decodeStack(stackRecord(nil, make([]byte, 32<<10), nil), clock{}, &ev); err != nil {
		t.Fatal(err)
	}
	ev.Sample.Release()
	if err := decodeStack(stackRecord(nil, make([]byte, 100), nil), clock{}, &ev); err != nil {
		t.Fatal(err)
	}
	if c := cap(ev.Sample.Stack); c > 2*100+1024 {
		t.Errorf("a 100-byte stack holds %d bytes of room", c)
	}
}
