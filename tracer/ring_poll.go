package tracer

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

// polledRing reads a ring as *ringbuf.Reader does, but waits for it in the
// Go runtime's poller instead of in a blocking epoll_wait. The runtime's
// monitor takes the processor of a thread blocked in a system call, and
// after each take polls every 20 µs for a while: with the stacks ring
// waking its reader, that cost the reader more CPU than its samples did.
type polledRing struct {
	r     *ringbuf.Reader // read without blocking: its deadline is in the past
	f     *os.File        // a duplicate of the ring's descriptor, in the runtime's poller
	rc    syscall.RawConn
	flush atomic.Bool

	mu       sync.Mutex // r, deadline, closed
	deadline time.Time
	closed   bool
	// cb orders the wait's look at r before Close's of r. Close waits for
	// the wait to end (no look comes after), but through the runtime,
	// unseen by the race detector.
	cb      sync.Mutex
	pending error // why the last wait ended, returned once the ring is read dry (the reader's own)
}

// past is a deadline that has passed: a read with it does not block.
var past = time.Unix(1, 0)

// openRing reads m through a polledRing, or else, saying so, with a
// ringbuf.Reader.
func openRing(m *ebpf.Map, name string, log *slog.Logger) (ringReader, error) {
	p, err := newPolledRing(m)
	if err == nil {
		return p, nil
	}
	log.Info("fallback: ring read with blocking waits", "ring", name, "err", err)
	return ringbuf.NewReader(m)
}

// newPolledRing reads m. It fails where the ring's descriptor cannot be
// polled by the runtime; the caller then reads m with a ringbuf.Reader.
func newPolledRing(m *ebpf.Map) (*polledRing, error) {
	fd, err := unix.FcntlInt(uintptr(m.FD()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dup ring descriptor: %w", err)
	}
	// O_NONBLOCK is the open file's, so m's own descriptor gets it too:
	// no bpf() command on a map looks at it.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("ring descriptor: %w", err)
	}
	f := os.NewFile(uintptr(fd), "ring")
	// Only a descriptor the runtime's poller took has deadlines.
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		return nil, fmt.Errorf("ring descriptor not pollable: %w", err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	r, err := ringbuf.NewReader(m)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.SetDeadline(past)
	return &polledRing{r: r, f: f, rc: rc}, nil
}

// ReadInto returns the next record. When the ring is empty it waits for a
// wakeup, the deadline or a Flush; after either of the last two it reads
// what the ring holds, then returns os.ErrDeadlineExceeded or
// ringbuf.ErrFlushed, as ringbuf.Reader does.
func (p *polledRing) ReadInto(rec *ringbuf.Record) error {
	for {
		p.mu.Lock()
		err := error(os.ErrDeadlineExceeded)
		switch {
		case p.closed:
			err = ringbuf.ErrClosed
		case p.r.AvailableBytes() > 0: // else no epoll_wait to learn it is empty
			err = p.r.ReadInto(rec)
		}
		d := p.deadline
		p.mu.Unlock()
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		if p.pending != nil {
			err, p.pending = p.pending, nil
			return err
		}
		if p.pending = p.wait(d); errors.Is(p.pending, os.ErrClosed) {
			return ringbuf.ErrClosed
		}
	}
}

// wait returns nil once the ring has data, or why it stopped waiting.
func (p *polledRing) wait(deadline time.Time) error {
	if err := p.f.SetReadDeadline(deadline); err != nil {
		return err
	}
	err := p.rc.Read(func(uintptr) bool {
		if p.flush.Load() {
			return true
		}
		p.cb.Lock()
		defer p.cb.Unlock()
		return p.r.AvailableBytes() > 0
	})
	switch {
	case p.flush.Swap(false):
		return ringbuf.ErrFlushed
	case errors.Is(err, os.ErrDeadlineExceeded):
		return os.ErrDeadlineExceeded
	}
	return err
}

// SetDeadline bounds the next wait; the zero time is none.
func (p *polledRing) SetDeadline(t time.Time) {
	p.mu.Lock()
	p.deadline = t
	p.mu.Unlock()
}

// Flush ends a wait, or the next one, with ringbuf.ErrFlushed.
func (p *polledRing) Flush() error {
	p.flush.Store(true)
	// Set after the flag: a wait that already passed its check wakes.
	return p.f.SetReadDeadline(past)
}

// Close ends a wait with ringbuf.ErrClosed.
func (p *polledRing) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	errF := p.f.Close() // ends a wait, and waits for it to return
	p.cb.Lock()
	defer p.cb.Unlock()
	return errors.Join(errF, p.r.Close())
}
