package tracer

import (
	"context"
	"errors"
	"log/slog"
	"os"
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
func (f *fakeRing) Close() error          { return nil }

func TestPump(t *testing.T) {
	mk := func(typ EventType, pid uint32) []byte {
		e := allocAllocEvent{Hdr: allocEventHdr{Type: uint32(typ), Pid: pid}}
		return bytesOf(&e)
	}
	ring := &fakeRing{samples: [][]byte{mk(EventMmap, 1), {1, 2, 3}, mk(EventMunmap, 2), mk(EventMmap, 3)}, deadlines: 2}
	out := make(chan Event, 10)
	var recv [numEventTypes]atomic.Uint64
	var bad atomic.Uint64
	if err := pump(ring, decodeEvent, clock{}, pumpOpts{poll: time.Millisecond}, out, make(chan struct{}), &recv, &bad); err != nil {
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
	if recv[EventMmap].Load() != 2 || recv[EventMunmap].Load() != 1 || bad.Load() != 1 {
		t.Errorf("received mmap=%d munmap=%d undecoded=%d, want 2, 1, 1", recv[EventMmap].Load(), recv[EventMunmap].Load(), bad.Load())
	}
}

type errRing struct{ fakeRing }

func (*errRing) ReadInto(*ringbuf.Record) error { return errors.New("boom") }

func TestPumpStopsOnErrorAndDone(t *testing.T) {
	var recv [numEventTypes]atomic.Uint64
	var bad atomic.Uint64
	if err := pump(&errRing{}, decodeEvent, clock{}, pumpOpts{}, make(chan Event), nil, &recv, &bad); err == nil {
		t.Error("read error swallowed")
	}
	e := allocAllocEvent{Hdr: allocEventHdr{Type: uint32(EventMmap)}}
	done := make(chan struct{})
	close(done)
	ring := &fakeRing{samples: [][]byte{bytesOf(&e)}}
	// Nobody reads out: pump must still return once done is closed.
	if err := pump(ring, decodeEvent, clock{}, pumpOpts{}, make(chan Event), done, &recv, &bad); err != nil {
		t.Error(err)
	}
}

// blockRing replays samples, then blocks until closed, like a quiet ring.
type blockRing struct {
	samples [][]byte
	closed  chan struct{}
}

func (b *blockRing) ReadInto(r *ringbuf.Record) error {
	if len(b.samples) > 0 {
		r.RawSample, b.samples = b.samples[0], b.samples[1:]
		return nil
	}
	<-b.closed
	return ringbuf.ErrClosed
}
func (b *blockRing) SetDeadline(time.Time) {}
func (b *blockRing) Close() error          { close(b.closed); return nil }

// The end of Start's context stops the readers and closes Events; Close
// after it, and twice, is harmless.
func TestStopOnContextAndClose(t *testing.T) {
	e := allocAllocEvent{Hdr: allocEventHdr{Type: uint32(EventMmap), Pid: 7}}
	ring := &blockRing{samples: [][]byte{bytesOf(&e)}, closed: make(chan struct{})}
	tr := &Tracer{cfg: Config{Logger: slog.Default()}, events: make(chan Event, 4), done: make(chan struct{})}
	tr.readers = []ringReader{ring}
	tr.run(ring, decodeEvent, pumpOpts{})
	ctx, cancel := context.WithCancel(context.Background())
	tr.watch(ctx)
	if ev := <-tr.Events(); ev.PID != 7 {
		t.Fatalf("event %+v, want pid 7", ev)
	}
	select {
	case ev, ok := <-tr.Events():
		t.Fatalf("Events gave %+v (open %v) before the context ended", ev, ok)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	select {
	case ev, ok := <-tr.Events():
		if ok {
			t.Fatalf("Events gave %+v after the context ended", ev)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Events still open 2s after the context ended")
	}
	select {
	case <-ring.closed:
	default:
		t.Error("the ring reader was not closed")
	}
	if got := tr.received[EventMmap].Load(); got != 1 {
		t.Errorf("received %d mmap events, want 1", got)
	}
	for i := range 2 {
		if err := tr.Close(); err != nil {
			t.Errorf("Close #%d: %v", i+1, err)
		}
	}
}

// Close without a context's end, twice, closes Events once.
func TestCloseTwice(t *testing.T) {
	ring := &blockRing{closed: make(chan struct{})}
	tr := &Tracer{cfg: Config{Logger: slog.Default()}, events: make(chan Event, 4), done: make(chan struct{})}
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
