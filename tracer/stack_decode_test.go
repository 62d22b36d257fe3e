package tracer

import (
	"bytes"
	"slices"
	"testing"
)

// A stack record: the call, its sample, and the stack from SP (the kernel
// copies from SP's 1 KiB boundary below it).
func TestDecodeStack(t *testing.T) {
	raw := new(allocStackEvent)
	raw.Alloc = allocAllocEvent{
		Hdr:  allocEventHdr{TsNs: 1_000, StartNs: 77, Type: uint32(EventMmap), Pid: 42, Tid: 43, Comm: comm("python3")},
		Addr: 0x7f00_0000_0000, Len: 64 << 10, Delta: 64 << 10, Prot: 3,
	}
	raw.Weight, raw.RegionAddr, raw.RegionLen = 600<<10, 0x7f00_0000_0000, 64<<10
	raw.Ip, raw.Sp, raw.Bp = 0x401000, 0x7ffc_0000_1234, 0x7ffc_0000_2000
	raw.NrFrames = 3
	copy(raw.Frames[:], []uint64{0x401000, 0x402000, 0x403000, 0xdead})
	for i := range raw.Stack {
		raw.Stack[i] = byte(i * 7)
	}
	skip := int(raw.Sp % 1024) // 0x234
	for _, tc := range []struct {
		name     string
		stackLen uint32
		want     []byte
	}{
		{"two chunks", 2048, raw.Stack[skip:2048]},
		{"nothing copied", 0, nil},
		{"beyond the buffer", 1 << 20, raw.Stack[skip:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw.StackLen = tc.stackLen
			var ev Event
			if err := decodeStack(bytesOf(raw), clock{}, &ev); err != nil {
				t.Fatal(err)
			}
			s := ev.Sample
			if ev.Type != EventMmap || ev.PID != 42 || ev.Alloc.Len != 64<<10 || s == nil {
				t.Fatalf("decoded as %+v", ev)
			}
			if s.Weight != 600<<10 || s.RegionAddr != raw.RegionAddr || s.RegionLen != 64<<10 || s.Regs != (UserRegs{IP: 0x401000, SP: raw.Sp, BP: 0x7ffc_0000_2000}) {
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
	raw.Alloc.Hdr.Type = uint32(EventExit)
	var ev Event
	if err := decodeStack(bytesOf(raw), clock{}, &ev); err == nil {
		t.Error("a stack record of an exit event decoded")
	}
	if err := decodeStack(bytesOf(&raw.Alloc), clock{}, &ev); err == nil {
		t.Error("a short stack record decoded")
	}
}
