package aggregate

import (
	"bytes"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/oomtrace/oomtrace/internal/native"
	"github.com/oomtrace/oomtrace/tracer"
)

// Bounds of the stack table (README, "Growth stacks"): a service keeps its
// StacksPerService largest stacks and a snapshot shows StacksShown of them;
// the table holds StacksTotal stacks of StackFrames frames at most, names cut
// at StackNameMax bytes, and StackSamplesPerProc / StackSamplesTotal live
// samples, each a region whose bytes still mapped make a stack's held bytes.
const (
	StacksShown         = 16
	StacksPerService    = 64
	StacksTotal         = 512
	StackFrames         = 64
	StackNameMax        = 256
	StackSamplesPerProc = 4096
	StackSamplesTotal   = 32768
	// stackSlots divide the window a stack's grown bytes are summed over:
	// samples older than the window leave it one slot (a 20th) at a time.
	stackSlots = 20
	// stackInternMax bounds the shared copies of frame strings; past it the
	// table starts again.
	stackInternMax = 8192
	// recentUnmaps is how many unmap events are remembered for samples
	// that arrive after them: samples come on their own ring, and a
	// sampled region may be unmapped before its sample is read.
	recentUnmaps = 256
)

// StackResolver unwinds and names a sampled stack; *native.Resolver is one.
type StackResolver interface {
	Resolve(pid uint32, start uint64, regs native.Regs, stack []byte, fp []uint64) native.Stack
	Forget(pid uint32)
}

// PythonFrames names a sample's Python frames and merges them into its
// native stack; *python.Reader is one. It learns of execs from the tracer
// (Tracer.OnExec), of exits here.
type PythonFrames interface {
	Merge(pid uint32, ns native.Stack, py tracer.PyStack) native.Stack
	Forget(pid uint32)
}

// StackStats counts the stack samples the aggregator took since it started.
type StackStats struct {
	Samples   uint64 `json:"samples"`   // resolved and merged into a service's stack
	Truncated uint64 `json:"truncated"` // of which unwinding stopped before the outermost frame
	// Untracked samples count in grown bytes but not in held ones: the live
	// samples' caps were reached.
	Untracked uint64 `json:"untracked"`
	// Unresolved samples found the resolver's queue full: merged with no
	// frames, truncated.
	Unresolved uint64 `json:"unresolved"`
}

// stackSample is a sampled growth event, resolved: weight bytes of growth
// attributed to frames, the sampled call's region [addr, addr+len).
type stackSample struct {
	pid       int
	service   string
	at        time.Time
	weight    uint64
	addr, len uint64
	frames    []Frame // innermost first
	truncated bool
}

type stackTable struct {
	window time.Duration
	slot   time.Duration // window / stackSlots
	proc   string        // the /proc the maps are read from
	svcs   map[string]*svcStacks
	procs  map[int]*procSamples
	stacks int // entries in all services
	live   int // live samples in all processes
	strs   map[string]string
	stats  StackStats
	unmaps [recentUnmaps]unmap // a ring of the last unmap events
	nunmap int
	buf    []byte     // maps, reused
	ranges []mapRange // maps, parsed, reused
	key    strings.Builder
}

type svcStacks struct {
	byKey map[string]*stackEntry
}

type stackEntry struct {
	frames    []Frame
	truncated bool
	key       string
	grown     [stackSlots]slotSum
	held      uint64 // at the last check
	live      int    // live samples pointing here
	evicted   bool
}

type slotSum struct {
	slot           int64
	bytes, samples uint64
}

type procSamples struct {
	live []liveSample
	// calls is the process's memory syscall count at the last read of its
	// maps; while it stands still (and no sample came) nothing was
	// unmapped, and the check keeps what it found.
	calls uint64
	fresh bool // a sample came since the last read
}

// liveSample is a sample whose region may still be mapped: held bytes are
// its weight times the share of [addr, end) mapped.
type liveSample struct {
	addr, end uint64 // what is left of the region
	full      uint64 // the region's length when sampled
	at        int64  // the sampled call's time, ns
	weight    uint64
	held      uint64 // at the last read of the maps
	stack     *stackEntry
}

type mapRange struct{ start, end uint64 }

type unmap struct {
	pid    int
	lo, hi uint64
	at     time.Time
}

func newStackTable(window time.Duration, procRoot string) *stackTable {
	return &stackTable{window: window, slot: max(window/stackSlots, time.Nanosecond), proc: procRoot,
		svcs: map[string]*svcStacks{}, procs: map[int]*procSamples{}}
}

func (t *stackTable) intern(s string) string {
	if s == "" {
		return s
	}
	if t.strs == nil || len(t.strs) > stackInternMax {
		t.strs = map[string]string{}
	}
	if c, ok := t.strs[s]; ok {
		return c
	}
	t.strs[s] = s
	return s
}

// FramesOf converts a resolved native stack into frames, innermost first,
// cut at StackFrames (then truncated); names longer than StackNameMax are cut.
func FramesOf(s native.Stack) ([]Frame, bool) {
	n := min(len(s.Frames), StackFrames)
	out := make([]Frame, n)
	for i, f := range s.Frames[:n] {
		kind := f.Kind
		if kind == "" {
			kind = "native"
		}
		out[i] = Frame{Function: cut(f.Function), File: cut(f.File), Line: f.Line, Module: cut(f.Module), Offset: f.ModOff, Kind: kind}
	}
	return out, s.Truncated || len(s.Frames) > StackFrames
}

func cut(s string) string {
	if len(s) <= StackNameMax {
		return s
	}
	return strings.ToValidUTF8(s[:StackNameMax], "") + "…"
}

// stackKey identifies a stack within a service: each frame's module and
// offset in it (the same in every process mapping the file), or its
// function where there is no module, and whether it is truncated.
func (t *stackTable) stackKey(frames []Frame, truncated bool) string {
	b := &t.key
	b.Reset()
	for _, f := range frames {
		if f.Module != "" {
			b.WriteString(f.Module)
			b.WriteByte('+')
			b.WriteString(strconv.FormatUint(f.Offset, 16))
		} else {
			b.WriteString(f.Function)
		}
		b.WriteByte('\n')
	}
	if truncated {
		b.WriteByte('T')
	}
	return b.String()
}

// add merges a sample into its service's stack and keeps its region live.
func (t *stackTable) add(s stackSample) {
	t.stats.Samples++
	if s.truncated {
		t.stats.Truncated++
	}
	sv := t.svcs[s.service]
	if sv == nil {
		sv = &svcStacks{byKey: map[string]*stackEntry{}}
		t.svcs[s.service] = sv
	}
	key := t.stackKey(s.frames, s.truncated)
	e := sv.byKey[key]
	if e == nil {
		if len(sv.byKey) >= StacksPerService {
			t.evict(sv, s.at)
		} else if t.stacks >= StacksTotal {
			t.evictAny(s.at)
		}
		for i := range s.frames {
			f := &s.frames[i]
			f.Function, f.File, f.Module, f.Kind = t.intern(f.Function), t.intern(f.File), t.intern(f.Module), t.intern(f.Kind)
		}
		e = &stackEntry{frames: s.frames, truncated: s.truncated, key: strings.Clone(key)}
		sv.byKey[e.key] = e
		t.stacks++
	}
	e.addGrown(t.slotOf(s.at), s.weight)
	ps := t.procs[s.pid]
	if ps == nil {
		ps = &procSamples{}
		t.procs[s.pid] = ps
	}
	if s.len > 0 {
		// A call grew memory where an older sample's region was: that
		// region was given back since (mmap never returns memory still
		// mapped; MAP_FIXED, brk and mprotect replace what was there).
		t.cut(ps, s.addr, s.addr+s.len, s.at)
	}
	if len(ps.live) >= StackSamplesPerProc || t.live >= StackSamplesTotal {
		t.stats.Untracked++
		return
	}
	ps.live = append(ps.live, liveSample{addr: s.addr, end: s.addr + s.len, full: s.len, at: s.at.UnixNano(), weight: s.weight, held: s.weight, stack: e})
	e.live++
	e.held += s.weight // until the next check
	t.live++
	ps.fresh = true
	if s.len > 0 {
		// Unmaps seen before the sample but made after its call.
		for _, u := range t.unmaps[:min(t.nunmap, recentUnmaps)] {
			if u.pid == s.pid && u.at.After(s.at) && u.lo < s.addr+s.len && u.hi > s.addr {
				t.cut(ps, u.lo, u.hi, u.at)
			}
		}
	}
}

func (t *stackTable) slotOf(at time.Time) int64 { return at.UnixNano() / int64(t.slot) }

func (e *stackEntry) addGrown(slot int64, bytes uint64) {
	g := &e.grown[int(uint64(slot)%stackSlots)]
	if g.slot != slot {
		*g = slotSum{slot: slot}
	}
	g.bytes += bytes
	g.samples++
}

// grownSince sums the slots of the window ending at slot now.
func (e *stackEntry) grownAt(now int64) (bytes, samples uint64) {
	for _, g := range e.grown {
		if g.slot > now-stackSlots && g.slot <= now && g.samples > 0 {
			bytes += g.bytes
			samples += g.samples
		}
	}
	return bytes, samples
}

func (e *stackEntry) score(now int64) uint64 {
	g, _ := e.grownAt(now)
	return e.held + g
}

// evict removes the service's smallest stack (held plus grown); its live
// samples are let go at the next check.
func (t *stackTable) evict(sv *svcStacks, at time.Time) {
	now := t.slotOf(at)
	var low *stackEntry
	for _, e := range sv.byKey {
		if low == nil || e.score(now) < low.score(now) {
			low = e
		}
	}
	if low != nil {
		t.remove(sv, low)
	}
}

func (t *stackTable) evictAny(at time.Time) {
	now := t.slotOf(at)
	var low *stackEntry
	var lowSvc *svcStacks
	for _, sv := range t.svcs {
		for _, e := range sv.byKey {
			if low == nil || e.score(now) < low.score(now) {
				low, lowSvc = e, sv
			}
		}
	}
	if low != nil {
		t.remove(lowSvc, low)
	}
}

func (t *stackTable) remove(sv *svcStacks, e *stackEntry) {
	delete(sv.byKey, e.key)
	e.evicted = true
	t.stacks--
}

// free lets go of a process's live samples: it exited or exec'd, its
// address space is gone. What it grew stays in the window.
func (t *stackTable) free(pid int) {
	ps := t.procs[pid]
	if ps == nil {
		return
	}
	for _, s := range ps.live {
		s.stack.live--
		s.stack.held -= min(s.stack.held, s.held)
	}
	t.live -= len(ps.live)
	delete(t.procs, pid)
}

// unmapped takes [addr, end) out of a process's sampled regions at once (a
// munmap or a lowered break seen as an event); the next check would find
// them so.
func (t *stackTable) unmapped(pid int, addr, end uint64, at time.Time) {
	t.unmaps[t.nunmap%recentUnmaps] = unmap{pid: pid, lo: addr, hi: end, at: at}
	t.nunmap++
	if ps := t.procs[pid]; ps != nil {
		t.cut(ps, addr, end, at)
	}
}

// cut takes [lo, hi) out of the regions of the process's samples taken
// before at: a region wholly in it is dead, one it overlaps keeps its
// larger part left (and is read again at the next check). A sample taken
// after at mapped its region after [lo, hi) was given back.
func (t *stackTable) cut(ps *procSamples, lo, hi uint64, at time.Time) {
	before := at.UnixNano()
	live := ps.live[:0]
	for _, s := range ps.live {
		if s.end <= s.addr || s.end <= lo || s.addr >= hi || s.at >= before {
			live = append(live, s) // no region, untouched, or mapped since
			continue
		}
		if s.addr >= lo && s.end <= hi {
			s.stack.live--
			s.stack.held -= min(s.stack.held, s.held)
			t.live--
			continue
		}
		if left, right := max(lo, s.addr)-s.addr, s.end-min(hi, s.end); left >= right {
			s.end = s.addr + left
		} else {
			s.addr = s.end - right
		}
		ps.fresh = true
		live = append(live, s)
	}
	clear(ps.live[len(live):])
	ps.live = live
}

// check recomputes held bytes: a sample holds its weight times the share
// of its region still mapped (not PROT_NONE). The maps of a process with
// live samples are read when it made memory syscalls since the last read
// (or calls is 0: no counters) or has new samples. alive says whether a
// pid is still the process whose samples these are, and its syscall count.
func (t *stackTable) check(alive func(pid int) (ok bool, calls uint64)) {
	for _, sv := range t.svcs {
		for _, e := range sv.byKey {
			e.held = 0
		}
	}
	for pid, ps := range t.procs {
		ok, calls := alive(pid)
		if !ok {
			t.free(pid)
			continue
		}
		read := ps.fresh || calls == 0 || calls != ps.calls
		if read && !t.readMaps(pid) {
			t.free(pid)
			continue
		}
		ps.calls, ps.fresh = calls, false
		live := ps.live[:0]
		for _, s := range ps.live {
			if s.stack.evicted {
				s.stack.live--
				t.live--
				continue
			}
			if read && s.end > s.addr { // a region given: its share still mapped
				m := mappedIn(t.ranges, s.addr, s.end)
				if m == 0 {
					s.stack.live--
					t.live--
					continue
				}
				s.held = uint64(float64(s.weight) * float64(m) / float64(s.full))
			}
			s.stack.held += s.held
			live = append(live, s)
		}
		clear(ps.live[len(live):])
		ps.live = live
		if len(live) == 0 {
			delete(t.procs, pid)
		}
	}
}

// readMaps reads /proc/PID/maps into t.ranges: the mappings that are not
// PROT_NONE, in address order.
func (t *stackTable) readMaps(pid int) bool {
	f, err := os.Open(t.proc + "/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		return false
	}
	defer f.Close()
	if t.buf == nil {
		t.buf = make([]byte, 0, 64<<10)
	}
	b := t.buf[:0]
	for {
		if len(b) == cap(b) {
			b = slices.Grow(b, cap(b))
		}
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF || n == 0 && err == nil {
			break
		}
		if err != nil {
			return false
		}
	}
	if cap(b) <= 1<<20 {
		t.buf = b
	}
	t.ranges = parseMaps(t.ranges[:0], b)
	return true
}

// parseMaps appends the ranges of maps lines ("start-end perms ...") whose
// permissions are not all '-'.
func parseMaps(out []mapRange, b []byte) []mapRange {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		dash := bytes.IndexByte(line, '-')
		sp := bytes.IndexByte(line, ' ')
		if dash <= 0 || sp <= dash || len(line) < sp+4 {
			continue
		}
		start, ok1 := hex(line[:dash])
		end, ok2 := hex(line[dash+1 : sp])
		if !ok1 || !ok2 || end <= start {
			continue
		}
		if p := line[sp+1 : sp+4]; p[0] == '-' && p[1] == '-' && p[2] == '-' {
			continue // PROT_NONE: reserved, not held
		}
		out = append(out, mapRange{start, end})
	}
	if !sort.SliceIsSorted(out, func(i, j int) bool { return out[i].start < out[j].start }) {
		sort.Slice(out, func(i, j int) bool { return out[i].start < out[j].start })
	}
	return out
}

func hex(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// mappedIn is how many bytes of [addr, end) the ranges cover.
func mappedIn(ranges []mapRange, addr, end uint64) uint64 {
	i := sort.Search(len(ranges), func(i int) bool { return ranges[i].end > addr })
	var n uint64
	for ; i < len(ranges) && ranges[i].start < end; i++ {
		n += min(end, ranges[i].end) - max(addr, ranges[i].start)
	}
	return n
}

// top lists a service's stacks by held, then grown bytes, at most
// StacksShown, and forgets those with nothing left in the window.
func (t *stackTable) top(name string, at time.Time) []Stack {
	sv := t.svcs[name]
	if sv == nil {
		return nil
	}
	now := t.slotOf(at)
	out := make([]Stack, 0, min(len(sv.byKey), StacksShown))
	var keys []string
	for _, e := range sv.byKey {
		g, n := e.grownAt(now)
		if e.held == 0 && e.live == 0 && n == 0 {
			t.remove(sv, e)
			continue
		}
		out = append(out, Stack{HeldBytes: e.held, GrownBytes: g, Samples: n, Truncated: e.truncated, Frames: e.frames})
		keys = append(keys, e.key)
	}
	if len(sv.byKey) == 0 {
		delete(t.svcs, name)
	}
	idx := make([]int, len(out))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(i, j int) bool {
		a, b := &out[idx[i]], &out[idx[j]]
		if a.HeldBytes != b.HeldBytes {
			return a.HeldBytes > b.HeldBytes
		}
		if a.GrownBytes != b.GrownBytes {
			return a.GrownBytes > b.GrownBytes
		}
		return keys[idx[i]] < keys[idx[j]]
	})
	sorted := make([]Stack, 0, min(len(idx), StacksShown))
	for _, i := range idx[:min(len(idx), StacksShown)] {
		sorted = append(sorted, out[i])
	}
	if len(sorted) == 0 {
		return nil
	}
	return sorted
}

// dropServices forgets the stacks of services no longer listed.
func (t *stackTable) dropServices(listed func(name string) bool) {
	for name, sv := range t.svcs {
		if listed(name) {
			continue
		}
		for _, e := range sv.byKey {
			t.remove(sv, e)
		}
		delete(t.svcs, name)
	}
}

// stackEvent merges a sampled event's stack into its service, frees the
// samples of a process whose address space goes (exit, exec) and marks
// regions unmapped by an event dead early.
func (a *Aggregator) stackEvent(ev *tracer.Event) {
	pid := int(ev.PID)
	if ev.Sample != nil && a.cfg.Stacks != nil {
		a.queueSample(ev)
	}
	switch ev.Type {
	case tracer.EventExit, tracer.EventExec:
		a.stk.free(pid)
		if a.cfg.Stacks != nil {
			a.cfg.Stacks.Forget(ev.PID)
		}
		if a.cfg.Python != nil && ev.Type == tracer.EventExit {
			a.cfg.Python.Forget(ev.PID)
		}
	case tracer.EventMunmap:
		a.stk.unmapped(pid, ev.Alloc.Addr, ev.Alloc.Addr+ev.Alloc.Len, ev.Time)
	case tracer.EventBrk:
		if d := ev.Alloc.Delta; d < 0 { // the break lowered to Addr
			a.stk.unmapped(pid, ev.Alloc.Addr, ev.Alloc.Addr+uint64(-d), ev.Time)
		}
	}
}

// stackFigures checks what the live samples still hold and gives each
// service its top stacks.
func (a *Aggregator) stackFigures(now time.Time, snap *Snapshot) {
	a.drainSamples(stackWait)
	a.nameLater()
	t := a.stk
	t.check(func(pid int) (bool, uint64) {
		p, ok := a.table[pid]
		if !ok || p.exited {
			return false, 0
		}
		c := &p.ctr
		return true, c.MmapCalls + c.MunmapCalls + c.BrkCalls + c.MremapCalls + c.MprotectCalls
	})
	t.dropServices(func(name string) bool { return a.svcs[name] != nil })
	for i := range snap.Services {
		s := &snap.Services[i]
		s.Stacks = t.top(s.Name, now)
	}
	if a.cfg.Stacks != nil {
		st := t.stats
		snap.System.Stacks = &st
	}
}
