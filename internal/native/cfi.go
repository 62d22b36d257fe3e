package native

import (
	"encoding/binary"
	"errors"
	"sort"
)

// CFI (call frame information) from .eh_frame and .debug_frame: the DWARF
// CIE/FDE format with the GNU pointer encodings, read only as far as an x86_64
// unwinder needs (CFA, return address, rbp).

var (
	errShort = errors.New("cfi: truncated")
	errBad   = errors.New("cfi: malformed")
)

// DWARF register numbers on x86_64.
const (
	regRBP = 6
	regRSP = 7
	regRA  = 16
)

// reader is a bounds-checked cursor; every read past the end sets err.
type reader struct {
	b   []byte
	pos int
	err error
}

func (r *reader) fail(e error) {
	if r.err == nil {
		r.err = e
	}
	r.pos = len(r.b)
}

// take returns the next n bytes, or nil past the end.
func (r *reader) take(n uint64) []byte {
	if n > uint64(len(r.b)-r.pos) {
		r.fail(errShort)
		return nil
	}
	b := r.b[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return b
}

func (r *reader) u8() uint8 {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if b := r.take(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (r *reader) uleb() uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		b := r.u8()
		if r.err != nil {
			return 0
		}
		if shift < 64 {
			v |= uint64(b&0x7f) << shift
		}
		if b&0x80 == 0 {
			return v
		}
		if shift > 70 { // an endless run of continuation bytes
			r.fail(errBad)
			return 0
		}
	}
}

func (r *reader) sleb() int64 {
	var v int64
	var shift uint
	var b uint8
	for {
		b = r.u8()
		if r.err != nil {
			return 0
		}
		if shift < 64 {
			v |= int64(b&0x7f) << shift
		}
		shift += 7
		if b&0x80 == 0 {
			break
		}
		if shift > 70 {
			r.fail(errBad)
			return 0
		}
	}
	if shift < 64 && b&0x40 != 0 {
		v |= -1 << shift
	}
	return v
}

func (r *reader) cstring() string {
	for i := r.pos; i < len(r.b); i++ {
		if r.b[i] == 0 {
			s := string(r.b[r.pos:i])
			r.pos = i + 1
			return s
		}
	}
	r.fail(errShort)
	return ""
}

func (r *reader) skip(n uint64) { r.take(n) }

// Pointer encodings (DW_EH_PE_*).
const (
	peAbsptr  = 0x00
	peUleb    = 0x01
	peUdata2  = 0x02
	peUdata4  = 0x03
	peUdata8  = 0x04
	peSleb    = 0x09
	peSdata2  = 0x0a
	peSdata4  = 0x0b
	peSdata8  = 0x0c
	pePcrel   = 0x10
	peTextrel = 0x20
	peDatarel = 0x30
	peFuncrel = 0x40
	peAligned = 0x50
	peIndir   = 0x80
	peOmit    = 0xff
)

// readPtr decodes a pointer with encoding enc; base is the vaddr of r.b[0]
// (for pcrel) and datarel the base for datarel (the .eh_frame_hdr vaddr).
func (r *reader) readPtr(enc uint8, base, datarel uint64) uint64 {
	if enc == peOmit {
		return 0
	}
	at := base + uint64(r.pos)
	var v uint64
	switch enc & 0x0f {
	case peAbsptr, peUdata8, peSdata8:
		v = r.u64()
	case peUleb:
		v = r.uleb()
	case peUdata2:
		v = uint64(r.u16())
	case peUdata4:
		v = uint64(r.u32())
	case peSleb:
		v = uint64(r.sleb())
	case peSdata2:
		v = uint64(int64(int16(r.u16())))
	case peSdata4:
		v = uint64(int64(int32(r.u32())))
	default:
		r.fail(errBad)
		return 0
	}
	switch enc & 0x70 {
	case 0:
	case pePcrel:
		v += at
	case peDatarel:
		v += datarel
	default: // textrel, funcrel, aligned: not used on x86_64 Linux
		r.fail(errBad)
		return 0
	}
	return v
}

// cie is a parsed Common Information Entry.
type cie struct {
	codeAlign uint64
	dataAlign int64
	raReg     uint64
	fdeEnc    uint8
	hasAug    bool // "z": FDEs carry an augmentation length
	signal    bool // "S"
	addrSize  int  // .debug_frame v4
	insns     []byte
}

// cfiSection is one .eh_frame or .debug_frame with a sorted FDE index.
type cfiSection struct {
	data  []byte
	vaddr uint64 // section address, the base of pcrel pointers
	eh    bool   // .eh_frame (relative CIE pointers, 0 CIE id)
	index []fdeRef
	cies  map[uint32]*cie
}

type fdeRef struct {
	pc  uint64
	off uint32
}

// maxCIEs bounds the CIEs cached per section (there are a handful in
// practice; a hostile file gets its extra CIEs parsed uncached).
const maxCIEs = 256

// entryAt returns the body of the CFI entry at off: its id field's position,
// the id, and the end of the entry.
func (s *cfiSection) entryAt(off uint64) (idPos int, id uint64, end int, err error) {
	r := reader{b: s.data, pos: int(off)}
	if off >= uint64(len(s.data)) {
		return 0, 0, 0, errShort
	}
	length := uint64(r.u32())
	is64 := false
	if length == 0xffffffff {
		length = r.u64()
		is64 = true
	}
	if r.err != nil {
		return 0, 0, 0, r.err
	}
	if length == 0 {
		return 0, 0, 0, errShort // terminator
	}
	if length > uint64(len(s.data)-r.pos) {
		return 0, 0, 0, errShort
	}
	end = r.pos + int(length)
	idPos = r.pos
	if is64 && !s.eh {
		id = r.u64()
	} else {
		id = uint64(r.u32())
	}
	if r.err != nil || r.pos > end {
		return 0, 0, 0, errBad
	}
	return idPos, id, end, nil
}

func (s *cfiSection) isCIE(id uint64) bool {
	if s.eh {
		return id == 0
	}
	return id == 0xffffffff || id == 0xffffffffffffffff
}

// cieAt parses (or returns the cached) CIE at off.
func (s *cfiSection) cieAt(off uint64) (*cie, error) {
	if c, ok := s.cies[uint32(off)]; ok && off <= 0xffffffff {
		return c, nil
	}
	idPos, id, end, err := s.entryAt(off)
	if err != nil {
		return nil, err
	}
	if !s.isCIE(id) {
		return nil, errBad
	}
	r := reader{b: s.data[:end], pos: idPos}
	if s.eh || id == 0xffffffff {
		r.pos += 4
	} else {
		r.pos += 8
	}
	c := &cie{addrSize: 8}
	ver := r.u8()
	if ver != 1 && ver != 3 && ver != 4 {
		return nil, errBad
	}
	aug := r.cstring()
	if ver == 4 {
		c.addrSize = int(r.u8())
		r.u8() // segment selector size
		if c.addrSize != 8 && c.addrSize != 4 {
			return nil, errBad
		}
	}
	if len(aug) >= 2 && aug[:2] == "eh" {
		r.skip(8)
		aug = aug[2:]
	}
	c.codeAlign = r.uleb()
	c.dataAlign = r.sleb()
	if ver == 1 {
		c.raReg = uint64(r.u8())
	} else {
		c.raReg = r.uleb()
	}
	if s.eh {
		c.fdeEnc = peAbsptr
	} else if c.addrSize == 4 {
		c.fdeEnc = peUdata4
	} else {
		c.fdeEnc = peUdata8
	}
	if len(aug) > 0 && aug[0] == 'z' {
		c.hasAug = true
		n := r.uleb()
		if r.err != nil || n > uint64(len(r.b)-r.pos) {
			return nil, errBad
		}
		augEnd := r.pos + int(n)
		for _, ch := range aug[1:] {
			switch ch {
			case 'L':
				r.u8() // LSDA encoding: only matters to exception handling
			case 'P':
				enc := r.u8()
				r.readPtr(enc&^peIndir, s.vaddr, 0)
			case 'R':
				c.fdeEnc = r.u8()
			case 'S':
				c.signal = true
			}
			// Unknown letters ("B", "G"): the length lets us skip them.
		}
		if r.err != nil {
			return nil, errBad
		}
		r.pos = augEnd
	} else if aug != "" {
		return nil, errBad // an augmentation we cannot skip
	}
	if r.err != nil || c.codeAlign == 0 {
		return nil, errBad
	}
	c.insns = r.b[r.pos:end]
	if s.cies == nil {
		s.cies = make(map[uint32]*cie)
	}
	if len(s.cies) < maxCIEs && off <= 0xffffffff {
		s.cies[uint32(off)] = c
	}
	return c, nil
}

// fde is a parsed Frame Description Entry.
type fde struct {
	cie         *cie
	begin, end  uint64
	insns       []byte
	entryOffset uint64
}

func (s *cfiSection) fdeAt(off uint64) (fde, error) {
	idPos, id, end, err := s.entryAt(off)
	if err != nil {
		return fde{}, err
	}
	if s.isCIE(id) {
		return fde{}, errBad
	}
	var cieOff uint64
	if s.eh {
		if id > uint64(idPos) {
			return fde{}, errBad
		}
		cieOff = uint64(idPos) - id
	} else {
		cieOff = id
	}
	c, err := s.cieAt(cieOff)
	if err != nil {
		return fde{}, err
	}
	r := reader{b: s.data[:end], pos: idPos + 4}
	if !s.eh && id > 0xffffffff {
		r.pos = idPos + 8
	}
	f := fde{cie: c, entryOffset: off}
	f.begin = r.readPtr(c.fdeEnc, s.vaddr, 0)
	length := r.readPtr(c.fdeEnc&0x0f, 0, 0)
	f.end = f.begin + length
	if c.hasAug {
		r.skip(r.uleb())
	}
	if r.err != nil || f.end < f.begin {
		return fde{}, errBad
	}
	f.insns = r.b[r.pos:end]
	return f, nil
}

// buildIndex scans the section for FDEs (used when there is no usable
// .eh_frame_hdr table), keeping at most max entries.
func (s *cfiSection) buildIndex(max int) {
	var idx []fdeRef
	for off := uint64(0); off < uint64(len(s.data)) && len(idx) < max; {
		idPos, id, end, err := s.entryAt(off)
		if err != nil {
			break
		}
		_ = idPos
		if !s.isCIE(id) {
			if f, err := s.fdeAt(off); err == nil && f.end > f.begin {
				idx = append(idx, fdeRef{pc: f.begin, off: uint32(off)})
			}
		}
		if uint64(end) <= off || off > 0xffffffff {
			break
		}
		off = uint64(end)
	}
	sort.Slice(idx, func(i, j int) bool { return idx[i].pc < idx[j].pc })
	s.index = idx
}

// indexFromHdr reads the binary search table of .eh_frame_hdr; false when the
// header is absent or unusable.
func (s *cfiSection) indexFromHdr(hdr []byte, hdrVaddr uint64, max int) bool {
	r := reader{b: hdr}
	if r.u8() != 1 {
		return false
	}
	ptrEnc, cntEnc, tabEnc := r.u8(), r.u8(), r.u8()
	r.readPtr(ptrEnc, hdrVaddr, hdrVaddr)
	if cntEnc == peOmit || tabEnc == peOmit || r.err != nil {
		return false
	}
	n := r.readPtr(cntEnc, hdrVaddr, hdrVaddr)
	if r.err != nil {
		return false
	}
	if n > uint64(max) {
		n = uint64(max)
	}
	// Each entry is at least 2 bytes: a count beyond the section is a lie.
	if n > uint64(len(hdr)-r.pos)/2 {
		return false
	}
	idx := make([]fdeRef, 0, n)
	for i := uint64(0); i < n; i++ {
		pc := r.readPtr(tabEnc, hdrVaddr, hdrVaddr)
		addr := r.readPtr(tabEnc, hdrVaddr, hdrVaddr)
		if r.err != nil {
			return false
		}
		off := addr - s.vaddr
		if addr < s.vaddr || off >= uint64(len(s.data)) {
			continue
		}
		idx = append(idx, fdeRef{pc: pc, off: uint32(off)})
	}
	if !sort.SliceIsSorted(idx, func(i, j int) bool { return idx[i].pc < idx[j].pc }) {
		sort.Slice(idx, func(i, j int) bool { return idx[i].pc < idx[j].pc })
	}
	s.index = idx
	return true
}

// find returns the FDE covering pc.
func (s *cfiSection) find(pc uint64) *fde {
	if f, ok := s.lookup(pc); ok {
		return &f
	}
	return nil
}

// lookup is find without the allocation.
func (s *cfiSection) lookup(pc uint64) (fde, bool) {
	i := sort.Search(len(s.index), func(i int) bool { return s.index[i].pc > pc }) - 1
	// Entries sharing a start (or a zero-length one) may precede the right
	// one: look back a little.
	for k := 0; i >= 0 && k < 4; i, k = i-1, k+1 {
		f, err := s.fdeAt(uint64(s.index[i].off))
		if err != nil {
			continue
		}
		if f.begin <= pc && pc < f.end {
			return f, true
		}
		if f.begin < s.index[i].pc || f.begin > pc {
			continue
		}
		break
	}
	return fde{}, false
}

// Register rules.
const (
	ruleSame     = iota // unchanged (the default for callee-saved rbp)
	ruleUndef           // no value: for the RA, the outermost frame
	ruleOffset          // saved at CFA+off
	ruleValOff          // value is CFA+off
	ruleRegister        // value is in register reg
	ruleExpr            // a DWARF expression we do not evaluate
)

type regRule struct {
	kind uint8
	reg  uint16
	off  int64
}

// CFA rules.
const (
	cfaRegOff = iota // reg + off
	cfaPLT           // the PLT's expression: rsp + off + ((rip&mask) >= cmp) << shift
	cfaExpr          // any other expression: cannot unwind
)

type cfaRule struct {
	kind             uint8
	reg              uint64
	off              int64
	mask, cmp, shift uint64
}

// unwindRow keeps only what the x86_64 unwinder uses: the CFA, rbp and the
// return address (other registers' rules are parsed and dropped).
type unwindRow struct {
	cfa     cfaRule
	rbp, ra regRule
}

// reg returns the rule slot of a DWARF register, nil for untracked ones.
func (row *unwindRow) reg(n uint64) *regRule {
	switch n {
	case regRBP:
		return &row.rbp
	case regRA:
		return &row.ra
	}
	return nil
}

// Limits of one CFA program run.
const (
	maxCFISteps      = 4096
	maxRememberDepth = 16
)

var errCFISteps = errors.New("cfi: program too long")

// rowFor runs the CIE's initial instructions and the FDE's up to pc and
// returns the row that applies at pc.
func (f *fde) rowFor(pc uint64) (unwindRow, error) {
	var row unwindRow
	row.cfa.kind = cfaRegOff
	steps := 0
	init, err := execCFA(f.cie, f.cie.insns, &row, nil, f.begin, ^uint64(0), &steps)
	if err != nil {
		return row, err
	}
	_, err = execCFA(f.cie, f.insns, &row, &init, f.begin, pc, &steps)
	return row, err
}

// execCFA interprets instructions from location loc until it passes target.
// init is the row after the CIE's instructions (for DW_CFA_restore); nil
// while running them. It returns the row at the end.
func execCFA(c *cie, insns []byte, row *unwindRow, init *unwindRow, loc, target uint64, steps *int) (unwindRow, error) {
	r := reader{b: insns}
	var stack []unwindRow // remember_state is rare: no fixed array to clear
	setReg := func(reg uint64, rr regRule) {
		if p := row.reg(reg); p != nil {
			*p = rr
		}
	}
	restore := func(reg uint64) {
		if p := row.reg(reg); p != nil {
			*p = regRule{}
			if init != nil {
				*p = *init.reg(reg)
			}
		}
	}
	advance := func(delta uint64) bool {
		loc += delta * c.codeAlign
		return loc > target
	}
	for r.pos < len(r.b) {
		*steps++
		if *steps > maxCFISteps {
			return *row, errCFISteps
		}
		op := r.u8()
		switch op & 0xc0 {
		case 0x40: // advance_loc
			if advance(uint64(op & 0x3f)) {
				return *row, nil
			}
			continue
		case 0x80: // offset
			setReg(uint64(op&0x3f), regRule{kind: ruleOffset, off: int64(r.uleb()) * c.dataAlign})
			continue
		case 0xc0: // restore
			restore(uint64(op & 0x3f))
			continue
		}
		switch op {
		case 0x00: // nop
		case 0x01: // set_loc
			loc = r.readPtr(c.fdeEnc, 0, 0)
			if loc > target {
				return *row, r.err
			}
		case 0x02:
			if advance(uint64(r.u8())) {
				return *row, r.err
			}
		case 0x03:
			if advance(uint64(r.u16())) {
				return *row, r.err
			}
		case 0x04:
			if advance(uint64(r.u32())) {
				return *row, r.err
			}
		case 0x05: // offset_extended
			reg := r.uleb()
			setReg(reg, regRule{kind: ruleOffset, off: int64(r.uleb()) * c.dataAlign})
		case 0x06: // restore_extended
			restore(r.uleb())
		case 0x07: // undefined
			setReg(r.uleb(), regRule{kind: ruleUndef})
		case 0x08: // same_value
			setReg(r.uleb(), regRule{kind: ruleSame})
		case 0x09: // register
			reg := r.uleb()
			setReg(reg, regRule{kind: ruleRegister, reg: uint16(min(r.uleb(), 0xffff))})
		case 0x0a: // remember_state
			if len(stack) == maxRememberDepth {
				return *row, errBad
			}
			stack = append(stack, *row)
		case 0x0b: // restore_state
			if len(stack) == 0 {
				return *row, errBad
			}
			// The saved state includes the CFA rule, as in libgcc.
			*row = stack[len(stack)-1]
			stack = stack[:len(stack)-1]
		case 0x0c: // def_cfa
			reg := r.uleb()
			row.cfa = cfaRule{kind: cfaRegOff, reg: reg, off: int64(r.uleb())}
		case 0x0d: // def_cfa_register
			row.cfa.reg = r.uleb()
			if row.cfa.kind != cfaRegOff {
				row.cfa = cfaRule{kind: cfaRegOff, reg: row.cfa.reg}
			}
		case 0x0e: // def_cfa_offset
			row.cfa.off = int64(r.uleb())
		case 0x0f: // def_cfa_expression
			expr := r.take(r.uleb())
			if r.err != nil {
				return *row, r.err
			}
			row.cfa = parseCFAExpr(expr)
		case 0x10: // expression
			reg := r.uleb()
			r.skip(r.uleb())
			setReg(reg, regRule{kind: ruleExpr})
		case 0x11: // offset_extended_sf
			reg := r.uleb()
			setReg(reg, regRule{kind: ruleOffset, off: r.sleb() * c.dataAlign})
		case 0x12: // def_cfa_sf
			reg := r.uleb()
			row.cfa = cfaRule{kind: cfaRegOff, reg: reg, off: r.sleb() * c.dataAlign}
		case 0x13: // def_cfa_offset_sf
			row.cfa.off = r.sleb() * c.dataAlign
		case 0x14: // val_offset
			reg := r.uleb()
			setReg(reg, regRule{kind: ruleValOff, off: int64(r.uleb()) * c.dataAlign})
		case 0x15: // val_offset_sf
			reg := r.uleb()
			setReg(reg, regRule{kind: ruleValOff, off: r.sleb() * c.dataAlign})
		case 0x16: // val_expression
			reg := r.uleb()
			r.skip(r.uleb())
			setReg(reg, regRule{kind: ruleExpr})
		case 0x2e: // GNU_args_size: only matters when unwinding for exceptions
			r.uleb()
		case 0x2f: // GNU_negative_offset_extended
			reg := r.uleb()
			setReg(reg, regRule{kind: ruleOffset, off: -int64(r.uleb()) * c.dataAlign})
		default:
			return *row, errBad
		}
		if r.err != nil {
			return *row, r.err
		}
	}
	return *row, r.err
}

// parseCFAExpr recognises the expression GCC and binutils emit for PLT
// entries: DW_OP_breg7 (rsp) off; DW_OP_breg16 (rip) 0; DW_OP_lit<mask>;
// DW_OP_and; DW_OP_lit<cmp>; DW_OP_ge; DW_OP_lit<shift>; DW_OP_shl;
// DW_OP_plus. Anything else is cfaExpr, which stops the unwinder.
func parseCFAExpr(e []byte) cfaRule {
	r := reader{b: e}
	bad := cfaRule{kind: cfaExpr}
	if r.u8() != 0x77 {
		return bad
	}
	off := r.sleb()
	if r.u8() != 0x80 || r.sleb() != 0 {
		return bad
	}
	lit := func() (uint64, bool) {
		op := r.u8()
		if op < 0x30 || op > 0x4f {
			return 0, false
		}
		return uint64(op - 0x30), true
	}
	mask, ok1 := lit()
	and := r.u8()
	cmp, ok2 := lit()
	ge := r.u8()
	shift, ok3 := lit()
	shl, plus := r.u8(), r.u8()
	if !ok1 || !ok2 || !ok3 || and != 0x1a || ge != 0x2a || shl != 0x24 || plus != 0x22 || r.err != nil || r.pos != len(e) {
		return bad
	}
	return cfaRule{kind: cfaPLT, reg: regRSP, off: off, mask: mask, cmp: cmp, shift: shift}
}
