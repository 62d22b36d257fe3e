package native

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"
)

const ehVaddr = 0x1000

type fdeSpec struct {
	begin, length uint32
	insns         []byte
}

// ehFrame assembles an .eh_frame at ehVaddr: one "zR" CIE (pcrel sdata4
// pointers, code align 1, data align -8, RA r16) and the FDEs.
func ehFrame(cieInsns []byte, fdes ...fdeSpec) []byte {
	var b []byte
	u32 := func(v uint32) { b = binary.LittleEndian.AppendUint32(b, v) }
	body := append([]byte{1, 'z', 'R', 0, 1, 0x78, 16, 1, 0x1b}, cieInsns...)
	for (len(body)+4)%8 != 0 {
		body = append(body, 0)
	}
	u32(uint32(len(body) + 4))
	u32(0)
	b = append(b, body...)
	for _, f := range fdes {
		start := len(b)
		ins := f.insns
		for (4+4+4+1+len(ins))%8 != 0 {
			ins = append(ins, 0)
		}
		u32(uint32(4 + 4 + 4 + 1 + len(ins)))
		u32(uint32(len(b))) // CIE pointer: back to offset 0
		pcField := uint32(ehVaddr + len(b))
		u32(f.begin - pcField)
		u32(f.length)
		b = append(b, 0)
		b = append(b, ins...)
		_ = start
	}
	return append(b, 0, 0, 0, 0)
}

var cieInit = []byte{0x0c, 7, 8, 0x90, 1} // def_cfa rsp+8; RA at cfa-8

// A classic prologue: push rbp; mov rbp,rsp; ... a remember/restore pair.
var prologue = []byte{
	0x41, 0x0e, 16, 0x86, 2, // +1: cfa rsp+16, rbp at cfa-16
	0x43, 0x0d, 6, // +3: cfa rbp+16
	0x50, 0x0a, 0x0c, 7, 8, // +16: remember; cfa rsp+8
	0x42, 0x0b, // +2: restore
}

func TestCFIRows(t *testing.T) {
	data := ehFrame(cieInit, fdeSpec{0x2000, 0x40, prologue}, fdeSpec{0x3000, 0x10, nil})
	for _, s := range []*cfiSection{{data: data, vaddr: ehVaddr, eh: true}, hdrIndexed(t, data)} {
		if s.index == nil {
			s.buildIndex(100)
		}
		cases := []struct {
			pc       uint64
			reg      uint64
			off      int64
			rbpSaved bool
		}{
			{0x2000, regRSP, 8, false},
			{0x2001, regRSP, 16, true},
			{0x2003, regRSP, 16, true},
			{0x2004, regRBP, 16, true},
			{0x2014, regRSP, 8, true},
			{0x2016, regRBP, 16, true},
			{0x203f, regRBP, 16, true},
			{0x3005, regRSP, 8, false},
		}
		for _, c := range cases {
			f := s.find(c.pc)
			if f == nil {
				t.Fatalf("%#x: no FDE", c.pc)
			}
			row, err := f.rowFor(c.pc)
			if err != nil {
				t.Fatalf("%#x: %v", c.pc, err)
			}
			if row.cfa.kind != cfaRegOff || row.cfa.reg != c.reg || row.cfa.off != c.off {
				t.Errorf("%#x: cfa %+v, want r%d+%d", c.pc, row.cfa, c.reg, c.off)
			}
			if got := row.rbp.kind == ruleOffset && row.rbp.off == -16; got != c.rbpSaved {
				t.Errorf("%#x: rbp rule %+v", c.pc, row.rbp)
			}
			if ra := row.ra; ra.kind != ruleOffset || ra.off != -8 {
				t.Errorf("%#x: RA rule %+v", c.pc, ra)
			}
		}
		for _, pc := range []uint64{0x1fff, 0x2040, 0x2fff, 0x3010} {
			if s.find(pc) != nil {
				t.Errorf("%#x: found an FDE outside every range", pc)
			}
		}
	}
}

// hdrIndexed builds the .eh_frame_hdr table for data (placed right after
// it) and indexes through it.
func hdrIndexed(t *testing.T, data []byte) *cfiSection {
	s := &cfiSection{data: data, vaddr: ehVaddr, eh: true}
	s.buildIndex(100)
	hdrVaddr := uint64(ehVaddr + len(data))
	hdr := []byte{1, 0x1b, 0x03, 0x3b}
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(ehVaddr-(hdrVaddr+4)))
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(len(s.index)))
	for _, e := range s.index {
		hdr = binary.LittleEndian.AppendUint32(hdr, uint32(e.pc-hdrVaddr))
		hdr = binary.LittleEndian.AppendUint32(hdr, uint32(ehVaddr+uint64(e.off)-hdrVaddr))
	}
	h := &cfiSection{data: data, vaddr: ehVaddr, eh: true}
	if !h.indexFromHdr(hdr, hdrVaddr, 100) || len(h.index) != len(s.index) {
		t.Fatalf("hdr index %v, scan index %v", h.index, s.index)
	}
	return h
}

func TestPLTExpression(t *testing.T) {
	// GCC/binutils' .plt CFA: rsp + 8 + ((rip & 15) >= 11 ? 8 : 0).
	expr := []byte{0x77, 8, 0x80, 0, 0x3f, 0x1a, 0x3b, 0x2a, 0x33, 0x24, 0x22}
	insns := append([]byte{0x0f, byte(len(expr))}, expr...)
	data := ehFrame(cieInit, fdeSpec{0x4000, 0x100, insns})
	s := &cfiSection{data: data, vaddr: ehVaddr, eh: true}
	s.buildIndex(10)
	stack := make([]byte, 64)
	binary.LittleEndian.PutUint64(stack[0:], 0xaaaa) // RA at CFA-8 = rsp
	binary.LittleEndian.PutUint64(stack[8:], 0xbbbb) // past the pushed index
	for _, c := range []struct{ pc, ra uint64 }{{0x4010, 0xaaaa}, {0x401a, 0xaaaa}, {0x401b, 0xbbbb}, {0x401f, 0xbbbb}} {
		row, err := s.find(c.pc).rowFor(c.pc)
		if err != nil || row.cfa.kind != cfaPLT {
			t.Fatalf("%#x: %+v %v", c.pc, row.cfa, err)
		}
		next, reason, _ := applyRow(row, stackMem{base: 0x7000, data: stack}, c.pc, 0x7000, 0, false)
		if reason != "" || next.pc != c.ra {
			t.Errorf("%#x: ra %#x (%s), want %#x", c.pc, next.pc, reason, c.ra)
		}
	}
	// Any other expression stops the unwinder with a reason.
	other := parseCFAExpr([]byte{0x77, 8, 0x06})
	if _, reason, _ := applyRow(unwindRow{cfa: other}, stackMem{}, 1, 0, 0, false); !strings.Contains(reason, "CFA expression") {
		t.Errorf("unknown expression: %q", reason)
	}
}

func TestCFIBounds(t *testing.T) {
	cases := map[string][]byte{
		"endless nops":       make([]byte, maxCFISteps+10),
		"remember overflow":  []byte(strings.Repeat("\x0a", maxRememberDepth+1)),
		"restore unmatched":  {0x0b},
		"unknown opcode":     {0x3f},
		"truncated operand":  {0x04, 1}, // advance_loc4 cut after one byte
		"endless uleb":       append([]byte{0x0e}, []byte(strings.Repeat("\xff", 20))...),
		"expression overrun": {0x0f, 50, 1},
	}
	for name, insns := range cases {
		data := ehFrame(cieInit, fdeSpec{0x5000, 0x10, insns})
		s := &cfiSection{data: data, vaddr: ehVaddr, eh: true}
		s.buildIndex(10)
		f := s.find(0x5008)
		if f == nil {
			t.Fatalf("%s: no FDE", name)
		}
		if _, err := f.rowFor(0x5008); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestApplyRowStops(t *testing.T) {
	row := unwindRow{cfa: cfaRule{kind: cfaRegOff, reg: regRSP, off: 16}}
	row.ra = regRule{kind: ruleOffset, off: -8}
	mem := stackMem{base: 0x7000, data: make([]byte, 8)}
	if _, reason, _ := applyRow(row, mem, 1, 0x7000, 0, true); reason != "stack copy ends" {
		t.Errorf("read past the copy: %q", reason)
	}
	row.cfa.off = 0
	if _, reason, _ := applyRow(row, mem, 1, 0x7000, 0, true); !strings.Contains(reason, "not above SP") {
		t.Errorf("CFA at SP: %q", reason)
	}
	row.cfa = cfaRule{kind: cfaRegOff, reg: regRBP, off: 16}
	if _, reason, _ := applyRow(row, mem, 1, 0x7000, 0, false); !strings.Contains(reason, "rbp unknown") {
		t.Errorf("CFA from an unknown rbp: %q", reason)
	}
	row.ra = regRule{kind: ruleUndef}
	if _, reason, done := applyRow(row, mem, 1, 0x7000, 0x7000, true); !done || reason != "" {
		t.Errorf("undefined RA: done=%v %q", done, reason)
	}
}

func TestReadPtrEncodings(t *testing.T) {
	b := []byte{0xf0, 0xff, 0xff, 0xff, 0x80, 0x01}
	r := reader{b: b}
	if v := r.readPtr(peSdata4|pePcrel, 0x1000, 0); v != 0x1000-16 {
		t.Errorf("pcrel sdata4: %#x", v)
	}
	if v := r.readPtr(peUleb, 0, 0); v != 128 {
		t.Errorf("uleb: %d", v)
	}
	r = reader{b: []byte{0x10, 0, 0, 0}}
	if v := r.readPtr(peUdata4|peDatarel, 0, 0x9000); v != 0x9010 {
		t.Errorf("datarel: %#x", v)
	}
	r = reader{b: []byte{1, 2}}
	if r.readPtr(peUdata8, 0, 0); r.err == nil {
		t.Errorf("short udata8 read without error")
	}
}

// frameChain reads the rbp chain the kernel's walk would, from the copy
// alone: it stops where a frame leaves the copy or does not lie above the
// one before, and at the limit.
func TestFrameChain(t *testing.T) {
	const base = 0x7ffc_0000_0000
	stack := make([]byte, 0x100)
	put := func(addr, v uint64) { binary.LittleEndian.PutUint64(stack[addr-base:], v) }
	put(base+0x10, base+0x40) // frame 1: next rbp, return address
	put(base+0x18, 0x401000)
	put(base+0x40, base+0x80)
	put(base+0x48, 0x402000)
	put(base+0x80, base+0x80) // loops on itself: the last frame read
	put(base+0x88, 0x403000)
	mem := stackMem{base: base, data: stack}
	for _, c := range []struct {
		bp    uint64
		limit int
		want  []uint64
	}{
		{base + 0x10, 64, []uint64{0x401000, 0x402000, 0x403000}},
		{base + 0x10, 2, []uint64{0x401000, 0x402000}},
		{base + 0x40, 64, []uint64{0x402000, 0x403000}},
		{base + 0xf8, 64, nil}, // its return address would lie past the copy
		{base - 0x10, 64, nil}, // below SP
		{0, 64, nil},
	} {
		if got := mem.frameChain(c.bp, c.limit); !slices.Equal(got, c.want) {
			t.Errorf("frameChain(%#x, %d) = %#x, want %#x", c.bp, c.limit, got, c.want)
		}
	}
	put(base+0x80, base+0xf8) // next frame's return address past the end
	if got := mem.frameChain(base+0x10, 64); !slices.Equal(got, []uint64{0x401000, 0x402000, 0x403000}) {
		t.Errorf("chain leaving the copy: %#x", got)
	}
}
