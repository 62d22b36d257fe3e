package tracer

import (
	"errors"
	"os"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf/ringbuf"
)

// ringReader is the part of *ringbuf.Reader the read loop uses; tests fake it.
type ringReader interface {
	ReadInto(*ringbuf.Record) error
	SetDeadline(time.Time)
	Flush() error
	Close() error
}

// decodeFunc turns one sample into an event.
type decodeFunc func(raw []byte, c clock, ev *Event) error

// pumpOpts are the knobs of one ring's read loop.
type pumpOpts struct {
	poll    time.Duration    // >0: re-arm a read deadline so samples submitted without a wakeup are read within poll
	flushed chan<- struct{}  // told each time a Flush of this ring has been drained
	before  func()           // called before each event is handed on
	exec    func(pid uint32) // called as an exec event is read, before it queues
}

// sink is where the read loops hand events on, what they count, and how
// they learn to stop.
type sink struct {
	out chan<- Event
	// stopping is closed once nothing new can enter the rings: each loop
	// then reads its ring dry and returns. A Flush wakes a blocked read.
	stopping <-chan struct{}
	// gone is closed when no one reads out any more: what does not fit in
	// its buffer is counted as dropped instead of waited on.
	gone      <-chan struct{}
	received  *[numEventTypes]atomic.Uint64
	dropped   *[numEventTypes]atomic.Uint64
	undecoded *atomic.Uint64
	samples   *[2]atomic.Uint64 // events with a Sample: received, dropped
}

// pump reads one ring until it is closed, or until it has been read dry
// after stopping, handing decoded events to s.out.
func pump(r ringReader, decode decodeFunc, c clock, o pumpOpts, s *sink) error {
	var rec ringbuf.Record
	var ev Event // one for the loop: each is handed on by value
	final := false
	for {
		if o.poll > 0 && !final {
			r.SetDeadline(time.Now().Add(o.poll))
		}
		err := r.ReadInto(&rec)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, ringbuf.ErrFlushed):
			// Either comes only once the read reached the end of the ring.
			if errors.Is(err, ringbuf.ErrFlushed) && o.flushed != nil {
				select {
				case o.flushed <- struct{}{}:
				default:
				}
			}
			if final {
				return nil // a read begun after stopping reached the end
			}
			select {
			case <-s.stopping:
				// One more pass, without blocking: what the ring held when
				// its programs were detached may not all have been read yet.
				final = true
				r.SetDeadline(time.Now())
			default:
			}
			continue
		case errors.Is(err, ringbuf.ErrClosed):
			return nil
		case err != nil:
			return err
		}
		if err := decode(rec.RawSample, c, &ev); err != nil {
			s.undecoded.Add(1)
			continue
		}
		if o.before != nil {
			o.before()
		}
		if o.exec != nil && ev.Type == EventExec {
			o.exec(ev.PID)
		}
		// Counted once handed on, so that received is what the reader got.
		// Once no one reads, room in out still takes the event; the rest
		// is counted as dropped, so that every sample read is counted.
		counter := s.received
		select {
		case s.out <- ev:
		default:
			select {
			case s.out <- ev:
			case <-s.gone:
				counter = s.dropped
			}
		}
		if int(ev.Type) < numEventTypes {
			counter[ev.Type].Add(1)
		}
		if ev.Sample != nil && s.samples != nil {
			if counter == s.dropped {
				s.samples[1].Add(1)
			} else {
				s.samples[0].Add(1)
			}
		}
	}
}
