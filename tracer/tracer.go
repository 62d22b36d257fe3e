// Package tracer loads oomtrace's BPF programs, attaches them with fallbacks,
// and hands their events and counters to the rest of the program as Go values.
// It is the only package that knows about BPF.
package tracer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"structs"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/oomtrace/oomtrace/internal/safe"
)

// Config tunes a Tracer. The zero value gets the defaults.
type Config struct {
	MinSize      uint64        // stream allocations of at least this many bytes (default 1 MiB)
	RingBytes    uint32        // events ring size, a power of two pages (default 512 KiB)
	OOMRingBytes uint32        // OOM ring size (default 64 KiB)
	WakeupBytes  uint64        // wake the reader once this much is queued (default 64 KiB)
	Poll         time.Duration // longest delay before a queued event is read (default 100ms)
	// StackSample is the stack sampling interval: a process's call is
	// sampled (Event.Sample) each time its growth (anonymous or writable
	// mmap, brk and mremap growth, mprotect to writable) crosses this many
	// bytes since its previous sample, jittered by ±50%. 0 turns sampling
	// off; DefaultStackSample is the CLI's default.
	StackSample uint64
	// StackRingBytes is the stack samples' ring size, a power of two pages
	// (default 2 MiB: 60 samples of the largest size, Python frames included).
	StackRingBytes uint32
	// ForceTracepoint skips tp_btf where a plain tracepoint can stand in
	// (oom/mark_victim), to exercise the fallback.
	ForceTracepoint bool
	// NoFentry keeps the syscall hooks on tracepoints where fexit is permitted.
	NoFentry bool
	// NoTaskWalk samples processes with the iter/task iterator even where
	// the task walk loads, to exercise the fallback.
	NoTaskWalk bool
	// WalkCapacity is the task walk's initial room, in processes (default
	// 8192); it doubles whenever a pass finds more.
	WalkCapacity uint32
	// ProcSlots is the size of the table the syscall hooks count in, a power
	// of two up to 32768 (default: pid_max rounded up); a process whose
	// slot is taken counts in task storage instead. Negative turns the table
	// off, so that every process counts in task storage.
	ProcSlots int
	Logger    *slog.Logger
}

// DefaultStackSample is the stack sampling interval oomtrace uses unless told.
const DefaultStackSample = 512 << 10

func (c *Config) defaults() {
	if c.MinSize == 0 {
		c.MinSize = 1 << 20
	}
	c.ProcSlots = procSlots(c.ProcSlots)
	if c.WalkCapacity == 0 {
		c.WalkCapacity = 8192
	}
	if c.RingBytes == 0 {
		c.RingBytes = 512 << 10
	}
	if c.StackRingBytes == 0 {
		c.StackRingBytes = 2 << 20
		if c.StackSample == 0 {
			c.StackRingBytes = uint32(os.Getpagesize()) // unused
		}
	}
	if c.OOMRingBytes == 0 {
		c.OOMRingBytes = 64 << 10
	}
	if c.WakeupBytes == 0 {
		c.WakeupBytes = 64 << 10
	}
	if c.Poll == 0 {
		c.Poll = 100 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Counters are one process's kernel-side totals since it was first seen:
// struct proc_counters of bpf/events.h. It repeats the generated types'
// fields so that the API is not bpf2go's: the conversions from them (in
// Tracer.Counters and decodeSamples) compile only while the layouts stay
// identical, and cost nothing.
type Counters struct {
	_                  structs.HostLayout
	MmapCalls          uint64
	MmapAnonBytes      uint64
	MmapFileBytes      uint64
	MmapReserveBytes   uint64 // PROT_NONE reservations
	MunmapCalls        uint64
	MunmapBytes        uint64
	BrkCalls           uint64
	BrkGrowBytes       uint64
	BrkShrinkBytes     uint64
	BrkCur             uint64 // last break seen
	MremapCalls        uint64
	MremapGrowBytes    uint64
	MremapShrinkBytes  uint64
	MprotectCalls      uint64
	MprotectWriteBytes uint64 // made writable
	FailedCalls        uint64
	// Stack sampling (feat/stack-bpf's fields of proc_counters).
	SampleLeft  int64 // growth bytes before the next sample
	SampleArmed uint64
	SampleTaken uint64
	SampleBusy  uint64
	Samples     uint64
	SamplesLost uint64
}

// Stats are per-type event counts: received by userspace and lost. Once
// the tracer has stopped, every event generated is received or lost.
type Stats struct {
	Received  map[EventType]uint64
	LostRing  map[EventType]uint64 // ring buffer full
	LostMap   map[EventType]uint64 // per-process storage could not be created
	Dropped   map[EventType]uint64 // read at Close with no room left in Events
	Undecoded uint64
	// Stack samples: events with a Sample, also counted in Received or
	// Dropped by type. A sample lost is not an event lost: a call big
	// enough to stream is still sent without its sample.
	SamplesReceived uint64
	SamplesLost     uint64 // stacks ring full
	SamplesDropped  uint64 // read at Close with no room left in Events
}

// Lost sums every kind of loss of one type.
func (s Stats) Lost(t EventType) uint64 { return s.LostRing[t] + s.LostMap[t] + s.Dropped[t] }

// LostTotal sums every kind of loss.
func (s Stats) LostTotal() uint64 {
	var n uint64
	for _, m := range []map[EventType]uint64{s.LostRing, s.LostMap, s.Dropped} {
		for _, v := range m {
			n += v
		}
	}
	return n
}

// Tracer owns the loaded BPF objects, their links and the ring readers.
type Tracer struct {
	cfg   Config
	clock clock
	objs  *objects
	hooks []Hook

	links    []link.Link
	readers  []ringReader
	events   chan Event
	stopping chan struct{} // closed by stop once the links are gone
	gone     chan struct{} // closed by Close: no one reads events any more
	wg       sync.WaitGroup

	sampler     sampler
	samplerMode string

	received  [numEventTypes]atomic.Uint64
	dropped   [numEventTypes]atomic.Uint64
	undecoded atomic.Uint64
	samples   [2]atomic.Uint64 // received, dropped
	onExec    atomic.Pointer[func(pid uint32)]

	startOnce sync.Once
	stopOnce  sync.Once
	stopErr   error
	closeOnce sync.Once
	closeErr  error
}

// New checks privileges and kernel features and loads the programs. Nothing is
// attached until Start.
func New(cfg Config) (*Tracer, error) {
	cfg.defaults()
	if err := prepare(); err != nil {
		return nil, err
	}
	t := newTracer(cfg)
	t.clock = newClock()
	objs, hooks, err := load(cfg)
	if err != nil {
		return nil, err
	}
	t.objs, t.hooks = objs, hooks
	return t, nil
}

func newTracer(cfg Config) *Tracer {
	return &Tracer{cfg: cfg, events: make(chan Event, 4096), stopping: make(chan struct{}), gone: make(chan struct{})}
}

// prepare checks privileges and the kernel, and lifts the memlock limit.
func prepare() error {
	if err := CheckPrivileges(); err != nil {
		return err
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return fmt.Errorf("remove memlock limit: %w", err)
	}
	return checkKernel()
}

// Hooks reports each hook and the mechanism chosen for it.
func (t *Tracer) Hooks() []Hook { return append([]Hook(nil), t.hooks...) }

// Sampler says how Processes reads every process: SamplerWalk, SamplerIter
// or SamplerProc (none; known after Start).
func (t *Tracer) Sampler() string { return t.samplerMode }

// Start attaches every program and starts reading the rings. When ctx ends,
// the programs are detached, what the rings still hold is read and handed
// to Events, which is then closed: a consumer that reads Events until it
// closes gets every event not counted lost. Counters, Stats and Processes
// keep working until Close, which must still be called.
func (t *Tracer) Start(ctx context.Context) error {
	err := errors.New("tracer already started")
	t.startOnce.Do(func() {
		if err = t.start(); err == nil {
			t.watch(ctx)
		}
	})
	return err
}

// watch stops the tracer when ctx ends, unless it was stopped first.
func (t *Tracer) watch(ctx context.Context) {
	go func() {
		select {
		case <-ctx.Done():
			t.stop()
		case <-t.stopping:
		}
	}()
}

func (t *Tracer) start() error {
	// Exit first, then fork and exec, then the rest: a process must not take
	// a slot before its exit can free it, nor count there with plain adds
	// before its second thread can be seen.
	rank := func(h *Hook) int {
		switch {
		case h.Name == "sched/sched_process_exit":
			return 0
		case strings.HasPrefix(h.Name, "sched/"):
			return 1
		}
		return 2
	}
	for r := range 3 {
		for i := range t.hooks {
			h := &t.hooks[i]
			if rank(h) != r {
				continue
			}
			l, err := h.attach()
			if err != nil {
				t.Close()
				return fmt.Errorf("attach %s (%s): %w", h.Name, h.Mechanism, err)
			}
			t.links = append(t.links, l)
		}
	}
	mode, err := t.sampler.setup(t.cfg, t.objs.shared, t.objs.cache, t.objs.sampler)
	t.objs.cache = nil // the kernel's BTF (some 4.5 MiB of heap): loading is done
	t.samplerMode = mode
	switch {
	case mode == SamplerProc:
		t.cfg.Logger.Info("fallback: no task walk or task iterator; reading /proc per process", "err", safe.FirstLine(err.Error()))
	case err != nil:
		t.cfg.Logger.Info("fallback: processes sampled by "+mode, "task walk", safe.FirstLine(err.Error()))
	}
	evr, err := openRing(t.objs.events, "events", t.cfg.Logger)
	if err != nil {
		t.Close()
		return fmt.Errorf("events ring reader: %w", err)
	}
	oomr, err := openRing(t.objs.oomEvents, "oom", t.cfg.Logger)
	if err != nil {
		evr.Close()
		t.Close()
		return fmt.Errorf("oom ring reader: %w", err)
	}
	t.readers = []ringReader{evr, oomr}
	if t.cfg.StackSample > 0 {
		str, err := openRing(t.objs.stacks, "stacks", t.cfg.Logger)
		if err != nil {
			t.Close()
			return fmt.Errorf("stacks ring reader: %w", err)
		}
		t.readers = append(t.readers, str)
		t.run(str, decodeStack, pumpOpts{poll: t.cfg.Poll})
	}
	flushed := make(chan struct{}, 1)
	evDone := t.run(evr, decodeEvent, pumpOpts{poll: t.cfg.Poll, flushed: flushed, exec: t.execHook})
	// OOM events wake their reader at once. What the events ring already
	// holds (the allocations before the kill) is handed on first.
	t.run(oomr, decodeOOM, pumpOpts{before: func() { drain(evr, flushed, evDone) }})
	return nil
}

// drain makes the events pump deliver what its ring holds now, waiting a little.
func drain(r ringReader, flushed, pumpDone <-chan struct{}) {
	if r.Flush() != nil {
		return
	}
	select {
	case <-flushed:
	case <-pumpDone:
	case <-time.After(250 * time.Millisecond):
	}
}

// run starts a read loop; the channel returned is closed when it returns.
func (t *Tracer) run(r ringReader, d decodeFunc, o pumpOpts) <-chan struct{} {
	s := &sink{out: t.events, stopping: t.stopping, gone: t.gone,
		received: &t.received, dropped: &t.dropped, undecoded: &t.undecoded, samples: &t.samples}
	done := make(chan struct{})
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer close(done)
		if err := pump(r, d, t.clock, o, s); err != nil {
			t.cfg.Logger.Error("ring reader stopped", "err", err)
		}
	}()
	return done
}

// Events delivers events until Close or the end of Start's context; then the
// channel is closed. After Close, what Events has no room for is dropped.
func (t *Tracer) Events() <-chan Event { return t.events }

// Counters returns the kernel's counters for a live process: from its slot,
// if it owns one, else from its task storage.
func (t *Tracer) Counters(pid int) (Counters, error) {
	var c Counters
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return c, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(fd)
	var s allocProcSlot
	if err := t.objs.slots.Lookup(uint32(pid)&(t.objs.slots.MaxEntries()-1), &s); err != nil {
		return c, fmt.Errorf("counters of %d: %w", pid, err)
	}
	// A slot is freed when its process exits, before its pid can be reused:
	// while the pidfd's process has not been reaped, an owner with its pid is it.
	if s.Tgid == uint64(pid) && s.StartNs != 0 && unix.PidfdSendSignal(fd, 0, nil, 0) == nil {
		return Counters(s.Counters), nil
	}
	if err := t.objs.procs.Lookup(uint32(fd), &c); err != nil {
		return c, fmt.Errorf("counters of %d: %w", pid, err)
	}
	return c, nil
}

// SlotOwner returns the pid that owns the slot pid's process counts in
// (its pid modulo the table's size) if it is free when the process forks,
// execs or first calls; 0 when the slot is free or there is no table.
func (t *Tracer) SlotOwner(pid int) (int, error) {
	if t.cfg.ProcSlots < 0 {
		return 0, nil
	}
	var s allocProcSlot
	if err := t.objs.slots.Lookup(uint32(pid)&(t.objs.slots.MaxEntries()-1), &s); err != nil {
		return 0, fmt.Errorf("slot of %d: %w", pid, err)
	}
	return int(s.Tgid), nil
}

// SlotOwners lists the pids that own a slot of the table now.
func (t *Tracer) SlotOwners() ([]int, error) {
	var (
		key    uint32
		s      allocProcSlot
		owners []int
	)
	it := t.objs.slots.Iterate()
	for it.Next(&key, &s) {
		if s.Tgid != 0 {
			owners = append(owners, int(s.Tgid))
		}
	}
	return owners, it.Err()
}

// Stats returns received and lost counts per event type.
func (t *Tracer) Stats() (Stats, error) {
	s := Stats{Received: map[EventType]uint64{}, LostRing: map[EventType]uint64{}, LostMap: map[EventType]uint64{}, Dropped: map[EventType]uint64{}}
	for _, et := range EventTypes() {
		s.Received[et] = t.received[et].Load()
		s.Dropped[et] = t.dropped[et].Load()
	}
	s.Undecoded = t.undecoded.Load()
	s.SamplesReceived, s.SamplesDropped = t.samples[0].Load(), t.samples[1].Load()
	var stackLost []uint64
	if err := t.objs.stackLost.Lookup(uint32(0), &stackLost); err != nil {
		return s, fmt.Errorf("read lost stack samples: %w", err)
	}
	for _, n := range stackLost {
		s.SamplesLost += n
	}
	var perCPU []allocLostCounters
	if err := t.objs.lost.Lookup(uint32(0), &perCPU); err != nil {
		return s, fmt.Errorf("read lost counters: %w", err)
	}
	for _, c := range perCPU {
		for _, et := range EventTypes() {
			s.LostRing[et] += c.Ring[et]
			s.LostMap[et] += c.Map[et]
		}
	}
	return s, nil
}

// stop detaches the programs, reads the rings dry and stops the readers,
// once. The Events channel is closed when it returns; the maps stay readable.
func (t *Tracer) stop() error {
	t.stopOnce.Do(func() {
		var errs []error
		// Detached first, so that the rings only empty from here on.
		for _, l := range t.links {
			errs = append(errs, l.Close())
		}
		close(t.stopping)
		for _, r := range t.readers {
			errs = append(errs, r.Flush()) // wakes a read blocked on a quiet ring
		}
		t.wg.Wait()
		for _, r := range t.readers {
			errs = append(errs, r.Close())
		}
		close(t.events)
		t.stopErr = errors.Join(errs...)
	})
	return t.stopErr
}

// Close stops the tracer if Start's context has not, and releases the BPF
// objects. It is safe to call more than once, and after the context ended.
// The Events channel is closed when it returns. It does not wait for a
// reader of Events: what the rings hold beyond the channel's room is
// counted in Stats.Dropped.
func (t *Tracer) Close() error {
	t.closeOnce.Do(func() {
		close(t.gone)
		errs := []error{t.stop(), t.sampler.close()}
		if t.objs != nil {
			errs = append(errs, t.objs.Close())
		}
		t.closeErr = errors.Join(errs...)
	})
	return t.closeErr
}
