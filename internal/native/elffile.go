package native

import (
	"bytes"
	"cmp"
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"syscall"
	"unsafe"
)

// elfFile is what the resolver keeps of one mapped file: its loadable
// segments, FUNC symbols, CFI and (loaded on demand) DWARF line tables.
type elfFile struct {
	key     string
	buildID string
	loads   []segment
	syms    []symbol // by address
	names   []byte   // the symbols' names, back to back
	eh      *cfiSection
	dbg     *cfiSection
	err     string // why the file could not be parsed; then only module+off

	debugPath   string      // separate debug file, "" when none
	hasLines    bool        // the file or its debug file has .debug_line
	dw          *dwarf.Data // loaded on first line lookup, dropped under the DebugFiles cap
	dwTried     bool        // a load failed: do not retry
	cache       map[uint64]symResult
	cachedNames int64                // bytes of the names held by cache (copies)
	rows        map[uint64]unwindRow // CFI rows by vaddr, at most rowCacheSize
	loaded      int64                // parsedBytes, once known
}

type segment struct{ vaddr, off, filesz uint64 }

// symbol is a FUNC symbol; its name is elfFile.names[name:name+nlen].
type symbol struct {
	start, size uint64
	name        uint32
	nlen        uint16
	bind        uint8
	tab         uint8 // while reading: which table
}

type symResult struct {
	name  string
	start uint64
	file  string
	line  int
}

// maxSymName bounds one symbol name (C++ names run to a few KiB at worst).
const maxSymName = 4096

// symCacheSize bounds the per-file cache of resolved addresses; it is reset
// when full.
const symCacheSize = 4096

// rowCacheSize bounds the per-file cache of evaluated CFI rows (~80 bytes
// each); it is reset when full.
const rowCacheSize = 4096

// statKey identifies a file without reading it.
func statKey(fi os.FileInfo) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("%d:%d:%d:%d", st.Dev, st.Ino, fi.Size(), fi.ModTime().UnixNano())
	}
	return ""
}

// readBuildID returns the GNU build id in hex, or "".
func readBuildID(f *elf.File) string {
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOTE || s.Size > 1<<16 {
			continue
		}
		data, err := s.Data()
		if err != nil {
			continue
		}
		for len(data) >= 12 {
			nsz := binary.LittleEndian.Uint32(data[0:])
			dsz := binary.LittleEndian.Uint32(data[4:])
			typ := binary.LittleEndian.Uint32(data[8:])
			nEnd := 12 + (uint64(nsz)+3)&^3
			dEnd := nEnd + (uint64(dsz)+3)&^3
			if dEnd > uint64(len(data)) {
				break
			}
			if typ == 3 && nsz == 4 && string(data[12:15]) == "GNU" && dsz > 0 && dsz <= 64 {
				return hex.EncodeToString(data[nEnd : nEnd+uint64(dsz)])
			}
			data = data[dEnd:]
		}
	}
	return ""
}

// loadELF parses f with the debug file its build id names, if any.
func loadELF(f *elf.File, key, buildID string, lim Limits) *elfFile {
	d := findDebugFile(f, buildID, "", "")
	defer d.close()
	return loadELFDebug(f, d, key, buildID, lim)
}

// loadELFDebug parses the parts of f the resolver needs, symbols from its
// debug file d when not nil, each section bounded by lim.FileBytes. It never
// fails: a broken file gives an elfFile with err set, and one that alone
// would pass lim.FileCacheBytes a stub (errOverBudget), its big parts
// unread where their sizes already say so.
func loadELFDebug(f *elf.File, d *debugFile, key, buildID string, lim Limits) *elfFile {
	e := &elfFile{key: key, buildID: buildID}
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			e.loads = append(e.loads, segment{vaddr: p.Vaddr, off: p.Off, filesz: p.Filesz})
		}
	}
	if len(e.loads) > 64 {
		e.loads = e.loads[:64]
	}
	// The debug file (by build id), when installed, gives the symbols
	// (its .symtab) and .debug_frame when the file has none.
	var debugFile *elf.File
	if d != nil {
		debugFile, e.debugPath = d.ef, d.path
	}
	// The CFI sections to keep, sized before anything is read.
	cfi := func(f *elf.File, name string) *elf.Section {
		s := f.Section(name)
		if s == nil || s.Type == elf.SHT_NOBITS || s.Size > uint64(lim.FileBytes) {
			return nil
		}
		return s
	}
	eh, dbg := cfi(f, ".eh_frame"), cfi(f, ".debug_frame")
	if dbg == nil && debugFile != nil {
		dbg = cfi(debugFile, ".debug_frame")
	}
	// room is what the file may hold of the file cache's budget: a file
	// that would pass it alone is a stub, and its big parts are not read.
	room := int64(lim.FileCacheBytes)
	for _, s := range []*elf.Section{eh, dbg} {
		if s != nil {
			room -= int64(s.Size)
		}
	}
	stub := &elfFile{key: key, buildID: buildID, err: errOverBudget}
	if room < 0 {
		return stub
	}

	// Symbols: the debug file's .symtab, else the file's own; .dynsym fills
	// in either way.
	var tabs []symTable
	if debugFile != nil {
		tabs = symTables(debugFile, elf.SHT_SYMTAB, lim)
	}
	if len(tabs) == 0 {
		tabs = symTables(f, elf.SHT_SYMTAB, lim)
	}
	tabs = append(tabs, symTables(f, elf.SHT_DYNSYM, lim)...)
	var ok bool
	if e.syms, e.names, ok = readSymbols(tabs, lim, room); !ok {
		return stub
	}

	if eh != nil {
		if data, err := eh.Data(); err == nil {
			e.eh = &cfiSection{data: data, vaddr: eh.Addr, eh: true}
			hdr := cfi(f, ".eh_frame_hdr")
			if hdr == nil || !e.eh.indexFromHdr(sectionData(hdr), hdr.Addr, lim.FDEsPerFile) {
				e.eh.buildIndex(lim.FDEsPerFile)
			}
		}
	}
	if dbg != nil {
		if data, err := dbg.Data(); err == nil {
			e.dbg = &cfiSection{data: data}
			e.dbg.buildIndex(lim.FDEsPerFile)
		}
	}
	e.hasLines = (debugFile != nil && debugFile.Section(".debug_line") != nil) ||
		(debugFile == nil && f.Section(".debug_line") != nil)
	if debugFile == nil {
		e.debugPath = ""
	}
	if e.bytes() > int64(lim.FileCacheBytes) {
		return stub // the CFI index and the rest passed what was left
	}
	return e
}

// symReadBuf is the window through which symbol and string tables are
// read: a big table (libLLVM's .dynstr, a Go compiler's .symtab) is never
// held whole, only the FUNC symbols kept of it.
const symReadBuf = 64 << 10

// symTable is one symbol table and its string table.
type symTable struct{ syms, strs *elf.Section }

// symTables lists f's tables of type typ that can be read in place
// (uncompressed, within lim.FileBytes).
func symTables(f *elf.File, typ elf.SectionType, lim Limits) []symTable {
	var out []symTable
	for _, s := range f.Sections {
		if s.Type != typ || s.Size > uint64(lim.FileBytes) || s.Link == 0 || int(s.Link) >= len(f.Sections) ||
			s.Flags&elf.SHF_COMPRESSED != 0 {
			continue
		}
		strs := f.Sections[s.Link]
		if strs.Size > uint64(lim.FileBytes) || strs.Type == elf.SHT_NOBITS || strs.Flags&elf.SHF_COMPRESSED != 0 {
			continue
		}
		out = append(out, symTable{s, strs})
	}
	return out
}

// eachFunc calls fn with the FUNC symbols of t in table order, read through
// buf, until fn returns false.
func (t symTable) eachFunc(buf []byte, fn func(start, size uint64, name uint32, bind uint8) bool) {
	buf = buf[:len(buf)/24*24]
	for off := uint64(24); off+24 <= t.syms.Size; { // entry 0 is null
		n := min(uint64(len(buf)), (t.syms.Size-off)/24*24)
		if _, err := t.syms.ReadAt(buf[:n], int64(off)); err != nil {
			return
		}
		off += n
		for i := uint64(0); i < n; i += 24 {
			ent := buf[i : i+24]
			info := ent[4]
			typ := elf.SymType(info & 0xf)
			if typ != elf.STT_FUNC && typ != elf.STT_GNU_IFUNC {
				continue
			}
			value := binary.LittleEndian.Uint64(ent[8:])
			name := binary.LittleEndian.Uint32(ent[0:])
			if binary.LittleEndian.Uint16(ent[6:]) == uint16(elf.SHN_UNDEF) || value == 0 || name == 0 {
				continue
			}
			if !fn(value, binary.LittleEndian.Uint64(ent[16:]), name, info>>4) {
				return
			}
		}
	}
}

// sectionData is s's bytes, nil when they cannot be read.
func sectionData(s *elf.Section) []byte {
	b, _ := s.Data()
	return b
}

// readSymbols keeps the FUNC symbols of tabs (in order, at most
// lim.SymbolsPerFile in all), sorted by address, one per address, and their
// names in one blob; false when they would take more than room bytes. The
// tables are read through one small buffer, twice each (count, then fill;
// measure the names, then copy them), so that each slice is allocated once
// at its size: a table costs its kept symbols (24 bytes each) and names,
// with little garbage.
func readSymbols(tabs []symTable, lim Limits, room int64) ([]symbol, []byte, bool) {
	if len(tabs) > 255 {
		tabs = tabs[:255]
	}
	buf := make([]byte, symReadBuf)
	n := 0
	for _, t := range tabs {
		t.eachFunc(buf, func(uint64, uint64, uint32, uint8) bool { n++; return n < lim.SymbolsPerFile })
	}
	n = min(n, lim.SymbolsPerFile)
	if n == 0 {
		return nil, nil, true
	}
	if int64(n)*int64(unsafe.Sizeof(symbol{})) > room {
		return nil, nil, false
	}
	syms := make([]symbol, 0, n)
	for i, t := range tabs {
		t.eachFunc(buf, func(start, size uint64, name uint32, bind uint8) bool {
			if len(syms) == n {
				return false
			}
			syms = append(syms, symbol{start: start, size: size, name: name, bind: bind, tab: uint8(i)})
			return true
		})
	}
	syms = sortSymbols(syms)
	room -= int64(cap(syms)) * int64(unsafe.Sizeof(symbol{}))

	// Names: table by table in string-table order, each read from a window
	// of the string table refilled as the offsets pass it.
	slices.SortFunc(syms, func(a, b symbol) int {
		return cmp.Or(cmp.Compare(a.tab, b.tab), cmp.Compare(a.name, b.name))
	})
	maxNames := min(room, int64(lim.FileBytes), math.MaxInt32)
	var names []byte
	size := 0
	eachName := func(fn func(s *symbol, name []byte)) {
		var win []byte
		var winOff uint64
		tab, prevOff := -1, uint32(0)
		for i := range syms {
			s := &syms[i]
			t := tabs[s.tab]
			if int(s.tab) != tab {
				tab, win, winOff = int(s.tab), nil, 0
			} else if s.name == prevOff {
				fn(s, nil) // one string, several symbols
				continue
			}
			prevOff = s.name
			o := uint64(s.name)
			if o >= t.strs.Size {
				fn(s, []byte{})
				continue
			}
			if o < winOff || o+maxSymName > winOff+uint64(len(win)) && winOff+uint64(len(win)) < t.strs.Size {
				winOff, win = o, buf[:min(uint64(len(buf)), t.strs.Size-o)]
				if _, err := t.strs.ReadAt(win, int64(o)); err != nil {
					win = nil
					fn(s, []byte{})
					continue
				}
			}
			b := win[o-winOff:]
			b = b[:min(len(b), maxSymName)]
			if j := bytes.IndexByte(b, 0); j >= 0 {
				b = b[:j]
			}
			// glibc's .symtab names versioned aliases "f@@GLIBC_2.34": one
			// name per function whatever the library's version.
			if j := bytes.IndexByte(b, '@'); j > 0 {
				b = b[:j]
			}
			fn(s, b)
		}
	}
	eachName(func(_ *symbol, b []byte) { size += len(b) })
	if int64(size) > maxNames {
		return nil, nil, false
	}
	names = make([]byte, 0, size)
	var prev symbol
	eachName(func(s *symbol, b []byte) {
		if b == nil {
			s.name, s.nlen = prev.name, prev.nlen
			return
		}
		s.name, s.nlen = uint32(len(names)), uint16(len(b))
		names = append(names, b...)
		prev = *s
	})
	slices.SortFunc(syms, func(a, b symbol) int { return cmp.Compare(a.start, b.start) })
	syms = slices.DeleteFunc(syms, func(s symbol) bool { return s.nlen == 0 })
	return syms, names, true
}

// sortSymbols orders by address and keeps one per address: global over
// weak over local, the first seen among equals.
func sortSymbols(s []symbol) []symbol {
	rank := func(b uint8) int {
		switch elf.SymBind(b) {
		case elf.STB_GLOBAL:
			return 0
		case elf.STB_WEAK:
			return 1
		}
		return 2
	}
	slices.SortStableFunc(s, func(a, b symbol) int {
		return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(rank(a.bind), rank(b.bind)))
	})
	out := s[:0]
	for _, x := range s {
		if n := len(out); n > 0 && out[n-1].start == x.start {
			if out[n-1].size == 0 {
				out[n-1].size = x.size
			}
			continue
		}
		out = append(out, x)
	}
	return out
}

// vaddr maps a file offset to the ELF virtual address through the PT_LOAD
// segment holding it.
func (e *elfFile) vaddr(fileOff uint64) (uint64, bool) {
	for _, s := range e.loads {
		if fileOff >= s.off && fileOff-s.off < s.filesz {
			return fileOff - s.off + s.vaddr, true
		}
	}
	return 0, false
}

// symbolAt returns the FUNC symbol holding vaddr.
func (e *elfFile) symbolAt(v uint64) (symbol, bool) {
	i := sort.Search(len(e.syms), func(i int) bool { return e.syms[i].start > v }) - 1
	if i < 0 {
		return symbol{}, false
	}
	s := e.syms[i]
	if s.size > 0 && v-s.start >= s.size {
		return symbol{}, false
	}
	return s, true
}

// nameOf copies s's name out of the blob (a name kept in a stack must not
// hold the file's names once it is evicted).
func (e *elfFile) nameOf(s symbol) string {
	return string(e.names[s.name : s.name+uint32(s.nlen)])
}

// cfiFor returns the FDE covering vaddr, from .eh_frame, else .debug_frame.
func (e *elfFile) cfiFor(v uint64) (fde, bool) {
	if e.eh != nil {
		if f, ok := e.eh.lookup(v); ok {
			return f, true
		}
	}
	if e.dbg != nil {
		return e.dbg.lookup(v)
	}
	return fde{}, false
}

// lineAt looks up the DWARF line of vaddr in d.
func lineAt(d *dwarf.Data, v uint64) (string, int) {
	r := d.Reader()
	cu, err := r.SeekPC(v)
	if err != nil || cu == nil {
		return "", 0
	}
	lr, err := d.LineReader(cu)
	if err != nil || lr == nil {
		return "", 0
	}
	var le dwarf.LineEntry
	if err := lr.SeekPC(v, &le); err != nil || le.File == nil {
		return "", 0
	}
	return le.File.Name, le.Line
}

// loadLines loads the DWARF sections a line lookup needs (not the location
// lists, the largest part of a distribution's debug file), when they fit max
// bytes in all.
func loadLines(f *elf.File, max uint64) *dwarf.Data {
	names := []string{"abbrev", "aranges", "info", "line", "ranges", "str", "addr", "line_str", "rnglists", "str_offsets"}
	secs := make(map[string][]byte)
	var total uint64
	for _, n := range names {
		s := f.Section(".debug_" + n)
		if s == nil || s.Type == elf.SHT_NOBITS {
			continue
		}
		if total += s.Size; total > max {
			return nil
		}
		b, err := s.Data()
		if err != nil {
			return nil
		}
		secs[n] = b
	}
	if secs["info"] == nil || secs["line"] == nil {
		return nil
	}
	d, err := dwarf.New(secs["abbrev"], secs["aranges"], nil, secs["info"], secs["line"], nil, secs["ranges"], secs["str"])
	if err != nil {
		return nil
	}
	for _, n := range names[6:] {
		if b := secs[n]; b != nil {
			if err := d.AddSection(".debug_"+n, b); err != nil {
				return nil
			}
		}
	}
	return d
}

// openELF parses r's headers after a cheap check that every section lies
// inside the file: debug/elf reads the section name table eagerly and
// allocates up to its claimed size (10 MiB chunks) before failing on a
// truncated or lying file.
func openELF(r io.ReaderAt, size int64) (*elf.File, error) {
	var h [64]byte
	if _, err := r.ReadAt(h[:], 0); err != nil {
		return nil, err
	}
	if string(h[:4]) != elf.ELFMAG || elf.Class(h[4]) != elf.ELFCLASS64 || elf.Data(h[5]) != elf.ELFDATA2LSB {
		return nil, errNotELF
	}
	shoff := binary.LittleEndian.Uint64(h[0x28:])
	shentsize := uint64(binary.LittleEndian.Uint16(h[0x3a:]))
	shnum := uint64(binary.LittleEndian.Uint16(h[0x3c:]))
	if shnum > 0 {
		if shentsize != 64 || shoff > uint64(size) || shnum*64 > uint64(size)-shoff {
			return nil, errNotELF
		}
		sh := make([]byte, shnum*64)
		if _, err := r.ReadAt(sh, int64(shoff)); err != nil {
			return nil, err
		}
		for i := uint64(0); i < shnum; i++ {
			s := sh[i*64:]
			typ := elf.SectionType(binary.LittleEndian.Uint32(s[4:]))
			off := binary.LittleEndian.Uint64(s[0x18:])
			sz := binary.LittleEndian.Uint64(s[0x20:])
			if typ != elf.SHT_NOBITS && typ != elf.SHT_NULL && (off > uint64(size) || sz > uint64(size)-off) {
				return nil, errNotELF
			}
		}
	}
	return elf.NewFile(r)
}

var errNotELF = errors.New("not a well-formed 64-bit little-endian ELF file")

// errOverBudget is why a file is a stub: alone it would pass the file
// cache's budget.
const errOverBudget = "larger than the file cache budget"

// Estimated heap bytes of one entry of the per-file caches: a Go map slot
// (key and value) at the worst load after growth (half full), plus control
// bytes.
var (
	symCacheEntryBytes = 2*int64(8+unsafe.Sizeof(symResult{})) + 2
	rowCacheEntryBytes = 2*int64(8+unsafe.Sizeof(unwindRow{})) + 2
)

// bytes estimates the heap e retains, for the resolver's file cache budget:
// what was parsed (loaded, computed once) and the caches of named addresses
// and CFI rows at their current size. DWARF data, off in the recorder, is
// bounded apart (DebugFiles).
func (e *elfFile) bytes() int64 {
	if e.loaded == 0 {
		e.loaded = e.parsedBytes()
	}
	return e.loaded + int64(len(e.cache))*symCacheEntryBytes + e.cachedNames + int64(len(e.rows))*rowCacheEntryBytes
}

// parsedBytes estimates the heap of the symbols (structs and names), CFI
// section bytes and FDE indexes.
func (e *elfFile) parsedBytes() int64 {
	n := int64(unsafe.Sizeof(*e)) + int64(len(e.key)+len(e.buildID)+len(e.debugPath)) +
		int64(cap(e.loads))*int64(unsafe.Sizeof(segment{}))
	n += int64(cap(e.syms))*int64(unsafe.Sizeof(symbol{})) + int64(cap(e.names))
	for _, s := range []*cfiSection{e.eh, e.dbg} {
		if s != nil {
			n += int64(unsafe.Sizeof(*s)) + int64(cap(s.data)) + int64(cap(s.index))*int64(unsafe.Sizeof(fdeRef{})) +
				int64(len(s.cies))*int64(unsafe.Sizeof(cie{})+64)
		}
	}
	return n
}
