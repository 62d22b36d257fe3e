package native

import (
	"bytes"
	"os"
	"testing"
)

// FuzzEHFrame feeds arbitrary bytes to the CFI parsers as .eh_frame,
// .eh_frame_hdr and .debug_frame and unwinds one step with every row found:
// no panic, bounded work.
func FuzzEHFrame(f *testing.F) {
	f.Add(ehFrame(cieInit, fdeSpec{0x2000, 0x40, prologue}, fdeSpec{0x3000, 0x10, nil}))
	f.Add(ehFrame(cieInit, fdeSpec{0x4000, 0x100, []byte{0x0f, 11, 0x77, 8, 0x80, 0, 0x3f, 0x1a, 0x3b, 0x2a, 0x33, 0x24, 0x22}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		stack := make([]byte, 256)
		for _, s := range []*cfiSection{
			{data: data, vaddr: ehVaddr, eh: true},
			{data: data, vaddr: ehVaddr, eh: false},
		} {
			s.buildIndex(64)
			h := &cfiSection{data: data, vaddr: ehVaddr, eh: true}
			h.indexFromHdr(data, ehVaddr+uint64(len(data)), 64)
			for _, idx := range [][]fdeRef{s.index, h.index} {
				for _, e := range idx {
					for _, pc := range []uint64{e.pc, e.pc + 1, e.pc + 17} {
						fd := s.find(pc)
						if fd == nil {
							continue
						}
						if pc < fd.begin || pc >= fd.end {
							t.Fatalf("find(%#x) gave [%#x,%#x)", pc, fd.begin, fd.end)
						}
						row, err := fd.rowFor(pc)
						if err != nil {
							continue
						}
						next, reason, done := applyRow(row, stackMem{base: 0x7000, data: stack}, pc, 0x7000, 0x7010, true)
						if reason == "" && !done && next.sp <= 0x7000 {
							t.Fatalf("unwound to SP %#x, not above 0x7000", next.sp)
						}
					}
				}
			}
		}
	})
}

// FuzzMaps: any text gives sorted, non-overlapping, non-empty mappings,
// at most the line cap.
func FuzzMaps(f *testing.F) {
	if b, err := os.ReadFile("/proc/self/maps"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("7f00-7f10 r-xp 00001000 fd:01 42 /lib/x (deleted)\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ms := parseMaps(data, 50)
		if len(ms) > 50 {
			t.Fatalf("%d mappings over the cap", len(ms))
		}
		for i, m := range ms {
			if m.start >= m.end {
				t.Fatalf("empty mapping %+v", m)
			}
			if i > 0 && ms[i-1].end > m.start {
				t.Fatalf("overlap %+v %+v", ms[i-1], m)
			}
			if got := findMapping(ms, m.start); got == nil || got.start != m.start {
				t.Fatalf("findMapping(%#x) = %v", m.start, got)
			}
		}
	})
}

// FuzzELF: any bytes as an ELF file load to something bounded, and address
// lookups in it (segments, symbols, CFI rows) never panic.
func FuzzELF(f *testing.F) {
	// Seed (testdata/fuzz/FuzzELF): a 1.4 KiB static executable with a
	// build id, .eh_frame_hdr, .eh_frame and .symtab.
	f.Fuzz(func(t *testing.T, data []byte) {
		ef, err := openELF(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		lim := Limits{FileBytes: 1 << 20, SymbolsPerFile: 1000, FDEsPerFile: 1000}.withDefaults()
		e := loadELF(ef, "k", readBuildID(ef), lim)
		if len(e.syms) > 1000 {
			t.Fatalf("%d symbols over the cap", len(e.syms))
		}
		for _, s := range e.syms[:min(len(e.syms), 32)] {
			if v, ok := e.vaddr(s.start); ok {
				_ = v
			}
			if fd, ok := e.cfiFor(s.start); ok {
				fd.rowFor(s.start)
			}
		}
	})
}

// FuzzDemangle: any symbol name demangles to itself or to at most 1 KiB,
// without a panic.
func FuzzDemangle(f *testing.F) {
	for _, s := range []string{"_ZN6Leaker4keepEi", "_ZN1r5Hoard4keep17h15c4ce1e1f2844ddE", "_RNvMCs6GmmlP4bgsG_1rNtB2_5Hoard4keep", "_Z1fI1aIS_S_EIS_S_EEvT_", "___Z1fv_block_invoke"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if got := demangleName(name); got != name && len(got) > 1<<maxDemangledPow {
			t.Fatalf("%q demangled to %d bytes", name, len(got))
		}
	})
}
