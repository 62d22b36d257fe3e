package tracer

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
	"unsafe"
)

// A stack record: the call, its sample, and stack_len bytes of stack from
// SP after the fixed part (the record has room to the next 1 KiB).
func TestDecodeStack(t *testing.T) {
	head := new(allocStackEvent)
	head.Alloc = allocAllocEvent{
		Hdr:  allocEventHdr{TsNs: 1_000, StartNs: 77, Type: uint32(EventMmap), Pid: 42, Tid: 43, Comm: comm("python3")},
		Addr: 0x7f00_0000_0000, Len: 64 << 10, Delta: 64 << 10, Prot: 3,
	}
	head.Weight, head.RegionAddr, head.RegionLen = 600<<10, 0x7f00_0000_0000, 64<<10
	head.Ip, head.Sp, head.Bp = 0x401000, 0x7ffc_0000_1234, 0x7ffc_0000_2000
	head.NrFrames = 3
	frames := binary.LittleEndian.AppendUint64(nil, 0x401000)
	frames = binary.LittleEndian.AppendUint64(frames, 0x402000)
	frames = binary.LittleEndian.AppendUint64(frames, 0x403000)
	stack := make([]byte, 33<<10)
	for i := range stack {
		stack[i] = byte(i * 7)
	}
	record := func(stackLen uint32, room int) []byte {
		head.StackLen = stackLen
		r := append(bytesOf(head)[:unsafe.Offsetof(head.Data)], frames...)
		return append(r, stack[:room]...)
	}
	for _, tc := range []struct {
		name string
		raw  []byte
		want []byte
	}{
		{"two chunks", record(2048, 2048), stack[:2048]},
		{"room to spare", record(1500, 2048), stack[:1500]},
		{"nothing copied", record(0, 1024), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ev Event
			if err := decodeStack(tc.raw, clock{}, &ev); err != nil {
				t.Fatal(err)
			}
			s := ev.Sample
			if ev.Type != EventMmap || ev.PID != 42 || ev.Alloc.Len != 64<<10 || s == nil {
				t.Fatalf("decoded as %+v", ev)
			}
			if s.Weight != 600<<10 || s.RegionAddr != head.RegionAddr || s.RegionLen != 64<<10 || s.Regs != (UserRegs{IP: 0x401000, SP: head.Sp, BP: 0x7ffc_0000_2000}) {
				t.Errorf("sample decoded as %+v", s)
			}
			if !slices.Equal(s.FramePointers, []uint64{0x401000, 0x402000, 0x403000}) {
				t.Errorf("frames %#x", s.FramePointers)
			}
			if !bytes.Equal(s.Stack, tc.want) {
				t.Errorf("stack of %d bytes, want %d from SP", len(s.Stack), len(tc.want))
			}
		})
	}
	var ev Event
	for _, tc := range []struct {
		name string
		raw  []byte
	}{
		{"stack_len beyond the record", record(4096, 2048)},
		{"stack_len beyond the copy's limit", record(33<<10, 33<<10)},
		{"short of the fixed part", record(0, 0)[:unsafe.Offsetof(head.Data)-1]},
		{"short of its frames", record(0, 0)[:unsafe.Offsetof(head.Data)+16]},
		{"only the call", bytesOf(&head.Alloc)},
	} {
		if err := decodeStack(tc.raw, clock{}, &ev); err == nil {
			t.Errorf("%s: decoded", tc.name)
		}
	}
	head.Alloc.Hdr.Type = uint32(EventExit)
	if err := decodeStack(record(0, 0), clock{}, &ev); err == nil {
		t.Error("a stack record of an exit event decoded")
	}
}

// Whatever the ring holds, decoding returns an error or a stack inside the
// record, never a panic.
func FuzzDecodeStack(f *testing.F) {
	head := &allocStackEvent{Sp: 0x7ffc_0000_1234, StackLen: 2048, NrFrames: 99}
	head.Alloc.Hdr.Type = uint32(EventBrk)
	fixed := int(unsafe.Offsetof(head.Data))
	f.Add(append(bytesOf(head)[:fixed], make([]byte, 2048)...))
	f.Add(bytesOf(head)[:fixed])
	head.HasPy, head.NrFrames = 1, 2
	f.Add(append(bytesOf(head)[:fixed], make([]byte, 16+2048+int(unsafe.Sizeof(allocPyStack{})))...))
	f.Fuzz(func(t *testing.T, raw []byte) {
		raw = append(make([]byte, 0, len(raw)), raw...) // the ring's records are 8-byte aligned
		var ev Event
		if decodeStack(raw, clock{}, &ev) != nil {
			return
		}
		room := len(raw) - fixed - 8*len(ev.Sample.FramePointers)
		if len(ev.Sample.Python.Frames) > 0 || ev.Sample.Python.Status != PyNone {
			room -= int(unsafe.Sizeof(allocPyStack{}))
		}
		if len(ev.Sample.Stack) > room || len(ev.Sample.FramePointers) > 64 {
			t.Fatalf("%d bytes of stack, %d frames from a record with %d bytes of room", len(ev.Sample.Stack), len(ev.Sample.FramePointers), room)
		}
	})
}

// With has_py, the Python frames end the record, after the stack's room.
func TestDecodeStackPython(t *testing.T) {
	head := &allocStackEvent{Sp: 0x7ffc_0000_1234, StackLen: 16, NrFrames: 1, HasPy: 1}
	head.Alloc.Hdr.Type = uint32(EventBrk)
	py := &allocPyStack{Len: 2, Status: uint32(PyDone)}
	py.Frames[0].Code, py.Frames[0].Instr, py.Flags[0] = 0xc0de, 0x1, 0x81
	py.Frames[1].Code, py.Frames[1].Instr, py.Flags[1] = 0xc0df, 0x2, 0x01
	raw := append(bytesOf(head)[:unsafe.Offsetof(head.Data)], binary.LittleEndian.AppendUint64(nil, 0x401000)...)
	raw = append(raw, []byte("0123456789abcdef01234567")...)
	raw = append(raw, bytesOf(py)...)
	var ev Event
	if err := decodeStack(raw, clock{}, &ev); err != nil {
		t.Fatal(err)
	}
	s := ev.Sample
	want := []PyFrame{{Code: 0xc0de, Instr: 1, Owner: 1, Entry: true}, {Code: 0xc0df, Instr: 2, Owner: 1}}
	if !slices.Equal(s.FramePointers, []uint64{0x401000}) || string(s.Stack) != "0123456789abcdef" ||
		s.Python.Status != PyDone || !slices.Equal(s.Python.Frames, want) {
		t.Fatalf("decoded as %+v", s)
	}
	head.StackLen = 32
	raw = append(bytesOf(head)[:unsafe.Offsetof(head.Data)], raw[unsafe.Offsetof(head.Data):]...)
	if err := decodeStack(raw, clock{}, &ev); err == nil {
		t.Error("a stack_len reaching into the Python frames decoded")
	}
}
