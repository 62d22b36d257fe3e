package native

import "fmt"

// unwind walks the stack with CFI, the frame-pointer rule where a PC has no
// CFI, and the BPF frame-pointer walk only when the first step fails (or,
// when BPF left that walk out because the copy holds the whole stack, the
// same walk over the copy).
func (r *Resolver) unwind(pid uint32, start uint64, regs Regs, stack []byte, fp []uint64) Stack {
	ps := r.proc(pid, start)
	mem := stackMem{base: regs.SP, data: stack}
	st := Stack{Frames: make([]Frame, 0, 16)}
	pc, sp, bp := regs.IP, regs.SP, regs.BP
	bpOK := true
	reread := false
	// mappingOf finds addr's mapping, re-reading the maps once per stack
	// when it falls outside all of them (a new library, a JIT region).
	mappingOf := func(addr uint64) *mapping {
		m := findMapping(ps.maps, addr)
		if m == nil && !reread {
			reread = true
			r.reload(pid, ps)
			m = findMapping(ps.maps, addr)
		}
		return m
	}
	stop := func(reason string) {
		st.Truncated = true
		st.Reason = reason
	}
	for i := 0; ; i++ {
		if i >= r.lim.Frames {
			stop(fmt.Sprintf("frame limit (%d)", r.lim.Frames))
			break
		}
		look := pc
		if i > 0 {
			look = pc - 1 // the call instruction, not what follows it
		}
		m := mappingOf(look)
		st.Frames = append(st.Frames, r.frame(pid, ps, m, pc, look))
		if m == nil {
			stop(fmt.Sprintf("pc %#x outside every mapping", pc))
			break
		}
		next, reason, done := r.step(pid, ps, m, mem, look, pc, sp, bp, bpOK)
		if done {
			break // the outermost frame
		}
		if reason != "" {
			if i == 0 && len(fp) == 0 {
				fp = mem.frameChain(regs.BP, r.lim.Frames)
			}
			if i == 0 && len(fp) > 0 {
				name := func(m *mapping, pc uint64) Frame { return r.frame(pid, ps, m, pc, pc-1) }
				reason = r.fromFP(&st, fp, regs.IP, mappingOf, name, reason)
			}
			stop(reason)
			break
		}
		if nm := mappingOf(next.pc); nm == nil || !nm.exec {
			stop(fmt.Sprintf("return address %#x not in an executable mapping", next.pc))
			break
		}
		pc, sp, bp, bpOK = next.pc, next.sp, next.bp, next.bpOK
	}
	return st
}

type regState struct {
	pc, sp, bp uint64
	bpOK       bool
}

// step computes the caller's registers. done means the frame is the
// outermost (its return address is undefined or zero); a reason means
// unwinding cannot continue.
func (r *Resolver) step(pid uint32, ps *procState, m *mapping, mem stackMem, look, pc, sp, bp uint64, bpOK bool) (next regState, reason string, done bool) {
	var f fde
	var v uint64
	found := false
	e := r.fileFor(pid, ps, m)
	if e != nil {
		var ok bool
		if v, ok = e.vaddr(look - m.start + m.off); ok {
			if row, ok := e.rows[v]; ok {
				return applyRow(row, mem, pc, sp, bp, bpOK)
			}
			f, found = e.cfiFor(v)
		}
	}
	why := ""
	if found {
		row, err := f.rowFor(v)
		if err == nil {
			if e.rows == nil || len(e.rows) >= rowCacheSize {
				e.rows = make(map[uint64]unwindRow)
			}
			e.rows[v] = row
			r.cacheGrew(e)
			return applyRow(row, mem, pc, sp, bp, bpOK)
		}
		why = fmt.Sprintf("bad CFI for pc %#x (%v)", pc, err)
	} else if e == nil {
		why = fmt.Sprintf("no readable file for pc %#x", pc)
	} else {
		why = fmt.Sprintf("no CFI for pc %#x", pc)
	}
	// No usable CFI: the frame-pointer rule, only when it lands in code with
	// a stack that grows toward the caller.
	if !bpOK || bp < sp {
		return next, why, false
	}
	ra, ok1 := mem.read8(bp + 8)
	nbp, ok2 := mem.read8(bp)
	if !ok1 || !ok2 {
		return next, why + "; frame pointer outside the stack copy", false
	}
	// A zero here ends a frame-pointer chain, but also any garbage rbp:
	// it proves nothing, so the stack counts as truncated.
	if nm := findMapping(ps.maps, ra); ra == 0 || nm == nil || !nm.exec {
		return next, why + "; frame pointer gives no code address", false
	}
	return regState{pc: ra, sp: bp + 16, bp: nbp, bpOK: true}, "", false
}

// applyRow evaluates a CFI row on x86_64: the CFA from rsp or rbp, the
// return address at its saved slot (CFA-8 in practice), rbp from its rule.
// Memory is read only from the stack copy.
func applyRow(row unwindRow, mem stackMem, pc, sp, bp uint64, bpOK bool) (next regState, reason string, done bool) {
	var cfa uint64
	switch row.cfa.kind {
	case cfaRegOff:
		switch row.cfa.reg {
		case regRSP:
			cfa = sp + uint64(row.cfa.off)
		case regRBP:
			if !bpOK {
				return next, fmt.Sprintf("CFA from rbp at pc %#x, rbp unknown", pc), false
			}
			cfa = bp + uint64(row.cfa.off)
		default:
			return next, fmt.Sprintf("CFA from register %d at pc %#x", row.cfa.reg, pc), false
		}
	case cfaPLT:
		cfa = sp + uint64(row.cfa.off)
		if pc&row.cfa.mask >= row.cfa.cmp {
			cfa += 1 << (row.cfa.shift & 63)
		}
	default:
		return next, fmt.Sprintf("CFA expression at pc %#x", pc), false
	}
	ra := row.ra
	var raAddr uint64
	switch ra.kind {
	case ruleUndef:
		return next, "", true
	case ruleOffset:
		raAddr = cfa + uint64(ra.off)
	case ruleSame:
		raAddr = cfa - 8
	default:
		return next, fmt.Sprintf("return address rule %d at pc %#x", ra.kind, pc), false
	}
	if cfa <= sp {
		return next, fmt.Sprintf("CFA %#x not above SP %#x at pc %#x", cfa, sp, pc), false
	}
	retAddr, ok := mem.read8(raAddr)
	if !ok {
		return next, "stack copy ends", false
	}
	if retAddr == 0 {
		return next, "", true
	}
	next = regState{pc: retAddr, sp: cfa, bp: bp, bpOK: bpOK}
	switch b := row.rbp; b.kind {
	case ruleSame:
	case ruleOffset:
		next.bp, next.bpOK = mem.read8(cfa + uint64(b.off))
	case ruleValOff:
		next.bp = cfa + uint64(b.off)
	case ruleRegister:
		switch b.reg {
		case regRSP:
			next.bp = sp
		case regRBP:
		default:
			next.bpOK = false
		}
	default:
		next.bpOK = false
	}
	return next, "", false
}

// frameChain is the kernel's frame-pointer walk done over the copy: the
// return addresses of the rbp chain from bp, innermost first, while each
// frame lies in the copy above the one before.
func (s stackMem) frameChain(bp uint64, limit int) []uint64 {
	var out []uint64
	for len(out) < limit {
		ra, ok1 := s.read8(bp + 8)
		next, ok2 := s.read8(bp)
		if !ok1 || !ok2 {
			break
		}
		out = append(out, ra)
		if next <= bp {
			break
		}
		bp = next
	}
	return out
}

// fromFP appends the BPF frame-pointer walk's frames after a failed first
// CFI step, while each lands in executable memory, and says so.
func (r *Resolver) fromFP(st *Stack, fp []uint64, ip uint64, mappingOf func(uint64) *mapping, name func(*mapping, uint64) Frame, reason string) string {
	if len(fp) > 0 && fp[0] == ip {
		fp = fp[1:]
	}
	n := 0
	for _, pc := range fp {
		if len(st.Frames) >= r.lim.Frames || pc == 0 {
			break
		}
		m := mappingOf(pc - 1)
		if m == nil || !m.exec {
			break
		}
		st.Frames = append(st.Frames, name(m, pc))
		n++
	}
	if n == 0 {
		return reason
	}
	return fmt.Sprintf("%s; %d frames after the leaf from the frame-pointer walk, not checked by CFI", reason, n)
}
