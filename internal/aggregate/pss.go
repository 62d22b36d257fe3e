package aggregate

import (
	"errors"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oomtrace/oomtrace/internal/proc"
)

const (
	smapsSlice = time.Millisecond // smaps_rollup re-reading per tick at most, in CPU time
	smapsKeep  = 64               // candidates kept for it
	// Processes never read get their own, larger slice: 1/firstShare of
	// the interval (6% of a core), at most firstMax a tick. A read costs
	// 2-3 ms per 100 MiB mapped, so a hundred such processes are all read
	// within the first five ticks, not one a tick for minutes.
	firstShare = 16
	firstMax   = 100 * time.Millisecond
	// A process whose resident memory has not moved since its smaps_rollup
	// was read is read again only this often.
	pssMaxAgeFactor = 30 // × PSSInterval
)

// threadCPU is the calling thread's CPU time: the budgets count what reads
// cost, not time spent waiting for a CPU on a loaded machine.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return time.Duration(time.Now().UnixNano()) // wall time bounds it
	}
	return time.Duration(ts.Nano())
}

// readSmaps reads smaps_rollup of this tick's candidates, oldest first,
// within a count and a CPU time budget; with PSSInterval < 0 (every tick,
// for tests) only the count applies.
func (a *Aggregator) readSmaps(now time.Time) {
	stale := a.stale
	sort.Slice(stale, func(i, j int) bool { return stale[i].smapsAt.Before(stale[j].smapsAt) })
	start := a.cpu()
	for i, p := range stale {
		if a.reads >= a.cfg.PSSBudget || a.cfg.PSSInterval >= 0 && i > 0 && a.cpu()-start > smapsSlice {
			break
		}
		if a.table[p.info.PID] != p {
			continue // gone since
		}
		a.readOne(now, p)
	}
	clear(stale)
	a.stale = stale[:0]
}

// readFirst reads a process never read before at once, in the scan that
// sums it, while this tick's first-read slice lasts; the rest wait for the
// next tick's.
func (a *Aggregator) readFirst(now time.Time, p *procState) {
	if a.reads >= a.cfg.PSSBudget || a.firstSpent >= a.firstSlice {
		return
	}
	start := a.cpu()
	a.readOne(now, p)
	a.firstSpent += a.cpu() - start
}

func (a *Aggregator) readOne(now time.Time, p *procState) {
	a.reads++
	s, err := a.procs.Smaps(p.info.PID)
	if errors.Is(err, proc.ErrUnsettled) && p.unsettled < 2 {
		p.unsettled++ // keep the last figure and its age; read again when due
		return
	}
	if err == nil || errors.Is(err, proc.ErrUnsettled) {
		p.smaps, p.smapsAt, p.smapsOf, p.unsettled = s, now, p.mem.RSS(), 0
	}
}

// oldest adds p to h, a max-heap on smapsAt of at most k processes: the k
// read longest ago.
func oldest(h []*procState, p *procState, k int) []*procState {
	older := func(i, j int) bool { return h[i].smapsAt.After(h[j].smapsAt) }
	if len(h) == k {
		if !p.smapsAt.Before(h[0].smapsAt) {
			return h
		}
		h[0] = p
	} else {
		h = append(h, p)
		for i := len(h) - 1; i > 0; { // sift up
			up := (i - 1) / 2
			if !older(i, up) {
				break
			}
			h[i], h[up] = h[up], h[i]
			i = up
		}
		return h
	}
	for i := 0; ; { // sift down
		l, r, big := 2*i+1, 2*i+2, i
		if l < len(h) && older(l, big) {
			big = l
		}
		if r < len(h) && older(r, big) {
			big = r
		}
		if big == i {
			return h
		}
		h[i], h[big] = h[big], h[i]
		i = big
	}
}

// moved says resident memory changed by more than a page batch's noise
// (64 KiB) or 1% since smaps_rollup was read.
func moved(then, now uint64) bool {
	d := max(then, now) - min(then, now)
	return d > 64<<10 && d*100 > then
}
