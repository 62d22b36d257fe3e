package tracer

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf/ringbuf"
)

func bytesOf[T any](v *T) []byte {
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))...)
}

func comm(s string) (c [16]int8) {
	for i := 0; i < len(s) && i < 15; i++ {
		c[i] = int8(s[i])
	}
	return c
}

func TestDecodeAlloc(t *testing.T) {
	raw := allocAllocEvent{
		Hdr:  allocEventHdr{TsNs: 1_000, StartNs: 77, Type: uint32(EventBrk), Pid: 42, Tid: 43, Comm: comm("python3")},
		Addr: 0x5000, Len: 4 << 20, Delta: -(4 << 20),
	}
	var ev Event
	if err := decodeEvent(bytesOf(&raw), clock{offset: 5_000}, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != EventBrk || ev.PID != 42 || ev.TID != 43 || ev.Comm != "python3" || ev.Start != 77 {
		t.Errorf("header decoded as %+v", ev)
	}
	if ev.Alloc.Addr != 0x5000 || ev.Alloc.Len != 4<<20 || ev.Alloc.Delta != -(4<<20) {
		t.Errorf("alloc decoded as %+v", ev.Alloc)
	}
	if ev.Time.UnixNano() != 6_000 {
		t.Errorf("time %d, want monotonic 1000 + offset 5000", ev.Time.UnixNano())
	}
}

func TestDecodeLifecycleAndOOM(t *testing.T) {
	var fn [160]int8
	for i, c := range "/usr/bin/python3" {
		fn[i] = int8(c)
	}
	life := procLifeEvent{Hdr: procEventHdr{Type: uint32(EventExit), Pid: 9, Comm: comm("w")}, Ppid: 1, ExitCode: 9, Filename: fn}
	var ev Event
	if err := decodeEvent(bytesOf(&life), clock{}, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != EventExit || ev.Proc.PPID != 1 || ev.Proc.ExitCode != 9 || ev.Proc.Filename != "/usr/bin/python3" {
		t.Errorf("exit decoded as %+v", ev)
	}
	o := oomOomEvent{VictimPid: 10, TriggerPid: 11, AnonRssPages: 3, PgtablesBytes: 8192, Source: uint32(oomOomSourceOOM_SRC_TRACEPOINT),
		VictimComm: comm("victim"), TriggerComm: comm("trigger")}
	copy(o.MemcgPath[:], []int8{'/', 'a'})
	if err := decodeOOM(bytesOf(&o), clock{}, &ev); err != nil {
		t.Fatal(err)
	}
	k := ev.OOM
	if ev.Type != EventOOMKill || k.Victim.PID != 10 || k.Trigger.PID != 11 || k.Victim.Comm != "victim" ||
		k.Trigger.Comm != "trigger" || k.AnonRSSBytes != 3*pageSize || k.PgTablesBytes != 8192 || k.MemcgPath != "/a" || k.Source != "tracepoint" {
		t.Errorf("oom decoded as %+v", k)
	}
}

func TestDecodeRejects(t *testing.T) {
	var ev Event
	if err := decodeEvent(make([]byte, 10), clock{}, &ev); err == nil {
		t.Error("short header accepted")
	}
	hdr := allocEventHdr{Type: uint32(EventMmap)}
	if err := decodeEvent(bytesOf(&hdr), clock{}, &ev); err == nil {
		t.Error("mmap event cut after its header accepted")
	}
	hdr.Type = 99
	big := append(bytesOf(&hdr), make([]byte, 512)...)
	if err := decodeEvent(big, clock{}, &ev); err == nil {
		t.Error("unknown type accepted")
	}
	if err := decodeOOM(make([]byte, 64), clock{}, &ev); err == nil {
		t.Error("short OOM event accepted")
	}
}

// fakeRing replays samples, then a deadline, then reports closed.
type fakeRing struct {
	samples   [][]byte
	deadlines int
}

func (f *fakeRing) ReadInto(r *ringbuf.Record) error {
	if len(f.samples) == 0 {
		if f.deadlines > 0 {
			f.deadlines--
			return os.ErrDeadlineExceeded
		}
		return ringbuf.ErrClosed
	}
	r.RawSample, f.samples = f.samples[0], f.samples[1:]
	return nil
}
func (f *fakeRing) SetDeadline(time.Time) {}
func (f *fakeRing) Flush() error          { return nil }
func (f *fakeRing) Close() error          { return nil }

func testSink(out chan Event) (*sink, chan struct{}, chan struct{}) {
	stopping, gone := make(chan struct{}), make(chan struct{})
	return &sink{out: out, stopping: stopping, gone: gone, received: new([numEventTypes]atomic.Uint64),
		dropped: new([numEventTypes]atomic.Uint64), undecoded: new(atomic.Uint64)}, stopping, gone
}

func mkAlloc(typ EventType, pid uint32) []byte {
	e := allocAllocEvent{Hdr: allocEventHdr{Type: uint32(typ), Pid: pid}}
	return bytesOf(&e)
}

func TestPump(t *testing.T) {
	ring := &fakeRing{samples: [][]byte{mkAlloc(EventMmap, 1), {1, 2, 3}, mkAlloc(EventMunmap, 2), mkAlloc(EventMmap, 3)}, deadlines: 2}
	out := make(chan Event, 10)
	s, _, _ := testSink(out)
	if err := pump(ring, decodeEvent, clock{}, pumpOpts{poll: time.Millisecond}, s); err != nil {
		t.Fatal(err)
	}
	close(out)
	var pids []uint32
	for ev := range out {
		pids = append(pids, ev.PID)
	}
	if len(pids) != 3 || pids[0] != 1 || pids[1] != 2 || pids[2] != 3 {
		t.Errorf("events in order %v, want [1 2 3]", pids)
	}
	if s.received[EventMmap].Load() != 2 || s.received[EventMunmap].Load() != 1 || s.undecoded.Load() != 1 {
		t.Errorf("received mmap=%d munmap=%d undecoded=%d, want 2, 1, 1", s.received[EventMmap].Load(), s.received[EventMunmap].Load(), s.undecoded.Load())
	}
}

type errRing struct{ fakeRing }

func (*errRing) ReadInto(*ringbuf.Record) error { return errors.New("boom") }

func TestPumpStopsOnErrorAndGone(t *testing.T) {
	s, stopping, gone := testSink(make(chan Event))
	if err := pump(&errRing{}, decodeEvent, clock{}, pumpOpts{}, s); err == nil {
		t.Error("read error swallowed")
	}
	close(stopping)
	close(gone)
	// Nobody reads out: pump still returns, the event counted as dropped.
	ring := &fakeRing{samples: [][]byte{mkAlloc(EventMmap, 1)}, deadlines: 2}
	if err := pump(ring, decodeEvent, clock{}, pumpOpts{}, s); err != nil {
		t.Error(err)
	}
	if r, d := s.received[EventMmap].Load(), s.dropped[EventMmap].Load(); r != 0 || d != 1 {
		t.Errorf("received %d, dropped %d; want 0 and 1", r, d)
	}
}

// memRing behaves as a BPF ring whose samples were submitted without a
// wakeup: a read sees them only once a Flush or its deadline wakes it, and
// then reads them all before it reports why it woke.
type memRing struct {
	mu       sync.Mutex
	samples  [][]byte
	deadline time.Time
	pending  error
	flush    chan struct{}
	closed   chan struct{}
	once     sync.Once
}

func newMemRing(samples ...[]byte) *memRing {
	return &memRing{samples: samples, flush: make(chan struct{}, 1), closed: make(chan struct{})}
}

func (m *memRing) ReadInto(r *ringbuf.Record) error {
	m.mu.Lock()
	if m.pending == nil {
		var timeout <-chan time.Time
		if !m.deadline.IsZero() {
			timeout = time.After(time.Until(m.deadline))
		}
		m.mu.Unlock()
		var why error
		select {
		case <-m.flush:
			why = ringbuf.ErrFlushed
		case <-timeout:
			why = os.ErrDeadlineExceeded
		case <-m.closed:
			return ringbuf.ErrClosed
		}
		m.mu.Lock()
		m.pending = why
	}
	defer m.mu.Unlock()
	if len(m.samples) > 0 {
		r.RawSample, m.samples = m.samples[0], m.samples[1:]
		return nil
	}
	why := m.pending
	m.pending = nil
	return why
}

func (m *memRing) SetDeadline(d time.Time) {
	m.mu.Lock()
	m.deadline = d
	m.mu.Unlock()
}

func (m *memRing) Flush() error {
	select {
	case m.flush <- struct{}{}:
	default:
	}
	return nil
}

func (m *memRing) Close() error {
	m.once.Do(func() { close(m.closed) })
	return nil
}

func (m *memRing) isClosed() bool {
	select {
	case <-m.closed:
		return true
	default:
		return false
	}
}

// The end of Start's context hands on what the ring still holds, though no
// wakeup came for it, then closes Events and the reader; Close after it,
// and twice, is harmless.
func TestStopOnContextAndClose(t *testing.T) {
	ring := newMemRing(mkAlloc(EventMmap, 7), mkAlloc(EventMmap, 8), mkAlloc(EventMunmap, 9))
	tr := newTracer(Config{Logger: slog.Default()})
	tr.readers = []ringReader{ring}
	tr.run(ring, decodeEvent, pumpOpts{})
	ctx, cancel := context.WithCancel(context.Background())
	tr.watch(ctx)
	cancel()
	var pids []uint32
	timeout := time.After(5 * time.Second)
	for open := true; open; {
		select {
		case ev, ok := <-tr.Events():
			if open = ok; ok {
				pids = append(pids, ev.PID)
			}
		case <-timeout:
			t.Fatalf("Events still open 5s after the context ended, after %v", pids)
		}
	}
	if len(pids) != 3 || pids[0] != 7 || pids[1] != 8 || pids[2] != 9 {
		t.Errorf("events %v after the context ended, want [7 8 9]", pids)
	}
	if !ring.isClosed() {
		t.Error("the ring reader was not closed")
	}
	if m, u := tr.received[EventMmap].Load(), tr.received[EventMunmap].Load(); m != 2 || u != 1 {
		t.Errorf("received %d mmap and %d munmap events, want 2 and 1", m, u)
	}
	for i := range 2 {
		if err := tr.Close(); err != nil {
			t.Errorf("Close #%d: %v", i+1, err)
		}
	}
}

// Close with no one reading Events does not wait for a reader: what the
// ring holds beyond the channel's room is counted as dropped.
func TestCloseCountsDropped(t *testing.T) {
	ring := newMemRing(mkAlloc(EventMmap, 1), mkAlloc(EventMmap, 2), mkAlloc(EventBrk, 3))
	tr := newTracer(Config{Logger: slog.Default()})
	tr.events = make(chan Event, 1)
	tr.readers = []ringReader{ring}
	tr.run(ring, decodeEvent, pumpOpts{poll: time.Hour})
	tr.watch(context.Background())
	closed := make(chan error)
	go func() { closed <- tr.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close waits for a reader of Events")
	}
	if ev := <-tr.Events(); ev.PID != 1 {
		t.Errorf("first event %+v, want pid 1", ev)
	}
	recv := tr.received[EventMmap].Load()
	drop := tr.dropped[EventMmap].Load() + tr.dropped[EventBrk].Load()
	if recv != 1 || drop != 2 {
		t.Errorf("received %d, dropped %d; want 1 handed on and 2 dropped", recv, drop)
	}
}

// Close without a context's end, twice, closes Events once.
func TestCloseTwice(t *testing.T) {
	ring := newMemRing()
	tr := newTracer(Config{Logger: slog.Default()})
	tr.readers = []ringReader{ring}
	tr.run(ring, decodeEvent, pumpOpts{})
	tr.watch(context.Background())
	for i := range 2 {
		if err := tr.Close(); err != nil {
			t.Errorf("Close #%d: %v", i+1, err)
		}
	}
	if _, ok := <-tr.Events(); ok {
		t.Error("Events open after Close")
	}
}

func TestParseFormat(t *testing.T) {
	const format = `name: mark_victim
ID: 609
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:int pid;	offset:8;	size:4;	signed:1;
	field:__data_loc char[] comm;	offset:12;	size:4;	signed:0;
	field:unsigned long total_vm;	offset:16;	size:8;	signed:0;
	field:short oom_score_adj;	offset:64;	size:2;	signed:1;

print fmt: "pid=%d", REC->pid
`
	got := parseFormat(format)
	want := map[string]int{"common_type": 0, "common_pid": 4, "pid": 8, "comm": 12, "total_vm": 16, "oom_score_adj": 64}
	if len(got) != len(want) {
		t.Errorf("parsed %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s at %d, want %d", k, got[k], v)
		}
	}
	// Kernels before 6.7 have only the pid.
	if old := parseFormat("\tfield:int pid;\toffset:8;\tsize:4;\tsigned:1;\n"); len(old) != 1 || old["pid"] != 8 {
		t.Errorf("old format parsed as %v", old)
	}
}

func TestEventTypeNames(t *testing.T) {
	want := []string{"mmap", "munmap", "brk", "mremap", "mprotect", "fork", "exec", "exit", "oom_kill"}
	types := EventTypes()
	if len(types) != len(want) {
		t.Fatalf("%d types, want %d", len(types), len(want))
	}
	for i, typ := range types {
		if typ.String() != want[i] {
			t.Errorf("type %d is %q, want %q", typ, typ, want[i])
		}
	}
	if EventType(77).String() != "type77" {
		t.Error("unknown type not named by number")
	}
}
