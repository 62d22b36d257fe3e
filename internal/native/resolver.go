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

// Resolver unwinds and symbolizes stacks. It is safe for concurrent use:
// one lock over its caches, released while a file is opened and first
// parsed, so a slow file delays only the stacks that need it.
type Resolver struct {
	lim     Limits
	mu      sync.Mutex
	procs   *lru[uint32, *procState]
	files   *lru[string, *elfFile]
	loading map[string]*pendingFile // files being parsed, by cache key
	dwarfs  []*elfFile              // files holding DWARF data, oldest first, at most lim.DebugFiles
	panics  uint64

	parseHook func(key string) // tests: called as a file's parse starts, unlocked
}

// pendingFile is a file being parsed; done is closed when e is set.
type pendingFile struct {
	done    chan struct{}
	e       *elfFile
	waiters int // stacks waiting for it, for tests
}

// procState is the cached view of one process.
type procState struct {
	start uint64
	dir   string // /proc/PID, or /proc/PID/task/TID of a live thread once the leader has exited
	gen   uint64 // counts reloads: keys found before one are not stored after it
	maps  []mapping
	keys  map[uint64]string // mapping start -> file cache key; "" when unreadable
}

// NewResolver returns a Resolver whose caches are bounded by l.
func NewResolver(l Limits) *Resolver {
	l = l.withDefaults()
	files := newLRU[string, *elfFile](l.Files)
	files.maxCost = int64(l.FileCacheBytes)
	return &Resolver{lim: l, procs: newLRU[uint32, *procState](l.Procs), files: files, loading: make(map[string]*pendingFile)}
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
	ps.dir, ps.maps = procMaps(pid, r.lim.MapsLines)
	ps.keys = make(map[uint64]string)
	ps.gen++
}

// openMapped opens the file behind m: through dir/map_files (dir being the
// process's /proc directory), which reaches the mapped inode even when the
// path was deleted or replaced or lies in another mount namespace, else
// through dir/root/PATH when that is still the same inode.
func openMapped(dir string, m *mapping) *os.File {
	if f, err := os.Open(dir + "/map_files/" + strconv.FormatUint(m.start, 16) + "-" + strconv.FormatUint(m.end, 16)); err == nil {
		return f
	}
	if strings.HasSuffix(m.path, " (deleted)") {
		return nil
	}
	f, err := os.Open(dir + "/root" + m.path)
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
// Called with r.mu held; it releases it while the file is opened and parsed.
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
	gen, dir := ps.gen, ps.dir // ps may be reloaded while unlocked
	var of *openedFile
	r.unlocked(func() { of = openFile(dir, m) })
	if of == nil {
		if ps.gen == gen {
			ps.keys[m.start] = ""
		}
		return nil
	}
	defer of.f.Close()
	if ps.gen == gen {
		ps.keys[m.start] = of.key
	}
	return r.load(of.key, func() *elfFile {
		root := dir + "/root"
		d := findDebugFile(of.ef, of.buildID, root, m.path)
		defer d.close()
		return loadELFDebug(of.ef, d, of.key, of.buildID, r.lim)
	})
}

// openedFile is a mapped file opened and identified, not yet parsed.
type openedFile struct {
	f            *os.File
	ef           *elf.File
	key, buildID string
}

// openFile opens the file behind m and reads its headers and build id; nil
// when it is not a readable x86-64 ELF file.
func openFile(dir string, m *mapping) *openedFile {
	f := openMapped(dir, m)
	if f == nil {
		return nil
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil
	}
	ef, err := openELF(f, fi.Size())
	if err != nil || ef.Machine != elf.EM_X86_64 {
		f.Close()
		return nil
	}
	of := &openedFile{f: f, ef: ef, buildID: readBuildID(ef), key: "s:" + statKey(fi)}
	if of.buildID != "" {
		of.key = "b:" + of.buildID
	}
	return of
}

// load returns the cached file key, else parses it with parse outside the
// lock, once: other stacks needing the same key wait for that parse only.
// Called with r.mu held.
func (r *Resolver) load(key string, parse func() *elfFile) *elfFile {
	if e, ok := r.files.get(key); ok {
		return e
	}
	if p, ok := r.loading[key]; ok {
		p.waiters++
		r.unlocked(func() { <-p.done })
		// The cached copy when there is one: what frame and step charge
		// their caches' growth to.
		if e, ok := r.files.get(key); ok {
			return e
		}
		return p.e
	}
	p := &pendingFile{done: make(chan struct{})}
	r.loading[key] = p
	// Runs locked, also when parse panics: waiters must not wait forever,
	// and a file that panics is not parsed again while cached.
	defer func() {
		if p.e == nil {
			p.e = &elfFile{key: key, err: "parse failed"}
		}
		delete(r.loading, key)
		close(p.done)
		r.files.putCost(key, p.e, p.e.bytes())
	}()
	r.unlocked(func() {
		if r.parseHook != nil {
			r.parseHook(key)
		}
		p.e = parse()
	})
	return p.e
}

// unlocked runs f with r.mu released, and takes it again even if f panics.
func (r *Resolver) unlocked(f func()) {
	r.mu.Unlock()
	defer r.mu.Lock()
	f()
}

// cacheGrew recharges e after its caches of names or CFI rows changed.
func (r *Resolver) cacheGrew(e *elfFile) { r.files.setCost(e.key, e.bytes()) }

// dwarfFor returns e's DWARF data, loading it (from the debug file, else the
// mapped file) when its debug sections fit lim.FileBytes in all.
func (r *Resolver) dwarfFor(dir string, m *mapping, e *elfFile) *dwarf.Data {
	if e.dw != nil || e.dwTried || !e.hasLines || r.lim.DebugFiles < 0 {
		return e.dw
	}
	e.dwTried = true
	var f *os.File
	if e.debugPath != "" {
		f, _ = os.Open(e.debugPath)
	} else {
		f = openMapped(dir, m)
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
		copied := 0 // bytes of the name, a copy held by the cache alone
		if s, ok := e.symbolAt(v); ok {
			res.name, res.start = demangleName(e.nameOf(s)), s.start
			copied = len(res.name)
		}
		if d := r.dwarfFor(ps.dir, m, e); d != nil {
			res.file, res.line = lineAt(d, v)
		}
		if e.cache == nil || len(e.cache) >= symCacheSize {
			e.cache = make(map[uint64]symResult)
			e.cachedNames = 0
		}
		e.cachedNames += int64(copied)
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
