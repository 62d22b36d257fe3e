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
	Close() error
}

// decodeFunc turns one sample into an event.
type decodeFunc func(raw []byte, c clock, ev *Event) error

// pumpOpts are the knobs of one ring's read loop.
type pumpOpts struct {
	poll    time.Duration   // >0: re-arm a read deadline so samples submitted without a wakeup are read within poll
	flushed chan<- struct{} // told each time a Flush of this ring has been drained
	before  func()          // called before each event is handed on
}

// pump reads one ring until it is closed, handing decoded events to out.
func pump(r ringReader, decode decodeFunc, c clock, o pumpOpts, out chan<- Event,
	done <-chan struct{}, recv *[numEventTypes]atomic.Uint64, bad *atomic.Uint64) error {
	var rec ringbuf.Record
	for {
		if o.poll > 0 {
			r.SetDeadline(time.Now().Add(o.poll))
		}
		err := r.ReadInto(&rec)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			continue
		case errors.Is(err, ringbuf.ErrFlushed):
			if o.flushed != nil {
				select {
				case o.flushed <- struct{}{}:
				default:
				}
			}
			continue
		case errors.Is(err, ringbuf.ErrClosed):
			return nil
		case err != nil:
			return err
		}
		var ev Event
		if err := decode(rec.RawSample, c, &ev); err != nil {
			bad.Add(1)
			continue
		}
		if o.before != nil {
			o.before()
		}
		// Counted once handed on, so that received is what the reader got;
		// on the way out, room in out still takes the event.
		select {
		case out <- ev:
		default:
			select {
			case out <- ev:
			case <-done:
				return nil
			}
		}
		if int(ev.Type) < numEventTypes {
			recv[ev.Type].Add(1)
		}
	}
}
