package native

import (
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Resolver unwinds and symbolizes stacks. It is safe for concurrent use
// (one lock: Resolve calls run one at a time).
type Resolver struct {
	lim    Limits
	mu     sync.Mutex
	procs  *lru[uint32, *procState]
	files  *lru[string, *elfFile]
	dwarfs []*elfFile // files holding DWARF data, oldest first, at most lim.DebugFiles
	panics uint64
}

// procState is the cached view of one process.
type procState struct {
	start uint64
	maps  []mapping
	keys  map[uint64]string // mapping start -> file cache key; "" when unreadable
}

// NewResolver returns a Resolver whose caches are bounded by l.
func NewResolver(l Limits) *Resolver {
	l = l.withDefaults()
	files := newLRU[string, *elfFile](l.Files)
	files.maxCost = int64(l.FileCacheBytes)
	return &Resolver{lim: l, procs: newLRU[uint32, *procState](l.Procs), files: files}
}

// Resolve unwinds the stack of process pid (start is its start time in ns,
// which tells a reused pid apart) from regs, the copy of its stack from
// regs.SP upward and the frame-pointer walk fp (return addresses, innermost
// first, the leaf IP optional), and names its frames.
func (r *Resolver) Resolve(pid uint32, start uint64, regs Regs, stack []byte, fp []uint64) (st Stack) {
	r.mu.Lock()
	defer r.mu.Unlock()
	defer func() {
		if p := recover(); p != nil {
			r.panics++
			st = Stack{Frames: []Frame{{PC: regs.IP, Kind: "native"}}, Truncated: true, Reason: fmt.Sprintf("internal error: %v", p)}
		}
	}()
	return r.unwind(pid, start, regs, stack, fp)
}

// Forget drops what is cached about pid (at exec or exit).
func (r *Resolver) Forget(pid uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.procs.remove(pid)
}

// Panics reports how many panics Resolve recovered from.
func (r *Resolver) Panics() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.panics
}

// proc returns the process's cached mappings, reading them when absent or
// when the pid now names another process.
func (r *Resolver) proc(pid uint32, start uint64) *procState {
	if ps, ok := r.procs.get(pid); ok && ps.start == start {
		return ps
	}
	ps := &procState{start: start}
	r.reload(pid, ps)
	r.procs.put(pid, ps)
	return ps
}

func (r *Resolver) reload(pid uint32, ps *procState) {
	ps.maps, _ = readMaps(pid, r.lim.MapsLines)
	ps.keys = make(map[uint64]string)
}

// openMapped opens the file behind m: through /proc/PID/map_files, which
// reaches the mapped inode even when the path was deleted or replaced or lies
// in another mount namespace, else through /proc/PID/root/PATH when that is
// still the same inode.
func openMapped(pid uint32, m *mapping) *os.File {
	p := "/proc/" + strconv.FormatUint(uint64(pid), 10)
	if f, err := os.Open(p + "/map_files/" + strconv.FormatUint(m.start, 16) + "-" + strconv.FormatUint(m.end, 16)); err == nil {
		return f
	}
	if strings.HasSuffix(m.path, " (deleted)") {
		return nil
	}
	f, err := os.Open(p + "/root" + m.path)
	if err != nil {
		return nil
	}
	if fi, err := f.Stat(); err != nil || !sameInode(fi, m.inode) {
		f.Close()
		return nil
	}
	return f
}

func sameInode(fi os.FileInfo, ino uint64) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Ino == ino
}

// fileFor returns the parsed file behind m, or nil when it cannot be read.
func (r *Resolver) fileFor(pid uint32, ps *procState, m *mapping) *elfFile {
	if !m.fileBacked() {
		return nil
	}
	if key, ok := ps.keys[m.start]; ok {
		if key == "" {
			return nil
		}
		if e, ok := r.files.get(key); ok {
			return e
		}
	}
	f := openMapped(pid, m)
	if f == nil {
		ps.keys[m.start] = ""
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		ps.keys[m.start] = ""
		return nil
	}
	ef, err := openELF(f, fi.Size())
	if err != nil || ef.Machine != elf.EM_X86_64 {
		ps.keys[m.start] = ""
		return nil
	}
	bid := readBuildID(ef)
	key := "s:" + statKey(fi)
	if bid != "" {
		key = "b:" + bid
	}
	ps.keys[m.start] = key
	if e, ok := r.files.get(key); ok {
		return e
	}
	e := loadELF(ef, key, bid, r.lim)
	if e.bytes() > int64(r.lim.FileCacheBytes) {
		e = &elfFile{key: key, buildID: bid, err: errOverBudget}
	}
	r.files.putCost(key, e, e.bytes())
	return e
}

// cacheGrew recharges e after its caches of names or CFI rows changed.
func (r *Resolver) cacheGrew(e *elfFile) { r.files.setCost(e.key, e.bytes()) }

// dwarfFor returns e's DWARF data, loading it (from the debug file, else the
// mapped file) when its debug sections fit lim.FileBytes in all.
func (r *Resolver) dwarfFor(pid uint32, m *mapping, e *elfFile) *dwarf.Data {
	if e.dw != nil || e.dwTried || !e.hasLines || r.lim.DebugFiles < 0 {
		return e.dw
	}
	e.dwTried = true
	var f *os.File
	if e.debugPath != "" {
		f, _ = os.Open(e.debugPath)
	} else {
		f = openMapped(pid, m)
	}
	if f == nil {
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil
	}
	ef, err := openELF(f, fi.Size())
	if err != nil {
		return nil
	}
	d := loadLines(ef, uint64(r.lim.FileBytes))
	if d == nil {
		return nil
	}
	e.dw = d
	r.dwarfs = append(r.dwarfs, e)
	if len(r.dwarfs) > r.lim.DebugFiles {
		old := r.dwarfs[0]
		old.dw, old.dwTried = nil, false
		r.dwarfs = r.dwarfs[1:]
	}
	return d
}

// frame names pc (looked up at look: pc-1 for return addresses) in m.
func (r *Resolver) frame(pid uint32, ps *procState, m *mapping, pc, look uint64) Frame {
	fr := Frame{PC: pc, Kind: "native"}
	if m == nil {
		return fr
	}
	fr.Module = m.path
	if fr.Module == "" {
		fr.Module = "[anon]"
	}
	fr.ModOff = pc - m.start + m.off
	e := r.fileFor(pid, ps, m)
	if e == nil {
		return fr
	}
	v, ok := e.vaddr(look - m.start + m.off)
	if !ok {
		return fr
	}
	res, ok := e.cache[v]
	if !ok {
		if s, ok := e.symbolAt(v); ok {
			res.name, res.start = e.nameOf(s), s.start
		}
		if d := r.dwarfFor(pid, m, e); d != nil {
			res.file, res.line = lineAt(d, v)
		}
		if e.cache == nil || len(e.cache) >= symCacheSize {
			e.cache = make(map[uint64]symResult)
		}
		e.cache[v] = res
		r.cacheGrew(e)
	}
	if res.name != "" {
		fr.Function = res.name
		fr.Offset = v + (pc - look) - res.start
	}
	fr.File, fr.Line = res.file, res.line
	return fr
}

// unwinder state for one stack.
type stackMem struct {
	base uint64
	data []byte
}

// read8 reads the word at addr from the stack copy.
func (s stackMem) read8(addr uint64) (uint64, bool) {
	if addr < s.base || addr-s.base > uint64(len(s.data)) || uint64(len(s.data))-(addr-s.base) < 8 {
		return 0, false
	}
	off := addr - s.base
	return binary.LittleEndian.Uint64(s.data[off:]), true
}
