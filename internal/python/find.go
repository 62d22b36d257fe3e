// Package python finds CPython interpreters in traced processes, tells the
// BPF sample program where their frames are, and names the frames it read:
// code object addresses to qualified name, file and line, read from the
// process's memory. It reads CPython 3.11 (offsets from a table) and 3.13
// (offsets from the process's _Py_DebugOffsets); other versions give no
// Python frames, and their stacks stay native.
package python

import (
	"bufio"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Interp is one process's interpreter: where its runtime lies and the
// layout of its version.
type Interp struct {
	Version  string // "3.11"
	File     string // the binary or libpython holding _PyRuntime
	Runtime  uint64 // &_PyRuntime in the process
	CodeType uint64 // &PyCode_Type, to check a code object is one
	StrType  uint64 // &PyUnicode_Type
	Offsets  *Offsets
}

// ErrNotPython says the process runs no interpreter oomtrace recognises.
var ErrNotPython = errors.New("no CPython")

// ErrVersion says the process runs a CPython version oomtrace cannot read.
type ErrVersion struct{ Version string }

func (e ErrVersion) Error() string { return "CPython " + e.Version + " not supported" }

// A file that may hold the runtime: the python binary or libpython.
var pyFileRe = regexp.MustCompile(`^(lib)?python([0-9]+)\.([0-9]+)[a-z]*(\.so.*)?$|^python[0-9]*$`)

const (
	maxMapsLines = 8192
	maxSymBytes  = 64 << 20 // symbol table read, at most
)

type mapping struct {
	start, end, off uint64
	path            string
}

func readMaps(pid int) ([]mapping, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mapping
	sc := bufio.NewScanner(f)
	for n := 0; sc.Scan() && n < maxMapsLines; n++ {
		fl := strings.Fields(sc.Text())
		if len(fl) < 6 || !strings.HasPrefix(fl[5], "/") {
			continue
		}
		lo, hi, ok := strings.Cut(fl[0], "-")
		if !ok {
			continue
		}
		var m mapping
		var e1, e2, e3 error
		m.start, e1 = strconv.ParseUint(lo, 16, 64)
		m.end, e2 = strconv.ParseUint(hi, 16, 64)
		m.off, e3 = strconv.ParseUint(fl[2], 16, 64)
		if e1 != nil || e2 != nil || e3 != nil {
			continue
		}
		m.path = strings.Join(fl[5:], " ")
		out = append(out, m)
	}
	return out, sc.Err()
}

// Find looks for CPython's runtime in pid's binary and libraries.
func Find(pid int) (*Interp, error) {
	maps, err := readMaps(pid)
	if err != nil {
		return nil, err
	}
	tried := map[string]bool{}
	for i, m := range maps {
		if tried[m.path] || !pyFileRe.MatchString(filepath.Base(m.path)) {
			continue
		}
		tried[m.path] = true
		in, err := fromFile(pid, maps, i)
		if errors.Is(err, ErrNotPython) {
			continue
		}
		return in, err
	}
	return nil, ErrNotPython
}

type syms struct{ runtime, version, codeType, strType uint64 }

// elfInfo is what Find needs of a file, cached by its identity.
type elfInfo struct {
	syms    syms
	version string // from Py_Version, "" when absent
	progs   []elf.ProgHeader
	err     error // ErrNotPython when the file has no _PyRuntime
}

const maxCachedFiles = 64

var elfCache = struct {
	sync.Mutex
	m map[string]*elfInfo
}{m: map[string]*elfInfo{}}

func fromFile(pid int, maps []mapping, i int) (*Interp, error) {
	m := maps[i]
	// map_files reaches the mapped file also in another mount namespace or
	// when the path was replaced.
	f, err := os.Open(fmt.Sprintf("/proc/%d/map_files/%x-%x", pid, m.start, m.end))
	if err != nil {
		if f, err = os.Open(fmt.Sprintf("/proc/%d/root%s", pid, m.path)); err != nil {
			return nil, err
		}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	key := fileKey(fi)
	elfCache.Lock()
	info := elfCache.m[key]
	elfCache.Unlock()
	if info == nil {
		info = readELF(f, m.path)
		elfCache.Lock()
		if len(elfCache.m) >= maxCachedFiles {
			clear(elfCache.m)
		}
		elfCache.m[key] = info
		elfCache.Unlock()
	}
	if info.err != nil {
		return nil, info.err
	}
	ver := info.version
	if ver == "" {
		if ver = versionOf(filepath.Base(m.path)); ver == "" {
			return nil, ErrVersion{Version: "unknown"}
		}
	}
	var mm [2]int
	fmt.Sscanf(ver, "%d.%d", &mm[0], &mm[1])
	off := versions[mm]
	if off == nil && !debugOffsetVersions[mm] {
		return nil, ErrVersion{Version: ver}
	}
	bias, ok := loadBias(info.progs, maps, m.path)
	if !ok {
		return nil, fmt.Errorf("%s: no mapping of its first segment", m.path)
	}
	s := info.syms
	if off == nil {
		mem, err := openMem(pid)
		if err != nil {
			return nil, err
		}
		off, err = readDebugOffsets(mem, s.runtime+bias, ver)
		mem.f.Close()
		if err != nil {
			return nil, err
		}
	}
	in := &Interp{Version: ver, File: m.path, Runtime: s.runtime + bias, Offsets: off}
	if s.codeType != 0 {
		in.CodeType = s.codeType + bias
	}
	if s.strType != 0 {
		in.StrType = s.strType + bias
	}
	return in, nil
}

func fileKey(fi os.FileInfo) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("%d:%d:%d:%d", st.Dev, st.Ino, st.Size, st.Mtim.Nano())
	}
	return fi.Name()
}

// readELF reads the symbols and segments of a candidate file.
func readELF(f *os.File, path string) (info *elfInfo) {
	defer func() {
		if r := recover(); r != nil { // debug/elf on a hostile file
			info = &elfInfo{err: fmt.Errorf("%s: %v", path, r)}
		}
	}()
	ef, err := elf.NewFile(f)
	if err != nil {
		return &elfInfo{err: ErrNotPython}
	}
	info = &elfInfo{}
	for _, typ := range []elf.SectionType{elf.SHT_DYNSYM, elf.SHT_SYMTAB} {
		findSyms(ef, typ, &info.syms)
	}
	if info.syms.runtime == 0 {
		return &elfInfo{err: ErrNotPython}
	}
	if info.syms.version != 0 {
		var b [4]byte
		if readVaddr(ef, info.syms.version, b[:]) {
			hex := binary.LittleEndian.Uint32(b[:])
			info.version = fmt.Sprintf("%d.%d", hex>>24, hex>>16&0xff)
		}
	}
	for _, p := range ef.Progs {
		info.progs = append(info.progs, p.ProgHeader)
	}
	return info
}

func findSyms(ef *elf.File, typ elf.SectionType, s *syms) {
	sec := ef.SectionByType(typ)
	if sec == nil || sec.Size > maxSymBytes || sec.Link >= uint32(len(ef.Sections)) || ef.Sections[sec.Link].Size > maxSymBytes {
		return
	}
	var ss []elf.Symbol
	var err error
	if typ == elf.SHT_DYNSYM {
		ss, err = ef.DynamicSymbols()
	} else {
		ss, err = ef.Symbols()
	}
	if err != nil {
		return
	}
	for _, sym := range ss {
		if elf.ST_TYPE(sym.Info) != elf.STT_OBJECT || sym.Value == 0 {
			continue
		}
		switch sym.Name {
		case "_PyRuntime":
			s.runtime = sym.Value
		case "Py_Version":
			s.version = sym.Value
		case "PyCode_Type":
			s.codeType = sym.Value
		case "PyUnicode_Type":
			s.strType = sym.Value
		}
	}
}

// readVaddr reads a constant at virtual address v from the file.
func readVaddr(ef *elf.File, v uint64, b []byte) bool {
	for _, p := range ef.Progs {
		if p.Type == elf.PT_LOAD && v >= p.Vaddr && v+uint64(len(b)) <= p.Vaddr+p.Filesz {
			_, err := p.ReadAt(b, int64(v-p.Vaddr))
			return err == nil || err == io.EOF
		}
	}
	return false
}

// loadBias is where the file was loaded minus its link-time addresses: 0
// for a fixed executable (Debian's python3), the ASLR base for PIE and
// shared libraries. A mapping at a segment's page-aligned file offset
// lies at that segment's page-aligned address plus the bias.
func loadBias(progs []elf.ProgHeader, maps []mapping, path string) (uint64, bool) {
	for _, m := range maps {
		if m.path != path {
			continue
		}
		for _, p := range progs {
			if p.Type != elf.PT_LOAD {
				continue
			}
			if p.Off&^0xfff == m.off {
				return m.start - p.Vaddr&^0xfff, true
			}
		}
	}
	return 0, false
}

// versionOf is the version in a python binary's or library's name.
func versionOf(name string) string {
	sm := pyFileRe.FindStringSubmatch(name)
	if sm == nil || sm[2] == "" {
		return ""
	}
	return sm[2] + "." + sm[3]
}
