package native

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"syscall"
	"unsafe"
)

// elfFile is what the resolver keeps of one mapped file: its loadable
// segments, FUNC symbols, CFI and (loaded on demand) DWARF line tables.
type elfFile struct {
	key     string
	buildID string
	loads   []segment
	syms    []symbol
	eh      *cfiSection
	dbg     *cfiSection
	err     string // why the file could not be parsed; then only module+off

	debugPath string      // separate debug file, "" when none
	hasLines  bool        // the file or its debug file has .debug_line
	dw        *dwarf.Data // loaded on first line lookup, dropped under the DebugFiles cap
	dwTried   bool        // a load failed: do not retry
	cache     map[uint64]symResult
	names     int64                // bytes of demangled names held by cache
	rows      map[uint64]unwindRow // CFI rows by vaddr, at most rowCacheSize
	loaded    int64                // parsedBytes, once known
}

type segment struct{ vaddr, off, filesz uint64 }

type symbol struct {
	start, size uint64
	name        string
	bind        uint8
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
// fails: a broken file gives an elfFile with err set.
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
	section := func(f *elf.File, name string) (*elf.Section, []byte) {
		s := f.Section(name)
		if s == nil || s.Type == elf.SHT_NOBITS || s.Size > uint64(lim.FileBytes) {
			return nil, nil
		}
		data, err := s.Data()
		if err != nil {
			return nil, nil
		}
		return s, data
	}
	if s, data := section(f, ".eh_frame"); s != nil {
		e.eh = &cfiSection{data: data, vaddr: s.Addr, eh: true}
		if h, hdr := section(f, ".eh_frame_hdr"); h == nil || !e.eh.indexFromHdr(hdr, h.Addr, lim.FDEsPerFile) {
			e.eh.buildIndex(lim.FDEsPerFile)
		}
	}
	if s, data := section(f, ".debug_frame"); s != nil {
		e.dbg = &cfiSection{data: data}
		e.dbg.buildIndex(lim.FDEsPerFile)
	}

	// Symbols: the separate debug file's .symtab when installed, else the
	// file's own .symtab; .dynsym fills in either way.
	var debugFile *elf.File
	if d != nil {
		debugFile, e.debugPath = d.ef, d.path
	}
	var syms []symbol
	if debugFile != nil {
		syms = readSymbols(debugFile, elf.SHT_SYMTAB, lim, syms)
		if e.dbg == nil {
			if s, data := section(debugFile, ".debug_frame"); s != nil {
				e.dbg = &cfiSection{data: data}
				e.dbg.buildIndex(lim.FDEsPerFile)
			}
		}
	}
	if len(syms) == 0 {
		syms = readSymbols(f, elf.SHT_SYMTAB, lim, syms)
	}
	syms = readSymbols(f, elf.SHT_DYNSYM, lim, syms)
	e.syms = sortSymbols(syms)
	e.hasLines = (debugFile != nil && debugFile.Section(".debug_line") != nil) ||
		(debugFile == nil && f.Section(".debug_line") != nil)
	if debugFile == nil {
		e.debugPath = ""
	}
	return e
}

// readSymbols appends f's FUNC symbols from the table of type typ, stopping
// at lim.SymbolsPerFile in all.
func readSymbols(f *elf.File, typ elf.SectionType, lim Limits, out []symbol) []symbol {
	for _, s := range f.Sections {
		if s.Type != typ || s.Size > uint64(lim.FileBytes) || s.Link == 0 || int(s.Link) >= len(f.Sections) {
			continue
		}
		strs := f.Sections[s.Link]
		if strs.Size > uint64(lim.FileBytes) {
			continue
		}
		data, err := s.Data()
		if err != nil {
			continue
		}
		str, err := strs.Data()
		if err != nil {
			continue
		}
		for i := 24; i+24 <= len(data) && len(out) < lim.SymbolsPerFile; i += 24 {
			ent := data[i : i+24]
			info := ent[4]
			t := elf.SymType(info & 0xf)
			if t != elf.STT_FUNC && t != elf.STT_GNU_IFUNC {
				continue
			}
			shndx := binary.LittleEndian.Uint16(ent[6:])
			value := binary.LittleEndian.Uint64(ent[8:])
			if shndx == uint16(elf.SHN_UNDEF) || value == 0 {
				continue
			}
			name := cstr(str, binary.LittleEndian.Uint32(ent[0:]))
			// glibc's .symtab names versioned aliases "f@@GLIBC_2.34": one
			// name per function whatever the library's version.
			if i := strings.IndexByte(name, '@'); i > 0 {
				name = name[:i]
			}
			if name == "" {
				continue
			}
			out = append(out, symbol{start: value, size: binary.LittleEndian.Uint64(ent[16:]), name: name, bind: info >> 4})
		}
	}
	return out
}

func cstr(b []byte, off uint32) string {
	if uint64(off) >= uint64(len(b)) {
		return ""
	}
	b = b[off:]
	if len(b) > maxSymName {
		b = b[:maxSymName]
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// sortSymbols orders by address and keeps one name per address: global over
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
	sort.SliceStable(s, func(i, j int) bool {
		if s[i].start != s[j].start {
			return s[i].start < s[j].start
		}
		return rank(s[i].bind) < rank(s[j].bind)
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
	return e.loaded + int64(len(e.cache))*symCacheEntryBytes + e.names + int64(len(e.rows))*rowCacheEntryBytes
}

// parsedBytes estimates the heap of the symbols (structs and names), CFI
// section bytes and FDE indexes.
func (e *elfFile) parsedBytes() int64 {
	n := int64(unsafe.Sizeof(*e)) + int64(len(e.key)+len(e.buildID)+len(e.debugPath)) +
		int64(cap(e.loads))*int64(unsafe.Sizeof(segment{}))
	n += int64(cap(e.syms)) * int64(unsafe.Sizeof(symbol{}))
	for i := range e.syms {
		n += (int64(len(e.syms[i].name)) + 7) &^ 7 // allocation rounding
	}
	for _, s := range []*cfiSection{e.eh, e.dbg} {
		if s != nil {
			n += int64(unsafe.Sizeof(*s)) + int64(cap(s.data)) + int64(cap(s.index))*int64(unsafe.Sizeof(fdeRef{})) +
				int64(len(s.cies))*int64(unsafe.Sizeof(cie{})+64)
		}
	}
	return n
}
