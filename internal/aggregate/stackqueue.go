package aggregate

import (
	"sync/atomic"
	"time"

	"github.com/oomtrace/oomtrace/internal/native"
	"github.com/oomtrace/oomtrace/tracer"
)

// Stack samples are resolved off the event loop: a file's first symbols and
// CFI take up to hundreds of milliseconds, and a busy machine sends
// thousands of samples a second, while an OOM kill must not wait. One
// goroutine resolves; the aggregator merges what comes back on its own
// goroutine, at the next event or tick.
const (
	// stackQueued and stackQueuedBytes bound the samples waiting to be
	// resolved, and the room of the stack copies they hold (up to 32 KiB,
	// and a little more, each). A
	// sample that finds the queue full is merged unresolved (no frames,
	// truncated), so its bytes still count.
	stackQueued      = 4096
	stackQueuedBytes = 2 << 20
	// stackWait is how long a tick waits for the samples queued before it.
	stackWait = 50 * time.Millisecond
	// stackLater bounds the samples of processes no tick has named yet;
	// past it they go to the service their comm names.
	stackLater = 4096
)

type queuedSample struct {
	pid       int
	start     uint64
	comm      string
	at        time.Time
	s         *tracer.Sample
	frames    []Frame
	truncated bool
}

type stackQueue struct {
	in, out    chan *queuedSample
	sent, back uint64
	bytes      atomic.Int64 // of the stack copies queued
	// later are samples of processes that no tick has named yet: a
	// sample must not add a process to the table, whose service would be
	// named from what it is before it settles (a master sets its name and
	// session after exec).
	later []*queuedSample
}

func (a *Aggregator) queueSample(ev *tracer.Event) {
	q := &a.stq
	if q.in == nil {
		q.in, q.out = make(chan *queuedSample, stackQueued), make(chan *queuedSample, stackQueued)
		go resolveLoop(a.cfg.Stacks, a.cfg.Python, q.in, q.out, &q.bytes)
	}
	qs := &queuedSample{pid: int(ev.PID), start: ev.Start, comm: ev.Comm, at: ev.Time, s: ev.Sample}
	n := heldBytes(ev.Sample)
	full := q.bytes.Load()+n > stackQueuedBytes
	if !full {
		select {
		case q.in <- qs:
			q.sent++
			q.bytes.Add(n)
		default:
			full = true
		}
	}
	if full {
		a.stk.stats.Unresolved++
		a.applySample(qs)
	}
	a.drainSamples(0)
}

// heldBytes is what a queued sample's copies hold: their room, which a
// recycled sample (tracer.Sample.Release) may have beyond its length.
func heldBytes(s *tracer.Sample) int64 {
	return int64(cap(s.Stack) + 8*cap(s.FramePointers))
}

func resolveLoop(r StackResolver, py PythonFrames, in <-chan *queuedSample, out chan<- *queuedSample, bytes *atomic.Int64) {
	for qs := range in {
		s := qs.s
		ns := r.Resolve(uint32(qs.pid), qs.start, native.Regs{IP: s.Regs.IP, SP: s.Regs.SP, BP: s.Regs.BP}, s.Stack, s.FramePointers)
		if py != nil {
			ns = py.Merge(uint32(qs.pid), ns, s.Python)
		}
		qs.frames, qs.truncated = FramesOf(ns)
		qs.s = &tracer.Sample{Weight: s.Weight, RegionAddr: s.RegionAddr, RegionLen: s.RegionLen} // the stack copy can go
		bytes.Add(-heldBytes(s))
		s.Release()
		out <- qs
	}
}

// drainSamples merges resolved samples; with wait > 0 it waits that long at
// most for every sample queued so far.
func (a *Aggregator) drainSamples(wait time.Duration) {
	q := &a.stq
	var deadline <-chan time.Time
	if wait > 0 && q.back < q.sent {
		t := time.NewTimer(wait)
		defer t.Stop()
		deadline = t.C
	}
	for {
		if deadline == nil || q.back == q.sent {
			select {
			case qs := <-q.out:
				q.back++
				a.applySample(qs)
				continue
			default:
				return
			}
		}
		select {
		case qs := <-q.out:
			q.back++
			a.applySample(qs)
		case <-deadline:
			return
		}
	}
}

// applySample merges a resolved sample into its process's service, or
// keeps it for the tick when no tick has named the process yet.
func (a *Aggregator) applySample(qs *queuedSample) {
	name := ""
	if p, ok := a.table[qs.pid]; ok && p.sumGen > 0 && !p.reread && !p.exited {
		name = p.key.Name
	}
	if name == "" && len(a.stq.later) < stackLater {
		a.stq.later = append(a.stq.later, qs)
		return
	}
	if name == "" {
		name = qs.comm
	}
	a.mergeSample(qs, name)
}

func (a *Aggregator) mergeSample(qs *queuedSample, service string) {
	s := qs.s
	frames, truncated := qs.frames, qs.truncated
	if frames == nil {
		frames, truncated = []Frame{}, true
	}
	a.stk.add(stackSample{pid: qs.pid, service: service, at: qs.at, weight: s.Weight,
		addr: s.RegionAddr, len: s.RegionLen, frames: frames, truncated: truncated})
}

// nameLater merges the samples kept for the tick: their processes are
// named now, or were dropped (their service remembered), or only their
// comm is left.
func (a *Aggregator) nameLater() {
	for _, qs := range a.stq.later {
		name := qs.comm
		if p, ok := a.table[qs.pid]; ok && p.key.Name != "" {
			name = p.key.Name
		} else if g, ok := a.gone[qs.pid]; ok {
			name = g.key.Name
		}
		a.mergeSample(qs, name)
	}
	clear(a.stq.later)
	a.stq.later = a.stq.later[:0]
}
