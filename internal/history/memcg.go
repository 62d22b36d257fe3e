package history

import (
	"math"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/dump"
)

// Memory cgroups' usage over the window, for the OOM domain of a dump, and
// which service each recent process belonged to, for its events.

const (
	// memcgPointBytes is a kept memcg sample, memcgSampleBytes the
	// dump.DomainSample a dump builds of it, memcgBytes a memcg's
	// bookkeeping.
	memcgPointBytes  = 24
	memcgSampleBytes = 56
	memcgBytes       = 512
	// pidGen is how long a generation of the pid map lasts: a process is
	// remembered 30 to 60 s after it was last seen.
	pidGen = 30 * time.Second
	// MaxPIDs bounds each generation of the pid map; pidBytes is an entry.
	MaxPIDs  = 2048
	pidBytes = 64
)

// memcgPoint is a memcg at one moment, sizes in KiB (exact: the kernel
// counts pages).
type memcgPoint struct {
	t                             int64 // unix ms
	usage, limit, swap, swapLimit uint32
}

func kibOf(v uint64) uint32 { return uint32(min(v/kib, math.MaxUint32)) }

type memcgHist struct {
	fine     *ring[memcgPoint]
	lastSeen time.Time
	full     float64 // usage/limit at the last sample
}

// addMemcgs records the memory cgroups of a snapshot. Beyond MaxMemcgs, a
// new one takes the place of the one furthest from its limit, if it is
// closer to its own: the cgroups about to run out are those a dump needs.
func (h *History) addMemcgs(t time.Time, ms []aggregate.MemcgDomain) {
	for path, m := range h.memcgs {
		if t.Sub(m.lastSeen) > h.cfg.Window {
			delete(h.memcgs, path)
		}
	}
	fine, _ := h.cfg.tiers()
	for _, d := range ms {
		if d.LimitBytes == 0 {
			continue
		}
		full := float64(d.UsageBytes) / float64(d.LimitBytes)
		m := h.memcgs[d.Path]
		if m == nil {
			if len(h.memcgs) >= h.cfg.MaxMemcgs && !h.dropEmptiest(t, full) {
				continue
			}
			m = &memcgHist{fine: newRing[memcgPoint](fine)}
			h.memcgs[d.Path] = m
		}
		m.fine.push(memcgPoint{t: t.UnixMilli(), usage: kibOf(d.UsageBytes), limit: kibOf(d.LimitBytes),
			swap: kibOf(d.SwapBytes), swapLimit: kibOf(d.SwapLimitBytes)})
		m.lastSeen, m.full = t, full
	}
}

// dropEmptiest drops the memcg furthest from its limit, one not seen at t
// first, if it is further than full.
func (h *History) dropEmptiest(t time.Time, full float64) bool {
	var name string
	var worst *memcgHist
	for p, m := range h.memcgs {
		stale := m.lastSeen.Before(t)
		if worst == nil || (stale && !worst.lastSeen.Before(t)) || (stale == worst.lastSeen.Before(t) && m.full < worst.full) {
			name, worst = p, m
		}
	}
	if worst == nil || (!worst.lastSeen.Before(t) && worst.full >= full) {
		return false
	}
	delete(h.memcgs, name)
	return true
}

// Memcg returns a memory cgroup's samples in [start, end], oldest first;
// nil when it was not kept.
func (h *History) Memcg(path string, start, end time.Time) []dump.DomainSample {
	m := h.memcgs[path]
	if m == nil {
		return nil
	}
	out := make([]dump.DomainSample, 0, m.fine.len())
	m.fine.each(func(p memcgPoint) {
		if p.t >= start.UnixMilli() && p.t <= end.UnixMilli() {
			out = append(out, dump.DomainSample{Time: time.UnixMilli(p.t).UTC(), Usage: uint64(p.usage) * kib,
				Limit: uint64(p.limit) * kib, Swap: uint64(p.swap) * kib, SwapLimit: uint64(p.swapLimit) * kib})
		}
	})
	if len(out) == 0 {
		return nil
	}
	return out
}

// addPIDs notes each process's service.
func (h *History) addPIDs(t time.Time, svcs []aggregate.Service) {
	if h.pids == nil || t.Sub(h.pidsAt) >= pidGen || t.Before(h.pidsAt) {
		h.oldPIDs, h.pids, h.pidsAt = h.pids, make(map[int]string), t
	}
	for i := range svcs {
		for _, pid := range svcs[i].PIDs {
			if len(h.pids) >= MaxPIDs {
				return
			}
			h.pids[pid] = svcs[i].Name
		}
	}
}

// ServiceOfPID names the service a process was last seen in, within the
// last 30 to 60 s; "" when it was not.
func (h *History) ServiceOfPID(pid int) string {
	if s, ok := h.pids[pid]; ok {
		return s
	}
	return h.oldPIDs[pid]
}
