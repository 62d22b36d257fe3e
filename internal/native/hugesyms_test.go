package native

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// symELF builds an ELF file whose .symtab has n FUNC symbols, the i-th at
// 0x10000+16i, named by name(i) (a name offset into strtab).
func symELF(n int, strtab []byte, name func(i int) uint32) []byte {
	shstr := []byte("\x00.symtab\x00.strtab\x00.shstrtab\x00")
	symtab := make([]byte, 24*(n+1))
	for i := range n {
		e := symtab[24*(i+1):]
		binary.LittleEndian.PutUint32(e[0:], name(i))
		e[4] = byte(1<<4 | 2) // STB_GLOBAL, STT_FUNC
		binary.LittleEndian.PutUint16(e[6:], 1)
		binary.LittleEndian.PutUint64(e[8:], 0x10000+16*uint64(i))
		binary.LittleEndian.PutUint64(e[16:], 16)
	}
	var b bytes.Buffer
	b.Write(make([]byte, 64))
	symOff := b.Len()
	b.Write(symtab)
	strOff := b.Len()
	b.Write(strtab)
	shstrOff := b.Len()
	b.Write(shstr)
	for b.Len()%8 != 0 {
		b.WriteByte(0)
	}
	shOff := b.Len()
	sh := func(name, typ uint32, off, size, link, entsize int) {
		s := make([]byte, 64)
		binary.LittleEndian.PutUint32(s[0:], name)
		binary.LittleEndian.PutUint32(s[4:], typ)
		binary.LittleEndian.PutUint64(s[0x18:], uint64(off))
		binary.LittleEndian.PutUint64(s[0x20:], uint64(size))
		binary.LittleEndian.PutUint32(s[0x28:], uint32(link))
		binary.LittleEndian.PutUint64(s[0x38:], uint64(entsize))
		b.Write(s)
	}
	sh(0, 0, 0, 0, 0, 0)
	sh(1, 2, symOff, len(symtab), 2, 24) // SHT_SYMTAB, linked to .strtab
	sh(9, 3, strOff, len(strtab), 0, 0)
	sh(17, 3, shstrOff, len(shstr), 0, 0)
	out := b.Bytes()
	copy(out, "\x7fELF\x02\x01\x01")
	binary.LittleEndian.PutUint16(out[0x10:], 3)  // ET_DYN
	binary.LittleEndian.PutUint16(out[0x12:], 62) // EM_X86_64
	binary.LittleEndian.PutUint32(out[0x14:], 1)
	binary.LittleEndian.PutUint64(out[0x28:], uint64(shOff))
	binary.LittleEndian.PutUint16(out[0x34:], 64)
	binary.LittleEndian.PutUint16(out[0x3a:], 64)
	binary.LittleEndian.PutUint16(out[0x3c:], 4)
	binary.LittleEndian.PutUint16(out[0x3e:], 3)
	return out
}

// loadCost loads data as an ELF file and reports what loading allocated
// and what the result holds after a GC.
func loadCost(t *testing.T, data []byte, lim Limits) (e *elfFile, allocated, held int64, took time.Duration) {
	t.Helper()
	ef, err := openELF(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var before, after, kept runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	t0 := time.Now()
	e = loadELF(ef, "k", "", lim.withDefaults())
	took = time.Since(t0)
	runtime.ReadMemStats(&after)
	runtime.GC()
	runtime.ReadMemStats(&kept)
	runtime.KeepAlive(ef)
	return e, int64(after.TotalAlloc - before.TotalAlloc), int64(kept.HeapAlloc) - int64(before.HeapAlloc), took
}

// A huge symbol table costs what is kept of it, not its size: the table
// and its strings are read through a small window, so loading 400,000
// symbols allocates little more than the symbols kept, and a cap of 1000
// allocates a fraction of the table.
func TestHugeSymbolTableMemory(t *testing.T) {
	const n = 400_000
	var strtab bytes.Buffer
	strtab.WriteByte(0)
	offs := make([]uint32, n)
	for i := range n {
		offs[i] = uint32(strtab.Len())
		fmt.Fprintf(&strtab, "function_%07d", i)
		strtab.WriteByte(0)
	}
	data := symELF(n, strtab.Bytes(), func(i int) uint32 { return offs[i] })
	table := int64(24*n + strtab.Len())

	e, allocated, held, took := loadCost(t, data, Limits{SymbolsPerFile: n})
	t.Logf("%d symbols (%d table bytes): %d kept, allocated %d, held %d, est %d, in %v", n, table, len(e.syms), allocated, held, e.bytes(), took)
	if len(e.syms) != n {
		t.Fatalf("%d symbols kept, want %d", len(e.syms), n)
	}
	if s, ok := e.symbolAt(0x10000 + 16*123_456 + 5); !ok || e.nameOf(s) != "function_0123456" {
		t.Errorf("symbol at function_0123456+5: %q %v", e.nameOf(s), ok)
	}
	if allocated > held+held/4+256<<10 {
		t.Errorf("loading allocated %d bytes to keep %d", allocated, held)
	}
	if est := e.bytes(); est < held*3/4 || est > held*5/4 {
		t.Errorf("estimate %d bytes, heap holds %d", est, held)
	}

	e, allocated, _, _ = loadCost(t, data, Limits{SymbolsPerFile: 1000})
	t.Logf("capped at 1000: %d kept, allocated %d", len(e.syms), allocated)
	if len(e.syms) != 1000 || allocated > table/20 {
		t.Errorf("capped at 1000: %d kept, allocated %d bytes for a %d-byte table", len(e.syms), allocated, table)
	}
}

// Names that overlap (each symbol's name starts one byte into the last
// one's, in one 4 KiB string) would be 4 KiB each: the names a file keeps
// are bounded by the file cache's budget, past which the file is a stub,
// found without copying them.
func TestOverlappingSymbolNames(t *testing.T) {
	const n = 100_000
	strtab := append([]byte{0}, bytes.Repeat([]byte("x"), n+maxSymName)...)
	strtab = append(strtab, 0)
	data := symELF(n, strtab, func(i int) uint32 { return uint32(1 + i) })
	e, allocated, _, took := loadCost(t, data, Limits{FileCacheBytes: 8 << 20})
	t.Logf("%d overlapping names: %d kept (%q), allocated %d, in %v", n, len(e.syms), e.err, allocated, took)
	if e.err != errOverBudget || allocated > 8<<20 || took > 5*time.Second {
		t.Errorf("%d symbols kept (%q), allocated %d bytes in %v; want a stub, at most 8 MiB", len(e.syms), e.err, allocated, took)
	}
}
