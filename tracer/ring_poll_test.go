package tracer

import (
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/oomtrace/oomtrace/internal/testutil"
)

const (
	rbNoWakeup    = 1 // BPF_RB_NO_WAKEUP
	rbForceWakeup = 2 // BPF_RB_FORCE_WAKEUP
)

// testRing is a real ring and a program that submits one 8-byte record to
// it, with the given wakeup flag, each time it runs.
type testRing struct {
	m      *ebpf.Map
	submit map[int]*ebpf.Program // by flag
}

func newTestRing(t *testing.T) *testRing {
	t.Helper()
	testutil.NeedRoot(t)
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.RingBuf, MaxEntries: 4096})
	if err != nil {
		t.Fatalf("ring: %+v", err)
	}
	t.Cleanup(func() { m.Close() })
	r := &testRing{m: m, submit: map[int]*ebpf.Program{}}
	for _, flag := range []int{rbNoWakeup, rbForceWakeup} {
		p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SocketFilter, License: "GPL", Instructions: asm.Instructions{
			asm.LoadImm(asm.R1, 0, asm.DWord),
			asm.StoreMem(asm.RFP, -8, asm.R1, asm.DWord),
			asm.LoadMapPtr(asm.R1, m.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -8),
			asm.Mov.Imm(asm.R3, 8),
			asm.Mov.Imm(asm.R4, int32(flag)),
			asm.FnRingbufOutput.Call(),
			asm.Mov.Imm(asm.R0, 0),
			asm.Return(),
		}})
		if err != nil {
			t.Fatalf("program: %+v", err)
		}
		t.Cleanup(func() { p.Close() })
		r.submit[flag] = p
	}
	return r
}

func (r *testRing) put(t *testing.T, flag int) {
	t.Helper()
	if _, err := r.submit[flag].Run(&ebpf.RunOptions{Data: make([]byte, 64)}); err != nil {
		t.Fatalf("submit: %v", err)
	}
}

// read runs one ReadInto in the background and returns what it ends with.
func read(p *polledRing) <-chan error {
	done := make(chan error, 1)
	go func() {
		var rec ringbuf.Record
		err := p.ReadInto(&rec)
		if err == nil && len(rec.RawSample) != 8 {
			err = errors.New("record of the wrong size")
		}
		done <- err
	}()
	return done
}

// waitParked waits until a ReadInto waits in the runtime's poller ("IO
// wait"), not in a system call, which would hold a thread.
func waitParked(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, "[IO wait") && strings.Contains(g, "(*polledRing).wait") {
				return
			}
		}
	}
	t.Fatalf("no read waits in the runtime's poller:\n%s", buf[:runtime.Stack(buf, true)])
}

// The wait is in the runtime's poller, and still ends as ringbuf.Reader's
// does: at a wakeup, at the deadline (after what was submitted without
// one), at a Flush, at Close.
func TestPolledRing(t *testing.T) {
	r := newTestRing(t)
	p, err := newPolledRing(r.m)
	if err != nil {
		t.Fatalf("the ring's descriptor is not pollable on this kernel: %v", err)
	}
	defer p.Close()

	// A record without a wakeup waits for the deadline.
	r.put(t, rbNoWakeup)
	p.SetDeadline(time.Now().Add(time.Hour))
	var rec ringbuf.Record
	if err := p.ReadInto(&rec); err != nil || binary.LittleEndian.Uint64(rec.RawSample) != 0 {
		t.Fatalf("a record submitted before the read: %v", err)
	}
	const poll = 300 * time.Millisecond
	start := time.Now()
	p.SetDeadline(start.Add(poll))
	got := read(p)
	waitParked(t) // a record already there is read at once
	r.put(t, rbNoWakeup)
	if err := <-got; err != nil {
		t.Fatalf("the record submitted without a wakeup: %v", err)
	}
	if waited := time.Since(start); waited < poll-10*time.Millisecond {
		t.Errorf("a record submitted without a wakeup was read after %v, before the %v deadline", waited, poll)
	}
	if err := p.ReadInto(&rec); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("after the record, %v; want the deadline", err)
	}

	// A wakeup ends a wait with no deadline.
	p.SetDeadline(time.Time{})
	got = read(p)
	waitParked(t)
	r.put(t, rbForceWakeup)
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a forced wakeup did not end the wait")
	}

	// Flush ends it after the records there are, without a wakeup.
	got = read(p)
	r.put(t, rbNoWakeup)
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("the record before the flush: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Flush did not end the wait")
	}
	if err := p.ReadInto(&rec); !errors.Is(err, ringbuf.ErrFlushed) {
		t.Fatalf("after the flushed record, %v; want ringbuf.ErrFlushed", err)
	}

	// Close ends it too.
	got = read(p)
	waitParked(t)
	p.Close()
	select {
	case err := <-got:
		if !errors.Is(err, ringbuf.ErrClosed) {
			t.Fatalf("a wait ended by Close: %v, want ringbuf.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the wait")
	}
}
